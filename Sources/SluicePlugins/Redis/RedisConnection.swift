import Crypto
#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// One reply from a Redis server, as RESP2 frames it.
enum RedisReply: Equatable, Sendable {
    case status(String)
    case error(String)
    case integer(Int)
    /// A bulk string; nil is the null bulk string (`$-1`).
    case bulk([UInt8]?)
    /// An array; nil is the null array (`*-1`, a blocking command that timed out).
    case array([RedisReply]?)

    /// The reply as an integer, when it is one.
    var integer: Int? {
        if case .integer(let n) = self { return n }
        return nil
    }
}

/// Why a Redis call failed: the connection (refused, closed, timed out: reconnect and retry), the server's error
/// reply (`WRONGPASS`, `WRONGTYPE`: the command is wrong, not the connection), or a reply that is not RESP2.
struct RedisError: Error, CustomStringConvertible, Sendable {
    enum Kind: Sendable { case connection, server, protocolViolation }
    let kind: Kind
    let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    var description: String { message }

    /// The server refused the password (or wants one): retrying cannot help until the configuration changes.
    var isAuthentication: Bool {
        kind == .server && (message.hasPrefix("WRONGPASS") || message.hasPrefix("NOAUTH") || message.contains("invalid password"))
    }
}

/// Where a Redis server listens: a TCP host and port, or a unix socket (the input's `path`).
enum RedisEndpoint: Sendable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    var description: String {
        switch self {
        case .tcp(let host, let port): return "\(host):\(port)"
        case .unix(let path): return path
        }
    }
}

/// What a connection needs besides the endpoint: `timeout` (connect and each reply), the password for `AUTH`, the
/// database for `SELECT`, and Logstash's `command_map` (renamed commands, upper-cased keys).
struct RedisConnectionOptions: Sendable {
    var timeout: Double = 5
    var password: String? = nil
    var db: Int = 0
    var commandMap: [String: String] = [:]
}

/// A blocking connection to one Redis server speaking RESP2, for the thread that owns it (a redis input's consumer
/// thread, or a redis output under its lock): not thread-safe. Commands can be pipelined: `pipeline` writes them
/// all and then reads one reply per command. Every wait is bounded by `timeout`, except `waitForMessage`, which a
/// subscriber polls between checks of its stop flag.
final class RedisConnection {
    let endpoint: RedisEndpoint
    private let options: RedisConnectionOptions
    private var fd: Int32
    /// Bytes received and not yet parsed: `buffer[start...]`.
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where `recv` writes before the bytes join `buffer`.
    private var scratch = [UInt8](repeating: 0, count: 128 * 1024)

    /// Connects, then authenticates and selects the database when the options ask for it.
    /// - Throws: `RedisError` (`.connection` when the server cannot be reached, `.server` for a refused password).
    init(_ endpoint: RedisEndpoint, options: RedisConnectionOptions) throws(RedisError) {
        self.endpoint = endpoint
        self.options = options
        fd = try Self.connect(endpoint, timeout: options.timeout)
        do {
            if let password = options.password { _ = try call(["AUTH", password]) }
            if options.db != 0 { _ = try call(["SELECT", String(options.db)]) }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Closes the socket (idempotent).
    func close() {
        if fd >= 0 {
            _ = Glibc.close(fd)
            fd = -1
        }
    }

    // MARK: Commands

    /// Sends one command and returns its reply.
    /// - Throws: `RedisError`; an error reply is thrown as `.server`.
    @discardableResult
    func call(_ arguments: [String]) throws(RedisError) -> RedisReply {
        let reply = try pipeline([arguments.map { Array($0.utf8) }])[0]
        if case .error(let message) = reply { throw RedisError(.server, message) }
        return reply
    }

    /// Writes every command, then reads one reply per command, in order. Error replies are returned, not thrown:
    /// each command of a pipeline succeeds or fails on its own.
    func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        try send(commands)
        let deadline = Clock.nanoseconds() + Int(options.timeout * 1e9)
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands { replies.append(try readReply(deadline: deadline)) }
        return replies
    }

    /// Writes commands without reading their replies (a subscription's `SUBSCRIBE`).
    func send(_ commands: [[[UInt8]]]) throws(RedisError) {
        var out: [UInt8] = []
        for command in commands { encode(command, into: &out) }
        try write(out)
    }

    /// Waits up to `milliseconds` for a pushed message (a subscription) and returns it, or nil when none came.
    func waitForMessage(milliseconds: Int) throws(RedisError) -> RedisReply? {
        if let reply = try parseBuffered() { return reply }
        guard try waitReadable(milliseconds: milliseconds) else { return nil }
        try receive()
        return try parseBuffered()
    }

    /// A reply already received in full, without waiting (the rest of a burst of published messages).
    func bufferedReply() throws(RedisError) -> RedisReply? { try parseBuffered() }

    // MARK: Encoding

    private func encode(_ command: [[UInt8]], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "*"))
        out.append(contentsOf: String(command.count).utf8)
        out.append(contentsOf: [13, 10])
        for (i, argument) in command.enumerated() {
            var bytes = argument
            if i == 0, !options.commandMap.isEmpty, let renamed = options.commandMap[String(decoding: argument, as: UTF8.self).uppercased()] {
                bytes = Array(renamed.utf8)
            }
            out.append(UInt8(ascii: "$"))
            out.append(contentsOf: String(bytes.count).utf8)
            out.append(contentsOf: [13, 10])
            out.append(contentsOf: bytes)
            out.append(contentsOf: [13, 10])
        }
    }

    // MARK: Decoding

    private func readReply(deadline: Int) throws(RedisError) -> RedisReply {
        while true {
            if let reply = try parseBuffered() { return reply }
            let left = (deadline - Clock.nanoseconds()) / 1_000_000
            guard left > 0, try waitReadable(milliseconds: left) else {
                throw RedisError(.connection, "no reply from \(endpoint) within \(options.timeout) s")
            }
            try receive()
        }
    }

    /// Parses one complete reply from the buffer, or returns nil when more bytes are needed.
    private func parseBuffered() throws(RedisError) -> RedisReply? {
        guard start < buffer.count else { return nil }
        var index = start
        guard let reply = try parse(&index, depth: 0) else { return nil }
        start = index
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return reply
    }

    /// Parses the reply at `index`, moving it past the reply; nil (index unspecified) when the reply is incomplete.
    /// Recursion is bounded by `depth`: Redis's replies to the commands Sluice sends nest at most two levels.
    private func parse(_ index: inout Int, depth: Int) throws(RedisError) -> RedisReply? {
        guard depth < 8 else { throw RedisError(.protocolViolation, "reply from \(endpoint) nests arrays too deeply") }
        guard let line = line(&index) else { return nil }
        guard let kind = line.first else { throw RedisError(.protocolViolation, "empty reply line from \(endpoint)") }
        let text = String(decoding: line.dropFirst(), as: UTF8.self)
        switch kind {
        case UInt8(ascii: "+"): return .status(text)
        case UInt8(ascii: "-"): return .error(text)
        case UInt8(ascii: ":"):
            guard let n = Int(text) else { throw RedisError(.protocolViolation, "bad integer reply '\(text)' from \(endpoint)") }
            return .integer(n)
        case UInt8(ascii: "$"):
            guard let length = Int(text), length >= -1 else { throw RedisError(.protocolViolation, "bad bulk length '\(text)' from \(endpoint)") }
            if length == -1 { return .bulk(nil) }
            guard buffer.count - index >= length + 2 else { return nil }
            let bytes = Array(buffer[index..<(index + length)])
            index += length + 2
            return .bulk(bytes)
        case UInt8(ascii: "*"):
            guard let count = Int(text), count >= -1 else { throw RedisError(.protocolViolation, "bad array length '\(text)' from \(endpoint)") }
            if count == -1 { return .array(nil) }
            var items: [RedisReply] = []
            items.reserveCapacity(count)
            for _ in 0..<count {
                guard let item = try parse(&index, depth: depth + 1) else { return nil }
                items.append(item)
            }
            return .array(items)
        default:
            throw RedisError(.protocolViolation, "unexpected reply type '\(Character(Unicode.Scalar(kind)))' from \(endpoint)")
        }
    }

    /// The bytes of the CRLF-terminated line at `index` (without CRLF), moving past it; nil when incomplete.
    private func line(_ index: inout Int) -> ArraySlice<UInt8>? {
        var i = index
        while i + 1 < buffer.count {
            if buffer[i] == 13 && buffer[i + 1] == 10 {
                let line = buffer[index..<i]
                index = i + 2
                return line
            }
            i += 1
        }
        return nil
    }

    // MARK: Socket

    private func receive() throws(RedisError) {
        if start > 0 && start > buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        var received = 0
        while true {
            received = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if received < 0 && errno == EINTR { continue }
            break
        }
        if received <= 0 {
            let failure = received < 0 ? String(cString: strerror(errno)) : "closed by the server"
            throw RedisError(.connection, "connection to \(endpoint) lost: \(failure)")
        }
        buffer.append(contentsOf: scratch[0..<received])
    }

    private func write(_ bytes: [UInt8]) throws(RedisError) {
        guard fd >= 0 else { throw RedisError(.connection, "connection to \(endpoint) is closed") }
        var offset = 0
        let deadline = Clock.nanoseconds() + Int(options.timeout * 1e9)
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if n > 0 {
                offset += n
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                let left = (deadline - Clock.nanoseconds()) / 1_000_000
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if left <= 0 || poll(&p, 1, Int32(left)) <= 0 {
                    throw RedisError(.connection, "could not write to \(endpoint) within \(options.timeout) s")
                }
                continue
            }
            throw RedisError(.connection, "connection to \(endpoint) lost: \(String(cString: strerror(errno)))")
        }
    }

    private func waitReadable(milliseconds: Int) throws(RedisError) -> Bool {
        guard fd >= 0 else { throw RedisError(.connection, "connection to \(endpoint) is closed") }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let r = poll(&p, 1, Int32(min(milliseconds, Int(Int32.max))))
            if r < 0 && errno == EINTR { continue }
            if r < 0 { throw RedisError(.connection, "poll on \(endpoint) failed: \(String(cString: strerror(errno)))") }
            return r > 0
        }
    }

    /// Opens a connected, blocking socket, waiting at most `timeout` for the connection.
    private static func connect(_ endpoint: RedisEndpoint, timeout: Double) throws(RedisError) -> Int32 {
        switch endpoint {
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw RedisError(.connection, "socket: \(String(cString: strerror(errno)))") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let capacity = MemoryLayout.size(ofValue: address.sun_path)
            guard path.utf8.count < capacity else {
                _ = Glibc.close(fd)
                throw RedisError(.connection, "unix socket path too long: \(path)")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() { raw[i] = b }
                raw[path.utf8.count] = 0
            }
            let r = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard r == 0 else {
                let message = String(cString: strerror(errno))
                _ = Glibc.close(fd)
                throw RedisError(.connection, "could not connect to \(path): \(message)")
            }
            return fd
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &list)
            guard status == 0, let first = list else {
                throw RedisError(.connection, "could not resolve \(host): \(String(cString: gai_strerror(status)))")
            }
            defer { freeaddrinfo(list) }
            var lastError = "no address"
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let info = entry {
                entry = info.pointee.ai_next
                let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
                if fd < 0 { continue }
                if let error = connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen, timeout: timeout) {
                    lastError = error
                    _ = Glibc.close(fd)
                    continue
                }
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                return fd
            }
            throw RedisError(.connection, "could not connect to \(host):\(port): \(lastError)")
        }
    }

    /// A non-blocking connect bounded by `timeout`; nil on success, else the reason.
    private static func connect(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: socklen_t, timeout: Double) -> String? {
        let flags = fcntl(fd, F_GETFL, 0)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        if Glibc.connect(fd, address, length) == 0 { return nil }
        guard errno == EINPROGRESS else { return String(cString: strerror(errno)) }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) > 0 else { return "timed out after \(timeout) s" }
        var error: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
        return error == 0 ? nil : String(cString: strerror(error))
    }
}

extension RedisConnection {
    /// Runs a Lua script by its SHA1, loading it first when the server does not know it (`NOSCRIPT`, after a
    /// restart or `SCRIPT FLUSH`).
    func evalScript(_ script: RedisScript, keys: [String], arguments: [String]) throws(RedisError) -> RedisReply {
        let tail = [String(keys.count)] + keys + arguments
        var reply = try pipeline([(["EVALSHA", script.sha1] + tail).map { Array($0.utf8) }])[0]
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            _ = try call(["SCRIPT", "LOAD", script.source])
            reply = try pipeline([(["EVALSHA", script.sha1] + tail).map { Array($0.utf8) }])[0]
        }
        if case .error(let message) = reply { throw RedisError(.server, message) }
        return reply
    }
}

/// A Lua script run with `EVALSHA`, and its SHA1 (computed here, as Redis does, so no round trip is needed).
struct RedisScript: Sendable {
    let source: String
    let sha1: String

    init(_ source: String) {
        self.source = source
        sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { b in
            let s = String(b, radix: 16)
            return b < 16 ? "0" + s : s
        }.joined()
    }
}

import Foundation
import Testing

/// Debian's `redis-server` on a free 127.0.0.1 port (no persistence unless `appendOnlyDirectory` is given), and
/// `redis-cli` as the independent client that fills lists, publishes and reads back. Stopped by its pid in `stop`,
/// which checks how it ended.
final class RedisServer {
    let port: Int
    let password: String?
    private let directory: URL?
    private var process: Process?

    /// Whether `redis-server` and `redis-cli` are installed (`make test` installs them).
    static let isAvailable: Bool = FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-cli")

    init(password: String? = nil, appendOnlyDirectory: URL? = nil, port: Int? = nil) throws {
        self.port = port ?? SluiceProcess.freePort()
        self.password = password
        directory = appendOnlyDirectory
        try start()
    }

    /// Starts the server (again, after `kill`) and waits until it answers PING.
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        var arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--daemonize", "no"]
        if let directory {
            arguments += ["--appendonly", "yes", "--appendfsync", "always", "--dir", directory.path]
        } else {
            arguments += ["--appendonly", "no"]
        }
        if let password { arguments += ["--requirepass", password] }
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if (try? cli(["PING"]))?.trimmingCharacters(in: .whitespacesAndNewlines) == "PONG" { return }
            usleep(50_000)
        }
        throw HarnessError("redis-server did not answer on port \(port)")
    }

    /// SIGKILL (a crash: nothing is flushed but what `appendfsync always` already wrote); true when it died of it.
    func kill() -> Bool {
        guard let p = process else { return false }
        process = nil
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        return p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL
    }

    /// Stops the server with `SHUTDOWN NOSAVE` (signals may be blocked in processes the tests start) and returns its
    /// exit status (0 for a clean shutdown; -9 when it had to be killed after 10 s).
    @discardableResult
    func stop() -> Int32 {
        guard let p = process else { return -1 }
        process = nil
        _ = try? cli(["SHUTDOWN", "NOSAVE"])
        let deadline = Date().addingTimeInterval(10)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning {
            Foundation.kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            return -9
        }
        return p.terminationStatus
    }

    deinit {
        if let p = process, p.isRunning {
            Foundation.kill(p.processIdentifier, SIGKILL)
            Issue.record("redis-server on port \(port) was not stopped by the test")
        }
    }

    /// Runs `redis-cli` with `arguments` (after `-n db`) and returns its standard output; throws when it fails.
    @discardableResult
    func cli(_ arguments: [String], db: Int = 0, stdin: Data? = nil) throws -> String {
        var full = ["-h", "127.0.0.1", "-p", String(port), "-n", String(db)]
        if let password { full += ["-a", password, "--no-auth-warning"] }
        let result = try runClient("/usr/bin/redis-cli", full + arguments, stdin: stdin)
        guard result.exitCode == 0 else { throw HarnessError("redis-cli \(arguments) exited \(result.exitCode): \(result.stderr)") }
        return result.stdout
    }

    /// An integer reply (`LLEN`, `PUBSUB NUMPAT`).
    func integer(_ arguments: [String], db: Int = 0) throws -> Int {
        Int(try cli(arguments, db: db).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// Appends `items` to list `key` with `redis-cli --pipe` (RESP built here, one RPUSH per 1,000 items).
    func push(_ key: String, _ items: [String], db: Int = 0) throws {
        var resp = Data()
        func bulk(_ s: String) {
            let bytes = Data(s.utf8)
            resp.append(Data("$\(bytes.count)\r\n".utf8))
            resp.append(bytes)
            resp.append(Data("\r\n".utf8))
        }
        var start = 0
        while start < items.count {
            let chunk = items[start..<min(start + 1000, items.count)]
            resp.append(Data("*\(chunk.count + 2)\r\n".utf8))
            bulk("RPUSH")
            bulk(key)
            for item in chunk { bulk(item) }
            start += chunk.count
        }
        let out = try cli(["--pipe"], db: db, stdin: resp)
        guard out.contains("errors: 0") else { throw HarnessError("redis-cli --pipe reported errors: \(out)") }
    }

    /// The items of list `key`, one per line of `redis-cli` output (items hold no newline).
    func items(_ key: String, db: Int = 0) throws -> [String] {
        try cli(["LRANGE", key, "0", "-1"], db: db).split(separator: "\n").map(String.init)
    }

    /// The total length of the Sluice processing lists of `key` (0 when every pushed item was removed).
    func processingLength(_ key: String, db: Int = 0) throws -> Int {
        let keys = try cli(["--scan", "--pattern", "\(key):sluice:processing:*"], db: db).split(separator: "\n")
        return try keys.reduce(0) { $0 + (try integer(["LLEN", String($1)], db: db)) }
    }
}

/// The `id` of each JSON line (events written by a file or stdout output, or list items), in order.
func redisTestIDs(_ lines: [Substring]) -> [Int] {
    lines.compactMap { line in
        guard let data = line.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["id"] as? Int
    }
}

func redisTestIDs(inFile path: String) -> [Int] {
    redisTestIDs(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n"))
}

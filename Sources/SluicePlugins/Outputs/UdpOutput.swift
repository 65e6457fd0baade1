#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Sends each event as one UDP datagram (Logstash's `udp` output), encoded by the codec (`json` by default), to
/// `host` and a `port` that may come from the event (`%{…}`). A datagram too large for the network (EMSGSIZE) is
/// logged and the event dropped; other send errors are retried `retry_count` times `retry_backoff_ms` apart, then
/// the event is dropped and counted. Called on worker threads; one socket per output.
public final class UdpOutput: Output, @unchecked Sendable {
    public static let name = "udp"
    public static let summary = "Sends each event as a UDP datagram."
    public static let defaultCodec = "json"

    public struct Settings: PluginSettings {
        @Setting("host", doc: "The host to send to.", required: true) var host = ""
        @Setting("port", doc: "The port to send to; may use %{field}.", required: true) var port = Template("")
        @Setting("retry_count", doc: "Retries of a failed send before the event is dropped.") var retryCount = 0
        @Setting("retry_backoff_ms", doc: "Milliseconds between retries.") var retryBackoffMillis = 100

        public init() {}

        public func validate() throws(SettingsValidationError) {
            if retryCount < 0 { throw SettingsValidationError("retry_count must not be negative", setting: "retry_count") }
        }
    }

    let settings: Settings
    let context: PluginContext
    private let codec: any Codec
    private let addresses = Lock()
    private var resolved: [Int: (family: Int32, address: [UInt8])] = [:]
    private var sockets: [Int32: Int32] = [:]

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        codec = context.codec!
    }

    public func receive(_ events: [Event]) -> OutputOutcome {
        var outcome = OutputOutcome()
        var datagram: [UInt8] = []
        for event in events {
            let portText = settings.port.render(event)
            guard let port = Int(portText), (1...65535).contains(port) else {
                context.logger.error("Invalid port '\(portText)' for \(settings.host); the event is dropped")
                outcome.record(event, .dropped)
                continue
            }
            datagram.removeAll(keepingCapacity: true)
            codec.encode(event, into: &datagram)
            if !send(datagram, port: port) { outcome.record(event, .dropped) }
        }
        return outcome
    }

    public func close() {
        addresses.withLock {
            for fd in sockets.values { Glibc.close(fd) }
            sockets = [:]
        }
    }

    /// One datagram, retried as configured; false when it was dropped.
    private func send(_ bytes: [UInt8], port: Int) -> Bool {
        var attempt = 0
        while true {
            let error = sendOnce(bytes, port: port)
            if error == 0 { return true }
            if error == EMSGSIZE {
                context.logger.error("UDP message size of \(bytes.count) bytes is too long for \(settings.host):\(port); the event is dropped")
                return false
            }
            if attempt >= settings.retryCount || context.shutdown.isRequested {
                context.logger.error("Could not send a UDP message to \(settings.host):\(port): \(String(cString: strerror(error))); the event is dropped")
                return false
            }
            attempt += 1
            usleep(useconds_t(settings.retryBackoffMillis * 1000))
        }
    }

    /// 0 on success, else the errno.
    private func sendOnce(_ bytes: [UInt8], port: Int) -> Int32 {
        guard let (fd, address) = addresses.withLock({ destination(port) }) else { return EHOSTUNREACH }
        let sent = address.withUnsafeBytes { raw in
            bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count)) }
        }
        return sent < 0 ? errno : 0
    }

    /// The socket and address for `port`, resolving `host` once per port (under `addresses`).
    private func destination(_ port: Int) -> (Int32, [UInt8])? {
        if resolved[port] == nil {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
            var info: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(settings.host, String(port), &hints, &info) == 0, let first = info else { return nil }
            defer { freeaddrinfo(info) }
            let bytes = [UInt8](UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
            resolved[port] = (first.pointee.ai_family, bytes)
        }
        guard let (family, address) = resolved[port] else { return nil }
        if sockets[family] == nil {
            let fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { return nil }
            sockets[family] = fd
        }
        return (sockets[family]!, address)
    }
}

import SluiceCore

/// Writes encoded events to standard output (Logstash's `stdout` output; rubydebug by default).
public final class StdoutOutput: Output {
    public static let name = "stdout"
    public static let summary = "Writes events to standard output with a codec (rubydebug by default)."
    public static let defaultCodec = "rubydebug"

    public struct Settings: PluginSettings {
        public init() {}
    }

    let codec: any Codec
    let logger: Logger
    let lock = Lock()

    public init(settings: Settings, context: PluginContext) throws {
        codec = context.codec!
        logger = context.logger
    }

    /// A failed write (standard output closed) leaves the batch undelivered, with an error in the log.
    public func receive(_ events: [Event]) -> OutputOutcome {
        var out: [UInt8] = []
        out.reserveCapacity(events.count * 64)
        for e in events { codec.encode(e, into: &out) }
        if lock.withLock({ FileDescriptorWriter.writeAll(1, out) }) { return .delivered }
        logger.rateLimited(.error, key: "write", "Cannot write to standard output: \(SystemCalls.lastError)")
        return OutputOutcome(events, .retryLater)
    }
}

/// Writes whole buffers to a file descriptor, retrying short writes (the stdout and file outputs, `sluice dlq list`).
public enum FileDescriptorWriter {
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buf in
            var offset = 0
            while offset < buf.count {
                let n = SystemCalls.write(fd, buf.baseAddress! + offset, buf.count - offset)
                if n < 0 {
                    if SystemCalls.lastErrorIsInterrupt { continue }
                    return false
                }
                offset += n
            }
            return true
        }
    }
}

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
    let lock = Lock()

    public init(settings: Settings, context: PluginContext) throws {
        codec = context.codec!
    }

    public func receive(_ events: [Event]) {
        var out: [UInt8] = []
        out.reserveCapacity(events.count * 64)
        for e in events { codec.encode(e, into: &out) }
        _ = lock.withLock { FileDescriptorWriter.writeAll(1, out) }
    }
}

/// Writes whole buffers to a file descriptor, retrying short writes.
enum FileDescriptorWriter {
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
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

import SluicePlugins

/// Bytes for stdout, written in 64 KiB pieces: `sluice dlq list` prints a million lines without a write (or a
/// `print` lock) per line. Used on the command's one thread.
struct OutputBuffer {
    var bytes: [UInt8] = []
    static let flushSize = 64 * 1024

    init() { bytes.reserveCapacity(Self.flushSize + 4096) }

    /// Ends the current line; writes the buffer out once it is full.
    mutating func endLine() {
        bytes.append(UInt8(ascii: "\n"))
        if bytes.count >= Self.flushSize { flush() }
    }

    mutating func flush() {
        FileDescriptorWriter.writeAll(1, bytes)
        bytes.removeAll(keepingCapacity: true)
    }
}

import SluiceCore

/// A codec that makes each line into events on its own (`line`, `json_lines`), so that an input may cut the lines
/// on its thread and leave decoding them to the workers (`UndecodedLines`).
protocol LineDecodingCodec: Codec {
    /// `charset`: the input's bytes are read in it.
    var charset: TextCharset { get }
    /// The unfinished line between reads; only the input's thread touches it.
    var lines: DelimitedLines { get set }
    /// Makes the failure event of a line longer than `decode_size_limit_bytes` from its first bytes.
    func emitOversized(_ prefix: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void)
    /// The events of one complete line, stamped `receivedAt` unless the line carries its own `@timestamp`. Reads
    /// only settings, so workers call it concurrently with each other and with the input's `splitLines`.
    func decodeLine(_ line: UnsafeBufferPointer<UInt8>, receivedAt: Timestamp, _ emit: (Event) -> Void)
    /// Whether the codec sets `[event][original]` itself (the `line` codec in ECS mode).
    var setsOriginal: Bool { get }
}

extension LineDecodingCodec {
    /// Cuts `bytes` into lines, keeping an unfinished last line for the next call: each complete line goes to
    /// `line`; a line longer than `decode_size_limit_bytes` is made into its failure event at once and goes to
    /// `event`, in stream order. Called on the input's thread only.
    func splitLines(
        _ bytes: UnsafeBufferPointer<UInt8>, line: (UnsafeBufferPointer<UInt8>) -> Void, event: (Event) -> Void
    ) {
        charset.withUTF8(bytes) { utf8 in lines.split(utf8, line: line, oversized: { emitOversized($0, event) }) }
    }

    /// The unfinished last line at the end of the stream, handed over as `splitLines` would.
    func flushLines(line: (UnsafeBufferPointer<UInt8>) -> Void, event: (Event) -> Void) {
        lines.flush(line: line, oversized: { emitOversized($0, event) })
    }
}

/// Gathers the lines an input cuts from one read into `UndecodedLines` entries of at most `limit` lines each.
/// Owned by the input's thread.
struct UndecodedLinesBuilder {
    let limit: Int
    let decoder: any UndecodedLinesDecoder
    private var bytes: [UInt8] = []
    private var lineEnds: [Int] = []

    init(limit: Int, decoder: any UndecodedLinesDecoder) {
        self.limit = max(1, limit)
        self.decoder = decoder
    }

    /// Adds one line; once `limit` lines are gathered, appends their entry to `entries`.
    mutating func append(_ line: UnsafeBufferPointer<UInt8>, into entries: inout [Event], original: () -> String?) {
        if lineEnds.isEmpty { bytes.reserveCapacity(min(line.count * limit, 1 << 16)) }
        bytes.append(contentsOf: line)
        lineEnds.append(bytes.count)
        if lineEnds.count >= limit { finish(into: &entries, original: original) }
    }

    /// Appends the entry of the lines gathered so far, if any, to `entries`.
    mutating func finish(into entries: inout [Event], original: () -> String?) {
        guard !lineEnds.isEmpty else { return }
        let lines = UndecodedLines(
            bytes: bytes, lineEnds: lineEnds, decoder: decoder, original: original(), receivedAt: Timestamp.now())
        entries.append(Event(carrying: lines))
        bytes = []
        lineEnds = []
        lineEnds.reserveCapacity(limit)
    }
}

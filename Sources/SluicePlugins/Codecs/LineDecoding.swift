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

/// Cuts an input's reads into lines with its codec and gathers them into `UndecodedLines` entries of at most
/// `limit` lines each, for the workers to decode. Owned by the input's thread (or a connection's event loop).
struct UndecodedLinesBuilder {
    let limit: Int
    let codec: any LineDecodingCodec
    let decoder: any UndecodedLinesDecoder
    private var bytes: [UInt8] = []
    private var lineEnds: [Int] = []

    init(limit: Int, codec: any LineDecodingCodec, decoder: any UndecodedLinesDecoder) {
        self.limit = max(1, limit)
        self.codec = codec
        self.decoder = decoder
    }

    /// Cuts one read into entries appended to `entries`; a line too long to keep becomes its failure event here,
    /// decorated by `decorate`, in stream order. The read's lines never share an entry with the next read's.
    mutating func cut(
        _ chunk: UnsafeBufferPointer<UInt8>, into entries: inout [Event], original: () -> String?,
        decorate: (Event) -> Void
    ) {
        codec.splitLines(
            chunk, line: { append($0, into: &entries, original: original) },
            event: { event in
                finish(into: &entries, original: original)
                decorate(event)
                entries.append(event)
            })
        finish(into: &entries, original: original)
    }

    /// The unfinished last line at the end of the stream, as `cut` would hand it over.
    mutating func flush(into entries: inout [Event], decorate: (Event) -> Void) {
        codec.flushLines(
            line: { append($0, into: &entries, original: { nil }) },
            event: { event in
                finish(into: &entries, original: { nil })
                decorate(event)
                entries.append(event)
            })
        finish(into: &entries, original: { nil })
    }

    /// Adds one line; once `limit` lines are gathered, appends their entry to `entries`.
    private mutating func append(_ line: UnsafeBufferPointer<UInt8>, into entries: inout [Event], original: () -> String?) {
        if lineEnds.isEmpty { bytes.reserveCapacity(min(line.count * limit, 1 << 16)) }
        bytes.append(contentsOf: line)
        lineEnds.append(bytes.count)
        if lineEnds.count >= limit { finish(into: &entries, original: original) }
    }

    /// Appends the entry of the lines gathered so far, if any, to `entries`.
    private mutating func finish(into entries: inout [Event], original: () -> String?) {
        guard !lineEnds.isEmpty else { return }
        let lines = UndecodedLines(
            bytes: bytes, lineEnds: lineEnds, decoder: decoder, original: original(), receivedAt: Timestamp.now())
        entries.append(Event(carrying: lines))
        bytes = []
        lineEnds = []
        lineEnds.reserveCapacity(limit)
    }
}

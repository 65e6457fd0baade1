import SluiceCore

/// Splits input on a delimiter, one event per line; writes one line per event (Logstash's `line` codec).
public final class LineCodec: LineDecodingCodec, @unchecked Sendable {
    public static let name = "line"
    public static let summary = "One event per line; writes the format string or the event's text form plus the delimiter."

    public struct Settings: PluginSettings {
        @Setting("charset", doc: "The character set of the input; text is converted to UTF-8.")
        var charset = TextCharset.utf8
        @Setting("delimiter", doc: "The line delimiter.")
        var delimiter = "\n"
        @Setting("format", doc: "A sprintf format for encoding; defaults to `<@timestamp> <host> <message>`.")
        var format: Template? = nil
        @Setting("decode_size_limit_bytes", doc: "Sluice: the longest line kept whole; a longer one is cut there and tagged _linetoobigfailure.")
        var decodeSizeLimitBytes = 512 * 1024 * 1024
        public init() {}
    }

    let delimiter: [UInt8]
    let format: Template?
    let setOriginal: Bool
    let charset: TextCharset
    let logger: Logger
    /// `decode_size_limit_bytes` (the splitter's own copy is not readable while it splits).
    let sizeLimit: Int
    /// The unfinished line between chunks (decoding is single-threaded: one input or connection owns this codec).
    var lines: DelimitedLines

    public init(settings: Settings, context: PluginContext) throws {
        charset = settings.charset
        delimiter = Array(settings.delimiter.utf8)
        format = settings.format
        setOriginal = context.ecsCompatibility.isEnabled
        logger = context.logger
        if delimiter.isEmpty { throw SettingsValidationError("delimiter must not be empty", setting: "delimiter") }
        if settings.decodeSizeLimitBytes < 1 {
            throw SettingsValidationError("decode_size_limit_bytes must be at least 1", setting: "decode_size_limit_bytes")
        }
        sizeLimit = settings.decodeSizeLimitBytes
        lines = DelimitedLines(delimiter: delimiter, limit: sizeLimit)
    }

    /// Reads the bytes in `charset`, then decodes them as UTF-8.
    public func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        splitLines(bytes, line: { decodeLine($0, receivedAt: .now(), emit) }, event: emit)
    }

    func decodeLine(_ line: UnsafeBufferPointer<UInt8>, receivedAt: Timestamp, _ emit: (Event) -> Void) {
        emit(TextEvents.make(String(decoding: line, as: UTF8.self), setOriginal: setOriginal, receivedAt: receivedAt))
    }

    /// A line longer than `decode_size_limit_bytes`: its first bytes, tagged, and a warning.
    func emitOversized(_ prefix: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        logger.rateLimited(
            .warn, key: "line-too-big",
            "A line is longer than decode_size_limit_bytes (\(sizeLimit)): its first \(sizeLimit) bytes become an event tagged \(Self.tooBigTag), the rest is skipped")
        let event = TextEvents.make(String(decoding: prefix, as: UTF8.self), setOriginal: setOriginal)
        event.tag(Self.tooBigTag)
        emit(event)
    }

    /// The tag of an event cut at `decode_size_limit_bytes`.
    static let tooBigTag = "_linetoobigfailure"

    public func flush(_ emit: (Event) -> Void) {
        flushLines(line: { decodeLine($0, receivedAt: .now(), emit) }, event: emit)
    }

    var setsOriginal: Bool { setOriginal }

    public func encode(_ event: Event, into out: inout [UInt8]) {
        out.append(contentsOf: TextEvents.render(event, format).utf8)
        out.append(contentsOf: delimiter)
    }
}

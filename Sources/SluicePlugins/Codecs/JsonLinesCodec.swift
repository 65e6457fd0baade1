import SluiceCore

/// Newline-delimited JSON: one JSON document per line in, one per event out (Logstash's `json_lines` codec).
public final class JsonLinesCodec: LineDecodingCodec, @unchecked Sendable {
    public static let name = "json_lines"
    public static let summary = "Reads one JSON document per line; writes each event as JSON followed by the delimiter."

    public struct Settings: PluginSettings {
        @Setting("charset", doc: "The character set of the input; text is converted to UTF-8.")
        var charset = TextCharset.utf8
        @Setting("delimiter", doc: "The line delimiter.")
        var delimiter = "\n"
        @Setting("target", doc: "Put each decoded object under this field instead of the event's root.")
        var target: FieldReference? = nil
        @Setting("decode_size_limit_bytes", doc: "The largest line accepted while decoding.")
        var decodeSizeLimitBytes = 512 * 1024 * 1024
        public init() {}
    }

    let delimiter: [UInt8]
    let decoder: JSONEventDecoder
    let charset: TextCharset
    let logger: Logger
    /// `decode_size_limit_bytes` (the splitter's own copy is not readable while it splits).
    let sizeLimit: Int
    /// The unfinished line between chunks (decoding is single-threaded: one input or connection owns this codec).
    var lines: DelimitedLines

    public init(settings: Settings, context: PluginContext) throws {
        charset = settings.charset
        delimiter = Array(settings.delimiter.utf8)
        if delimiter.isEmpty { throw SettingsValidationError("delimiter must not be empty", setting: "delimiter") }
        if settings.decodeSizeLimitBytes < 1 {
            throw SettingsValidationError("decode_size_limit_bytes must be at least 1", setting: "decode_size_limit_bytes")
        }
        decoder = JSONEventDecoder(target: settings.target, setOriginal: false, logger: context.logger, logLevel: .warn)
        logger = context.logger
        sizeLimit = settings.decodeSizeLimitBytes
        lines = DelimitedLines(delimiter: delimiter, limit: sizeLimit)
    }

    /// Reads the bytes in `charset`, then decodes them as UTF-8.
    public func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        splitLines(bytes, line: { decodeLine($0, receivedAt: .now(), emit) }, event: emit)
    }

    var setsOriginal: Bool { false }

    func decodeLine(_ line: UnsafeBufferPointer<UInt8>, receivedAt: Timestamp, _ emit: (Event) -> Void) {
        // A blank line yields no event.
        if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { return }
        decoder.decode(line, receivedAt: receivedAt, emit)
    }

    /// A line longer than `decode_size_limit_bytes` (where Logstash stops the input with "input buffer full"): its
    /// first bytes as the message, tagged, and a warning; the rest of the line is skipped.
    func emitOversized(_ prefix: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        logger.rateLimited(
            .warn, key: "json-line-too-big",
            "A JSON line is longer than decode_size_limit_bytes (\(sizeLimit)): its first \(sizeLimit) bytes become the message of an event tagged \(Self.tooBigTag), the rest is skipped")
        let event = Event()
        event.fields["message"] = .string(String(decoding: prefix, as: UTF8.self))
        event.tag(Self.tooBigTag)
        emit(event)
    }

    /// The tag of an event whose line was cut at `decode_size_limit_bytes`.
    static let tooBigTag = "_jsonparsetoobigfailure"

    public func flush(_ emit: (Event) -> Void) {
        flushLines(line: { decodeLine($0, receivedAt: .now(), emit) }, event: emit)
    }

    public func encode(_ event: Event, into out: inout [UInt8]) {
        JSONWriter.write(event.fields, to: &out)
        out.append(contentsOf: delimiter)
    }
}

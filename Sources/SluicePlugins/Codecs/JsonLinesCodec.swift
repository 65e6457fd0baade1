import SluiceCore

/// Newline-delimited JSON: one JSON document per line in, one per event out (Logstash's `json_lines` codec).
public final class JsonLinesCodec: Codec, @unchecked Sendable {
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
    let sizeLimit: Int
    var pending: [UInt8] = []

    let charset: TextCharset
    public init(settings: Settings, context: PluginContext) throws {
        charset = settings.charset
        delimiter = Array(settings.delimiter.utf8)
        if delimiter.isEmpty { throw SettingsValidationError("delimiter must not be empty", setting: "delimiter") }
        decoder = JSONEventDecoder(target: settings.target, setOriginal: false, logger: context.logger, logLevel: .warn)
        sizeLimit = settings.decodeSizeLimitBytes
    }

    /// Reads the bytes in `charset`, then decodes them as UTF-8.
    public func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        charset.withUTF8(bytes) { decodeUTF8($0, emit) }
    }

    private func decodeUTF8(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        var start = 0
        var i = 0
        while i < bytes.count {
            if bytes[i] == delimiter[0] && (delimiter.count == 1 || hasDelimiter(bytes, i)) {
                line(UnsafeBufferPointer(rebasing: bytes[start..<i]), emit)
                i += delimiter.count
                start = i
            } else {
                i += 1
            }
        }
        if start < bytes.count {
            pending.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
            if pending.count > sizeLimit {
                let e = Event()
                e.fields["message"] = .string("payload bigger than \(sizeLimit) bytes")
                e.tag("_jsonparsetoobigfailure")
                emit(e)
                pending.removeAll()
            }
        }
    }

    private func hasDelimiter(_ bytes: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        guard i + delimiter.count <= bytes.count else { return false }
        for k in 1..<delimiter.count where bytes[i + k] != delimiter[k] { return false }
        return true
    }

    private func line(_ chunk: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        if pending.isEmpty {
            decodeLine(chunk, emit)
        } else {
            pending.append(contentsOf: chunk)
            let whole = pending
            pending.removeAll(keepingCapacity: true)
            whole.withUnsafeBufferPointer { decodeLine($0, emit) }
        }
    }

    private func decodeLine(_ line: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        // A blank line yields no event.
        if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { return }
        decoder.decode(line, emit)
    }

    public func flush(_ emit: (Event) -> Void) {
        guard !pending.isEmpty else { return }
        let rest = pending
        pending.removeAll()
        rest.withUnsafeBufferPointer { decodeLine($0, emit) }
    }

    public func encode(_ event: Event, into out: inout [UInt8]) {
        JSONWriter.write(event.fields, to: &out)
        out.append(contentsOf: delimiter)
    }
}

import SluiceCore

/// Splits input on a delimiter, one event per line; writes one line per event (Logstash's `line` codec).
public final class LineCodec: Codec, @unchecked Sendable {
    public static let name = "line"
    public static let summary = "One event per line; writes the format string or the event's text form plus the delimiter."

    public struct Settings: PluginSettings {
        @Setting("charset", doc: "The character set of the input; text is converted to UTF-8.")
        var charset = TextCharset.utf8
        @Setting("delimiter", doc: "The line delimiter.")
        var delimiter = "\n"
        @Setting("format", doc: "A sprintf format for encoding; defaults to `<@timestamp> <host> <message>`.")
        var format: Template? = nil
        public init() {}
    }

    let delimiter: [UInt8]
    let format: Template?
    let setOriginal: Bool
    /// Bytes after the last delimiter seen (decoding is single-threaded: one input owns this codec).
    var pending: [UInt8] = []

    let charset: TextCharset
    public init(settings: Settings, context: PluginContext) throws {
        charset = settings.charset
        delimiter = Array(settings.delimiter.utf8)
        format = settings.format
        setOriginal = context.ecsCompatibility.isEnabled
        if delimiter.isEmpty { throw SettingsValidationError("delimiter must not be empty", setting: "delimiter") }
    }

    /// Reads the bytes in `charset`, then decodes them as UTF-8.
    public func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        charset.withUTF8(bytes) { decodeUTF8($0, emit) }
    }

    private func decodeUTF8(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        var start = 0
        var i = 0
        let d0 = delimiter[0]
        while i < bytes.count {
            if bytes[i] == d0 && matchesDelimiter(bytes, at: i) {
                emitLine(bytes, start..<i, emit)
                i += delimiter.count
                start = i
            } else {
                i += 1
            }
        }
        if start < bytes.count { pending.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...])) }
    }

    private func matchesDelimiter(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        if delimiter.count == 1 { return true }
        guard i + delimiter.count <= bytes.count else { return false }
        for k in 1..<delimiter.count where bytes[i + k] != delimiter[k] { return false }
        return true
    }

    private func emitLine(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ emit: (Event) -> Void) {
        let text: String
        if pending.isEmpty {
            text = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        } else {
            pending.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[range]))
            text = String(decoding: pending, as: UTF8.self)
            pending.removeAll(keepingCapacity: true)
        }
        emit(TextEvents.make(text, setOriginal: setOriginal))
    }

    public func flush(_ emit: (Event) -> Void) {
        guard !pending.isEmpty else { return }
        let text = String(decoding: pending, as: UTF8.self)
        pending.removeAll()
        emit(TextEvents.make(text, setOriginal: setOriginal))
    }

    public func encode(_ event: Event, into out: inout [UInt8]) {
        out.append(contentsOf: TextEvents.render(event, format).utf8)
        out.append(contentsOf: delimiter)
    }
}

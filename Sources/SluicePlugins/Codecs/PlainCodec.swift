import SluiceCore

/// Reads a chunk as one `message`; writes `format` or the event's text form (Logstash's `plain` codec).
public final class PlainCodec: Codec {
    public static let name = "plain"
    public static let summary = "Reads text as one message per chunk; writes the format string or the event's text form."

    public struct Settings: PluginSettings {
        @Setting("charset", doc: "The character set of the input; text is converted to UTF-8.")
        var charset = TextCharset.utf8
        @Setting("format", doc: "A sprintf format for encoding; defaults to `<@timestamp> <host> <message>`.")
        var format: Template? = nil
        public init() {}
    }

    let format: Template?
    let setOriginal: Bool

    let charset: TextCharset
    public init(settings: Settings, context: PluginContext) throws {
        charset = settings.charset
        format = settings.format
        setOriginal = context.ecsCompatibility.isEnabled
    }

    /// Reads the bytes in `charset`, then decodes them as UTF-8.
    public func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        charset.withUTF8(bytes) { decodeUTF8($0, emit) }
    }

    private func decodeUTF8(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        emit(TextEvents.make(String(decoding: bytes, as: UTF8.self), setOriginal: setOriginal))
    }

    public func encode(_ event: Event, into out: inout [UInt8]) {
        out.append(contentsOf: TextEvents.render(event, format).utf8)
    }
}

/// Shared by the text codecs: building an event from a line, and the event's text form.
enum TextEvents {
    static let original = FieldReference("[event][original]")

    /// A new event with `message` (and `[event][original]` in ECS mode), stamped `receivedAt` (now by default).
    static func make(_ text: String, setOriginal: Bool, receivedAt: Timestamp? = nil) -> Event {
        let event = Event(timestamp: receivedAt ?? .now())
        event.fields.appendNew("message", .string(text))
        if setOriginal { event.fields.appendNew("event", .object(originalObject(text))) }
        return event
    }

    static func originalObject(_ text: String) -> Object {
        var o = Object(minimumCapacity: 1)
        o["original"] = .string(text)
        return o
    }

    /// `format` rendered, or Logstash's `Event#to_s`: `<@timestamp> <host> <message>`.
    static func render(_ event: Event, _ format: Template?) -> String {
        if let format { return format.render(event) }
        let ts = event.timestamp?.iso8601 ?? ""
        return "\(ts) \(javaString(event.fields["host"], "%{host}")) \(javaString(event.fields["message"], "%{message}"))"
    }

    static func javaString(_ v: Value?, _ missing: String) -> String {
        guard let v, !v.isNull else { return missing }
        switch v {
        case .object(let o): return "{" + o.map { "\($0.0)=\(javaString($0.1, ""))" }.joined(separator: ", ") + "}"
        case .array(let a): return "[" + a.map { javaString($0, "") }.joined(separator: ", ") + "]"
        default: return v.interpolated
        }
    }
}

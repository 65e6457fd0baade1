import SluiceCore

/// Reads a chunk as one JSON document; writes each event as JSON with no newline (Logstash's `json` codec).
public final class JsonCodec: Codec {
    public static let name = "json"
    public static let summary = "Reads a whole chunk as one JSON object or array; writes events as JSON without a newline."

    public struct Settings: PluginSettings {
        @Setting("charset", doc: "The character set of the input; text is converted to UTF-8.")
        var charset = TextCharset.utf8
        @Setting("target", doc: "Put the decoded object under this field instead of the event's root.")
        var target: FieldReference? = nil
        public init() {}
    }

    let decoder: JSONEventDecoder

    let charset: TextCharset
    public init(settings: Settings, context: PluginContext) throws {
        charset = settings.charset
        decoder = JSONEventDecoder(
            target: settings.target, setOriginal: context.ecsCompatibility.isEnabled, logger: context.logger,
            logLevel: .error)
    }

    /// Reads the bytes in `charset`, then decodes them as UTF-8.
    public func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        charset.withUTF8(bytes) { decodeUTF8($0, emit) }
    }

    private func decodeUTF8(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        decoder.decode(bytes, emit)
    }

    public func encode(_ event: Event, into out: inout [UInt8]) {
        JSONWriter.write(event.fields, to: &out)
    }
}

/// Turns JSON text into events as Logstash's json codecs do: an object is one event, an array one event per
/// element, anything else (or invalid JSON) an event holding the text with the `_jsonparsefailure` tag.
struct JSONEventDecoder: Sendable {
    let target: FieldReference?
    let setOriginal: Bool
    let logger: Logger
    let logLevel: LogLevel

    /// `receivedAt`: the `@timestamp` of an event whose document has none (now by default).
    func decode(_ bytes: UnsafeBufferPointer<UInt8>, receivedAt: Timestamp? = nil, _ emit: (Event) -> Void) {
        let parsed: Value
        do {
            parsed = try JSONParser.parse(bytes)
        } catch {
            failure(bytes, "\(error)", receivedAt, emit)
            return
        }
        switch parsed {
        case .object(let o):
            emit(event(from: o, original: bytes, receivedAt: receivedAt))
        case .array(let items):
            for item in items {
                guard case .object(let o) = item else {
                    failure(bytes, "array element is not an object", receivedAt, emit)
                    continue
                }
                emit(event(from: o, original: nil, receivedAt: receivedAt))
            }
        default:
            failure(bytes, "not a JSON object", receivedAt, emit)
        }
    }

    private func event(from o: Object, original: UnsafeBufferPointer<UInt8>?, receivedAt: Timestamp?) -> Event {
        let e: Event
        if let target {
            e = Event(timestamp: receivedAt ?? .now())
            e.set(target, .object(o))
        } else {
            e = Event(fromMap: o, now: receivedAt)
        }
        if setOriginal, let original, e.get(TextEvents.original) == nil {
            e.set(TextEvents.original, .string(String(decoding: original, as: UTF8.self)))
        }
        return e
    }

    private func failure(
        _ bytes: UnsafeBufferPointer<UInt8>, _ reason: String, _ receivedAt: Timestamp?, _ emit: (Event) -> Void
    ) {
        let text = String(decoding: bytes, as: UTF8.self)
        logger.rateLimited(logLevel, key: "jsonparse", "JSON parse error, original data now in message field {:message=>\"\(reason)\", :data=>\(JSONWriter.string(.string(text)))}")
        let e = Event(timestamp: receivedAt ?? .now())
        e.fields["message"] = .string(text)
        e.tag("_jsonparsefailure")
        emit(e)
    }
}

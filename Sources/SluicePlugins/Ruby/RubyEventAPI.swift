import CSluiceRuby
import SluiceCore

/// Swift's side of `LogStash::Event` (and `LogStash::Timestamp#to_s`): the C glue calls `handle` from the Ruby
/// methods the prelude defines, with the event the filter is running the snippet on.
///
/// Interpreter thread only (it is called from inside Ruby methods). Errors are returned as a Ruby String in
/// `error`, which the glue raises as a RuntimeError once this function has returned: no Ruby exception crosses a
/// Swift frame. Field references and sprintf formats are parsed once and cached, as everywhere in Sluice.
enum RubyEventAPI {
    /// Parsed field references by their text (the interpreter thread only; emptied when it grows past 10,000).
    nonisolated(unsafe) private static var references: [String: FieldReference] = [:]
    /// Parsed sprintf formats by their text (the interpreter thread only; emptied when it grows past 1,000).
    nonisolated(unsafe) private static var templates: [String: Template] = [:]

    static func handle(
        _ handle: UnsafeMutableRawPointer?, _ op: Int32, _ a: sluice_value, _ b: sluice_value,
        _ error: UnsafeMutablePointer<sluice_value>
    ) -> sluice_value {
        if op == Int32(SLUICE_TIMESTAMP_ISO8601.rawValue) {
            guard case .int(let seconds)? = RubyValues.value(a), case .int(let nanoseconds)? = RubyValues.value(b) else {
                error.pointee = RubyValues.string("invalid LogStash::Timestamp")
                return sluice_rb_nil()
            }
            return RubyValues.string(Timestamp(seconds: Int64(seconds), nanoseconds: Int32(truncatingIfNeeded: nanoseconds)).iso8601)
        }
        guard let handle else { return sluice_rb_nil() }
        let event = Unmanaged<Event>.fromOpaque(handle).takeUnretainedValue()
        switch UInt32(op) {
        case SLUICE_EVENT_GET.rawValue:
            guard let ref = reference(a, error) else { return sluice_rb_nil() }
            return event.get(ref).map(RubyValues.ruby) ?? sluice_rb_nil()
        case SLUICE_EVENT_SET.rawValue:
            guard let ref = reference(a, error) else { return sluice_rb_nil() }
            guard let value = RubyValues.value(b) else {
                error.pointee = RubyValues.string("cannot store this value at \(ref.text)")
                return sluice_rb_nil()
            }
            guard event.set(ref, value) else {
                error.pointee = RubyValues.string(
                    ref == .timestamp
                        ? "@timestamp must be a LogStash::Timestamp, a Time or an ISO-8601 string"
                        : "cannot set \(ref.text): a field on its path holds a value that is not a hash")
                return sluice_rb_nil()
            }
            return b
        case SLUICE_EVENT_REMOVE.rawValue:
            guard let ref = reference(a, error) else { return sluice_rb_nil() }
            return event.remove(ref).map(RubyValues.ruby) ?? sluice_rb_nil()
        case SLUICE_EVENT_INCLUDE.rawValue:
            guard let ref = reference(a, error) else { return sluice_rb_nil() }
            return sluice_rb_bool(event.includes(ref) ? 1 : 0)
        case SLUICE_EVENT_TAG.rawValue:
            event.tag(RubyValues.string(a))
            return sluice_rb_nil()
        case SLUICE_EVENT_CANCEL.rawValue:
            event.cancelled = true
            return sluice_rb_bool(1)
        case SLUICE_EVENT_UNCANCEL.rawValue:
            event.cancelled = false
            return sluice_rb_bool(0)
        case SLUICE_EVENT_CANCELLED.rawValue:
            return sluice_rb_bool(event.cancelled ? 1 : 0)
        case SLUICE_EVENT_TO_HASH.rawValue:
            return RubyValues.ruby(.object(event.toMap))
        case SLUICE_EVENT_TIMESTAMP.rawValue:
            return event.timestamp.map { sluice_rb_timestamp($0.seconds, $0.nanoseconds) } ?? sluice_rb_nil()
        case SLUICE_EVENT_SPRINTF.rawValue:
            let format = RubyValues.string(a)
            let template: Template
            if let cached = templates[format] {
                template = cached
            } else {
                if templates.count >= 1_000 { templates.removeAll() }
                template = Template(format)
                templates[format] = template
            }
            return RubyValues.string(template.render(event))
        default:
            error.pointee = RubyValues.string("unknown event operation \(op)")
            return sluice_rb_nil()
        }
    }

    /// The parsed field reference of a Ruby String, or nil with `error` set (Logstash's message for a bad one).
    private static func reference(_ text: sluice_value, _ failure: UnsafeMutablePointer<sluice_value>) -> FieldReference? {
        let key = RubyValues.string(text)
        if let cached = references[key] { return cached }
        do {
            let ref = try FieldReference(parsing: key)
            if references.count >= 10_000 { references.removeAll() }
            references[key] = ref
            return ref
        } catch {
            failure.pointee = RubyValues.string(error.description)
            return nil
        }
    }
}

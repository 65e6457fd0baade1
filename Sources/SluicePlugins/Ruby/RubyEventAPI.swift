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
    /// The loggers of the filters' Ruby `logger` objects, by token (the interpreter thread only; a reloaded filter
    /// adds a new one, so this grows by one logger per ruby filter started).
    nonisolated(unsafe) private static var loggers: [Logger] = []

    /// The token a filter's Ruby `logger` names `logger` by. Interpreter thread.
    static func register(_ logger: Logger) -> Int {
        loggers.append(logger)
        return loggers.count - 1
    }

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
        if op == Int32(SLUICE_EVENT_NEW.rawValue) {
            guard case .object(let map)? = RubyValues.value(a) else {
                error.pointee = RubyValues.string("LogStash::Event.new: the hash holds a value an event cannot hold")
                return sluice_rb_nil()
            }
            return owned(Event(fromMap: map))
        }
        if op == Int32(SLUICE_LOG.rawValue) { return log(a, b) }
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
        case SLUICE_EVENT_CLONE.rawValue:
            let copy = Event(copying: event)
            copy.cancelled = false
            return owned(copy)
        case SLUICE_EVENT_TO_HASH_WITH_METADATA.rawValue:
            var map = event.toMap
            if !event.metadata.isEmpty { map["@metadata"] = .object(event.metadata) }
            return RubyValues.ruby(.object(map))
        default:
            error.pointee = RubyValues.string("unknown event operation \(op)")
            return sluice_rb_nil()
        }
    }

    /// A new Ruby `LogStash::Event` that owns `event` (one retain, given back when Ruby collects the object).
    private static func owned(_ event: Event) -> sluice_value {
        sluice_rb_owned_event(Unmanaged.passRetained(event).toOpaque())
    }

    /// `Sluice.__log(token × 8 + level, message)`: a line in the filter's log; with a nil message, whether the level
    /// is enabled (`logger.debug?`).
    private static func log(_ code: sluice_value, _ message: sluice_value) -> sluice_value {
        guard case .int(let number)? = RubyValues.value(code), loggers.indices.contains(number / 8),
            let level = LogLevel(rawValue: number % 8)
        else { return sluice_rb_nil() }
        if sluice_rb_kind(message) != Int32(SLUICE_RB_STRING.rawValue) {
            return sluice_rb_bool(level >= LogSink.shared.level ? 1 : 0)
        }
        loggers[number / 8].log(level, RubyValues.string(message))
        return sluice_rb_nil()
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

import SluiceCore

/// Parses a date from a field into `@timestamp` or another field (Logstash's `date` filter, version 3.1.x).
///
/// `match` is the source field followed by formats, tried in order: Joda-Time patterns (compiled once into a
/// parser), `ISO8601`, `UNIX`, `UNIX_MS` and `TAI64N`. A missing or null source does nothing; a value no format
/// parses gets `tag_on_failure`. Patterns without a year take the current year, with Logstash's December/January
/// rollover. Local times are resolved in `timezone` (an IANA id read from the system's TZif files, or a fixed
/// offset; `%{field}` references are resolved per event), UTC by default. Month and weekday names are English.
public final class DateFilter: Filter {
    public static let name = "date"
    public static let summary = "Parses dates from fields to use as the event's timestamp."

    public struct Settings: PluginSettings {
        @Setting("match", doc: "The source field followed by one or more formats: Joda-Time patterns, ISO8601, UNIX, UNIX_MS or TAI64N.")
        var match: [String] = []
        @Setting("timezone", doc: "The time zone for dates without an offset: an IANA id (America/New_York), a fixed offset (+01:00) or a %{field} reference.")
        var timezone: String? = nil
        @Setting("locale", doc: "The locale (BCP 47, e.g. `fr`, `de-CH`) of month, weekday and AM/PM names; English by default.")
        var locale: String? = nil
        @Setting("target", doc: "The field receiving the parsed timestamp.")
        var target = "@timestamp"
        @Setting("tag_on_failure", doc: "Tags added when no format parses the value.")
        var tagOnFailure = ["_dateparsefailure"]
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if match.count < 2 {
                throw SettingsValidationError(
                    "The match setting should contains first a field name and at least one date format, current value is \(Ruby.inspect(.array(match.map { .string($0) })))",
                    setting: "match")
            }
        }
    }

    /// Where the zone comes from.
    enum ZoneSource {
        case fixed(TimeZoneRules)
        case perEvent(Template)
    }

    let source: FieldReference
    let formats: [DateFormat]
    /// The formats as configured, for failure reasons.
    let formatNames: [String]
    let zone: ZoneSource
    let target: FieldReference
    let tagOnFailure: [String]
    let logger: Logger
    /// The clock used for the year guess; tests replace it.
    let clock: @Sendable () -> Timestamp

    public convenience init(settings: Settings, context: PluginContext) throws {
        try self.init(settings: settings, context: context, clock: { Timestamp.now() })
    }

    init(settings: Settings, context: PluginContext, clock: @escaping @Sendable () -> Timestamp) throws {
        logger = context.logger
        self.clock = clock
        source = try FieldReference(parsing: settings.match[0])
        formatNames = Array(settings.match.dropFirst())
        target = try FieldReference(parsing: settings.target)
        tagOnFailure = settings.tagOnFailure
        if let locale = settings.locale, locale.contains("_") {
            logger.warn("Date filter now use BCP47 format for locale, replacing underscore with dash")
        }
        let names = settings.locale.map(DateNames.forLocale) ?? .english
        if let tz = settings.timezone, tz.contains("%{") {
            zone = .perEvent(Template(tz))
        } else if let tz = settings.timezone {
            guard let rules = TimeZoneRules.named(tz) else {
                throw DateFilterError.unknownZone(tz)
            }
            zone = .fixed(rules)
        } else {
            zone = .fixed(.utc)
        }
        var compiled: [DateFormat] = []
        for format in settings.match.dropFirst() {
            do {
                compiled.append(try DateFormat(format, names: names))
            } catch {
                throw DateFilterError.invalidPattern(format, error.description)
            }
        }
        formats = compiled
    }

    public static let canFail = true

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            var failure: String? = nil
            if process(event, failure: &failure) {
                batch.matched[i] = true
            } else if let failure {
                batch.failed(i, reason: failure)
            }
        }
    }

    /// Parses one event's source; true on success (decorations apply). On failure `failure` says why.
    func process(_ event: Event, failure: inout String?) -> Bool {
        guard let value = event.get(source), !value.isNull else { return false }
        let rules: TimeZoneRules
        switch zone {
        case .fixed(let r): rules = r
        case .perEvent(let template):
            guard let r = TimeZoneRules.named(template.render(event)) else {
                tagFailure(event, value)
                failure = "date: unknown time zone \"\(template.render(event))\" for field [\(source.text)]"
                return false
            }
            rules = r
        }
        // A list is tried element by element; the first element a format parses wins.
        if case .array(let elements) = value {
            for candidate in elements where !candidate.isNull {
                if store(candidate, rules, event) { return true }
            }
        } else if store(value, rules, event) {
            return true
        }
        tagFailure(event, value)
        failure = "date: field [\(source.text)] value \(Ruby.inspect(value)) matches none of the formats \(formatNames)"
        return false
    }

    /// Parses `candidate` with the first format that reads it and stores the instant in `target`.
    private func store(_ candidate: Value, _ rules: TimeZoneRules, _ event: Event) -> Bool {
        for format in formats {
            guard let ts = format.parse(candidate, zone: rules, now: clock) else { continue }
            if target == .timestamp {
                event.fields["@timestamp"] = .timestamp(ts)
            } else {
                event.set(target, .timestamp(ts))
            }
            return true
        }
        return false
    }

    private func tagFailure(_ event: Event, _ value: Value) {
        logger.rateLimited(
            .debug, key: "parse",
            "Date parse failed on field '\(source.text)' with value \(Ruby.inspect(value))")
        for tag in tagOnFailure { event.tag(tag) }
    }
}

/// Configuration errors of the date filter.
enum DateFilterError: Error, CustomStringConvertible {
    case unknownZone(String)
    case invalidPattern(String, String)

    var description: String {
        switch self {
        case .unknownZone(let id): return "The datetime zone id '\(id)' is not recognised"
        case .invalidPattern(let pattern, let detail): return "\(detail) for pattern '\(pattern)'"
        }
    }
}

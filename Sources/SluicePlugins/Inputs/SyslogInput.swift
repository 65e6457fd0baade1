import NIOCore
import NIOPosix
import SluiceCore

/// Reads syslog messages over TCP and UDP on one port (Logstash's `syslog` input) and parses them as Logstash
/// does: grok with `<%{POSINT:priority}>%{SYSLOGLINE}` (RFC 3164), priority split into facility and severity with
/// labels, the timestamp parsed by the date filter, `_grokparsefailure_sysloginput` and priority 13 when the line
/// does not parse. Beyond Logstash, RFC 5424 lines are parsed into the same fields when `grok_pattern` is not set
/// (`rfc5424 => false` restores Logstash's failure tag). Each TCP connection has its own line codec; UDP datagrams
/// are one message each. Events are parsed on the event loops; `run` blocks the input's thread until the pipeline
/// stops.
public final class SyslogInput: Input, @unchecked Sendable {
    public static let name = "syslog"
    public static let summary = "Reads RFC 3164 (and RFC 5424) syslog messages over TCP and UDP and parses them."

    public struct Settings: PluginSettings {
        @Setting("host", doc: "The address to listen on (TCP and UDP).") var host = "0.0.0.0"
        @Setting("port", doc: "The port to listen on (TCP and UDP).") var port = 514
        @Setting("syslog_field", doc: "The field holding the raw syslog line that grok parses.") var syslogField = "message"
        @Setting("grok_pattern", doc: "The grok pattern that parses a line; the default is RFC 3164 with the priority.")
        var grokPattern: String? = nil
        @Setting("proxy_protocol", doc: "TCP connections start with a PROXY protocol v1 header.") var proxyProtocol = false
        @Setting("use_labels", doc: "Add the facility and severity names.") var useLabels = true
        @Setting("facility_labels", doc: "Facility names by number.") var facilityLabels = SyslogInput.facilityLabels
        @Setting("severity_labels", doc: "Severity names by number.") var severityLabels = SyslogInput.severityLabels
        @Setting("timezone", doc: "The time zone of timestamps without an offset (IANA id); the system's by default.")
        var timezone: String? = nil
        @Setting("locale", doc: "The locale of month names in timestamps.") var locale: String? = nil
        @Setting("service_type", doc: "ECS mode: the value of [service][type] when the event has none.") var serviceType = "system"
        @Setting("rfc5424", doc: "Sluice: parse RFC 5424 lines into the same fields when grok_pattern is not set.")
        var rfc5424 = true

        public init() {}

        public func validate() throws(SettingsValidationError) {
            if !(1...65535).contains(port) { throw SettingsValidationError("port must be between 1 and 65535, got \(port)", setting: "port") }
        }
    }

    static let facilityLabels = [
        "kernel", "user-level", "mail", "system", "security/authorization", "syslogd", "line printer", "network news", "UUCP",
        "clock", "security/authorization", "FTP", "NTP", "log audit", "log alert", "clock", "local0", "local1", "local2",
        "local3", "local4", "local5", "local6", "local7",
    ]
    static let severityLabels = ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"]

    let settings: Settings
    let context: PluginContext
    private let parser: SyslogParser
    private let server: NetworkServer

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        parser = try SyslogParser(settings, ecs: context.ecsCompatibility)
        server = NetworkServer(shutdown: context.shutdown)
    }

    public func run(_ sink: EventSink) throws {
        let annotate: @Sendable (Event, String) -> Void = { [parser, context] event, ip in
            context.decorate(event)
            parser.relay(event, from: ip)
        }
        do {
            try listenTCP(sink, annotate)
            let reader = DatagramReader(codec: try context.makeCodec(), sink: sink, logger: context.logger, annotate: annotate)
            _ = try server.bindUDP(host: settings.host, port: settings.port, bufferSize: 65507, reader)
        } catch {
            try server.abandon(after: error)
        }
        context.logger.info("Starting syslog listeners on \(settings.host):\(settings.port) (TCP and UDP)")
        server.serve()
    }

    public func stop() { server.stop() }

    private func listenTCP(_ sink: EventSink, _ annotate: @escaping @Sendable (Event, String) -> Void) throws {
        let options = StreamSourceOptions(proxyProtocol: settings.proxyProtocol, reverseLookup: false)
        try server.bindTCP(host: settings.host, port: settings.port) { [context] channel in
            let codec = try StreamingCodecs.lineOriented(context.makeCodec(), context)
            let reader = StreamSourceHandler(codec: codec, sink: sink, options: options, logger: context.logger) { event, facts in
                annotate(event, facts.peer.ip)
            }
            try channel.pipeline.syncOperations.addHandler(reader)
        }
    }
}

/// The syslog input's parsing of one event (Logstash's `syslog_relay`), with ECS or legacy field names: grok, then
/// priority, facility, severity, the date and the labels. Shared by every connection; called on event loops.
struct SyslogParser: Sendable {
    private let grok: GrokFilter
    private let rfc5424: GrokFilter?
    private let date: DateFilter
    private let ecs: Bool
    private let syslogField: FieldReference
    private let priority, facility, severity, facilityLabel, severityLabel, host: FieldReference
    private let useLabels: Bool
    private let facilityLabels, severityLabels: [String]
    private let serviceType: Value
    private static let serviceTypeField = FieldReference("[service][type]")
    private static let timestampField = FieldReference("timestamp")
    private static let timestamp8601Field = FieldReference("timestamp8601")

    static let failureTag = "_grokparsefailure_sysloginput"

    init(_ settings: SyslogInput.Settings, ecs mode: ECSCompatibility) throws {
        let ecs = mode.isEnabled
        self.ecs = ecs
        let pick = { FieldReference.named(ecs: ecs, legacy: $0, ecsName: $1) }
        priority = pick("priority", "[log][syslog][priority]")
        facility = pick("facility", "[log][syslog][facility][code]")
        severity = pick("severity", "[log][syslog][severity][code]")
        facilityLabel = pick("facility_label", "[log][syslog][facility][name]")
        severityLabel = pick("severity_label", "[log][syslog][severity][name]")
        host = pick("host", "[host][ip]")
        syslogField = FieldReference(settings.syslogField)
        let pattern = settings.grokPattern ?? (ecs ? "<%{POSINT:\(priority.text):int}>%{SYSLOGLINE}" : "<%{POSINT:priority}>%{SYSLOGLINE}")
        grok = try Self.grok(pattern, field: settings.syslogField, mode)
        rfc5424 = settings.grokPattern == nil && settings.rfc5424 ? try Self.grok(Self.rfc5424Pattern(ecs: ecs), field: settings.syslogField, mode) : nil
        var dateSettings = DateFilter.Settings()
        dateSettings.match = ["timestamp", "MMM dd HH:mm:ss", "MMM  d HH:mm:ss", "MMM d HH:mm:ss", "ISO8601"]
        dateSettings.timezone = settings.timezone
        dateSettings.locale = settings.locale
        date = try DateFilter(settings: dateSettings, context: .standalone(name: "date", kind: .filter, ecs: mode))
        useLabels = settings.useLabels
        facilityLabels = settings.facilityLabels
        severityLabels = settings.severityLabels
        serviceType = .string(settings.serviceType)
    }

    /// RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`, `-` for a missing part;
    /// captured under the names the RFC 3164 pattern uses, so the same priority and date steps apply.
    static func rfc5424Pattern(ecs: Bool) -> String {
        let names =
            ecs
            ? ("[log][syslog][priority]:int", "timestamp", "[host][hostname]", "[process][name]", "[process][pid]", "[event][code]", "[system][syslog][structured_data]")
            : ("priority", "timestamp8601", "logsource", "program", "pid", "msgid", "structured_data")
        return "<%{POSINT:\(names.0)}>1 (?:-|%{TIMESTAMP_ISO8601:\(names.1)}) (?:-|%{NOTSPACE:\(names.2)}) (?:-|%{NOTSPACE:\(names.3)})"
            + " (?:-|%{NOTSPACE:\(names.4)}) (?:-|%{NOTSPACE:\(names.5)}) (?:-|%{DATA5424SD:\(names.6)})(?: (?:\u{FEFF})?%{GREEDYDATA:message})?$"
    }

    private static func grok(_ pattern: String, field: String, _ mode: ECSCompatibility) throws -> GrokFilter {
        var settings = GrokFilter.Settings()
        settings.match = SettingHash([(field, [pattern])])
        settings.overwrite = [field]
        settings.tagOnFailure = [failureTag]
        settings.patternDefinitions = SettingHash([("DATA5424SD", #"(?:\[(?:[^\]\\"]|\\.|"(?:[^"\\]|\\.)*")*\])+"#)])
        return try GrokFilter(settings: settings, context: .standalone(name: "grok", kind: .filter, ecs: mode))
    }

    /// Parses `event` in place; `ip` is the sender (always recorded, replacing any value).
    func relay(_ event: Event, from ip: String) {
        event.set(host, .string(ip))
        if ecs, let raw = event.get(syslogField) { event.set(.eventOriginal, raw) }
        let parsed = parse(event)
        if ecs { event.setIfAbsent(Self.serviceTypeField, serviceType) }
        if parsed {
            setPriority(event, Self.rubyToI(event.get(priority)))
            if !ecs, let iso = event.get(Self.timestamp8601Field) { event.set(Self.timestampField, iso) }
            var batch = FilterBatch(events: [event])
            date.filter(&batch)
            if ecs { event.remove(Self.timestampField) }
        } else {
            setPriority(event, 13)
        }
        if useLabels { setLabels(event) }
    }

    /// Grok with the configured pattern, then, for a line that looks like RFC 5424, the RFC 5424 pattern.
    private func parse(_ event: Event) -> Bool {
        let tagsBefore = event.fields["tags"]
        var batch = FilterBatch(events: [event])
        grok.filter(&batch)
        if batch.matched[0] { return true }
        guard let rfc5424, case .string(let line)? = event.get(syslogField), Self.looksLikeRFC5424(line) else { return false }
        var retry = FilterBatch(events: [event])
        event.fields["tags"] = tagsBefore
        rfc5424.filter(&retry)
        return retry.matched[0]
    }

    /// `<digits>1 `: the start of an RFC 5424 line.
    static func looksLikeRFC5424(_ line: String) -> Bool {
        var bytes = line.utf8.makeIterator()
        guard bytes.next() == UInt8(ascii: "<") else { return false }
        var digits = 0
        while let b = bytes.next() {
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                digits += 1
                continue
            }
            return b == UInt8(ascii: ">") && digits > 0 && bytes.next() == UInt8(ascii: "1") && bytes.next() == UInt8(ascii: " ")
        }
        return false
    }

    /// Ruby's `to_i` on the captured priority: an integer as is, a string's leading digits (0 when none), nil 0;
    /// anything else raises in Ruby, and the input then uses 13.
    static func rubyToI(_ value: Value?) -> Int {
        switch value {
        case .int(let i)?: return i
        case .double(let d)?: return d.isFinite ? Int(d) : 13
        case .string(let s)?:
            let digits = s.drop { $0 == " " }.prefix { $0.isASCII && $0.isNumber }
            return Int(digits) ?? 0
        case nil, .null?: return 0
        default: return 13
        }
    }

    /// RFC 3164: priority = facility × 8 + severity.
    private func setPriority(_ event: Event, _ value: Int) {
        event.set(priority, .int(value))
        event.set(severity, .int(value & 7))
        event.set(facility, .int(value >> 3))
    }

    private func setLabels(_ event: Event) {
        if case .int(let f)? = event.get(facility), facilityLabels.indices.contains(f) { event.set(facilityLabel, .string(facilityLabels[f])) }
        if case .int(let s)? = event.get(severity), severityLabels.indices.contains(s) { event.set(severityLabel, .string(severityLabels[s])) }
    }
}

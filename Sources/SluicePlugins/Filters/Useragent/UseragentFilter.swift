import SluiceCore

/// Parses user-agent strings into browser, OS and device fields (Logstash's `useragent` filter, 3.3.x).
///
/// The patterns are uap-core's `regexes.yaml` — by default the copy Debian's `uap-core` package installs, the data
/// Logstash embeds — compiled once at start-up; results are kept in an LRU cache keyed by the user-agent string.
/// Field names follow the ECS mode: legacy fields at the root (or under `target`, with `prefix`), ECS fields under
/// `[user_agent]`, with the version parts as `[@metadata][filter][user_agent]…`. Like Logstash, ECS mode does not
/// write `[user_agent][original]`.
///
/// An empty or missing source leaves the event alone (not matched). A source that is not a string (Logstash
/// raises an exception there) is logged and reported as a failure, so `on_error => "dlq"` can route it.
public final class UseragentFilter: Filter {
    public static let name = "useragent"
    public static let summary = "Parses user-agent strings into browser, operating system and device fields."

    /// Where Debian's `uap-core` package installs uap-core's patterns.
    public static let debianRegexesPath = "/usr/share/uap-core/regexes.yaml"

    public struct Settings: PluginSettings {
        @Setting("source", doc: "The field holding the user-agent string (the first element when it is a list).", required: true)
        var source = FieldReference("message")
        @Setting("target", doc: "The field that receives the user-agent data; the event root when unset (ECS: `[user_agent]`).")
        var target: String? = nil
        @Setting("regexes", doc: "A uap-core `regexes.yaml` to use instead of Debian's `/usr/share/uap-core/regexes.yaml`.")
        var regexes: String? = nil
        @Setting("prefix", doc: "A string prepended to every field name (legacy mode only).")
        var prefix = ""
        @Setting("lru_cache_size", doc: "How many parsed user-agent strings are kept (least recently used ones are evicted); must be > 0.")
        var lruCacheSize = 100_000
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if lruCacheSize <= 0 {
                throw SettingsValidationError("lru_cache_size must be greater than 0, got \(lruCacheSize)", setting: "lru_cache_size")
            }
        }
    }

    public static let canFail = true

    /// The field references written, resolved once for the ECS mode, target and prefix.
    struct Fields {
        let name: FieldReference
        let device: FieldReference
        let version: FieldReference
        let major: FieldReference
        let minor: FieldReference
        let patch: FieldReference
        let osFull: FieldReference
        let osName: FieldReference
        /// Legacy only: `[os]`, the same value as `[os_name]`.
        let legacyOS: FieldReference?
        let osVersion: FieldReference
        let osMajor: FieldReference
        let osMinor: FieldReference
        let osPatch: FieldReference

        init(target configured: String?, prefix: String, ecs: Bool) throws(SettingsValidationError) {
            // Logstash builds reference text: a target not already `[single]` is wrapped in brackets; nested targets
            // become `[[a][b]]`, which the field-reference parser flattens.
            var target = configured ?? (ecs ? "[user_agent]" : "")
            if !target.isEmpty && !Fields.isSingleBracketed(target) { target = "[\(target)]" }
            func ref(_ text: String) throws(SettingsValidationError) -> FieldReference {
                do {
                    return try FieldReference(parsing: text)
                } catch {
                    throw SettingsValidationError("useragent: target: \(error.description)", setting: "target")
                }
            }
            let meta = "[@metadata][filter][user_agent]"
            if ecs {
                name = try ref("\(target)[name]")
                device = try ref("\(target)[device][name]")
                version = try ref("\(target)[version]")
                major = try ref("\(meta)[version][major]")
                minor = try ref("\(meta)[version][minor]")
                patch = try ref("\(meta)[version][patch]")
                osFull = try ref("\(target)[os][full]")
                osName = try ref("\(target)[os][name]")
                legacyOS = nil
                osVersion = try ref("\(target)[os][version]")
                osMajor = try ref("\(meta)[os][version][major]")
                osMinor = try ref("\(meta)[os][version][minor]")
                osPatch = try ref("\(meta)[os][version][patch]")
            } else {
                func field(_ name: String) throws(SettingsValidationError) -> FieldReference { try ref("\(target)[\(prefix)\(name)]") }
                name = try field("name")
                device = try field("device")
                version = try field("version")
                major = try field("major")
                minor = try field("minor")
                patch = try field("patch")
                osFull = try field("os_full")
                osName = try field("os_name")
                legacyOS = try field("os")
                osVersion = try field("os_version")
                osMajor = try field("os_major")
                osMinor = try field("os_minor")
                osPatch = try field("os_patch")
            }
        }

        /// Ruby's `/^\[[^\[\]]+\]$/`.
        static func isSingleBracketed(_ s: String) -> Bool {
            guard s.hasPrefix("["), s.hasSuffix("]"), s.count >= 3 else { return false }
            return !s.dropFirst().dropLast().contains { $0 == "[" || $0 == "]" }
        }
    }

    let source: FieldReference
    /// Logstash removes the source first when `target` is literally the same text as `source`.
    let replacesSource: Bool
    let fields: Fields
    let parser: UserAgentParser
    let cache: LRUCache<String, UserAgentClient>
    let logger: Logger

    public init(settings: Settings, context: PluginContext) throws {
        logger = context.logger
        let ecs = context.ecsCompatibility.isEnabled
        if ecs && !settings.prefix.isEmpty {
            logger.warn("Field prefix isn't supported in ECS compatibility mode, please remove `prefix => \(Ruby.inspect(string: settings.prefix))`")
        }
        source = settings.source
        replacesSource = settings.target == settings.source.text
        fields = try Fields(target: settings.target, prefix: settings.prefix, ecs: ecs)
        let path = settings.regexes ?? UseragentFilter.debianRegexesPath
        if settings.regexes == nil && !FileSystem.exists(path) {
            throw SettingsValidationError(
                "useragent: the uap-core patterns are not installed at \(path); install Debian's uap-core package "
                    + "(apt-get install uap-core, or `make deps`) or set `regexes` to a uap-core regexes.yaml",
                setting: "regexes")
        }
        parser = try UseragentFilter.loadParser(path)
        cache = LRUCache(capacity: settings.lruCacheSize)
    }

    /// Parsed pattern sets, shared by every useragent filter of the process (several filters or a reload compile
    /// the ~1,200 patterns once).
    static let parsers = SharedFileResource<UserAgentParser>()

    static func loadParser(_ path: String) throws -> UserAgentParser {
        try parsers.resource(at: path) { path throws(SettingsValidationError) in
            do {
                return try UserAgentParser(path: path)
            } catch {
                throw SettingsValidationError("useragent: \(error)", setting: "regexes")
            }
        }
    }

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            var value = event.get(source)
            if case .array(let list)? = value { value = list.first }
            let text: String
            switch value {
            case nil, .null?:
                continue
            case .string(let s)?:
                if s.isEmpty { continue }
                text = s
            case let other?:
                let type = Ruby.className(other)
                logger.rateLimited(.error, key: "type", "Unknown error while parsing user agent data {:field=>\(Ruby.inspect(string: source.text)), :type=>\(type)}")
                batch.failed(i, reason: "useragent: field [\(source.text)] is a \(type), not a String")
                continue
            }
            let client = cache.value(for: text) { parser.parse(text) }
            if replacesSource { _ = event.remove(source) }
            write(client, from: text, to: event)
            batch.matched[i] = true
        }
    }

    /// Sets the fields as Logstash's `set_fields` does.
    func write(_ client: UserAgentClient, from text: String, to event: Event) {
        let ua = client.userAgent
        event.set(fields.name, .string(ua.family))
        event.set(fields.device, .string(client.device))
        if let major = ua.major { event.set(fields.major, .string(major)) }
        if let minor = ua.minor { event.set(fields.minor, .string(minor)) }
        if let patch = ua.patch { event.set(fields.patch, .string(patch)) }
        if let version = UseragentFilter.version(ua, in: text) { event.set(fields.version, .string(version)) }

        let os = client.os
        if let major = os.major { event.set(fields.osMajor, .string(major)) }
        if let minor = os.minor { event.set(fields.osMinor, .string(minor)) }
        if let patch = os.patch { event.set(fields.osPatch, .string(patch)) }
        let osVersion = UseragentFilter.osVersion(os)
        if let osVersion { event.set(fields.osVersion, .string(osVersion)) }
        event.set(fields.osName, .string(os.family))
        if let legacy = fields.legacyOS { event.set(legacy, .string(os.family)) }
        event.set(fields.osFull, .string(osVersion.map { "\(os.family) \($0)" } ?? os.family))
    }

    /// The browser version, `major[.minor[.patch[.patchMinor]]]`. Without a parsed patchMinor, a fourth numeric
    /// part that follows the version in the user-agent string (up to the next space) is appended, as Logstash does.
    static func version(_ ua: UserAgentClient.Versioned, in text: String) -> String? {
        guard let major = ua.major else { return nil }
        var version = major
        guard let minor = ua.minor else { return version }
        version += ".\(minor)"
        guard let patch = ua.patch else { return version }
        version += ".\(patch)"
        if let patchMinor = ua.patchMinor { return version + ".\(patchMinor)" }
        return completedVersion(version, in: text)
    }

    /// Logstash's `check_and_adjust_version`: `1.2.3` found in `… 1.2.3.4 …` becomes `1.2.3.4`.
    static func completedVersion(_ version: String, in text: String) -> String {
        let haystack = Array(text.unicodeScalars)
        let needle = Array(version.unicodeScalars)
        guard let start = firstIndex(of: needle, in: haystack) else { return version }
        let after = start + needle.count
        guard after < haystack.count, haystack[after] == "." else { return version }
        guard let space = haystack[(after + 1)...].firstIndex(of: " ") else { return version }
        var part = String.UnicodeScalarView()
        part.append(contentsOf: haystack[(after + 1)..<space])
        let candidate = String(part)
        return isCanonicalInteger(candidate) ? "\(version).\(candidate)" : version
    }

    static func firstIndex(of needle: [Unicode.Scalar], in haystack: [Unicode.Scalar]) -> Int? {
        guard !needle.isEmpty, needle.count <= haystack.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }

    /// The OS version: `major`, then `.minor` (or ` minor` after a non-numeric major such as `Vista`), `.patch`,
    /// `.patchMinor`.
    static func osVersion(_ os: UserAgentClient.Versioned) -> String? {
        guard let major = os.major else { return nil }
        var version = major
        guard let minor = os.minor else { return version }
        version += (isCanonicalInteger(major) ? "." : " ") + minor
        guard let patch = os.patch else { return version }
        version += ".\(patch)"
        if let patchMinor = os.patchMinor { version += ".\(patchMinor)" }
        return version
    }

    /// Ruby's `s.to_i.to_s == s`: an optional `-` and digits without a leading zero (or `0` itself).
    static func isCanonicalInteger(_ s: String) -> Bool {
        var digits = Substring(s)
        if digits.hasPrefix("-") { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        if digits == "0" { return !s.hasPrefix("-") }
        return digits.first != "0"
    }
}

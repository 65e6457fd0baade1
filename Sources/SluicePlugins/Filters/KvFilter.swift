import SluiceCore

/// Parses `key=value` pairs (Logstash's `kv` filter, 4.7.x).
///
/// Like Logstash, the settings are compiled into one scanning regular expression: a key (escaped characters or
/// anything but the splitters), the value splitter (wrapped in optional spaces in `lenient` whitespace mode), an
/// optional value (double- or single-quoted, bracketed with `include_brackets`, or unquoted up to the field
/// splitter) and a field splitter or the end of a line. Repeated keys make lists. Keys are set as field references
/// (`[a][b]` nests) unless `target` is given.
public final class KvFilter: Filter {
    public static let name = "kv"
    public static let summary = "Parses key=value pairs into fields."

    enum Transform: String, SettingEnum {
        case lowercase, uppercase, capitalize

        func apply(_ s: String) -> String {
            switch self {
            case .lowercase: return s.lowercased()
            case .uppercase: return s.uppercased()
            case .capitalize: return Ruby.capitalize(s)
            }
        }
    }

    enum Whitespace: String, SettingEnum {
        case lenient, strict
    }

    public struct Settings: PluginSettings {
        @Setting("source", doc: "The field to parse (a string, or a list of strings).")
        var source = FieldReference("message")
        @Setting("target", doc: "The field that receives the parsed pairs as a hash; when unset, keys are set at the top level.")
        var target: FieldReference? = nil
        @Setting("field_split", doc: "Characters that separate pairs (a regular-expression character class body).")
        var fieldSplit = " "
        @Setting("value_split", doc: "Characters that separate a key from its value (a character class body).")
        var valueSplit = "="
        @Setting("field_split_pattern", doc: "A regular expression that separates pairs; overrides `field_split`.")
        var fieldSplitPattern: String? = nil
        @Setting("value_split_pattern", doc: "A regular expression that separates keys from values; overrides `value_split`.")
        var valueSplitPattern: String? = nil
        @Setting("include_keys", doc: "Only these keys are kept (sprintf templates).")
        var includeKeys: [String] = []
        @Setting("exclude_keys", doc: "These keys are dropped (sprintf templates).")
        var excludeKeys: [String] = []
        @Setting("prefix", doc: "Prepended to every key (sprintf template).")
        var prefix = ""
        @Setting("trim_key", doc: "Characters removed from the start and end of keys (a character class body).")
        var trimKey: String? = nil
        @Setting("trim_value", doc: "Characters removed from the start and end of values (a character class body).")
        var trimValue: String? = nil
        @Setting("remove_char_key", doc: "Characters removed from keys (a character class body).")
        var removeCharKey: String? = nil
        @Setting("remove_char_value", doc: "Characters removed from values (a character class body).")
        var removeCharValue: String? = nil
        @Setting("recursive", doc: "Parses values that themselves hold key=value pairs into hashes.")
        var recursive = false
        @Setting("allow_duplicate_values", doc: "Keeps repeated identical pairs (a key seen twice with the same value makes a list).")
        var allowDuplicateValues = true
        @Setting("allow_empty_values", doc: "Keeps keys whose value is empty, with an empty string.")
        var allowEmptyValues = false
        @Setting("default_keys", doc: "Keys and values added when the text does not have them.")
        var defaultKeys = SettingHash<Value>()
        @Setting("whitespace", doc: "`lenient` allows spaces around the value splitter; `strict` does not.")
        var whitespace = Whitespace.lenient
        @Setting("transform_key", doc: "Changes the case of keys: lowercase, uppercase or capitalize.")
        var transformKey: Transform? = nil
        @Setting("transform_value", doc: "Changes the case of values: lowercase, uppercase or capitalize.")
        var transformValue: Transform? = nil
        @Setting("include_brackets", doc: "Treats values in (), [] and <> like quoted values.")
        var includeBrackets = true
        @Setting("tag_on_failure", doc: "Tags added when parsing fails.")
        var tagOnFailure = ["_kv_filter_error"]
        @Setting("tag_on_timeout", doc: "Tags added when parsing takes too long.")
        var tagOnTimeout = "_kv_filter_timeout"
        @Setting("timeout_millis", doc: "Bounds the work spent on one event (Sluice bounds the regular-expression backtracking instead of wall time); 0 disables it.")
        var timeoutMillis = 30000
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if valueSplit.isEmpty {
                throw SettingsValidationError("Configuration option 'value_split' must be a non-empty string", setting: "value_split")
            }
            if fieldSplitPattern?.isEmpty == true {
                throw SettingsValidationError("Configuration option 'field_split_pattern' must be a non-empty string", setting: "field_split_pattern")
            }
            if valueSplitPattern?.isEmpty == true {
                throw SettingsValidationError("Configuration option 'value_split_pattern' must be a non-empty string", setting: "value_split_pattern")
            }
        }
    }

    struct TimeoutError: Error {}

    let source: FieldReference
    let target: FieldReference?
    let scan: Regex
    let valueSplitter: Regex
    let trimKey: Regex?
    let trimValue: Regex?
    let removeCharKey: Regex?
    let removeCharValue: Regex?
    let includeKeys: [Template]
    let excludeKeys: [Template]
    let prefix: Template
    let recursive: Bool
    let allowDuplicateValues: Bool
    let allowEmptyValues: Bool
    let defaultKeys: [(key: String, value: Value)]
    let transformKey: Transform?
    let transformValue: Transform?
    let tagOnFailure: [String]
    let tagOnTimeout: String
    let logger: Logger

    public static let canFail = true

    public init(settings: Settings, context: PluginContext) throws {
        // Logstash interrupts a scan after `timeout_millis`; Sluice bounds PCRE2's backtracking in proportion.
        let limit: UInt32? = settings.timeoutMillis > 0 ? UInt32(min(Int(UInt32.max), settings.timeoutMillis * 10_000)) : nil
        func compile(_ pattern: String, _ setting: String, limit: UInt32? = nil) throws -> Regex {
            do {
                return try Regex(pattern, matchLimit: limit)
            } catch {
                throw SettingsValidationError("kv: \(setting) gives an invalid regular expression: \(error)", setting: setting)
            }
        }
        let fieldSplit = settings.fieldSplitPattern ?? "[\(settings.fieldSplit)]"
        var valueSplit = settings.valueSplitPattern ?? "[\(settings.valueSplit)]"
        if settings.whitespace == .lenient { valueSplit = "(?: *(?:\(valueSplit)) *)" }
        let usesPatterns = settings.fieldSplitPattern != nil || settings.valueSplitPattern != nil
        let key = usesPatterns
            ? KvFilter.captureUntilPattern("(?:\(valueSplit))|(?:\(fieldSplit))")
            : KvFilter.captureUntilCharclass(settings.valueSplit + settings.fieldSplit)
        var values = [KvFilter.quoted("\"", "\""), KvFilter.quoted("'", "'")]
        if settings.includeBrackets {
            values += [KvFilter.quoted("(", ")"), KvFilter.quoted("[", "]"), KvFilter.quoted("<", ">")]
        }
        values.append(
            settings.fieldSplitPattern != nil
                ? KvFilter.captureUntilPattern(fieldSplit) : KvFilter.captureUntilCharclass(settings.fieldSplit))
        let scanPattern = "\(key)(?:\(valueSplit))(?:\(values.joined(separator: "|")))?(?:(?:\(fieldSplit))|(?m:$))"
        scan = try compile(scanPattern, "field_split", limit: limit)
        valueSplitter = try compile(valueSplit, "value_split")
        trimKey = try settings.trimKey.map { try compile("(?m)^[\($0)]+|[\($0)]+$", "trim_key") }
        trimValue = try settings.trimValue.map { try compile("(?m)^[\($0)]+|[\($0)]+$", "trim_value") }
        removeCharKey = try settings.removeCharKey.map { try compile("[\($0)]", "remove_char_key") }
        removeCharValue = try settings.removeCharValue.map { try compile("[\($0)]", "remove_char_value") }
        source = settings.source
        target = settings.target
        includeKeys = settings.includeKeys.map(Template.init)
        excludeKeys = settings.excludeKeys.map(Template.init)
        prefix = Template(settings.prefix)
        recursive = settings.recursive
        allowDuplicateValues = settings.allowDuplicateValues
        allowEmptyValues = settings.allowEmptyValues
        defaultKeys = settings.defaultKeys.entries
        transformKey = settings.transformKey
        transformValue = settings.transformValue
        tagOnFailure = settings.tagOnFailure
        tagOnTimeout = settings.tagOnTimeout
        logger = context.logger
        if target == nil && context.ecsCompatibility.isEnabled {
            logger.info("ECS compatibility is enabled but `target` option was not specified. This may cause fields to be set at the top-level of the event where they are likely to clash with the Elastic Common Schema. It is recommended to set the `target` option to avoid potential schema conflicts (if your data is ECS compliant or non-conflicting, feel free to ignore this message)")
        }
    }

    /// `((?:\\.|[^chars])+)`: escaped characters or anything outside the class.
    static func captureUntilCharclass(_ charclass: String) -> String { "((?:\\\\.|[^\(charclass)])+)" }

    /// `((?:\\.|(?!pattern).)+)`: escaped characters or anything where `pattern` does not start.
    static func captureUntilPattern(_ pattern: String) -> String { "((?:\\\\.|(?!\(pattern)).)+)" }

    /// A value between `open` and `close`, captured without them.
    static func quoted(_ open: String, _ close: String) -> String {
        let o = escape(open), c = escape(close)
        return "\(o)\(captureUntilCharclass(c))?\(c)"
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            if "\\^$.|?*+()[]{}-/".contains(ch) { out.append("\\") }
            out.append(ch)
        }
        return out
    }

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            do {
                var pairs = Pairs()
                switch event.get(source) {
                case nil, .null?:
                    break
                case .string(let text)?:
                    try parse(text, event, &pairs)
                case .array(let items)?:
                    for case .string(let text) in items { try parse(text, event, &pairs) }
                case let other?:
                    logger.rateLimited(.warn, key: "type", "kv filter has no support for this type of data {:type=>\(Ruby.className(other))}")
                }
                // Ruby's `@default_keys.merge(kv)`: defaults first, parsed values win.
                var merged = Pairs()
                for (key, value) in defaultKeys { merged.set(key, value) }
                for (key, value) in zip(pairs.keys, pairs.values) { merged.set(key, value) }
                if merged.keys.isEmpty { continue }
                do throws(EventOperationError) {
                    if let target {
                        var object = Object(minimumCapacity: merged.keys.count)
                        for (key, value) in zip(merged.keys, merged.values) { object[key] = value }
                        try event.strictSet(target, .object(object))
                    } else {
                        for (key, value) in zip(merged.keys, merged.values) {
                            try event.strictSet(referenceText: key, value)
                        }
                    }
                } catch {
                    fail(&batch, i, event, error.description)
                    continue
                }
                batch.matched[i] = true
            } catch {
                event.tag(tagOnTimeout)
                logger.rateLimited(.warn, key: "timeout", "Timeout reached in KV filter {:source=>\(Ruby.inspect(string: source.text))}")
                batch.failed(i, reason: "kv: parsing field [\(source.text)] exceeded the backtracking limit")
            }
        }
    }

    func fail(_ batch: inout FilterBatch, _ i: Int, _ event: Event, _ message: String) {
        for tag in tagOnFailure { event.tag(tag) }
        logger.rateLimited(.warn, key: "exception", "Exception while parsing KV {:exception=>\(Ruby.inspect(string: message))}")
        batch.failed(i, reason: "kv: cannot set the pairs parsed from [\(source.text)]: \(message)")
    }

    /// Insertion-ordered keys with their values (a Ruby Hash).
    struct Pairs {
        var keys: [String] = []
        var values: [Value] = []
        var index: [String: Int] = [:]

        subscript(key: String) -> Value? { index[key].map { values[$0] } }

        mutating func set(_ key: String, _ value: Value) {
            if let k = index[key] {
                values[k] = value
            } else {
                index[key] = keys.count
                keys.append(key)
                values.append(value)
            }
        }
    }

    /// How deep `recursive` parses values within values (`a=b=c=…` from data): as deep as JSON may nest. A value
    /// deeper than this stays a string, so that a hostile line cannot overflow the stack.
    static let maximumRecursionDepth = JSONParser.maximumDepth

    func parse(_ text: String, _ event: Event, _ pairs: inout Pairs, depth: Int = 0) throws(TimeoutError) {
        guard valueSplitter.matches(text) else { return }
        let include = includeKeys.map { $0.render(event) }
        let exclude = excludeKeys.map { $0.render(event) }
        let keyPrefix = prefix.render(event)
        var matches: [(String, String?)] = []
        var timedOut = false
        var text = text
        text.withUTF8 { buf in
            var from = 0
            while from <= buf.count {
                switch scan.match(buf, from: from) {
                case .noMatch: return
                case .limitExceeded:
                    timedOut = true
                    return
                case .match(let groups):
                    guard let whole = groups[0] else { return }
                    // Regex.match reports unset groups as -1..<-1 (PCRE2_UNSET read as a signed size), so
                    // negative ranges count as "did not participate".
                    let set = groups.map { range in range.flatMap { $0.lowerBound >= 0 ? $0 : nil } }
                    let key = set[1].map { String(decoding: UnsafeBufferPointer(rebasing: buf[$0]), as: UTF8.self) } ?? ""
                    let value = set.dropFirst(2).compactMap { $0 }.first.map {
                        String(decoding: UnsafeBufferPointer(rebasing: buf[$0]), as: UTF8.self)
                    }
                    matches.append((key, value))
                    from = whole.isEmpty ? whole.upperBound + 1 : whole.upperBound
                }
            }
        }
        if timedOut { throw TimeoutError() }
        for (rawKey, rawValue) in matches {
            var value: String
            if let rawValue, !rawValue.isEmpty {
                value = rawValue
            } else if allowEmptyValues {
                value = ""
            } else {
                continue
            }
            var key = rawKey
            if let trimKey { key = trimKey.replaceAll(in: key, with: "") }
            if let removeCharKey { key = removeCharKey.replaceAll(in: key, with: "") }
            if let transformKey { key = transformKey.apply(key) }
            if !include.isEmpty && !include.contains(key) { continue }
            if exclude.contains(key) { continue }
            key = keyPrefix + key
            if let trimValue { value = trimValue.replaceAll(in: value, with: "") }
            if let removeCharValue { value = removeCharValue.replaceAll(in: value, with: "") }
            if let transformValue { value = transformValue.apply(value) }
            if !allowDuplicateValues, let existing = pairs[key], KvFilter.rubyInclude(existing, value) { continue }
            var parsed: Value = .string(value)
            if recursive && depth < KvFilter.maximumRecursionDepth {
                var inner = Pairs()
                try parse(value, event, &inner, depth: depth + 1)
                if !inner.keys.isEmpty {
                    var object = Object(minimumCapacity: inner.keys.count)
                    for (k, v) in zip(inner.keys, inner.values) { object[k] = v }
                    parsed = .object(object)
                }
            }
            switch pairs[key] {
            case .array(var list)?:
                list.append(parsed)
                pairs.set(key, .array(list))
            case let existing?:
                pairs.set(key, .array([existing, parsed]))
            case nil:
                pairs.set(key, parsed)
            }
        }
    }

    /// Ruby's `include?` on what a key holds: a substring for strings, an element for lists, a key for hashes.
    static func rubyInclude(_ container: Value, _ value: String) -> Bool {
        switch container {
        case .string(let s): return value.isEmpty || s.contains(value)
        case .array(let a): return a.contains(.string(value))
        case .object(let o): return o[value] != nil
        default: return false
        }
    }
}

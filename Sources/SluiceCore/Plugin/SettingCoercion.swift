/// A type a setting can have. Each conformance implements one of Logstash's coercion rules (`config/mixin.rb`).
public protocol SettingValue {
    /// Converts a config value, or throws a diagnostic saying what was expected.
    static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> Self
    /// The type as the plugin reference names it ("string", "number", "hash of string", …).
    static var typeDescription: String { get }
    /// This value as it would be written in a config (for the generated reference).
    var configDescription: String? { get }
}

// MARK: Scalars

/// Unwraps a one-element array (Logstash accepts `["x"]` where a string is expected) and substitutes `${VAR}`.
func scalarText(_ value: ConfigValue, _ context: CoercionContext, expected: String) throws(Diagnostic) -> String {
    switch value {
    case .string(let s, _), .bareword(let s, _):
        return try context.substituted(s, at: value)
    case .integer(let i, _): return String(i)
    case .float(let d, _): return String(d)
    case .array(let a, _) where a.count == 1:
        return try scalarText(a[0], context, expected: expected)
    default:
        throw context.typeError(value, expected: expected)
    }
}

extension String: SettingValue {
    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> String {
        if case .array(let a, _) = value, a.count > 1 {
            throw context.error(value, "Expected string, got \(a.count) values", help: "give a single value")
        }
        return try scalarText(value, context, expected: "a string")
    }
    public static var typeDescription: String { "string" }
    public var configDescription: String? { "\"\(self)\"" }
}

extension Int: SettingValue {
    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> Int {
        let text = try scalarText(value, context, expected: "a number")
        if let i = Int(text) { return i }
        if let d = Double(text), d == d.rounded(), abs(d) < 9e18 { return Int(d) }
        throw context.typeError(value, expected: "a whole number")
    }
    public static var typeDescription: String { "number" }
    public var configDescription: String? { String(self) }
}

extension Double: SettingValue {
    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> Double {
        let text = try scalarText(value, context, expected: "a number")
        guard let d = Double(text) else { throw context.typeError(value, expected: "a number") }
        return d
    }
    public static var typeDescription: String { "number" }
    public var configDescription: String? { String(self) }
}

extension Bool: SettingValue {
    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> Bool {
        switch value {
        case .string, .bareword, .array:
            let text = try scalarText(value, context, expected: "true or false")
            if text == "true" { return true }
            if text == "false" { return false }
            throw context.typeError(value, expected: "true or false")
        default:
            throw context.typeError(value, expected: "true or false")
        }
    }
    public static var typeDescription: String { "boolean" }
    public var configDescription: String? { self ? "true" : "false" }
}

extension Optional: SettingValue where Wrapped: SettingValue {
    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> Wrapped? {
        try Wrapped.coerce(value, context)
    }
    public static var typeDescription: String { Wrapped.typeDescription }
    public var configDescription: String? { self?.configDescription }
}

// MARK: Lists

extension Array: SettingValue where Element: SettingValue {
    /// A scalar becomes a one-element list, as Logstash's `list => true` and `:array` settings.
    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> [Element] {
        switch value {
        case .array(let items, _):
            var out: [Element] = []
            out.reserveCapacity(items.count)
            for item in items { out.append(try Element.coerce(item, context)) }
            return out
        case .hash:
            throw context.typeError(value, expected: "a list of \(Element.typeDescription)")
        default:
            // A substituted "[a, b]" becomes a list, as Logstash refines substituted values.
            if case .string(let s, let span) = value, s.contains("${") {
                let text = try context.substituted(s, at: value)
                if text.hasPrefix("[") && text.hasSuffix("]") {
                    let items = text.dropFirst().dropLast().split(separator: ",").map {
                        ConfigValue.string(unquote($0.trimmingSpaces()), span)
                    }
                    return try coerce(.array(items, span), context)
                }
            }
            return [try Element.coerce(value, context)]
        }
    }
    public static var typeDescription: String { "list of \(Element.typeDescription)" }
    public var configDescription: String? {
        "[" + compactMap { $0.configDescription }.joined(separator: ", ") + "]"
    }
}

func unquote(_ s: String) -> String {
    if s.count >= 2, let f = s.first, let l = s.last, f == l, f == "\"" || f == "'" {
        return String(s.dropFirst().dropLast())
    }
    return s
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

// MARK: Hashes

/// An ordered hash setting (`rename => { "a" => "b" }`), also accepting Logstash's flat list form
/// `["a", "b", "c", "d"]`. Keys keep their config order; a key repeated in the flat form collects its values.
public struct SettingHash<V: SettingValue>: SettingValue, Sequence {
    public var entries: [(key: String, value: V)]

    public init(_ entries: [(key: String, value: V)] = []) { self.entries = entries }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }
    public func makeIterator() -> IndexingIterator<[(key: String, value: V)]> { entries.makeIterator() }

    public subscript(key: String) -> V? { entries.first { $0.key == key }?.value }

    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> SettingHash<V> {
        switch value {
        case .hash(let pairs, _):
            var out: [(String, V)] = []
            for p in pairs {
                let key = try scalarText(p.key, context, expected: "a hash key")
                out.append((key, try V.coerce(p.value, context)))
            }
            return SettingHash(out.map { (key: $0.0, value: $0.1) })
        case .array(let items, _):
            guard items.count % 2 == 0 else {
                throw context.error(value, "This field must contain an even number of items, got \(items.count)")
            }
            var raw: [(String, [ConfigValue])] = []
            var k = 0
            while k < items.count {
                let key = try scalarText(items[k], context, expected: "a hash key")
                if let i = raw.firstIndex(where: { $0.0 == key }) {
                    raw[i].1.append(items[k + 1])
                } else {
                    raw.append((key, [items[k + 1]]))
                }
                k += 2
            }
            var out: [(key: String, value: V)] = []
            for (key, values) in raw {
                let v = values.count == 1 ? values[0] : .array(values, values[0].span)
                out.append((key, try V.coerce(v, context)))
            }
            return SettingHash(out)
        default:
            throw context.typeError(value, expected: "a hash")
        }
    }

    public static var typeDescription: String { "hash of \(V.typeDescription)" }
    public var configDescription: String? {
        "{" + entries.map { "\"\($0.key)\" => \($0.value.configDescription ?? "")" }.joined(separator: " ") + "}"
    }
}

// MARK: Event-model types

extension FieldReference: SettingValue {
    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> FieldReference {
        let text = try scalarText(value, context, expected: "a field reference")
        do {
            return try FieldReference(parsing: text)
        } catch {
            throw context.error(value, error.description, help: "write nested fields as [outer][inner]")
        }
    }
    public static var typeDescription: String { "field reference" }
    public var configDescription: String? { "\"\(text)\"" }
}

extension Template: SettingValue {
    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> Template {
        Template(try String.coerce(value, context))
    }
    public static var typeDescription: String { "string (sprintf)" }
    public var configDescription: String? { "\"\(source)\"" }
}

/// A setting holding any config value as an event value (e.g. `add_field` values, `coerce` defaults).
extension Value: SettingValue {
    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> Value {
        switch value {
        case .string, .bareword: return .string(try scalarText(value, context, expected: "a value"))
        case .integer(let i, _): return .int(i)
        case .float(let d, _): return .double(d)
        case .array(let items, _):
            var out: [Value] = []
            for item in items { out.append(try coerce(item, context)) }
            return .array(out)
        case .hash(let pairs, _):
            var o = Object()
            for p in pairs { o[try scalarText(p.key, context, expected: "a hash key")] = try coerce(p.value, context) }
            return .object(o)
        case .plugin:
            throw context.typeError(value, expected: "a value")
        }
    }
    public static var typeDescription: String { "any" }
    public var configDescription: String? { JSONWriter.string(self) }
}

// MARK: Enumerations

/// A setting whose value is one of a fixed set of strings; the enum's cases are the allowed values.
public protocol SettingEnum: SettingValue, RawRepresentable, CaseIterable where RawValue == String {}

extension SettingEnum {
    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> Self {
        let text = try scalarText(value, context, expected: "one of \(allowedList)")
        if let v = Self(rawValue: text) { return v }
        let names = allCases.map(\.rawValue)
        throw context.error(
            value, "expected one of \(allowedList), got '\(text)'", help: Suggest.didYouMean(text, among: names))
    }
    static var allowedList: String { "[" + allCases.map(\.rawValue).joined(separator: ", ") + "]" }
    public static var typeDescription: String { "one of \(allowedList)" }
    public var configDescription: String? { "\"\(rawValue)\"" }
}

// MARK: Plugin-valued settings

/// A plugin written as a setting value (`codec => json_lines { charset => "UTF-8" }`, or just `codec => json`).
public struct PluginSpec: SettingValue, Sendable {
    public let name: String
    public let decl: PluginDecl

    public init(name: String, span: SourceSpan = .none) {
        self.name = name
        self.decl = PluginDecl(name: name, span: span, attributes: [])
    }

    public init(decl: PluginDecl) {
        name = decl.name
        self.decl = decl
    }

    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> PluginSpec {
        switch value {
        case .plugin(let p): return PluginSpec(decl: p)
        case .string(let s, let span), .bareword(let s, let span): return PluginSpec(name: s, span: span)
        default: throw context.typeError(value, expected: "a codec name or block")
        }
    }
    public static var typeDescription: String { "codec" }
    public var configDescription: String? { "\"\(name)\"" }
}

/// A size in bytes, written as a number or with a unit (`"10 KiB"`, `"1mb"`).
public struct ByteSize: SettingValue, Sendable, Equatable {
    public let bytes: Int64
    public init(_ bytes: Int64) { self.bytes = bytes }

    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> ByteSize {
        if case .integer(let i, _) = value { return ByteSize(Int64(i)) }
        let text = try scalarText(value, context, expected: "a byte size")
        guard let b = ByteSize.parse(text) else {
            throw context.error(value, "expected a byte size such as 1024, \"10kb\" or \"1 MiB\", got '\(text)'")
        }
        return b
    }

    /// Parses `1024`, `10kb`, `1.5gb`, `10 KiB`, `1 MB` (SI units in powers of 1000, binary and Logstash units 1024).
    public static func parse(_ text: String) -> ByteSize? {
        let t = text.filter { $0 != " " }
        var numberEnd = t.startIndex
        while numberEnd < t.endIndex, t[numberEnd].isNumber || t[numberEnd] == "." { numberEnd = t.index(after: numberEnd) }
        guard let number = Double(t[..<numberEnd]) else { return nil }
        let unit = String(t[numberEnd...])
        let multipliers: [String: Double] = [
            "": 1, "b": 1, "k": 1024, "kb": 1024, "m": Double(1 << 20), "mb": Double(1 << 20), "g": Double(1 << 30),
            "gb": Double(1 << 30), "t": Double(1 << 40), "tb": Double(1 << 40), "p": Double(1 << 50), "pb": Double(1 << 50),
            "KiB": 1024, "MiB": Double(1 << 20), "GiB": Double(1 << 30), "TiB": Double(1 << 40),
            "KB": 1000, "MB": 1e6, "GB": 1e9, "TB": 1e12, "B": 1,
        ]
        guard let m = multipliers[unit] else { return nil }
        return ByteSize(Int64(number * m))
    }

    public static var typeDescription: String { "bytes" }
    public var configDescription: String? { String(bytes) }
}

// MARK: Durations

/// What a bare number means in a `FriendlyDuration` setting (seconds for `stat_interval`, days for
/// `sincedb_clean_after`).
public protocol DurationUnit: Sendable {
    /// Seconds in one unit.
    static var seconds: Double { get }
}

/// A bare number means seconds.
public enum Seconds: DurationUnit { public static let seconds = 1.0 }

/// A bare number means days.
public enum Days: DurationUnit { public static let seconds = 86_400.0 }

/// A duration written as a number of `BareUnit`s or as a string with a unit: `"250 ms"`, `"45s"`, `"2 w"`,
/// `"1 day"`, `"1.5 hours"` (the file input's `friendly_durations.rb`, including its odd spellings: `"5 ds"` is
/// 5 seconds, because its regex accepts that unit and its `case` has no branch for it).
public struct FriendlyDuration<BareUnit: DurationUnit>: SettingValue, Sendable, Equatable, ExpressibleByIntegerLiteral {
    public let seconds: Double

    public init(seconds: Double) { self.seconds = seconds }
    /// `count` bare units.
    public init(integerLiteral count: Int) { seconds = Double(count) * BareUnit.seconds }

    /// Nanoseconds, for comparisons with `Clock.nanoseconds()`.
    public var nanoseconds: Int { Int((seconds * 1e9).rounded()) }

    public static func coerce(_ value: ConfigValue, _ context: CoercionContext) throws(Diagnostic) -> Self {
        let text = try scalarText(value, context, expected: "a duration")
        guard let s = parse(text) else {
            throw context.error(
                value, "Value '\(text)' is not a valid duration string e.g. 200 usec, 250ms, 60 sec, 18h, 21.5d, 1 day, 2w, 6 weeks")
        }
        return Self(seconds: s)
    }

    /// The seconds `text` stands for: `\d+(\.\d+)?`, at most one whitespace, then an optional unit.
    public static func parse(_ text: String) -> Double? {
        let t = Array(text.trimmingCharacters(" ").utf8)
        var i = 0
        while i < t.count, t[i] >= 0x30, t[i] <= 0x39 { i += 1 }
        guard i > 0 else { return nil }
        if i < t.count, t[i] == 0x2E {
            var j = i + 1
            while j < t.count, t[j] >= 0x30, t[j] <= 0x39 { j += 1 }
            if j > i + 1 { i = j }
        }
        guard let number = Double(String(decoding: t[..<i], as: UTF8.self)) else { return nil }
        var rest = t[i...]
        if let f = rest.first, f == 0x20 || f == 0x09 || f == 0x0A || f == 0x0D || f == 0x0C || f == 0x0B {
            rest = rest.dropFirst()
        }
        let unit = String(decoding: rest, as: UTF8.self)
        if unit.isEmpty { return number * BareUnit.seconds }
        guard let multiplier = friendlyUnits[unit] else { return nil }
        return number * multiplier
    }

    public static var typeDescription: String { "duration" }
    public var configDescription: String? {
        for (name, size) in [("d", 86_400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)]
        where seconds >= size && (seconds / size).rounded() == seconds / size {
            return "\"\(Int(seconds / size))\(name)\""
        }
        return "\"\(Int((seconds * 1000).rounded()))ms\""
    }
}

/// Every unit spelling `friendly_durations.rb`'s regex accepts, with the seconds its `case` gives it.
private let friendlyUnits: [String: Double] = {
    var units: [String: Double] = [:]
    for s in ["s", "ss", "sec", "secs", "sond", "sonds", "second", "seconds", "mute", "mutes", "hs", "ds", "ws", "uss", "mss"] {
        units[s] = 1
    }
    for m in ["m", "min", "mins", "minute", "minutes"] { units[m] = 60 }
    for h in ["h", "hour", "hours"] { units[h] = 3600 }
    for d in ["d", "day", "days"] { units[d] = 86_400 }
    for w in ["w", "week", "weeks"] { units[w] = 604_800 }
    for ms in ["ms", "msec", "msecs"] { units[ms] = 0.001 }
    for us in ["us", "usec", "usecs"] { units[us] = 0.000_001 }
    return units
}()

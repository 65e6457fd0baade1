/// A compiled sprintf template (`"%{host}-%{+YYYY.MM.dd}"`), rendered per event without re-parsing.
public struct Template: Sendable, Hashable, CustomStringConvertible {
    enum Part: Sendable, Hashable {
        case literal(String)
        /// A field; `raw` is the `%{…}` text, kept when the field is missing or null.
        case field(FieldReference, raw: String)
        case time(JodaTimeFormatBox)
        case epochSeconds
        case now
    }

    let parts: [Part]
    /// The text the template was compiled from.
    public let source: String
    /// For a template without references, the field reference its text names (parsed once).
    public let constantReference: FieldReference?

    /// Compiles `text`.
    public init(_ text: String) {
        source = text
        parts = Template.compile(text)
        constantReference = text.contains("%{") ? nil : FieldReference(text)
    }

    public var description: String { source }

    /// True when the template has no `%{…}` references (rendering returns the source as is).
    public var isConstant: Bool {
        parts.allSatisfy { if case .literal = $0 { return true } else { return false } }
    }

    static func compile(_ text: String) -> [Part] {
        guard text.contains("%{") else { return [.literal(text)] }
        var parts: [Part] = []
        var literal = ""
        var rest = Substring(text)
        while let start = rest.firstRange(of: "%{") {
            literal += rest[..<start.lowerBound]
            let afterOpen = rest[start.upperBound...]
            if afterOpen.hasPrefix("{"), let close = afterOpen.firstRange(of: "}}") {
                let pattern = String(afterOpen[afterOpen.index(after: afterOpen.startIndex)..<close.lowerBound])
                if !literal.isEmpty { parts.append(.literal(literal)) }
                literal = ""
                parts.append(pattern == "TIME_NOW" ? .now : .time(JodaTimeFormatBox(JodaTimeFormat(pattern, javaTime: true))))
                rest = afterOpen[close.upperBound...]
                continue
            }
            guard let close = afterOpen.firstIndex(of: "}") else {
                literal += rest[start.lowerBound...]
                rest = rest[rest.endIndex...]
                break
            }
            let inner = String(afterOpen[..<close])
            let raw = "%{" + inner + "}"
            if !literal.isEmpty { parts.append(.literal(literal)) }
            literal = ""
            if inner == "+%s" {
                parts.append(.epochSeconds)
            } else if inner.hasPrefix("+") {
                parts.append(.time(JodaTimeFormatBox(JodaTimeFormat(String(inner.dropFirst())))))
            } else if let ref = try? FieldReference(parsing: inner) {
                parts.append(.field(ref, raw: raw))
            } else {
                parts.append(.literal(raw))
            }
            rest = afterOpen[afterOpen.index(after: close)...]
        }
        literal += rest
        if !literal.isEmpty { parts.append(.literal(literal)) }
        return parts
    }

    /// The template rendered against `event`.
    public func render(_ event: Event) -> String {
        if parts.count == 1, case .literal(let s) = parts[0] { return s }
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .field(let ref, let raw):
                if let v = event.get(ref), !v.isNull { out += v.interpolated } else { out += raw }
            case .time(let box):
                if let t = event.timestamp { out += box.format.format(t) }
            case .epochSeconds:
                if let t = event.timestamp { out += String(t.seconds) }
            case .now:
                out += Timestamp.now().iso8601
            }
        }
        return out
    }

    /// Whether rendering left an unresolved `%{…}` reference (used by outputs that reject such names).
    public static func hasUnresolvedReference(_ rendered: String) -> Bool {
        var opened = false
        var previous: UInt8 = 0
        for byte in rendered.utf8 {
            if opened {
                if byte == UInt8(ascii: "}") { return true }
            } else if previous == UInt8(ascii: "%") && byte == UInt8(ascii: "{") {
                opened = true
            }
            previous = byte
        }
        return false
    }
}

/// A configured value whose strings may hold sprintf references (an `add_field` value, which can be a string, a
/// list or a hash), compiled once and rendered per event.
public indirect enum ValueTemplate: Sendable {
    /// A value without references, used as it is.
    case constant(Value)
    case string(Template)
    case array([ValueTemplate])
    case object([(key: String, value: ValueTemplate)])

    public init(_ value: Value) {
        guard ValueTemplate.hasReference(value) else {
            self = .constant(value)
            return
        }
        switch value {
        case .string(let s): self = .string(Template(s))
        case .array(let a): self = .array(a.map { ValueTemplate($0) })
        case .object(let o): self = .object(o.map { (key: $0.0, value: ValueTemplate($0.1)) })
        default: self = .constant(value)
        }
    }

    /// A config value as Logstash's `sprintf` leaves it: every scalar becomes its text (`42` → "42", `true` →
    /// "true"), in lists and hashes too. `add_field` (`Decorators.add_fields`) and the http output's `mapping`
    /// sprintf their values, so what they add is always text.
    public init(sprintfLeaves value: Value) {
        self.init(ValueTemplate.textLeaves(value))
    }

    static func textLeaves(_ v: Value) -> Value {
        switch v {
        case .object(let o):
            var out = Object(minimumCapacity: o.count)
            for (k, x) in o { out[k] = textLeaves(x) }
            return .object(out)
        case .array(let a): return .array(a.map(textLeaves))
        case .string: return v
        case .double(let d): return .string(RubyFloat.format(d))
        default: return .string(v.interpolated)
        }
    }

    static func hasReference(_ value: Value) -> Bool {
        switch value {
        case .string(let s): return s.contains("%{")
        case .array(let a): return a.contains(where: hasReference)
        case .object(let o): return o.contains { hasReference($0.1) }
        default: return false
        }
    }

    /// The value with every template rendered against `event`.
    public func render(_ event: Event) -> Value {
        switch self {
        case .constant(let v): return v
        case .string(let t): return .string(t.render(event))
        case .array(let a): return .array(a.map { $0.render(event) })
        case .object(let entries):
            var out = Object(minimumCapacity: entries.count)
            for (key, value) in entries { out[key] = value.render(event) }
            return .object(out)
        }
    }
}

/// Wraps a compiled date format so that templates stay `Hashable` (formats compare by pattern).
struct JodaTimeFormatBox: Sendable, Hashable {
    let format: JodaTimeFormat
    init(_ f: JodaTimeFormat) { format = f }
    static func == (a: Self, b: Self) -> Bool { a.format.tokens == b.format.tokens && a.format.javaTime == b.format.javaTime }
    func hash(into h: inout Hasher) { h.combine(format.tokens.count) }
}

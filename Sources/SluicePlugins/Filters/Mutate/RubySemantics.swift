import SluiceCore

// The Ruby and Logstash event-API behaviours that mutate and json depend on: `event.set`'s type checks, and the
// Ruby String/Array methods (`to_i`, `to_f`, `split`, `strip`, `join`, `Array()`, `to_s`, `inspect`) whose edge
// cases users see in their data.

/// An exception a Logstash filter would rescue while working on one event. The message follows Ruby's wording.
struct EventOperationError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }

    /// Ruby's `NoMethodError` message, e.g. "undefined method `strip' for 1:Integer".
    static func noMethod(_ method: String, _ value: Value) -> EventOperationError {
        EventOperationError("undefined method `\(method)' for \(Ruby.inspect(value)):\(Ruby.className(value))")
    }
}

/// A field name from a plugin's config, parsed once at start-up. An invalid name is kept, so that using it fails
/// per event as in Logstash, where `event.get("a[b")` raises on each event rather than at register.
enum ConfiguredField: Sendable {
    case valid(FieldReference)
    case invalid(String)

    init(_ text: String) {
        do {
            self = .valid(try FieldReference(parsing: text))
        } catch {
            self = .invalid(text)
        }
    }

    /// The parsed reference, or the error Logstash raises for the name.
    func reference() throws(EventOperationError) -> FieldReference {
        switch self {
        case .valid(let ref): return ref
        case .invalid(let text): throw EventOperationError("Invalid FieldReference: `\(text)`")
        }
    }
}

/// A field name that may contain `%{…}` (mutate's `rename`): parsed once when constant, else after each render.
enum ConfiguredFieldTemplate: Sendable {
    case fixed(ConfiguredField)
    case template(Template)

    init(_ text: String) {
        let template = Template(text)
        self = template.isConstant ? .fixed(ConfiguredField(text)) : .template(template)
    }

    func reference(for event: Event) throws(EventOperationError) -> FieldReference {
        switch self {
        case .fixed(let field): return try field.reference()
        case .template(let template): return try ConfiguredField(template.render(event)).reference()
        }
    }
}

extension Event {
    /// `event.set(key, value)` where `key` is reference text from data (a JSON key, a kv key): an invalid
    /// reference is an operation error, as Logstash's `event.set` raising.
    func strictSet(referenceText key: String, _ value: Value) throws(EventOperationError) {
        let ref: FieldReference
        do {
            ref = try FieldReference(parsing: key)
        } catch {
            throw EventOperationError(error.description)
        }
        try strictSet(ref, value)
    }

    /// `event.set` as Logstash's Ruby event API does it: `@timestamp` only takes a timestamp, `tags` only a string or
    /// a list of strings (and nothing may be set below `tags`), and a path through a scalar fails.
    func strictSet(_ ref: FieldReference, _ value: Value) throws(EventOperationError) {
        if !ref.isMetadata, let first = ref.path.first {
            if ref.path.count == 1 && first == "@timestamp" {
                guard case .timestamp = value else {
                    throw EventOperationError("wrong argument type \(Ruby.className(value)) (expected LogStash::Timestamp)")
                }
            }
            if first == "tags" && (ref.path.count > 1 || !Event.isLegalTagsValue(value)) {
                throw EventOperationError(
                    "Could not set the reserved tags field '\(ref.text)' to value '\(Ruby.toS(value))'. The tags field only accepts string or array of string.")
            }
        }
        guard set(ref, value) else {
            throw EventOperationError("Could not set field '\(ref.text)': a value on its path is neither a hash nor a list index")
        }
    }

    /// Whether Logstash accepts `value` as the `tags` field (null, a string, or a list of strings).
    static func isLegalTagsValue(_ value: Value) -> Bool {
        switch value {
        case .null, .string: return true
        case .array(let a): return a.allSatisfy { $0.stringValue != nil }
        default: return false
        }
    }

    /// `event.get` as Ruby sees it: a null field reads as `nil`, the same as a missing one.
    func rubyGet(_ ref: FieldReference) -> Value? {
        guard let v = get(ref), !v.isNull else { return nil }
        return v
    }
}

/// Ruby core-library behaviour, for values as the Logstash event API hands them to Ruby code.
enum Ruby {
    /// The class name Ruby reports for a value (`String`, `Integer`, `NilClass`, …).
    static func className(_ v: Value) -> String {
        switch v {
        case .null: return "NilClass"
        case .bool(let b): return b ? "TrueClass" : "FalseClass"
        case .int: return "Integer"
        case .double: return "Float"
        case .bigNumber(let n): return n.isInteger ? "Integer" : "BigDecimal"
        case .string: return "String"
        case .timestamp: return "LogStash::Timestamp"
        case .array: return "Array"
        case .object: return "Hash"
        }
    }

    /// `to_s`: strings as they are, floats as Ruby prints them (`1.0e+20`), nil as "", lists and hashes inspected.
    static func toS(_ v: Value) -> String {
        switch v {
        case .null: return ""
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return RubyFloat.format(d)
        case .bigNumber(let n): return n.isInteger ? n.text : Ruby.bigDecimalText(n)
        case .string(let s): return s
        case .timestamp(let t): return t.iso8601
        case .array, .object: return inspect(v)
        }
    }

    /// `BigDecimal#to_s`: `0.1e401` for 1e400 (Ruby's engineering form: `0.<digits>e<exponent>`).
    static func bigDecimalText(_ n: BigNumber) -> String {
        let (negative, digits, exponent) = n.decimalParts
        var significant = digits
        while significant.count > 1, significant.last == 0 { significant.removeLast() }
        let trailingZeros = digits.count - significant.count
        let text = String(decoding: significant.map { $0 + 48 }, as: UTF8.self)
        return (negative ? "-" : "") + "0.\(text)e\(exponent + trailingZeros + significant.count)"
    }

    /// `inspect` in Ruby 3.1's format (JRuby 9.4): `["a", 1, nil]`, `{"k"=>"v"}`.
    static func inspect(_ v: Value) -> String {
        switch v {
        case .null: return "nil"
        case .string(let s): return inspect(string: s)
        case .array(let a): return "[" + a.map { inspect($0) }.joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.map { inspect(string: $0.0) + "=>" + inspect($0.1) }.joined(separator: ", ") + "}"
        default: return toS(v)
        }
    }

    static func inspect(string s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{0C}": out += "\\f"
            case "\u{0B}": out += "\\v"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{1B}": out += "\\e"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
        return fixInterpolationMarkers(out)
    }

    /// Ruby writes `#{`, `#$` and `#@` as `\#{`, `\#$`, `\#@` inside inspected strings.
    private static func fixInterpolationMarkers(_ s: String) -> String {
        guard s.contains("#") else { return s }
        var out = ""
        let scalars = Array(s.unicodeScalars)
        for (i, c) in scalars.enumerated() {
            if c == "#", i + 1 < scalars.count, ["{", "$", "@"].contains(scalars[i + 1]) { out += "\\" }
            out.unicodeScalars.append(c)
        }
        return out
    }

    /// Ruby's `Kernel#Array`: nil → [], a list as it is, a hash → its `[key, value]` pairs, anything else → [x].
    static func array(_ v: Value?) -> [Value] {
        switch v {
        case nil, .null?: return []
        case .array(let a)?: return a
        case .object(let o)?: return o.map { .array([.string($0.0), $0.1]) }
        case let x?: return [x]
        }
    }

    /// `Array#join`: nested lists are joined with the same separator, nil becomes "", the rest use `to_s`.
    static func join(_ a: [Value], _ separator: String) -> String {
        a.map { element -> String in
            if case .array(let inner) = element { return join(inner, separator) }
            return toS(element)
        }.joined(separator: separator)
    }

    // MARK: Strings

    /// Ruby's whitespace for `strip` and awk-style `split`: space, \t, \n, \v, \f, \r (and NUL for `strip`).
    @inline(__always) static func isSpace(_ c: UInt8) -> Bool { c == 32 || (c >= 9 && c <= 13) }
    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    /// `String#strip`: leading and trailing ASCII whitespace and NUL.
    static func strip(_ s: String) -> String {
        let b = Array(s.utf8)
        var start = 0
        var end = b.count
        while start < end && (isSpace(b[start]) || b[start] == 0) { start += 1 }
        while end > start && (isSpace(b[end - 1]) || b[end - 1] == 0) { end -= 1 }
        if start == 0 && end == b.count { return s }
        return String(decoding: b[start..<end], as: UTF8.self)
    }

    /// `String#capitalize`: the first character in title case, the rest in lower case.
    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        var rest = s.unicodeScalars
        rest.removeFirst()
        return first.properties.titlecaseMapping + String(rest).lowercased()
    }

    /// `String#split(separator)` with a string separator: `" "` splits on runs of whitespace ignoring leading
    /// whitespace, `""` splits into characters, anything else is literal. Trailing empty strings are dropped,
    /// unless `keepTrailingEmpty` (Ruby's `split(separator, -1)`).
    static func split(_ s: String, _ separator: String, keepTrailingEmpty: Bool = false) -> [String] {
        if separator.isEmpty { return s.unicodeScalars.map { String($0) } }
        let b = Array(s.utf8)
        var parts = separator == " " ? splitOnWhitespace(b) : splitOnLiteral(b, Array(separator.utf8))
        if !keepTrailingEmpty {
            while parts.last?.isEmpty == true { parts.removeLast() }
        }
        return parts
    }

    /// Runs of whitespace separate; leading whitespace is ignored; trailing whitespace leaves one empty piece.
    private static func splitOnWhitespace(_ b: [UInt8]) -> [String] {
        var parts: [String] = []
        var i = 0
        while i < b.count && isSpace(b[i]) { i += 1 }
        var start = i
        while i < b.count {
            if isSpace(b[i]) {
                parts.append(String(decoding: b[start..<i], as: UTF8.self))
                while i < b.count && isSpace(b[i]) { i += 1 }
                start = i
                if i == b.count { parts.append("") }
            } else {
                i += 1
            }
        }
        if start < b.count { parts.append(String(decoding: b[start...], as: UTF8.self)) }
        return parts
    }

    private static func splitOnLiteral(_ b: [UInt8], _ sep: [UInt8]) -> [String] {
        if b.isEmpty { return [] }
        var parts: [String] = []
        var start = 0
        var i = 0
        while i + sep.count <= b.count {
            if b[i] == sep[0] && b[i..<(i + sep.count)].elementsEqual(sep) {
                parts.append(String(decoding: b[start..<i], as: UTF8.self))
                i += sep.count
                start = i
            } else {
                i += 1
            }
        }
        parts.append(String(decoding: b[start...], as: UTF8.self))
        return parts
    }

    /// `String#to_i`: skips leading whitespace, takes a sign and decimal digits (single `_` between digits allowed),
    /// stops at the first other character; "abc" → 0. Values beyond 64 bits saturate (Ruby would make a Bignum).
    static func toI(_ s: String) -> Int {
        var s = s
        return s.withUTF8 { toI(bytes: $0) }
    }

    private static func toI(bytes b: UnsafeBufferPointer<UInt8>) -> Int {
        var i = 0
        while i < b.count && isSpace(b[i]) { i += 1 }
        var negative = false
        if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) {
            negative = b[i] == UInt8(ascii: "-")
            i += 1
        }
        // Accumulate negatively so that Int.min is reachable.
        var value = 0
        var saturated = false
        var sawDigit = false
        while i < b.count {
            let c = b[i]
            if isDigit(c) {
                sawDigit = true
                if !saturated {
                    let (m, o1) = value.multipliedReportingOverflow(by: 10)
                    let (r, o2) = m.subtractingReportingOverflow(Int(c - 48))
                    if o1 || o2 { saturated = true } else { value = r }
                }
            } else if c == UInt8(ascii: "_") && sawDigit && i + 1 < b.count && isDigit(b[i + 1]) {
                // digit separator
            } else {
                break
            }
            i += 1
        }
        if saturated { return negative ? Int.min : Int.max }
        if negative { return value }
        return value == Int.min ? Int.max : -value
    }

    /// `String#to_f`: the longest prefix that reads as a decimal float (`"1e3"` → 1000.0, `"12abc"` → 12.0,
    /// `"abc"` → 0.0); no hex, no `Infinity`.
    static func toF(_ s: String) -> Double {
        // The common case, a plain decimal ("12", "-0.5"): what Swift's parser accepts of it, Ruby reads the same.
        if s.utf8.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }),
            let d = Double(s)
        {
            return d
        }
        var s = s
        return s.withUTF8 { toF(bytes: $0) }
    }

    private static func toF(bytes b: UnsafeBufferPointer<UInt8>) -> Double {
        var i = 0
        while i < b.count && isSpace(b[i]) { i += 1 }
        var text: [UInt8] = []
        if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) {
            text.append(b[i])
            i += 1
        }
        func digits() -> Bool {
            var any = false
            while i < b.count {
                if isDigit(b[i]) {
                    text.append(b[i])
                    any = true
                } else if b[i] == UInt8(ascii: "_") && any && i + 1 < b.count && isDigit(b[i + 1]) {
                    // digit separator
                } else {
                    break
                }
                i += 1
            }
            return any
        }
        let integerDigits = digits()
        var fractionDigits = false
        if i + 1 < b.count && b[i] == UInt8(ascii: ".") && isDigit(b[i + 1]) {
            if !integerDigits { text.append(UInt8(ascii: "0")) }
            text.append(UInt8(ascii: "."))
            i += 1
            fractionDigits = digits()
        }
        guard integerDigits || fractionDigits else { return text.first == UInt8(ascii: "-") ? -0.0 : 0.0 }
        if i < b.count && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            var j = i + 1
            var exponent: [UInt8] = [UInt8(ascii: "e")]
            if j < b.count && (b[j] == UInt8(ascii: "+") || b[j] == UInt8(ascii: "-")) {
                exponent.append(b[j])
                j += 1
            }
            if j < b.count && isDigit(b[j]) {
                while j < b.count && isDigit(b[j]) {
                    exponent.append(b[j])
                    j += 1
                }
                text += exponent
            }
        }
        return Double(String(decoding: text, as: UTF8.self)) ?? 0
    }
}

/// A value held by an event field: the JSON data model plus timestamps, as Logstash's event model has it.
public enum Value: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    /// A number neither `int` nor `double` can hold exactly (see `BigNumber`).
    case bigNumber(BigNumber)
    case string(String)
    case timestamp(Timestamp)
    case array([Value])
    case object(Object)

    /// The string inside, when this is a string.
    @inlinable public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The object inside, when this is an object.
    @inlinable public var objectValue: Object? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The elements inside, when this is an array.
    @inlinable public var arrayValue: [Value]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The object inside, moved out so that it is uniquely referenced; `self` becomes null. Only for an object.
    @inlinable public mutating func takeObject() -> Object {
        let taken = self
        self = .null
        guard case .object(let o) = consume taken else { preconditionFailure("takeObject on a non-object") }
        return o
    }

    /// The elements inside, moved out so that they are uniquely referenced; `self` becomes null. Only for an array.
    @inlinable public mutating func takeArray() -> [Value] {
        let taken = self
        self = .null
        guard case .array(let a) = consume taken else { preconditionFailure("takeArray on a non-array") }
        return a
    }

    /// True for `null`.
    @inlinable public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Numeric view used by comparisons: integers and floats, nothing else.
    @inlinable public var numberValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bigNumber(let n): return n.doubleValue
        default: return nil
        }
    }

    /// A short type name for messages ("string", "integer", …).
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "float"
        case .bigNumber(let n): return n.isInteger ? "integer" : "float"
        case .string: return "string"
        case .timestamp: return "timestamp"
        case .array: return "array"
        case .object: return "hash"
        }
    }

    /// Logstash's truthiness of a bare field reference in a condition: false for missing (handled by the caller),
    /// null, `false`, the empty string and the string "false"; true otherwise (including 0, [] and {}).
    @inlinable public var isTruthy: Bool {
        switch self {
        case .null: return false
        case .bool(let b): return b
        case .string(let s): return !(s.isEmpty || s == "false")
        default: return true
        }
    }

    /// The value as sprintf renders it: strings raw, lists joined with commas, hashes as JSON.
    public var interpolated: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return JavaDouble.format(d)
        case .bigNumber(let n): return n.text
        case .bool(let b): return b ? "true" : "false"
        case .null: return ""
        case .timestamp(let t): return t.iso8601
        case .array(let a):
            var parts: [String] = []
            Value.flattenForInterpolation(a, into: &parts)
            return parts.joined(separator: ",")
        case .object: return JSONWriter.string(self)
        }
    }

    private static func flattenForInterpolation(_ a: [Value], into parts: inout [String]) {
        for element in a {
            if case .array(let inner) = element {
                flattenForInterpolation(inner, into: &parts)
            } else {
                parts.append(element.interpolated)
            }
        }
    }

    /// Deep copy: values are already value types, so this is the identity; kept for readability at call sites.
    @inlinable public var deepCopy: Value { self }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) {
        var o = Object()
        for (k, v) in elements { o[k] = v }
        self = .object(o)
    }
    public init(nilLiteral: ()) { self = .null }
}

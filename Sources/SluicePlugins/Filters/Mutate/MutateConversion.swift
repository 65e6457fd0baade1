import SluiceCore

/// A `convert` target of mutate. The conversions are mutate 3.5.8's lenient ones (Logstash 8.x before strict mode):
/// unparsable numbers become 0, never an error.
public enum MutateConversion: String, SettingEnum, Sendable {
    case string, integer, float, boolean
    case integerEU = "integer_eu"
    case floatEU = "float_eu"

    /// `^(true|t|yes|y|1|1.0)$`, case-insensitive; as in Ruby, `^`/`$` match at line boundaries and `.` is a wildcard.
    private static let trueRegex = try! Regex("(?mi)^(true|t|yes|y|1|1.0)$")
    private static let falseRegex = try! Regex("(?mi)^(false|f|no|n|0|0.0)$")

    /// Converts one non-null value (an element of a list, or the field itself).
    /// - Parameter warn: logs a per-event warning (boolean conversions that leave the value unchanged).
    func convert(_ value: Value, warn: (String) -> Void) throws(EventOperationError) -> Value {
        switch self {
        case .string: return .string(Ruby.toS(value))
        case .boolean: return Self.boolean(value, warn: warn)
        case .integer: return try Self.integer(value)
        case .float: return try Self.float(value)
        case .integerEU: return try Self.integer(Self.europeanToUS(value))
        case .floatEU: return try Self.float(Self.europeanToUS(value))
        }
    }

    static func boolean(_ value: Value, warn: (String) -> Void) -> Value {
        let text = Ruby.toS(value)
        if trueRegex.matches(text) { return .bool(true) }
        if text.isEmpty || falseRegex.matches(text) { return .bool(false) }
        warn("Failed to convert \(text) into boolean.")
        return value
    }

    /// Lenient `convert_integer`: booleans → 1/0, floats truncated, strings without commas through `String#to_i`.
    static func integer(_ value: Value) throws(EventOperationError) -> Value {
        switch value {
        case .bool(let b): return .int(b ? 1 : 0)
        case .int, .null: return value
        case .double(let d): return .int(try truncate(d))
        case .bigNumber(let n): return n.isInteger ? value : .int(try truncate(n.doubleValue))
        case .string(let s): return .int(Ruby.toI(withoutCommas(s)))
        case .timestamp(let t): return .int(Int(t.seconds))
        case .array, .object: throw EventOperationError.noMethod("to_i", value)
        }
    }

    /// `s` without its commas (thousands separators), unchanged — no copy — when it has none.
    static func withoutCommas(_ s: String) -> String {
        s.utf8.contains(UInt8(ascii: ",")) ? s.filter { $0 != "," } : s
    }

    /// Lenient `convert_float`: booleans → 1.0/0.0, integers widened, strings without commas through `String#to_f`.
    static func float(_ value: Value) throws(EventOperationError) -> Value {
        switch value {
        case .bool(let b): return .double(b ? 1 : 0)
        case .int(let i): return .double(Double(i))
        case .double, .null: return value
        case .bigNumber(let n): return .double(n.doubleValue)
        case .string(let s): return .double(Ruby.toF(withoutCommas(s)))
        case .timestamp(let t): return .double(t.epochSecondsDouble)
        case .array, .object: throw EventOperationError.noMethod("to_f", value)
        }
    }

    /// `Float#to_i`: toward zero; NaN and infinities raise `FloatDomainError`. Beyond 64 bits it saturates.
    static func truncate(_ d: Double) throws(EventOperationError) -> Int {
        if d.isNaN { throw EventOperationError("NaN") }
        if d.isInfinite { throw EventOperationError(d < 0 ? "-Infinity" : "Infinity") }
        if d >= 9.223372036854775807e18 { return Int.max }
        if d < -9.223372036854775807e18 { return Int.min }
        return Int(d.rounded(.towardZero))
    }

    /// `tr(",.", ".,")` on strings: `"1.000,5"` → `"1,000.5"`. Other values pass unchanged.
    static func europeanToUS(_ value: Value) -> Value {
        guard case .string(let s) = value else { return value }
        return .string(String(s.map { $0 == "," ? "." : $0 == "." ? "," : $0 }))
    }
}

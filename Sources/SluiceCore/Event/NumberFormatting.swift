/// The shortest round-trip decimal digits of a double, with the position of the decimal point.
struct DecimalDigits {
    /// Significant digits, no leading or trailing zeros (at least one digit).
    var digits: [UInt8]
    /// Value = 0.d1d2d3… × 10^exponent.
    var exponent: Int
    var negative: Bool

    init(_ d: Double) {
        negative = d.sign == .minus
        let text = Array(abs(d).description.utf8)  // Swift prints the shortest round-trip form
        var mantissa: [UInt8] = []
        var pointAt: Int? = nil
        var exp = 0
        var i = 0
        while i < text.count {
            let c = text[i]
            if c == UInt8(ascii: ".") {
                pointAt = mantissa.count
            } else if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                exp = Int(String(decoding: text[(i + 1)...], as: UTF8.self)) ?? 0
                break
            } else {
                mantissa.append(c - 48)
            }
            i += 1
        }
        var point = (pointAt ?? mantissa.count) + exp
        while mantissa.count > 1 && mantissa.first == 0 {
            mantissa.removeFirst()
            point -= 1
        }
        while mantissa.count > 1 && mantissa.last == 0 { mantissa.removeLast() }
        digits = mantissa
        exponent = point
        if digits == [0] { exponent = 1 }
    }
}

/// Java's `Double.toString`, the way Logstash's JSON writer and sprintf print floats: `1.0`, `1.0E-4`, `1.2345678E7`.
public enum JavaDouble {
    public static func format(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        let dd = DecimalDigits(d)
        var out = dd.negative ? "-" : ""
        let magnitude = abs(d)
        if magnitude >= 1e-3 && magnitude < 1e7 {
            out += plain(dd)
        } else {
            out += String(UnicodeScalar(dd.digits[0] + 48)) + "."
            out += dd.digits.count > 1 ? dd.digits[1...].map { String($0) }.joined() : "0"
            out += "E\(dd.exponent - 1)"
        }
        return out
    }

    static func plain(_ dd: DecimalDigits) -> String {
        let ds = dd.digits.map { String($0) }
        if dd.exponent <= 0 {
            return "0." + String(repeating: "0", count: -dd.exponent) + ds.joined()
        }
        if dd.exponent >= ds.count {
            return ds.joined() + String(repeating: "0", count: dd.exponent - ds.count) + ".0"
        }
        return ds[..<dd.exponent].joined() + "." + ds[dd.exponent...].joined()
    }
}

/// Ruby's `Float#to_s`, the way rubydebug and mutate's `convert => string` print floats: `1.0`, `1.0e+20`, `1.0e-05`.
public enum RubyFloat {
    public static func format(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        let dd = DecimalDigits(d)
        let sign = dd.negative ? "-" : ""
        // Ruby uses positional notation while -4 < decpt <= 16.
        if dd.exponent > -4 && dd.exponent <= 16 {
            return sign + JavaDouble.plain(dd)
        }
        let first = String(dd.digits[0])
        let rest = dd.digits.count > 1 ? dd.digits[1...].map { String($0) }.joined() : "0"
        let e = dd.exponent - 1
        let expText = (e < 0 ? "-" : "+") + (abs(e) < 10 ? "0" : "") + String(abs(e))
        return sign + first + "." + rest + "e" + expText
    }
}

/// Serializes values to JSON as Logstash does: compact, floats as Java prints them, timestamps as ISO-8601 strings.
public enum JSONWriter {
    /// Appends the JSON text of `value` to `out`.
    public static func write(_ value: Value, to out: inout [UInt8]) {
        switch value {
        case .null: appendLiteral("null", to: &out)
        case .bool(let b): appendLiteral(b ? "true" : "false", to: &out)
        case .int(let i): appendInt(i, to: &out)
        case .double(let d):
            if d.isFinite {
                out.append(contentsOf: JavaDouble.format(d).utf8)
            } else {
                // Jackson's default (WRITE_NAN_AS_STRINGS): a quoted "NaN"/"Infinity", never invalid JSON.
                writeString(JavaDouble.format(d), to: &out)
            }
        case .bigNumber(let n): out.append(contentsOf: n.text.utf8)
        case .string(let s): writeString(s, to: &out)
        case .timestamp(let t):
            out.append(34)
            t.appendISO8601(to: &out)
            out.append(34)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, e) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(e, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o): write(o, to: &out)
        }
    }

    /// Appends the JSON text of an object.
    public static func write(_ o: Object, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var first = true
        for (k, v) in o {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            writeString(k, to: &out)
            out.append(UInt8(ascii: ":"))
            write(v, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The JSON text of `value` as a string.
    public static func string(_ value: Value) -> String {
        var out: [UInt8] = []
        write(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendInt(_ i: Int, to out: inout [UInt8]) {
        if i >= 0 && i < 10 {
            out.append(UInt8(48 + i))
            return
        }
        // Digits right to left into 20 bytes on the stack (Int.min has 19 digits and a sign), no String.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var magnitude = i.magnitude
            var at = 20
            repeat {
                at -= 1
                digits[at] = UInt8(48 + magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if i < 0 {
                at -= 1
                digits[at] = UInt8(ascii: "-")
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[at..<20]))
        }
    }

    /// Appends an ASCII literal without building an array for it.
    @inline(__always)
    static func appendLiteral(_ s: StaticString, to out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends a quoted, escaped JSON string.
    public static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(34)
        var s = s
        s.withUTF8 { buf in
            var start = 0
            for i in 0..<buf.count {
                let c = buf[i]
                if c >= 0x20 && c != 34 && c != 92 { continue }
                if start < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[start..<i])) }
                start = i + 1
                // Byte by byte: an array literal here would be a heap allocation per escape.
                out.append(92)
                switch c {
                case 34: out.append(34)
                case 92: out.append(92)
                case 10: out.append(110)
                case 13: out.append(114)
                case 9: out.append(116)
                case 8: out.append(98)
                case 12: out.append(102)
                default:
                    out.append(117)
                    out.append(48)
                    out.append(48)
                    out.append(hex[Int(c >> 4)])
                    out.append(hex[Int(c & 15)])
                }
            }
            if start < buf.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[start...])) }
        }
        out.append(34)
    }
}

/// A JSON syntax error with the byte offset where parsing stopped.
public struct JSONError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// A strict, allocation-light JSON parser producing `Value`s.
public struct JSONParser {
    /// Parses exactly one JSON value (surrounding whitespace allowed).
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONError) -> Value {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buf throws(JSONError) -> Value in try parse(buf) }
    }

    /// Parses exactly one JSON value from bytes in memory, in place (no copy: codecs hand their lines over so).
    public static func parse(_ buf: UnsafeBufferPointer<UInt8>) throws(JSONError) -> Value {
        var p = JSONParser(buf)
        p.skipWhitespace()
        let v = try p.parseValue(depth: 0)
        p.skipWhitespace()
        if p.i != buf.count { throw p.error("unexpected trailing characters") }
        return v
    }

    /// Parses a JSON string.
    public static func parse(_ text: String) throws(JSONError) -> Value {
        try parse(Array(text.utf8))
    }

    let b: UnsafeBufferPointer<UInt8>
    var i = 0
    /// The most containers a document may nest: Jackson's default `maxNestingDepth` (1,000), which Logstash 8 keeps,
    /// and the same bound as `FieldReference.maximumDepth`. Parsing, writing and freeing values recurse per level,
    /// so a deeper document (`[[[[…` from a hostile sender) is a parse error, never a stack overflow.
    public static let maximumDepth = 1000

    init(_ b: UnsafeBufferPointer<UInt8>) { self.b = b }

    func error(_ m: String) -> JSONError { JSONError(message: m, offset: i) }

    mutating func skipWhitespace() {
        while i < b.count {
            let c = b[i]
            if c == 32 || c == 10 || c == 13 || c == 9 { i += 1 } else { break }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONError) -> Value {
        guard i < b.count else { throw error("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"):
            try checkNesting(depth)
            return .object(try parseObject(depth: depth))
        case UInt8(ascii: "["):
            try checkNesting(depth)
            return try parseArray(depth: depth)
        case 34: return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), 48...57: return try parseNumber()
        default: throw error("unexpected character")
        }
    }

    /// `depth` counts the containers around the one starting here.
    func checkNesting(_ depth: Int) throws(JSONError) {
        guard depth < JSONParser.maximumDepth else {
            throw error("nesting deeper than \(JSONParser.maximumDepth) levels")
        }
    }

    mutating func literal(_ word: StaticString, _ v: Value) throws(JSONError) -> Value {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw error("unexpected end of input") }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { throw error("invalid literal") }
        i += n
        return v
    }

    mutating func parseObject(depth: Int) throws(JSONError) -> Object {
        i += 1
        // A top-level object usually becomes an event, which gains fields in the pipeline.
        var o = Object(minimumCapacity: depth == 0 ? Event.initialCapacity : Object.nestedCapacity)
        skipWhitespace()
        if i < b.count && b[i] == UInt8(ascii: "}") {
            i += 1
            return o
        }
        while true {
            skipWhitespace()
            guard i < b.count, b[i] == 34 else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
            i += 1
            skipWhitespace()
            let v = try parseValue(depth: depth + 1)
            o[key] = v
            skipWhitespace()
            guard i < b.count else { throw error("unexpected end of input") }
            if b[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if b[i] == UInt8(ascii: "}") {
                i += 1
                return o
            }
            throw error("expected ',' or '}'")
        }
    }

    mutating func parseArray(depth: Int) throws(JSONError) -> Value {
        i += 1
        var a: [Value] = []
        skipWhitespace()
        if i < b.count && b[i] == UInt8(ascii: "]") {
            i += 1
            return .array(a)
        }
        while true {
            skipWhitespace()
            a.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard i < b.count else { throw error("unexpected end of input") }
            if b[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if b[i] == UInt8(ascii: "]") {
                i += 1
                return .array(a)
            }
            throw error("expected ',' or ']'")
        }
    }

    mutating func parseString() throws(JSONError) -> String {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < b.count {
            let c = b[i]
            if c == 34 {
                let s = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
                i += 1
                return s
            }
            if c == 92 || c < 0x20 { break }
            i += 1
        }
        var out = Array(UnsafeBufferPointer(rebasing: b[start..<i]))
        while i < b.count {
            let c = b[i]
            if c == 34 {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if c < 0x20 { throw error("control character in string") }
            if c != 92 {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < b.count else { break }
            let e = b[i]
            i += 1
            switch e {
            case 34: out.append(34)
            case 92: out.append(92)
            case 47: out.append(47)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00, i + 1 < b.count, b[i] == 92, b[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let low = try hex4()
                    if low >= 0xDC00 && low < 0xE000 {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        appendScalar(0xFFFD, &out)
                        scalar = low
                    }
                }
                appendScalar(scalar, &out)
            default: throw error("invalid escape")
            }
        }
        throw error("unterminated string")
    }

    func appendScalar(_ v: UInt32, _ out: inout [UInt8]) {
        let s = Unicode.Scalar(v) ?? "\u{FFFD}"
        out.append(contentsOf: String(Character(s)).utf8)
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        guard i + 4 <= b.count else { throw error("bad \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 97...102: d = UInt32(c - 87)
            case 65...70: d = UInt32(c - 55)
            default: throw error("bad \\u escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    mutating func parseNumber() throws(JSONError) -> Value {
        let start = i
        var isFloat = false
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count, b[i] >= 48, b[i] <= 57 else { throw error("invalid number") }
        if b[i] == 48 {
            i += 1
        } else {
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            isFloat = true
            i += 1
            guard i < b.count, b[i] >= 48, b[i] <= 57 else { throw error("invalid number") }
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            isFloat = true
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, b[i] >= 48, b[i] <= 57 else { throw error("invalid number") }
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
        if !isFloat {
            if let n = Int(text) { return .int(n) }
            return .bigNumber(BigNumber(text: text))  // beyond 64 bits: kept exact, as Logstash's BigInteger
        }
        guard let d = Double(text) else { throw error("invalid number") }
        // Beyond a double's range (1e400): kept exact, as Logstash's BigDecimal, instead of becoming Infinity.
        // So is one that underflows to zero (1e-400) although its digits are not all zero.
        if !d.isFinite || (d == 0 && JSONParser.hasNonZeroMantissa(text)) { return .bigNumber(BigNumber(text: text)) }
        return .double(d)
    }

    /// Whether a number's digits before its exponent include one that is not zero.
    static func hasNonZeroMantissa(_ text: String) -> Bool {
        for c in text.utf8 {
            if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { return false }
            if c >= 49 && c <= 57 { return true }
        }
        return false
    }
}

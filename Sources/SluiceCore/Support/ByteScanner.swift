/// A cursor over UTF-8 bytes for the small hand-written parsers (ISO-8601 timestamps, date formats).
public struct ByteScanner {
    public let b: [UInt8]
    public var i = 0

    public init(_ bytes: [UInt8]) { b = bytes }
    public init(b: [UInt8]) { self.b = b }

    public var atEnd: Bool { i >= b.count }
    public var peek: UInt8? { i < b.count ? b[i] : nil }

    /// Exactly `n` decimal digits, or nil (and nothing consumed).
    public mutating func digits(_ n: Int) -> Int? {
        guard i + n <= b.count else { return nil }
        var v = 0
        for k in 0..<n {
            let c = b[i + k]
            guard c >= 48 && c <= 57 else { return nil }
            v = v * 10 + Int(c - 48)
        }
        i += n
        return v
    }

    /// Consumes `c` when it is next.
    public mutating func eat(_ c: UInt8) -> Bool {
        if i < b.count && b[i] == c {
            i += 1
            return true
        }
        return false
    }

    /// Consumes the ASCII character `c` when it is next (a scalar literal: a `Character` would be converted on
    /// every call).
    public mutating func eat(_ c: Unicode.Scalar) -> Bool { eat(UInt8(ascii: c)) }
}

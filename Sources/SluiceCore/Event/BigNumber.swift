/// A number too large for `Int` or `Double` (`18446744073709551617`, `1e400`, a 10,000-digit integer), kept exactly
/// as its decimal text, as Logstash keeps a `BigInteger`/`BigDecimal`.
///
/// Created only when an ordinary `int`/`double` cannot hold the value, so ordinary numbers pay nothing. JSON writers
/// write the text verbatim; the CBOR codec writes bignum (tags 2/3) and decimal-fraction (tag 4) items as Jackson
/// does. A value type used on any thread.
public struct BigNumber: Sendable, Hashable, CustomStringConvertible {
    /// The number as JSON text: an optional `-`, digits, an optional fraction and exponent.
    public let text: String

    /// `text` must be a valid JSON number (the JSON parser and the CBOR decoder make sure of it).
    public init(text: String) { self.text = text }

    public var description: String { text }

    /// Whether the number is an integer (no fraction, no exponent).
    public var isInteger: Bool { !text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") } }

    /// The nearest `Double` (±infinity beyond its range), for comparisons and arithmetic.
    public var doubleValue: Double { Double(text) ?? .nan }

    /// The number as `digits × 10^exponent` with `digits` a decimal integer without sign or leading zeros.
    public var decimalParts: (negative: Bool, digits: [UInt8], exponent: Int) {
        var bytes = Array(text.utf8)
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { bytes.removeFirst() }
        var digits: [UInt8] = []
        var exponent = 0
        var seenPoint = false
        var k = 0
        while k < bytes.count, bytes[k] != UInt8(ascii: "e"), bytes[k] != UInt8(ascii: "E") {
            if bytes[k] == UInt8(ascii: ".") {
                seenPoint = true
            } else {
                digits.append(bytes[k] - 48)
                if seenPoint { exponent -= 1 }
            }
            k += 1
        }
        if k < bytes.count {
            exponent += Int(String(decoding: bytes[(k + 1)...], as: UTF8.self)) ?? 0
        }
        while digits.count > 1, digits.first == 0 { digits.removeFirst() }
        return (negative, digits, exponent)
    }

    /// Big-endian base-256 magnitude of a decimal digit string (values 0…9), with no leading zero bytes.
    static func magnitude(ofDecimalDigits digits: [UInt8]) -> [UInt8] {
        var number = digits.map(UInt32.init)
        var bytes: [UInt8] = []
        while !(number.isEmpty || (number.count == 1 && number[0] == 0)) {
            var remainder: UInt32 = 0
            var quotient: [UInt32] = []
            quotient.reserveCapacity(number.count)
            for d in number {
                let current = remainder * 10 + d
                let q = current / 256
                remainder = current % 256
                if !(quotient.isEmpty && q == 0) { quotient.append(q) }
            }
            bytes.append(UInt8(remainder))
            number = quotient
        }
        return bytes.reversed()
    }

    /// The decimal text of a big-endian base-256 magnitude.
    static func decimalText(ofMagnitude bytes: [UInt8]) -> String {
        // Base 10^9 limbs, least significant first.
        var limbs: [UInt64] = [0]
        for byte in bytes {
            var carry = UInt64(byte)
            for i in limbs.indices {
                let v = limbs[i] * 256 + carry
                limbs[i] = v % 1_000_000_000
                carry = v / 1_000_000_000
            }
            while carry > 0 {
                limbs.append(carry % 1_000_000_000)
                carry /= 1_000_000_000
            }
        }
        var text = String(limbs.last!)
        for limb in limbs.dropLast().reversed() {
            let part = String(limb)
            text += String(repeating: "0", count: 9 - part.count) + part
        }
        return text
    }
}

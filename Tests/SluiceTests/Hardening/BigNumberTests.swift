import Foundation
import Testing
@testable import SluiceCore

/// Numbers beyond `Int` and `Double` keep their exact value through JSON and CBOR, and no JSON writer emits
/// `Infinity` or `NaN` (issue 15, item 3).
@Suite struct BigNumberTests {
    static let twoToThe64PlusOne = "18446744073709551617"
    static let tenThousandDigits = "9" + String(repeating: "8", count: 9_998) + "7"

    @Test(arguments: [twoToThe64PlusOne, "-" + twoToThe64PlusOne, "1e400", "-1.5E-400", tenThousandDigits, "9223372036854775808"])
    func jsonKeepsTheExactNumberText(_ text: String) throws {
        let value = try JSONParser.parse(text)
        #expect(value == .bigNumber(BigNumber(text: text)))
        #expect(JSONWriter.string(value) == text)
        let document = try JSONParser.parse(#"{"n":\#(text)}"#)
        #expect(JSONWriter.string(document) == #"{"n":\#(text)}"#)
    }

    @Test func ordinaryNumbersStayIntsAndDoubles() throws {
        #expect(try JSONParser.parse("9223372036854775807") == .int(Int.max))
        #expect(try JSONParser.parse("-9223372036854775808") == .int(Int.min))
        #expect(try JSONParser.parse("1e308") == .double(1e308))
        #expect(try JSONParser.parse("1.5") == .double(1.5))
    }

    @Test func nonFiniteDoublesAreWrittenAsJacksonDoesAsQuotedStrings() throws {
        #expect(JSONWriter.string(.double(.infinity)) == #""Infinity""#)
        #expect(JSONWriter.string(.double(-.infinity)) == #""-Infinity""#)
        #expect(JSONWriter.string(.double(.nan)) == #""NaN""#)
        let written = JSONWriter.string(["a": .double(.infinity), "b": .array([.double(.nan)])])
        #expect((try? JSONParser.parse(written)) != nil, "valid JSON: \(written)")
    }

    /// Bytes computed by hand from the CBOR spec: tag 2 (0xC2), a 9-byte string (0x49), 2^64 + 1 big-endian.
    @Test func cborWritesABigIntegerAsABignumTag() throws {
        let event = Event(timestamp: Timestamp(seconds: 0))
        event.fields["n"] = try JSONParser.parse(Self.twoToThe64PlusOne)
        let bytes = CBOREventCodec.encode(event, options: .init(stringReferences: false))
        let expected: [UInt8] = [0xC2, 0x49, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x01]
        #expect(bytes.indices.contains { i in Array(bytes[i..<min(i + expected.count, bytes.count)]) == expected })
    }

    @Test(arguments: [twoToThe64PlusOne, "-" + twoToThe64PlusOne, tenThousandDigits, "1e400", "-25e-400", "123456789012345678901234567890.5e400"])
    func cborRoundTripsBigNumbersExactly(_ text: String) throws {
        let event = Event(timestamp: Timestamp(seconds: 0))
        event.fields["n"] = try JSONParser.parse(text)
        let decoded = try CBOREventCodec.decode(CBOREventCodec.encode(event, options: .init(stringReferences: false)))
        guard case .bigNumber(let back)? = decoded.fields["n"], case .bigNumber(let original)? = event.fields["n"] else {
            Issue.record("not a big number after the round trip: \(String(describing: decoded.fields["n"]))")
            return
        }
        let a = back.decimalParts, b = original.decimalParts
        // Same value: same sign and, trailing zeros aside, the same digits at the same scale.
        func normalized(_ p: (negative: Bool, digits: [UInt8], exponent: Int)) -> (Bool, [UInt8], Int) {
            var d = p.digits, e = p.exponent
            while d.count > 1, d.last == 0 { d.removeLast(); e += 1 }
            return (p.negative, d, e)
        }
        #expect(normalized(a) == normalized(b), "\(back.text) != \(original.text)")
        if original.isInteger { #expect(back.text == original.text) }
    }

    @Test func decimalConversionsAgreeWithAnIndependentComputation() {
        // 2^200 by repeated doubling of a decimal digit string, independent of `BigNumber`.
        var digits: [Int] = [1]
        for _ in 0..<200 {
            var carry = 0
            for i in stride(from: digits.count - 1, through: 0, by: -1) {
                let v = digits[i] * 2 + carry
                digits[i] = v % 10
                carry = v / 10
            }
            if carry > 0 { digits.insert(carry, at: 0) }
        }
        let text = digits.map(String.init).joined()
        var bytes = [UInt8](repeating: 0, count: 26)
        bytes[0] = 1  // 2^200 = 0x01 followed by 25 zero bytes
        #expect(BigNumber.magnitude(ofDecimalDigits: digits.map(UInt8.init)) == bytes)
        #expect(BigNumber.decimalText(ofMagnitude: bytes) == text)
    }
}

import Testing
@testable import SluiceCore

struct ByteEncodingsTests {
    /// RFC 4648 section 10's test vectors, both ways.
    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
                      ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")])
    func base64MatchesRFC4648(_ plain: String, _ encoded: String) {
        #expect(Base64.encode(plain) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test func base64RejectsCharactersOutsideTheAlphabet() {
        #expect(Base64.decode("Zm9v!") == nil)
    }

    @Test func hexIsTwoLowercaseDigitsPerByte() {
        #expect(Hex.lowercase([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
        #expect(MD5.hexDigest([]) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(SHA256.hex(of: "") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }
}

import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    /// The fingerprint filter's digests and HMACs against an independent implementation: Python's `hashlib` and
    /// `hmac`, over random messages and keys (empty ones, and keys longer than the block size, included).
    @Suite struct DigestCrossCheckTests {
        static let methods: [(String, Digest)] = [
            ("sha1", .sha1), ("sha256", .sha256), ("sha384", .sha384), ("sha512", .sha512), ("md5", .md5),
        ]

        @Test func digestsAndHMACsMatchPythonsHashlib() throws {
            var generator = SystemRandomNumberGenerator()
            func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) } }
            let sizes = [0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 1000]
            var cases: [(method: Int, key: [UInt8]?, message: [UInt8])] = []
            for i in 0..<300 {
                let size = i < sizes.count ? sizes[i] : Int.random(in: 0...300, using: &generator)
                let key: [UInt8]? = i % 3 == 0 ? nil : bytes([0, 5, 64, 65, 128, 129, 200][i % 7])
                cases.append((i % Self.methods.count, key, bytes(size)))
            }
            func hex(_ b: [UInt8]) -> String { Hex.lowercase(b) }
            let input = cases.map { c in
                "\(Self.methods[c.method].0) \(c.key.map { "k" + hex($0) } ?? "-") m\(hex(c.message))"
            }.joined(separator: "\n") + "\n"
            let script = """
                import sys, hashlib, hmac
                for line in sys.stdin:
                    name, key, message = line.split()
                    data = bytes.fromhex(message[1:])
                    if key == "-":
                        print(hashlib.new(name, data).hexdigest())
                    else:
                        print(hmac.new(bytes.fromhex(key[1:]), data, name).hexdigest())
                """
            let python = try runClient("/usr/bin/python3", ["-c", script], stdin: Data(input.utf8))
            try #require(python.exitCode == 0, "\(python.stderr)")
            let expected = python.stdout.split(separator: "\n").map(String.init)
            try #require(expected.count == cases.count)
            var mismatches = 0
            for (c, want) in zip(cases, expected) {
                let digest = Self.methods[c.method].1
                let got = hex(c.key.map { digest.hmac(key: $0, c.message) } ?? digest.hash(c.message))
                if got != want {
                    mismatches += 1
                    if mismatches <= 5 {
                        Issue.record("\(Self.methods[c.method].0) key \(c.key.map(hex) ?? "none") message \(hex(c.message)): \(got) != \(want)")
                    }
                }
            }
            #expect(mismatches == 0)
            // The core's digests too (plugin ids, config hashes, sincedb names).
            let probe = bytes(100)
            #expect(hex(SluiceCore.SHA256.digest(probe)) == hex(Digest.sha256.hash(probe)))
            #expect(MD5.hexDigest(probe) == hex(Digest.md5.hash(probe)))
        }
    }
}

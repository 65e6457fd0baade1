import Testing
@testable import SluicePlugins

/// The line splitter of the `line` and `json_lines` codecs against a reference computed by Foundation-free
/// whole-string splitting: the same lines whatever the chunking (delimiters split across chunks included), and
/// lines over `decode_size_limit_bytes` cut to their first `limit` bytes with the rest skipped.
@Suite struct DelimitedLinesTests {
    enum Piece: Equatable { case line(String), oversized(String) }

    /// Feeds `text` in chunks ending at `cuts`, then flushes.
    static func split(_ text: String, delimiter: String, limit: Int = 1 << 20, cuts: [Int]) -> [Piece] {
        var lines = DelimitedLines(delimiter: Array(delimiter.utf8), limit: limit)
        var pieces: [Piece] = []
        let bytes = Array(text.utf8)
        var start = 0
        for end in cuts.map({ min($0, bytes.count) }) + [bytes.count] where end >= start {
            bytes[start..<end].withUnsafeBufferPointer { chunk in
                lines.split(
                    chunk, line: { pieces.append(.line(String(decoding: $0, as: UTF8.self))) },
                    oversized: { pieces.append(.oversized(String(decoding: $0, as: UTF8.self))) })
            }
            start = end
        }
        lines.flush(
            line: { pieces.append(.line(String(decoding: $0, as: UTF8.self))) },
            oversized: { pieces.append(.oversized(String(decoding: $0, as: UTF8.self))) })
        return pieces
    }

    /// What a whole-text split gives, byte by byte (Swift's `String.split` would see "\r\n" as one character):
    /// every delimited part, and a final unterminated part when not empty.
    static func reference(_ text: String, delimiter: String, limit: Int = 1 << 20) -> [Piece] {
        let bytes = Array(text.utf8), d = Array(delimiter.utf8)
        var parts: [[UInt8]] = [], start = 0, i = 0
        while i + d.count <= bytes.count {
            if Array(bytes[i..<i + d.count]) == d {
                parts.append(Array(bytes[start..<i]))
                i += d.count
                start = i
            } else {
                i += 1
            }
        }
        if start < bytes.count { parts.append(Array(bytes[start...])) }
        return parts.map { $0.count > limit ? .oversized(String(decoding: $0[..<limit], as: UTF8.self)) : .line(String(decoding: $0, as: UTF8.self)) }
    }

    @Test(arguments: ["\n", "\r\n", "|||", "ab"])
    func everySplitPointGivesTheWholeTextsLines(delimiter: String) {
        let text = ["first", "", "sec|ond a", "third\r", "xaby", "last"].joined(separator: delimiter)
        let expected = Self.reference(text, delimiter: delimiter)
        for cut in 0...text.utf8.count {
            #expect(Self.split(text, delimiter: delimiter, cuts: [cut]) == expected, "cut at \(cut)")
        }
    }

    @Test func randomChunkingsAgreeWithTheReference() {
        var rng = SplitMix64(seed: 11_0107)
        let alphabet = Array("ab\r\n|x".utf8)
        for delimiter in ["\n", "\r\n", "ab"] {
            for _ in 0..<500 {
                let text = String(decoding: (0..<Int(rng.next() % 60)).map { _ in alphabet[Int(rng.next() % 6)] }, as: UTF8.self)
                let cuts = (0..<Int(rng.next() % 5)).map { _ in Int(rng.next() % UInt64(text.utf8.count + 1)) }.sorted()
                let limit = 1 + Int(rng.next() % 12)
                #expect(
                    Self.split(text, delimiter: delimiter, limit: limit, cuts: cuts)
                        == Self.reference(text, delimiter: delimiter, limit: limit), "\(text.debugDescription) \(cuts) \(limit)")
            }
        }
    }

    @Test func aLineOverTheLimitIsCutAndTheRestSkippedUpToTheNextDelimiter() {
        let text = "short\n" + String(repeating: "x", count: 100) + "\nafter\n" + String(repeating: "y", count: 50)
        let expected: [Piece] = [.line("short"), .oversized(String(repeating: "x", count: 10)), .line("after")]
        for cut in stride(from: 0, through: text.utf8.count, by: 7) {
            // The unterminated last line is over the limit too: cut when it passes the limit, dropped at flush.
            #expect(
                Self.split(text, delimiter: "\n", limit: 10, cuts: [cut, cut + 3])
                    == expected + [.oversized(String(repeating: "y", count: 10))], "cut at \(cut)")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SluiceCore

/// Helpers shared by the DLQ tests: temporary directories, fixtures, hex.
enum DLQTestSupport {
    /// `Tests/Support/logstash`: bytes written by real Logstash releases, found from this file's path.
    static var fixturesDirectory: String {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // file, DLQ, SluiceTests
        return parts.joined(separator: "/") + "/Support/logstash"
    }

    static func fixture(_ relativePath: String) throws -> [UInt8] {
        let path = fixturesDirectory + "/" + relativePath
        return try #require(SegmentFiles.readFile(path), "missing fixture \(path)")
    }

    /// A fresh empty directory under /tmp.
    static func makeTemporaryDirectory() -> String {
        var template = Array("/tmp/sluice-dlq-test-XXXXXX".utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(result != nil, "mkdtemp failed")
        return String(cString: result!)
    }

    /// Removes a directory tree.
    static func removeTree(_ path: String) {
        if SegmentFiles.isDirectory(path) {
            for name in SegmentFiles.listDirectory(path) ?? [] { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Runs `body` with a temporary directory removed afterwards.
    static func withTemporaryDirectory<R>(_ body: (String) throws -> R) rethrows -> R {
        let dir = makeTemporaryDirectory()
        defer { removeTree(dir) }
        return try body(dir)
    }

    /// Copies every regular file of `from` into `to` (created if needed).
    static func copyDirectory(_ from: String, to: String) throws {
        try SegmentFiles.makeDirectories(to)
        for name in SegmentFiles.listDirectory(from) ?? [] {
            guard let bytes = SegmentFiles.readFile(from + "/" + name) else { continue }
            try SegmentFiles.createFile(to + "/" + name, bytes)
        }
    }

    /// Bytes from hex text, ignoring whitespace.
    static func bytes(hex: String) -> [UInt8] {
        let digits = hex.utf8.filter { !($0 == 32 || $0 == 10 || $0 == 9) }
        var out: [UInt8] = []
        var i = digits.startIndex
        while i < digits.endIndex {
            let hi = hexValue(digits[i]), lo = hexValue(digits[i + 1])
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> UInt8 {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: preconditionFailure("not hex: \(c)")
        }
    }

    /// The bytes of an annotated CBOR dump (`.asc`): the hex before each `#` comment.
    static func bytes(annotatedCBOR text: String) -> [UInt8] {
        var hex = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let code = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            hex += code.filter { !$0.isWhitespace }
        }
        return bytes(hex: hex)
    }

    /// Bytes from an `xxd`/`hexdump -C`-style listing: the 16 hex bytes after each offset, ASCII column dropped.
    static func bytes(hexdump: String) -> [UInt8] {
        var out: [UInt8] = []
        for line in hexdump.split(separator: "\n") {
            let fields = line.split(separator: "|", maxSplits: 1).first ?? ""
            let tokens = fields.split(separator: " ").dropFirst()
            out += tokens.flatMap { bytes(hex: String($0)) }
        }
        return out
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }

    static func timestamp(_ text: String) -> Timestamp { Timestamp.parseISO8601(text)! }

    /// An event with fields in the given order and no automatic additions.
    static func event(_ fields: [(String, Value)], metadata: [(String, Value)] = []) -> Event {
        let e = Event()
        var o = Object()
        for (k, v) in fields { o[k] = v }
        e.fields = o
        var m = Object()
        for (k, v) in metadata { m[k] = v }
        e.metadata = m
        return e
    }

    /// A writer with a controllable clock and no background timer.
    static func settings(_ root: String, pipeline: String = "main") -> DeadLetterQueueSettings {
        DeadLetterQueueSettings(path: root, pipelineID: pipeline)
    }
}

/// A clock tests move by hand.
final class FakeClock: @unchecked Sendable {
    private let lock = Lock()
    private var current: Timestamp

    init(_ start: Timestamp = Timestamp(seconds: 1_735_787_045, nanoseconds: 679_000_000)) { current = start }

    var now: Timestamp { lock.withLock { current } }

    func advance(seconds: Int64, nanoseconds: Int32 = 0) {
        lock.withLock {
            var t = Timestamp(seconds: current.seconds + seconds, nanoseconds: current.nanoseconds + nanoseconds)
            if t.nanoseconds >= 1_000_000_000 {
                t.nanoseconds -= 1_000_000_000
                t.seconds += 1
            }
            current = t
        }
    }

    var function: @Sendable () -> Timestamp { { [self] in self.now } }
}

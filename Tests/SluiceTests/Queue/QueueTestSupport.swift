#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SluiceCore

/// An independent reader and writer of Logstash's persisted-queue files, written from PQ-FORMAT.md alone (its own
/// CRC-32 and byte handling): what Sluice writes is checked with it, and pages it builds are fed to Sluice.
enum PQBytes {
    /// Bitwise CRC-32 (IEEE, reflected), as zlib and java.util.zip.CRC32.
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }

    static func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

    static func int(_ b: [UInt8], _ at: Int, _ n: Int) -> Int64 {
        var v: Int64 = 0
        for i in 0..<n { v = v << 8 | Int64(b[at + i]) }
        return n == 4 ? Int64(Int32(truncatingIfNeeded: v)) : v
    }

    /// A 34-byte checkpoint.
    static func checkpoint(page: Int32, firstUnackedPage: Int32, firstUnackedSeq: Int64, minSeq: Int64, count: Int32) -> [UInt8] {
        var b = be(UInt16(1)) + be(page) + be(firstUnackedPage) + be(firstUnackedSeq) + be(minSeq) + be(count)
        b += be(crc32(b[...]))
        return b
    }

    /// A page of `capacity` bytes: version 2, then `[seq][len][payload][crc]` per payload from `firstSeq`.
    static func page(capacity: Int, firstSeq: Int64, payloads: [[UInt8]]) -> [UInt8] {
        var b: [UInt8] = [2]
        for (i, p) in payloads.enumerated() {
            b += be(firstSeq + Int64(i)) + be(Int32(p.count)) + p + be(crc32(p[...]))
        }
        return b + [UInt8](repeating: 0, count: capacity - b.count)
    }

    /// Every element with a valid checksum in a page file, walked as Logstash's head recovery does.
    static func elements(_ page: [UInt8]) -> [(seq: Int64, payload: [UInt8])] {
        var out: [(Int64, [UInt8])] = []
        var at = 1
        var expected: Int64? = nil
        while at + 12 <= page.count {
            let seq = int(page, at, 8), len = Int(int(page, at + 8, 4))
            guard seq > 0, len > 0, expected == nil || seq == expected, at + 16 + len <= page.count else { break }
            let payload = Array(page[at + 12..<at + 12 + len])
            guard UInt32(truncatingIfNeeded: int(page, at + 12 + len, 4)) == crc32(payload[...]) else { break }
            out.append((seq, payload))
            expected = seq + 1
            at += 16 + len
        }
        return out
    }

    /// The `id-N` numbers found in the payloads of every page of a queue directory.
    static func ids(inQueue directory: String) -> Set<Int> {
        var ids = Set<Int>()
        for name in FileSystem.list(directory) where name.hasPrefix("page.") {
            guard let bytes = FileSystem.readBytes(directory + "/" + name) else { continue }
            for e in elements(bytes) { ids.formUnion(idNumbers(in: e.payload)) }
        }
        return ids
    }

    /// Numbers following `id-` in raw bytes.
    static func idNumbers(in bytes: [UInt8]) -> [Int] {
        var out: [Int] = []
        var i = 0
        while i + 3 < bytes.count {
            if bytes[i] == 0x69 && bytes[i + 1] == 0x64 && bytes[i + 2] == 0x2D {
                var j = i + 3, n = 0, digits = 0
                while j < bytes.count, bytes[j] >= 0x30, bytes[j] <= 0x39 {
                    n = n * 10 + Int(bytes[j] - 0x30)
                    j += 1
                    digits += 1
                }
                if digits > 0 { out.append(n) }
                i = j
            } else {
                i += 1
            }
        }
        return out
    }
}

/// Opens queues on temporary directories for the tests.
enum QueueTestSupport {
    static func settings(_ dir: String, pageCapacity: Int = 64 * 1024, maxBytes: Int64 = 0) -> PersistedQueueSettings {
        var s = PersistedQueueSettings(directory: dir)
        s.pageCapacity = pageCapacity
        s.maxBytes = maxBytes
        s.drain = true
        return s
    }

    static func open(_ s: PersistedQueueSettings, ledger: PipelineLedger = PipelineLedger()) throws -> PersistedQueue {
        try PersistedQueue(settings: s, cacheLimit: 0, ledger: ledger, logger: Logger("queue-test"))
    }

    static func event(_ n: Int) -> Event {
        let e = Event(timestamp: Timestamp(seconds: 1_700_000_000 + Int64(n), nanoseconds: 0))
        e.fields["message"] = .string("id-\(n)")
        return e
    }

    /// Takes everything and acknowledges it; returns the messages in order.
    static func drain(_ q: PersistedQueue) -> [String] {
        q.close()
        var out: [String] = []
        while let batch = q.take(max: 50, delayMillis: 0) {
            for e in batch.events { if case .string(let s)? = e.fields["message"] { out.append(s) } }
            q.acknowledge(batch)
        }
        return out
    }
}

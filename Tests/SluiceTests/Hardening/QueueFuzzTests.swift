#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SluiceCore

/// The persisted queue's readers under corrupted files (issue 15, fuzzing). A small valid queue is written by
/// `PersistedQueue` itself (1 KiB pages, some events acknowledged); then:
/// - 10,000 corrupted checkpoints through `QueueCheckpoint.decode` (bytes flipped, cut or inserted, and fields set
///   to extreme values with a recomputed checksum): each is refused with a `PersistedQueueError` exactly when an
///   independent check of size, checksum, version and field ranges says so, and what decodes re-encodes to its
///   bytes;
/// - 10,000 corrupted pages through `QueuePageFile.scan`, `QueuePageReader`, the event decoder and the walk of
///   `sluice queue check/repair`: the recovery scan keeps exactly the elements an independent walker keeps, and
///   each of them reads back with its payload;
/// - 500 whole corrupted queue directories (1 to 3 corruptions of pages and checkpoints each) opened, written to
///   and drained, then checked and repaired: what repair leaves passes the check and opens. Full opens sync
///   files, so there are 500 of them rather than 10,000 (the byte-level readers get the 10,000).
/// Nothing traps; every failure is a `PersistedQueueError` with a message; a corrupted queue never hands out an
/// event twice nor one it was not given.
@Suite struct QueueFuzzTests {
    static let pageCapacity = 1024
    static let events = 60

    /// The files of a valid queue: three or more tail pages with their checkpoints, a head page, the head
    /// checkpoint and `.queue-version`; the first 8 events taken and acknowledged.
    static let seedQueue: [String: [UInt8]] = {
        let dir = DLQTestSupport.makeTemporaryDirectory()
        defer { DLQTestSupport.removeTree(dir) }
        var settings = QueueTestSupport.settings(dir, pageCapacity: pageCapacity)
        settings.checkpointWrites = 1
        settings.checkpointAcks = 1
        let q = try! QueueTestSupport.open(settings)
        q.push((0..<events).map(QueueTestSupport.event), acknowledgement: nil, metrics: nil)
        var acknowledged = 0
        while acknowledged < 8 {  // a batch never spans pages
            let batch = q.take(max: 8 - acknowledged, delayMillis: 0)!
            q.acknowledge(batch)
            acknowledged += batch.events.count
        }
        q.shutdown()
        var files: [String: [UInt8]] = [:]
        for name in FileSystem.list(dir) where name != ".lock" { files[name] = FileSystem.readBytes(dir + "/" + name)! }
        return files
    }()

    static var checkpointNames: [String] { seedQueue.keys.filter { $0.hasPrefix("checkpoint.") }.sorted() }
    static var pageNames: [String] { seedQueue.keys.filter { $0.hasPrefix("page.") }.sorted() }

    static let extremes64: [Int64] = [0, 1, -1, 2, 8, 60, 61, Int64(Int32.max), 1 << 62, (1 << 62) + 1, Int64.max - 1, Int64.max, Int64.min]
    static let extremes32: [Int32] = [0, 1, -1, 2, 3, 60, 1000, Int32.max - 1, Int32.max, Int32.min]

    // MARK: Independent rules

    /// Whether a checkpoint is one a queue can have written (PQ-FORMAT.md): 34 bytes or more, checksum, version 1,
    /// page numbers from 0 to 2^31 - 2, sequence numbers from 0 to 2^62, a count that is not negative, and
    /// `minSeqNum + elementCount` within 2^62.
    static func isValidCheckpoint(_ b: [UInt8]) -> Bool {
        guard b.count >= 34, PQBytes.crc32(b[0..<30]) == UInt32(truncatingIfNeeded: PQBytes.int(b, 30, 4)) else { return false }
        let version = PQBytes.int(b, 0, 2), page = PQBytes.int(b, 2, 4), firstUnackedPage = PQBytes.int(b, 6, 4)
        let firstUnackedSeq = PQBytes.int(b, 10, 8), minSeq = PQBytes.int(b, 18, 8), count = PQBytes.int(b, 26, 4)
        let pages = 0...Int64(Int32.max - 1), seqs: ClosedRange<Int64> = 0...(1 << 62)
        return version == 1 && pages.contains(page) && pages.contains(firstUnackedPage) && seqs.contains(firstUnackedSeq)
            && seqs.contains(minSeq) && count >= 0 && seqs.contains(minSeq + count)
    }

    /// The elements a head-page recovery keeps, walked here from the format's rules: from offset 1, each element
    /// has the next sequence number (the first one from 1 to 2^62), a positive length inside the page and its
    /// CRC-32; the walk ends at the first one that does not.
    static func recoverable(_ page: [UInt8]) -> [(seq: Int64, payload: [UInt8])] {
        var out: [(Int64, [UInt8])] = []
        var at = 1
        var expected: Int64? = nil
        while at + 12 <= page.count {
            let seq = PQBytes.int(page, at, 8), length = Int(PQBytes.int(page, at + 8, 4))
            guard seq >= 1, seq <= 1 << 62, expected == nil || seq == expected, length > 0, at + 16 + length <= page.count else { break }
            let payload = Array(page[at + 12..<at + 12 + length])
            guard UInt32(truncatingIfNeeded: PQBytes.int(page, at + 12 + length, 4)) == PQBytes.crc32(payload[...]) else { break }
            out.append((seq, payload))
            expected = seq + 1
            at += 16 + length
        }
        return out
    }

    // MARK: Corruptions

    static let alphabet: [UInt8] = [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF, 0x0A, 0xA1, 0x61, 0x69, 0x64]

    /// Flips, cuts, inserts or deletes bytes.
    static func corruptBytes(_ bytes: inout [UInt8], _ rng: inout SplitMix64) {
        switch rng.next() % 4 {
        case 0 where !bytes.isEmpty:
            bytes = Array(bytes[0..<Int(rng.next() % UInt64(bytes.count))])
        case 1 where !bytes.isEmpty:
            for _ in 0..<(1 + rng.next() % 3) { bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(1 << (rng.next() % 8)) }
        default:
            FuzzTests.mutate(&bytes, &rng, alphabet: alphabet)
        }
    }

    /// A checkpoint field set to an extreme value, the checksum recomputed, so the field itself is what is tested.
    static func corruptCheckpointField(_ bytes: inout [UInt8], _ rng: inout SplitMix64) {
        guard bytes.count >= 34 else { return }
        let pick = extremes64[Int(rng.next() % UInt64(extremes64.count))]
        let field: [UInt8]
        let at: Int
        switch rng.next() % 6 {
        case 0: (at, field) = (0, PQBytes.be(UInt16(truncatingIfNeeded: rng.next() % 4)))
        case 1: (at, field) = (2, PQBytes.be(extremes32[Int(rng.next() % UInt64(extremes32.count))]))
        case 2: (at, field) = (6, PQBytes.be(extremes32[Int(rng.next() % UInt64(extremes32.count))]))
        case 3: (at, field) = (10, PQBytes.be(pick))
        case 4: (at, field) = (18, PQBytes.be(pick))
        default: (at, field) = (26, PQBytes.be(extremes32[Int(rng.next() % UInt64(extremes32.count))]))
        }
        bytes.replaceSubrange(at..<at + field.count, with: field)
        bytes.replaceSubrange(30..<34, with: PQBytes.be(PQBytes.crc32(bytes[0..<30])))
    }

    /// An element's sequence number or length set to an extreme value, or a payload byte changed with its
    /// checksum recomputed (so the event decoder sees it).
    static func corruptElement(_ page: inout [UInt8], _ rng: inout SplitMix64) {
        var starts: [Int] = []
        var at = 1
        while at + 12 <= page.count {
            let length = Int(PQBytes.int(page, at + 8, 4))
            guard length > 0, at + 16 + length <= page.count else { break }
            starts.append(at)
            at += 16 + length
        }
        guard !starts.isEmpty else { return corruptBytes(&page, &rng) }
        let start = starts[Int(rng.next() % UInt64(starts.count))]
        switch rng.next() % 3 {
        case 0:
            page.replaceSubrange(start..<start + 8, with: PQBytes.be(extremes64[Int(rng.next() % UInt64(extremes64.count))]))
        case 1:
            let lengths: [Int32] = [0, 1, -1, 15, Int32(pageCapacity), Int32.max, Int32.min]
            page.replaceSubrange(start + 8..<start + 12, with: PQBytes.be(lengths[Int(rng.next() % UInt64(lengths.count))]))
        default:
            let length = Int(PQBytes.int(page, start + 8, 4))
            var payload = Array(page[start + 12..<start + 12 + length])
            FuzzTests.mutate(&payload, &rng, alphabet: alphabet + [0x1B, 0x5F, 0x9F, 0xBF, 0xF9, 0xFF], maxEdits: 2)
            // Same length, so the element stays in place: cut or pad what an insert or delete changed.
            payload = Array((payload + [UInt8](repeating: 0x00, count: length)).prefix(length))
            page.replaceSubrange(start + 12..<start + 12 + length, with: payload)
            page.replaceSubrange(start + 12 + length..<start + 16 + length, with: PQBytes.be(PQBytes.crc32(payload[...])))
        }
    }

    static func write(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "cannot create \(path)")
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    // MARK: Tests

    @Test func theSeedQueueIsValidAndHasEveryKindOfFile() throws {
        #expect(Self.pageNames.count >= 4, "\(Self.seedQueue.keys.sorted())")
        #expect(Self.checkpointNames.contains("checkpoint.head") && Self.checkpointNames.count == Self.pageNames.count)
        for name in Self.checkpointNames { #expect(Self.isValidCheckpoint(Self.seedQueue[name]!), "\(name)") }
        try DLQTestSupport.withTemporaryDirectory { dir in
            for (name, bytes) in Self.seedQueue { Self.write(dir + "/" + name, bytes) }
            #expect(QueueTool(directory: dir).check().problems.isEmpty)
            let q = try QueueTestSupport.open(QueueTestSupport.settings(dir, pageCapacity: Self.pageCapacity))
            #expect(QueueTestSupport.drain(q) == (8..<Self.events).map { "id-\($0)" })
            q.shutdown()
        }
    }

    @Test func tenThousandCorruptedCheckpointsDecodeOrThrow() {
        var rng = SplitMix64(seed: 15_051)
        let seeds = Self.checkpointNames.map { Self.seedQueue[$0]! } + [PersistedQueueFormatTests.logstashCheckpoint]
        var decoded = 0
        for i in 0..<FuzzTests.iterations {
            var bytes = seeds[i % seeds.count]
            if rng.next() % 2 == 0 { Self.corruptBytes(&bytes, &rng) } else { Self.corruptCheckpointField(&bytes, &rng) }
            let valid = Self.isValidCheckpoint(bytes)
            do {
                let cp = try QueueCheckpoint.decode(bytes, name: "checkpoint.fuzz")
                decoded += 1
                #expect(valid, "iteration \(i): decoded a checkpoint that breaks the format: \(cp)")
                #expect(cp.encoded() == Array(bytes.prefix(34)), "iteration \(i)")
                _ = (cp.description, cp.isFullyAcked, cp.maxSeqNum)
            } catch {
                #expect(!valid, "iteration \(i): refused a valid checkpoint: \(error)")
                #expect(error.message.contains("checkpoint.fuzz"), "iteration \(i): \(error)")
            }
        }
        #expect(decoded > FuzzTests.iterations / 5 && decoded < FuzzTests.iterations * 4 / 5, "\(decoded) decoded")
    }

    @Test func tenThousandCorruptedPagesScanReadAndWalkWithoutTrapping() throws {
        var rng = SplitMix64(seed: 15_061)
        let seeds = Self.pageNames.map { Self.seedQueue[$0]! }
        try DLQTestSupport.withTemporaryDirectory { dir in
            var opened = 0, kept = 0, events = 0
            for i in 0..<FuzzTests.iterations {
                var bytes = seeds[i % seeds.count]
                for _ in 0..<(1 + rng.next() % 2) {
                    if rng.next() % 2 == 0 { Self.corruptBytes(&bytes, &rng) } else { Self.corruptElement(&bytes, &rng) }
                }
                Self.write(dir + "/page.7", bytes)
                let file: QueuePageFile
                do {
                    file = try QueuePageFile.open(dir, 7)
                } catch {
                    #expect(bytes.count < QueuePageFile.minimumSize, "iteration \(i): \(error)")
                    continue
                }
                opened += 1
                let expected = Self.recoverable(bytes)
                let scan = file.scan(first: nil, verify: true)
                #expect(scan.count == expected.count, "iteration \(i): \(scan.problem ?? "")")
                #expect(scan.count == 0 || scan.firstSeqNum == expected.first?.seq, "iteration \(i)")
                kept += scan.count
                // What the recovery keeps reads back, element by element, with its payload.
                var reader = QueuePageReader()
                var offset = QueuePageFile.headerSize
                for (k, element) in expected.enumerated() where k < scan.count {
                    do {
                        let read = try reader.element(of: file, at: offset, end: scan.end)
                        #expect(Array(read.bytes[read.payload]) == element.payload, "iteration \(i), element \(k)")
                        if (try? QueueFrames.decode(read.bytes, read.payload)) != nil { events += 1 }
                        offset = read.next
                    } catch {
                        Issue.record("iteration \(i), element \(k): \(error)")
                        break
                    }
                }
                // A tail page read against its checkpoint, and the walks of check and repair.
                let first = expected.first?.seq ?? Int64(rng.next() % 100)
                let tail = file.scan(first: first, limit: Int(rng.next() % 80), verify: false)
                #expect(tail.count <= 80)
                let tool = QueueTool(directory: dir)
                let walk = tool.walkElements(file, first: nil, limit: nil)
                #expect(walk.kept.count >= expected.count, "iteration \(i): the walk keeps every recoverable element")
                _ = tool.walkElements(file, first: first, limit: Int(rng.next() % 80))
            }
            #expect(opened > FuzzTests.iterations * 8 / 10 && kept > FuzzTests.iterations && events > FuzzTests.iterations,
                    "\(opened) opened, \(kept) elements kept, \(events) events decoded")
        }
    }

    @Test func fiveHundredCorruptedQueuesOpenCheckAndRepairWithoutTrapping() throws {
        var rng = SplitMix64(seed: 15_071)
        let files = Self.checkpointNames + Self.pageNames
        var opens = 0, refusals = 0, repairedOpens = 0
        for i in 0..<500 {
            let dir = DLQTestSupport.makeTemporaryDirectory()
            defer { DLQTestSupport.removeTree(dir) }
            var corrupted = Self.seedQueue
            for _ in 0..<(1 + rng.next() % 3) {
                let name = files[Int(rng.next() % UInt64(files.count))]
                switch (name.hasPrefix("page."), rng.next() % 2) {
                case (true, 0): Self.corruptElement(&corrupted[name]!, &rng)
                case (false, 0): Self.corruptCheckpointField(&corrupted[name]!, &rng)
                default: Self.corruptBytes(&corrupted[name]!, &rng)
                }
            }
            for (name, bytes) in corrupted { Self.write(dir + "/" + name, bytes) }
            let tool = QueueTool(directory: dir)
            _ = tool.check()
            _ = try? tool.stats()
            let settings = QueueTestSupport.settings(dir, pageCapacity: Self.pageCapacity)
            do {
                let q = try QueueTestSupport.open(settings)
                opens += 1
                q.push([QueueTestSupport.event(1000 + i)], acknowledgement: nil, metrics: nil)
                let read = QueueTestSupport.drain(q)
                q.shutdown()
                let allowed = Set((0..<Self.events).map { "id-\($0)" } + ["id-\(1000 + i)"])
                #expect(Set(read).count == read.count, "iteration \(i): an event handed out twice: \(read)")
                #expect(Set(read).isSubset(of: allowed), "iteration \(i): \(read)")
            } catch let error as PersistedQueueError {
                refusals += 1
                #expect(!error.message.isEmpty)
            } catch {
                Issue.record("iteration \(i): not a PersistedQueueError: \(error)")
            }
            do {
                _ = try tool.repairHoldingLock()
            } catch {
                #expect(!error.message.isEmpty)
            }
            // What repair leaves passes the check and opens, handing out each event at most once.
            #expect(tool.check().problems.isEmpty, "iteration \(i): \(tool.check().problems)")
            do {
                let q = try QueueTestSupport.open(settings)
                repairedOpens += 1
                let read = QueueTestSupport.drain(q)
                q.shutdown()
                #expect(Set(read).count == read.count, "iteration \(i): an event handed out twice after repair: \(read)")
            } catch {
                Issue.record("iteration \(i): the repaired queue does not open: \(error)")
            }
        }
        print("500 corrupted queues: \(opens) opened, \(refusals) refused with an error, \(repairedOpens) opened after repair")
        #expect(opens + refusals == 500 && repairedOpens == 500)
        #expect(opens > 50 && refusals > 50)
    }
}

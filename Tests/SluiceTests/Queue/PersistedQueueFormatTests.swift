import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SluiceCore

/// Logstash's page and checkpoint formats, read and written byte for byte (PQ-FORMAT.md), checked with an
/// independent reader and writer.
@Suite struct PersistedQueueFormatTests {
    /// The checkpoint.head fixture of logstash-core's tests, as PQ-FORMAT.md gives it.
    static let logstashCheckpoint = DLQTestSupport.bytes(hex: "0001 00000006 00000002 000000000000000a 0000000000000008 000000c8 738ced2f")

    @Test func decodesLogstashsCheckpointFixture() throws {
        let cp = try QueueCheckpoint.decode(Self.logstashCheckpoint, name: "checkpoint.head")
        #expect(cp == QueueCheckpoint(pageNum: 6, firstUnackedPageNum: 2, firstUnackedSeqNum: 10, minSeqNum: 8, elementCount: 200))
        #expect(cp.encoded() == Self.logstashCheckpoint)
        #expect(cp.description == "pageNum=6, firstUnackedPageNum=2, firstUnackedSeqNum=10, minSeqNum=8, elementCount=200, isFullyAcked=no")
    }

    @Test func checkpointChecksumIsVerifiedBeforeTheVersion() {
        var bad = Self.logstashCheckpoint
        bad[0] = 9
        #expect(throws: PersistedQueueError.self) { try QueueCheckpoint.decode(bad, name: "x") }
        do {
            _ = try QueueCheckpoint.decode(bad, name: "x")
        } catch {
            #expect(error.message.contains("Checkpoint checksum mismatch, expected: 1938615599"))
        }
        let independent = PQBytes.checkpoint(page: 3, firstUnackedPage: 0, firstUnackedSeq: 7, minSeq: 5, count: 4)
        #expect(QueueCheckpoint(pageNum: 3, firstUnackedPageNum: 0, firstUnackedSeqNum: 7, minSeqNum: 5, elementCount: 4).encoded() == independent)
    }

    /// A queue laid out by hand as Logstash leaves it (a tail page, a head page, checkpoints, .queue-version) is
    /// drained from its first unacknowledged element, and events Logstash serialised decode.
    @Test func drainsAQueueBuiltFromTheSpecification() throws {
        try DLQTestSupport.withTemporaryDirectory { dir in
            let payloads = (1...6).map { CBOREventCodec.encode(QueueTestSupport.event($0)) }
            try SegmentFiles.createFile(dir + "/.queue-version", [0, 0, 0, 2])
            try SegmentFiles.createFile(dir + "/page.3", PQBytes.page(capacity: 4096, firstSeq: 1, payloads: Array(payloads[0..<4])))
            try SegmentFiles.createFile(dir + "/checkpoint.3", PQBytes.checkpoint(page: 3, firstUnackedPage: 0, firstUnackedSeq: 3, minSeq: 1, count: 4))
            try SegmentFiles.createFile(dir + "/page.4", PQBytes.page(capacity: 4096, firstSeq: 5, payloads: Array(payloads[4..<6])))
            // The head checkpoint lags: it knows one element, recovery finds two.
            try SegmentFiles.createFile(dir + "/checkpoint.head", PQBytes.checkpoint(page: 4, firstUnackedPage: 3, firstUnackedSeq: 5, minSeq: 5, count: 1))
            let ledger = PipelineLedger()
            let q = try QueueTestSupport.open(QueueTestSupport.settings(dir), ledger: ledger)
            #expect(q.snapshot.unacknowledged == 4)
            #expect(ledger.recovered.load(ordering: .relaxed) == 4)
            #expect(QueueTestSupport.drain(q) == ["id-3", "id-4", "id-5", "id-6"])
            q.shutdown()
            // Every page was acknowledged: what is left is an empty head page and its checkpoint.
            let head = try #require(FileSystem.readBytes(dir + "/checkpoint.head"))
            #expect(PQBytes.int(head, 10, 8) == 0 && PQBytes.int(head, 26, 4) == 0)
            #expect(FileSystem.list(dir).filter { $0.hasPrefix("page.") } == ["page.5"])
        }
    }

    /// What Sluice writes follows the rules: version byte, contiguous sequence numbers from 1, checksums over the
    /// payload, a head checkpoint with the counts, `.queue-version` = 2, and payloads Logstash's decoder reads.
    @Test func writesPagesAnIndependentReaderAccepts() throws {
        try DLQTestSupport.withTemporaryDirectory { dir in
            var s = QueueTestSupport.settings(dir, pageCapacity: 2048)
            s.checkpointWrites = 1
            let q = try QueueTestSupport.open(s)
            q.push((0..<40).map(QueueTestSupport.event), acknowledgement: nil, metrics: nil)
            q.shutdown()
            #expect(FileSystem.readBytes(dir + "/.queue-version") == [0, 0, 0, 2])
            var seqs: [Int64] = [], ids: [Int] = []
            let pages = FileSystem.list(dir).compactMap { $0.hasPrefix("page.") ? Int($0.dropFirst(5)) : nil }.sorted()
            #expect(pages.count > 2)
            for n in pages {
                let bytes = try #require(FileSystem.readBytes(dir + "/page.\(n)"))
                #expect(bytes.count == 2048 && bytes[0] == 2)
                for e in PQBytes.elements(bytes) {
                    seqs.append(e.seq)
                    ids += PQBytes.idNumbers(in: e.payload)
                    let event = try CBOREventCodec.decode(e.payload)
                    #expect(event.fields["message"] != nil)
                }
                let name = n == pages.last ? "checkpoint.head" : "checkpoint.\(n)"
                let cp = try #require(FileSystem.readBytes(dir + "/" + name))
                #expect(cp.count == 34 && PQBytes.crc32(cp[0..<30]) == UInt32(truncatingIfNeeded: PQBytes.int(cp, 30, 4)))
                #expect(PQBytes.int(cp, 2, 4) == Int64(n))
                #expect(PQBytes.int(cp, 26, 4) == Int64(PQBytes.elements(bytes).count))
            }
            #expect(seqs == (1...40).map(Int64.init))
            #expect(ids == Array(0..<40))
        }
    }

    @Test func aSecondOwnerIsRefusedNamingTheLock() throws {
        try DLQTestSupport.withTemporaryDirectory { dir in
            let q = try QueueTestSupport.open(QueueTestSupport.settings(dir))
            #expect {
                try QueueTestSupport.open(QueueTestSupport.settings(dir))
            } throws: { error in
                "\(error)".contains("The queue failed to obtain exclusive access") && "\(error)".contains(dir + "/.lock")
            }
            q.shutdown()
            let again = try QueueTestSupport.open(QueueTestSupport.settings(dir))
            again.shutdown()
        }
    }

    /// A flipped byte in a payload: `check` names the element, `repair` drops only it, everything else is read.
    @Test func flippedByteIsFoundAndRepairKeepsTheRest() throws {
        try DLQTestSupport.withTemporaryDirectory { dir in
            let q = try QueueTestSupport.open(QueueTestSupport.settings(dir, pageCapacity: 4096))
            q.push((0..<60).map(QueueTestSupport.event), acknowledgement: nil, metrics: nil)
            q.shutdown()
            var page = try #require(FileSystem.readBytes(dir + "/page.0"))
            let victim = PQBytes.elements(page)[7]
            let at = try #require(page.firstRange(of: Array("id-7".utf8)))
            page[at.lowerBound + 3] ^= 0x01
            try SegmentFiles.replaceFile(dir + "/page.0", page)
            let tool = QueueTool(directory: dir)
            let (_, problems) = tool.check()
            #expect(problems.count == 1)
            #expect(problems.first?.contains("seqNum \(victim.seq)") == true)
            let report = try tool.repairHoldingLock()
            #expect(report.contains { $0.contains("dropped element seqNum \(victim.seq)") })
            #expect(tool.check().problems.isEmpty)
            let reopened = try QueueTestSupport.open(QueueTestSupport.settings(dir, pageCapacity: 4096))
            let read = QueueTestSupport.drain(reopened)
            reopened.shutdown()
            #expect(read == (0..<60).filter { $0 != 7 }.map { "id-\($0)" })
        }
    }

    /// A flipped byte in an element of an older (tail) page, which opening does not verify: the worker that takes
    /// it finds the bad checksum (after letting go of the queue's lock), skips that one event, counts it dropped and
    /// reports it; every other event is read and the whole batch acknowledged.
    @Test func aCorruptElementInATailPageIsSkippedByTheWorkerAndCounted() throws {
        try DLQTestSupport.withTemporaryDirectory { dir in
            let q = try QueueTestSupport.open(QueueTestSupport.settings(dir, pageCapacity: 2048))
            q.push((0..<60).map(QueueTestSupport.event), acknowledgement: nil, metrics: nil)
            q.shutdown()
            #expect(FileSystem.exists(dir + "/page.1"), "the events should span several pages")
            var page = try #require(FileSystem.readBytes(dir + "/page.0"))
            let victim = PQBytes.elements(page)[3]
            let at = try #require(page.firstRange(of: Array("id-3".utf8)))
            page[at.lowerBound + 3] ^= 0x01
            try SegmentFiles.replaceFile(dir + "/page.0", page)
            let ledger = PipelineLedger()
            let reopened = try QueueTestSupport.open(QueueTestSupport.settings(dir, pageCapacity: 2048), ledger: ledger)
            let read = QueueTestSupport.drain(reopened)
            #expect(read == (0..<60).filter { $0 != 3 }.map { "id-\($0)" })
            #expect(ledger.dropped.load(ordering: .relaxed) == 1)
            let snapshot = reopened.snapshot
            #expect(snapshot.unacknowledged == 0)
            #expect(snapshot.lastError?.contains("seqNum \(victim.seq)") == true, "\(snapshot.lastError ?? "no error")")
            reopened.shutdown()
        }
    }

    /// A head page cut in the middle of an element (a crash, a full disk): recovery keeps the intact prefix.
    @Test func truncatedHeadPageKeepsItsIntactPrefix() throws {
        try DLQTestSupport.withTemporaryDirectory { dir in
            let q = try QueueTestSupport.open(QueueTestSupport.settings(dir))
            q.push((0..<30).map(QueueTestSupport.event), acknowledgement: nil, metrics: nil)
            q.shutdown()
            let page = try #require(FileSystem.readBytes(dir + "/page.0"))
            let elements = PQBytes.elements(page)
            let cut = 1 + elements.prefix(20).reduce(0) { $0 + 16 + $1.payload.count } + 9
            try SegmentFiles.replaceFile(dir + "/page.0", Array(page[0..<cut]))
            let reopened = try QueueTestSupport.open(QueueTestSupport.settings(dir))
            #expect(QueueTestSupport.drain(reopened) == (0..<20).map { "id-\($0)" })
            reopened.shutdown()
        }
    }

    /// A crash during a checkpoint write leaves `checkpoint.head.tmp`: it is ignored on open, reported by check and
    /// deleted by repair.
    @Test func leftoverTemporaryCheckpointIsHarmless() throws {
        try DLQTestSupport.withTemporaryDirectory { dir in
            let q = try QueueTestSupport.open(QueueTestSupport.settings(dir))
            q.push((0..<5).map(QueueTestSupport.event), acknowledgement: nil, metrics: nil)
            q.shutdown()
            try SegmentFiles.createFile(dir + "/checkpoint.head.tmp", [0, 1, 0, 0])
            let tool = QueueTool(directory: dir)
            #expect(tool.check().problems.count == 1)
            let reopened = try QueueTestSupport.open(QueueTestSupport.settings(dir))
            #expect(QueueTestSupport.drain(reopened) == (0..<5).map { "id-\($0)" })
            reopened.shutdown()
            try SegmentFiles.createFile(dir + "/checkpoint.head.tmp", [0, 1, 0, 0])
            #expect(try tool.repairHoldingLock().contains("deleted checkpoint.head.tmp (an interrupted checkpoint write)"))
            #expect(tool.check().problems.isEmpty)
        }
    }

    /// `queue.max_bytes`: a push that finds the queue over its limit waits until acknowledged pages are deleted.
    @Test func maxBytesBlocksIntakeUntilPagesAreAcknowledged() throws {
        try DLQTestSupport.withTemporaryDirectory { dir in
            let q = try QueueTestSupport.open(QueueTestSupport.settings(dir, pageCapacity: 1024, maxBytes: 4096))
            let pushed = Atomic<Int>(0)
            let writer = try! SluiceCore.Thread(name: "writer") {
                for n in 0..<200 {
                    q.push([QueueTestSupport.event(n)], acknowledgement: nil, metrics: nil)
                    pushed.add(1, ordering: .relaxed)
                }
            }
            usleep(300_000)
            let blockedAt = pushed.load(ordering: .relaxed)
            #expect(blockedAt < 200)
            #expect(q.snapshot.persistedBytes <= 4096 + 1024)
            var read: [String] = []
            while read.count < 200, let batch = q.take(max: 10, delayMillis: 10) {
                for e in batch.events { if case .string(let s)? = e.fields["message"] { read.append(s) } }
                q.acknowledge(batch)
            }
            writer.join()
            #expect(read == (0..<200).map { "id-\($0)" })
            q.shutdown()
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SluiceCore

@Suite("DLQ reader")
struct DLQReaderTests {
    typealias Support = DLQTestSupport

    /// Writes `count` entries one second apart into `<root>/main`, in segments of about `segmentSize` bytes.
    static func populate(_ root: String, count: Int, padding: Int = 2_000, segmentSize: Int = 20_000,
                         clock: FakeClock = FakeClock()) throws {
        var settings = Support.settings(root)
        settings.maxSegmentSize = segmentSize
        let writer = try DeadLetterQueue(settings: settings, clock: clock.function, startsFlushTimer: false)
        for i in 0..<count {
            writer.write(DLQWriterTests.sampleEvent(i, padding: padding), pluginType: "t", pluginID: "i", reason: "r\(i)")
            clock.advance(seconds: 1)
        }
        writer.close()
    }

    static func drain(_ reader: DeadLetterQueueReader) -> [String] {
        var reasons: [String] = []
        while let entry = reader.next() { reasons.append(entry.reason) }
        return reasons
    }

    @Test func readsEverySegmentInNumericOrder() throws {
        try Support.withTemporaryDirectory { root in
            try Self.populate(root, count: 40, segmentSize: 8_000)
            let ids = DeadLetterQueueReader.sealedSegmentIDs(in: root + "/main")
            #expect(ids.count > 3 && ids == ids.sorted() && ids.contains(10))
            let reader = try DeadLetterQueueReader(path: root, pipelineID: "main")
            #expect(Self.drain(reader) == (0..<40).map { "r\($0)" })
            #expect(reader.next() == nil)
            #expect(reader.warningCount == 0)
        }
    }

    @Test func resumesFromAPersistedPosition() throws {
        try Support.withTemporaryDirectory { root in
            try Self.populate(root, count: 25, padding: 9_000, segmentSize: 60_000)
            let reader = try DeadLetterQueueReader(directory: root + "/main")
            var saved = DeadLetterQueuePosition(segmentID: 0)
            for i in 0..<11 {
                let record = try #require(reader.nextRecord())
                #expect(record.entry.reason == "r\(i)")
                saved = record.nextPosition
            }
            #expect(saved == reader.position)
            let resumed = try DeadLetterQueueReader(directory: root + "/main")
            resumed.seek(to: saved)
            #expect(Self.drain(resumed) == (11..<25).map { "r\($0)" })
            // Starting at a block whose first record continues a split entry skips that record.
            let split = try DeadLetterQueueReader(directory: root + "/main")
            let nextBlock = DLQSegmentFormat.blockStart(of: saved.offset) + DLQSegmentFormat.blockSize
            split.seek(to: DeadLetterQueuePosition(segmentID: saved.segmentID, offset: nextBlock))
            let rest = Self.drain(split)
            #expect(rest.first != "r11" && rest.last == "r24" && split.warningCount == 0)
        }
    }

    @Test func picksUpSegmentsSealedLater() throws {
        try Support.withTemporaryDirectory { root in
            let clock = FakeClock()
            let writer = try DeadLetterQueue(settings: Support.settings(root), clock: clock.function, startsFlushTimer: false)
            let reader = try DeadLetterQueueReader(directory: root + "/main")
            #expect(reader.next() == nil)
            writer.write(DLQWriterTests.sampleEvent(1), pluginType: "t", pluginID: "i", reason: "first")
            #expect(reader.next() == nil)  // still in the head
            clock.advance(seconds: 6)
            writer.flushCheck()
            #expect(reader.next()?.reason == "first")
            #expect(reader.next() == nil)
            writer.write(DLQWriterTests.sampleEvent(2), pluginType: "t", pluginID: "i", reason: "second")
            writer.close()
            #expect(reader.next()?.reason == "second")
        }
    }

    @Test func seeksToTheFirstEntryAtOrAfterATimestamp() throws {
        try Support.withTemporaryDirectory { root in
            let clock = FakeClock()
            let start = clock.now
            try Self.populate(root, count: 120, padding: 3_000, segmentSize: 200_000, clock: clock)
            let reader = try DeadLetterQueueReader(directory: root + "/main")
            for target in [0, 1, 37, 64, 65, 66, 119] {
                #expect(reader.seek(toFirstEntryAtOrAfter: start.adding(seconds: Int64(target))))
                #expect(reader.next()?.reason == "r\(target)")
            }
            // Between two entry times: the later one.
            #expect(reader.seek(toFirstEntryAtOrAfter: Timestamp(seconds: start.seconds + 50, nanoseconds: start.nanoseconds + 1)))
            #expect(reader.next()?.reason == "r51")
            // Before everything: the first.
            #expect(reader.seek(toFirstEntryAtOrAfter: Timestamp(seconds: 0)))
            #expect(reader.next()?.reason == "r0")
            // After everything: nothing now, and only entries sealed later.
            #expect(!reader.seek(toFirstEntryAtOrAfter: start.adding(seconds: 500)))
            #expect(reader.next() == nil)
            let writer = try DeadLetterQueue(settings: Support.settings(root), clock: clock.function, startsFlushTimer: false)
            writer.write(DLQWriterTests.sampleEvent(500), pluginType: "t", pluginID: "i", reason: "late")
            writer.close()
            #expect(Self.drain(reader) == ["late"])
        }
    }

    @Test func sinceDBMatchesTheSpecExample() throws {
        let db = DeadLetterQueueSinceDB(segmentPath: "/var/lib/logstash/dead_letter_queue/main/1.log", offset: 267)
        let bytes = db.bytes
        #expect(bytes.count == 111)
        #expect(Array(bytes[0..<6]) == [0x00, 0x31, 0x00, 0x00, 0x00, 0x2E])
        #expect(Array(bytes[52..<60]) == [0, 0, 0, 0, 0, 0, 0x01, 0x0B])
        #expect(bytes[60...].allSatisfy { $0 == 0 })
        #expect(try DeadLetterQueueSinceDB.decode(bytes) == db)
        #expect(db.position == DeadLetterQueuePosition(segmentID: 1, offset: 267))
        #expect(DeadLetterQueueSinceDB.defaultFileName(pathOption: "/var/lib/logstash/dead_letter_queue")
            == ".sincedb_1dcdb29e71c4b6a0ec8e39a1d1757aa3")
        #expect(MD5.hexDigest([]) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(try DeadLetterQueueSinceDB.decode([]) == nil)
        #expect(throws: DeadLetterQueueError.self) { try DeadLetterQueueSinceDB.decode([0x00, 0x32, 0, 0, 0, 0]) }
        #expect(throws: DeadLetterQueueError.self) { try DeadLetterQueueSinceDB.decode([0x00, 0x31, 0, 0, 0, 9, 1]) }
    }

    @Test func sinceDBFilesRoundTrip() throws {
        try Support.withTemporaryDirectory { root in
            let path = DeadLetterQueueSinceDB.defaultPath(dataPath: root, pipelineID: "main", pathOption: "/dlq")
            #expect(path.hasPrefix(root + "/plugins/inputs/dead_letter_queue/main/.sincedb_"))
            #expect(try DeadLetterQueueSinceDB.read(from: path) == nil)
            let db = DeadLetterQueueSinceDB(segmentPath: "/elsewhere/main/12.log", offset: 32_769)
            try db.write(to: path)
            #expect(try DeadLetterQueueSinceDB.read(from: path) == db)
            #expect(SegmentFiles.size(path) == db.segmentPath.utf8.count + 65)
        }
    }

    @Test func cleanConsumedDeletesReadSegmentsAndSignalsTheWriter() throws {
        try Support.withTemporaryDirectory { root in
            try Self.populate(root, count: 30)
            let dir = root + "/main"
            let ids = DeadLetterQueueReader.sealedSegmentIDs(in: dir)
            let reader = try DeadLetterQueueReader(directory: dir, cleanConsumed: true)
            #expect(throws: DeadLetterQueueError.self) { try DeadLetterQueueReader(directory: dir, cleanConsumed: true) }
            #expect(Self.drain(reader).count == 30)
            #expect(reader.consumedSegmentIDs == Array(ids.dropLast()))  // the newest is never consumed
            let sinceDB = root + "/sincedb"
            let deleted = try reader.deleteConsumedSegments(sinceDBPath: sinceDB)
            #expect(deleted.segments == ids.count - 1)
            #expect(deleted.events < 30 && deleted.events > 0)
            #expect(DeadLetterQueueReader.sealedSegmentIDs(in: dir) == [ids.last!])
            let signal = String(decoding: SegmentFiles.readFile(dir + "/.deleted_segment")!, as: UTF8.self)
            #expect(signal == "\(dir)/\(ids[ids.count - 2]).log\n")
            #expect(try DeadLetterQueueSinceDB.read(from: sinceDB)?.position == reader.position)
            #expect(reader.cleanedSegments == ids.count - 1)
            reader.close()
            #expect(SegmentFiles.exists(dir + "/dlq_reader.lock"))
            let again = try DeadLetterQueueReader(directory: dir, cleanConsumed: true)
            again.close()
        }
    }

    @Test func readAllIncludesHeadsOnRequest() throws {
        try Support.withTemporaryDirectory { root in
            let writer = try DeadLetterQueue(settings: Support.settings(root), clock: FakeClock().function, startsFlushTimer: false)
            writer.write(DLQWriterTests.sampleEvent(1), pluginType: "t", pluginID: "i", reason: "in head")
            #expect(DeadLetterQueueReader.readAll(directory: root + "/main").entries.isEmpty)
            #expect(DeadLetterQueueReader.readAll(directory: root + "/main", includeHead: true).entries.map(\.reason) == ["in head"])
            writer.close()
        }
    }

    @Test func readsTheFixtureDirectoryThroughTheReader() throws {
        try Support.withTemporaryDirectory { root in
            let bytes = try Support.fixture("logstash-dlq/main/1.log")
            try SegmentFiles.makeDirectories(root + "/main")
            try SegmentFiles.createFile(root + "/main/1.log", bytes)
            let reader = try DeadLetterQueueReader(path: root, pipelineID: "main")
            let first = try #require(reader.nextRecord())
            #expect(first.position == DeadLetterQueuePosition(segmentID: 1, offset: 1))
            #expect(first.nextPosition == DeadLetterQueuePosition(segmentID: 1, offset: 1 + 13 + 0x4A3))
            #expect(first.entry.event.fields["message"] == "hello")
            #expect(reader.next()?.entryTime == Support.timestamp("2022-01-27T21:23:28.703925Z"))
            #expect(reader.next() == nil)
            #expect(reader.position == DeadLetterQueuePosition(segmentID: 1, offset: 2401))
            // A writer opened on it continues the numbering and never touches it.
            let writer = try DeadLetterQueue(settings: Support.settings(root), clock: FakeClock().function, startsFlushTimer: false)
            #expect(writer.headSegmentID == 2)
            writer.close()
            #expect(SegmentFiles.readFile(root + "/main/1.log") == bytes)
        }
    }

    @Test func skipsDamagedSegmentsAndRecordsWithWarnings() throws {
        try Support.withTemporaryDirectory { root in
            try Self.populate(root, count: 12, padding: 10_000, segmentSize: 60_000)
            let dir = root + "/main"
            let ids = DeadLetterQueueReader.sealedSegmentIDs(in: dir)
            try SegmentFiles.createFile(dir + "/\(ids[0]).log", [0x32])  // wrong version: whole segment skipped
            var second = SegmentFiles.readFile(dir + "/\(ids[1]).log")!
            second[100] ^= 0xFF  // damage the first entry of the second segment
            try SegmentFiles.createFile(dir + "/\(ids[1]).log", second)
            var warnings: [DeadLetterQueueReadWarning] = []
            let reader = try DeadLetterQueueReader(directory: dir) { warnings.append($0) }
            let reasons = Self.drain(reader)
            #expect(reasons.last == "r11")
            #expect(reasons.count < 12 && reasons.count >= 2)
            #expect(warnings.map(\.kind).contains(.invalidVersion))
            #expect(warnings.map(\.kind).contains(.checksumMismatch))
            let crc = try #require(warnings.first { $0.kind == .checksumMismatch })
            #expect(crc.path == dir + "/\(ids[1]).log" && crc.offset == 1)
            #expect(crc.description.contains("\(ids[1]).log") && crc.description.contains("offset 1"))
        }
    }
}

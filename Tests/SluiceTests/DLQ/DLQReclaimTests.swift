import Testing
@testable import SluiceCore

/// Sealed segments whose every entry is removed are deleted, the writer is told, the removal record forgets them,
/// and nothing else changes: other segments, the head, the newest sealed segment, a writer that keeps writing.
@Suite("DLQ segment reclamation")
struct DLQReclaimTests {
    typealias Support = DLQTestSupport

    /// Entry ids by segment, as a scan sees them.
    static func idsBySegment(_ admin: DeadLetterQueueAdmin) -> [Int: [DeadLetterQueueEntryID]] {
        var ids: [Int: [DeadLetterQueueEntryID]] = [:]
        admin.scan(decodeEvents: false) { id, _ in
            ids[id.segment, default: []].append(id)
            return true
        }
        return ids
    }

    static func segmentExists(_ dir: String, _ id: Int) -> Bool { SegmentFiles.exists("\(dir)/\(id).log") }

    @Test func removingEverySegmentEntryDeletesItWhileTheWriterKeepsWriting() throws {
        try Support.withTemporaryDirectory { root in
            let clock = FakeClock()
            let writer = try DLQAdminTests.populate(root, count: 40, keepOpen: true, clock: clock)
            let dir = root + "/main"
            let admin = DeadLetterQueueAdmin(root: root, pipelineID: "main")
            let before = Self.idsBySegment(admin)
            let sealed = DeadLetterQueueReader.sealedSegmentIDs(in: dir)
            try #require(sealed.count >= 4)
            let (first, second, newest) = (sealed[0], sealed[1], sealed.last!)
            let head = try #require(writer.headSegmentID)
            let sizeBefore = writer.statistics.queueSizeInBytes
            let firstSize = try #require(SegmentFiles.size("\(dir)/\(first).log"))

            // All of the first segment's entries: its file goes, the writer is signalled, the record forgets it.
            #expect(try admin.remove(before[first]!).count == before[first]!.count)
            #expect(!Self.segmentExists(dir, first))
            #expect(String(decoding: SegmentFiles.readFile(dir + "/.deleted_segment") ?? [], as: UTF8.self) == "\(dir)/\(first).log\n")
            let record = String(decoding: SegmentFiles.readFile(dir + "/" + DeadLetterQueueRemovals.fileName) ?? [], as: UTF8.self)
            #expect(!record.contains("\(first)-"))

            // All but one of the second's: it stays; the last one too: it goes.
            let secondIDs = before[second]!
            try admin.remove(Array(secondIDs.dropLast()))
            #expect(Self.segmentExists(dir, second))
            try admin.remove([secondIDs.last!])
            #expect(!Self.segmentExists(dir, second))

            // The newest sealed segment is never deleted (the next head's number comes from it), nor the head.
            try admin.remove(before[newest]!)
            #expect(Self.segmentExists(dir, newest))
            #expect(SegmentFiles.exists("\(dir)/\(head).log.tmp"))

            // Every other entry is untouched.
            var after = Self.idsBySegment(admin)
            for (segment, ids) in before where ![first, second, newest].contains(segment) { #expect(after[segment] == ids) }
            #expect(after[first] == nil && after[second] == nil && after[newest] == nil)

            // The writer keeps writing, and gives the reclaimed bytes back once it sees the signal.
            clock.advance(seconds: 4)
            #expect(writer.write(DLQWriterTests.sampleEvent(99), pluginType: "t", pluginID: "p", reason: "after"))
            writer.flushCheck()
            #expect(!SegmentFiles.exists(dir + "/.deleted_segment"))
            let onDisk = SegmentDirectory.sealedSegments(dir).reduce(0) { $0 + $1.size }
            #expect(writer.statistics.queueSizeInBytes == Int64(onDisk))
            #expect(writer.statistics.queueSizeInBytes < sizeBefore - Int64(firstSize))
            writer.close()
            after = Self.idsBySegment(admin)
            #expect(after.values.reduce(0) { $0 + $1.count } == 40 + 1 - before[first]!.count - secondIDs.count - before[newest]!.count)
        }
    }

    @Test func redriveRemovalsReclaimASegmentAlsoWhenItsChunksAreAcknowledgedOutOfOrder() throws {
        try Support.withTemporaryDirectory { root in
            _ = try DLQAdminTests.populate(root, count: 30)
            let dir = root + "/main"
            let admin = DeadLetterQueueAdmin(root: root, pipelineID: "main")
            let ids = Self.idsBySegment(admin)
            let sealed = DeadLetterQueueReader.sealedSegmentIDs(in: dir)
            let target = ids[sealed[0]]!
            try #require(target.count >= 3)
            // The chunk holding the segment's last entry first: not everything is removed yet.
            try admin.markRemoved(Array(target.suffix(2)))
            #expect(Self.segmentExists(dir, sealed[0]))
            // The late chunk completes it.
            try admin.markRemoved(Array(target.dropLast(2)))
            #expect(!Self.segmentExists(dir, sealed[0]))
            // A chunk without a segment's last entry leaves it alone.
            try admin.markRemoved(Array(ids[sealed[1]]!.dropLast()))
            #expect(Self.segmentExists(dir, sealed[1]))
            #expect(Self.idsBySegment(admin)[sealed[1]]?.count == 1)
        }
    }

    @Test func aCleaningReaderWhoseConsumedSegmentWasReclaimedDeletesOnlyOlderSegments() throws {
        try Support.withTemporaryDirectory { root in
            _ = try DLQAdminTests.populate(root, count: 40)
            let dir = root + "/main"
            let sealed = DeadLetterQueueReader.sealedSegmentIDs(in: dir)
            try #require(sealed.count >= 4)
            let reader = try DeadLetterQueueReader(directory: dir, cleanConsumed: true)
            // Read the first segment to its end and one entry of the second: the first is consumed.
            while reader.position.segmentID == sealed[0] || reader.consumedSegmentIDs.isEmpty { _ = reader.next() }
            #expect(reader.consumedSegmentIDs == [sealed[0]])
            // Reclamation deletes the consumed segment before the reader cleans up.
            #expect(SegmentFiles.remove("\(dir)/\(sealed[0]).log"))
            _ = try reader.deleteConsumedSegments()
            // Logstash compares a missing file's time as equal, so only older ids go: the newer segments stay.
            #expect(DeadLetterQueueReader.sealedSegmentIDs(in: dir) == Array(sealed.dropFirst()))
            reader.close()
        }
    }
}

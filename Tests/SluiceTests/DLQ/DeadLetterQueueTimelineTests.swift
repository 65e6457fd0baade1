import Foundation
import Testing
@testable import SluiceCore

/// The admin stats' `timeline` (entries per time bucket, bounded memory), checked against counts computed here from
/// the entry times.
@Suite
struct DeadLetterQueueTimelineTests {
    /// Writes entries at `offsets` seconds after `start` with a hand-moved clock; returns the admin's stats.
    func stats(_ offsets: [Int64], start: Timestamp) throws -> Object {
        let root = TestPaths.temporaryDirectory().path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let clock = FakeClock(start)
        let writer = try DeadLetterQueue(
            settings: DeadLetterQueueSettings(path: root, pipelineID: "main"), clock: clock.function, startsFlushTimer: false)
        var at: Int64 = 0
        for (i, offset) in offsets.enumerated() {
            clock.advance(seconds: offset - at)
            at = offset
            var o = Object()
            o["n"] = .int(i)
            #expect(writer.write(Event(fromMap: o), pluginType: "p", pluginID: "id", reason: "r"))
        }
        writer.close()
        return DeadLetterQueueAdmin(root: root, pipelineID: "main").stats()
    }

    /// Counts per bucket computed directly from the entry times, for the interval and start the stats report.
    func expectTimeline(_ stats: Object, _ times: [Timestamp], interval: Int64) throws {
        let timeline = try #require(stats["timeline"]?.objectValue)
        #expect(timeline["interval_seconds"] == .int(Int(interval)))
        let start = try #require(timeline["start"].flatMap { if case .timestamp(let t) = $0 { t } else { nil } })
        let oldest = try #require(times.min()), newest = try #require(times.max())
        #expect(start.seconds % interval == 0 && start.nanoseconds == 0, "buckets are aligned to the interval")
        #expect(start <= oldest && oldest.seconds < start.seconds + interval, "the first bucket holds the oldest entry")
        let buckets = Int((newest.seconds - start.seconds) / interval) + 1
        var expected = [Int](repeating: 0, count: buckets)
        for t in times { expected[Int((t.seconds - start.seconds) / interval)] += 1 }
        #expect(timeline["counts"] == .array(expected.map { .int($0) }))
        #expect(expected.count <= DeadLetterQueueTimeline.maximumBuckets)
        #expect(expected.reduce(0, +) == stats["entries"]?.intValue)
    }

    /// (offsets in seconds, the bucket width chosen by hand: the first of 1, 2, 10, 20, 60, 120, 600 s … that
    /// spans the entries in at most 60 buckets).
    @Test(arguments: [
        ([0, 0, 1, 5, 5, 5, 30, 59], 1),              // 60 one-second buckets from an aligned start
        ([0, 3, 61, 62, 100], 2),                     // 101 s: 2 s buckets
        ([0, 100, 101, 590], 10),                     // 591 s: 10 s buckets
        ([0, 45, 1_700, 1_799, 1_800], 60),           // half an hour (31 one-minute buckets)
        ([0, 7_000, 3_600, 20, 21, 22], 120),         // about two hours, written out of order
        ([0, 86_400 * 3], 7_200),                     // three days: 2 h buckets
    ] as [([Int64], Int64)])
    func timelineCountsEntriesPerBucket(_ offsets: [Int64], _ interval: Int64) throws {
        // 12:34:56.5 on a day: the first bucket starts before the first entry, on an interval boundary.
        let start = Timestamp(seconds: 1_764_938_096, nanoseconds: 500_000_000)
        let stats = try stats(offsets, start: start)
        let times = offsets.map { Timestamp(seconds: start.seconds + $0, nanoseconds: start.nanoseconds) }
        #expect(stats["entries"] == .int(offsets.count))
        try expectTimeline(stats, times, interval: interval)
    }

    @Test func anEmptyQueueHasAnEmptyTimeline() throws {
        let stats = try stats([], start: Timestamp(seconds: 1_764_938_096))
        #expect(stats["timeline"]?["counts"] == .array([]))
        #expect(stats["timeline"]?["start"] == .null)
    }

    /// Memory stays bounded whatever the spread: 10,000 times over ten years in random order give at most 60
    /// buckets, and the counts still match.
    @Test func aWideSpreadStaysWithinTheBucketLimit() throws {
        var generator = SystemRandomNumberGenerator()
        let times = (0..<10_000).map { _ in Timestamp(seconds: Int64.random(in: 1_500_000_000...1_815_000_000, using: &generator)) }
        var timeline = DeadLetterQueueTimeline()
        for t in times { timeline.add(t) }
        let interval = timeline.intervalSeconds
        let start = try #require(timeline.start)
        let newest = try #require(times.max())
        var expected = [Int](repeating: 0, count: Int((newest.seconds - start.seconds) / interval) + 1)
        for t in times { expected[Int((t.seconds - start.seconds) / interval)] += 1 }
        #expect(timeline.buckets == expected)
        #expect(expected.count <= 60 && expected.count > 15, "\(expected.count) buckets of \(interval) s")
    }
}

import Foundation
import Testing
@testable import SluiceCore

/// Entries the DLQ loses are counted, logged and named in `last_error` (issue 15, item 6): `drop_older`'s deleted
/// segments, and entries an I/O failure keeps from the disk.
@Suite struct DLQLossTests {
    typealias Support = DLQTestSupport

    final class Messages: @unchecked Sendable {
        private let lock = Lock()
        private var items: [String] = []
        func append(_ m: String) { lock.withLock { items.append(m) } }
        var all: [String] { lock.withLock { items } }
    }

    static func event(_ i: Int) -> Event {
        Support.event([("message", .string("event \(i) " + String(repeating: "x", count: 700))), ("n", .int(i))])
    }

    @Test func dropOlderCountsLogsAndRecordsWhatItDeletes() throws {
        try Support.withTemporaryDirectory { root in
            var settings = Support.settings(root)
            settings.maxBytes = 12_000
            settings.maxSegmentSize = 5_000
            settings.storagePolicy = .dropOlder
            let warnings = Messages(), errors = Messages()
            let clock = FakeClock()
            let writer = try DeadLetterQueue(
                settings: settings, clock: clock.function, startsFlushTimer: false,
                warningHandler: { warnings.append($0) }, errorHandler: { errors.append($0) })
            for i in 0..<200 {
                #expect(writer.write(Self.event(i), pluginType: "t", pluginID: "i", reason: "r"))
                if i == 100 { clock.advance(seconds: 11) }  // a second report is due after 10 s
            }
            let stats = writer.statistics
            writer.close()
            let kept = DeadLetterQueueReader.readAll(directory: root + "/main").entries.count
            #expect(kept > 0 && kept < 200)
            #expect(stats.droppedEvents == 200 - kept, "every deleted entry is counted")
            #expect(stats.lastError.contains("storage_policy drop_older"))
            let dropReports = warnings.all.filter { $0.contains("drop_older") }
            #expect(dropReports.count == 2, "rate-limited: one report, then one after the interval: \(dropReports)")
            #expect(dropReports.last?.contains("similar messages suppressed") == true)
            #expect(errors.all.isEmpty)
        }
    }

    /// The queue directory disappears under the writer (as when descriptors or the disk run out, segment creation
    /// fails): entries are counted as dropped, the ERROR handler hears of it, and `last_error` names the cause.
    @Test func aSegmentThatCannotBeCreatedIsACountedLoggedLoss() throws {
        try Support.withTemporaryDirectory { root in
            var settings = Support.settings(root)
            settings.maxSegmentSize = 3_000
            let warnings = Messages(), errors = Messages()
            let writer = try DeadLetterQueue(
                settings: settings, clock: FakeClock().function, startsFlushTimer: false,
                warningHandler: { warnings.append($0) }, errorHandler: { errors.append($0) })
            #expect(writer.write(Self.event(0), pluginType: "t", pluginID: "i", reason: "r"))
            try FileManager.default.removeItem(atPath: root + "/main")
            var refused = 0
            for i in 1...20 where !writer.write(Self.event(i), pluginType: "t", pluginID: "i", reason: "r") { refused += 1 }
            let stats = writer.statistics
            writer.close()
            #expect(refused > 0)
            #expect(stats.droppedEvents == refused)
            #expect(stats.lastError.contains("cannot create segment"), "\(stats.lastError)")
            #expect(stats.lastError.contains("the event is lost"))
            #expect(errors.all.count == 1, "rate-limited ERROR: \(errors.all)")
            #expect(errors.all.first?.contains("No such file or directory") == true)
        }
    }
}

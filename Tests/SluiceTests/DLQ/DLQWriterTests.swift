#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SluiceCore

@Suite("DLQ writer")
struct DLQWriterTests {
    typealias Support = DLQTestSupport

    static func sampleEvent(_ i: Int, padding: Int = 0) -> Event {
        Support.event([
            ("message", .string("event \(i)" + String(repeating: "x", count: padding))), ("n", .int(i)),
            ("@version", "1"), ("@timestamp", .timestamp(Timestamp(seconds: 1_700_000_000 + Int64(i)))),
        ], metadata: [("origin", "test")])
    }

    static func openWriter(_ settings: DeadLetterQueueSettings, clock: FakeClock = FakeClock()) throws -> DeadLetterQueue {
        try DeadLetterQueue(settings: settings, clock: clock.function, startsFlushTimer: false)
    }

    static func files(_ dir: String) -> [String] { (SegmentFiles.listDirectory(dir) ?? []).sorted() }

    static func messages(_ dir: String) -> [String] {
        DeadLetterQueueReader.readAll(directory: dir).entries.compactMap { $0.event.fields["message"]?.stringValue }
    }

    @Test func writesSealsOnCloseAndReadsBack() throws {
        try Support.withTemporaryDirectory { root in
            let writer = try Self.openWriter(Support.settings(root))
            let dir = root + "/main"
            #expect(Self.files(dir) == [".lock", "1.log.tmp"])
            for i in 0..<3 {
                #expect(writer.write(Self.sampleEvent(i), pluginType: "elasticsearch", pluginID: "es", reason: "r\(i)"))
            }
            #expect(Self.files(dir) == [".lock", "1.log.tmp"])
            writer.close()
            #expect(Self.files(dir) == ["1.log"])
            let (entries, warnings) = DeadLetterQueueReader.readAll(directory: dir)
            #expect(warnings.isEmpty)
            #expect(entries.map(\.reason) == ["r0", "r1", "r2"])
            #expect(entries[1].event.fields == Self.sampleEvent(1).fields)
            #expect(entries[1].event.metadata == Self.sampleEvent(1).metadata)
            #expect(entries[1].pluginType == "elasticsearch" && entries[1].pluginID == "es")
            #expect(entries[1].entryTime == FakeClock().now)
            let stats = writer.statistics
            #expect(stats.queueSizeInBytes == Int64(SegmentFiles.size(dir + "/1.log")!))
            #expect(stats.object.orderedKeys == ["queue_size_in_bytes", "max_queue_size_in_bytes", "dropped_events",
                                                 "expired_events", "last_error", "storage_policy"])
            #expect(stats.lastError == "no errors" && stats.storagePolicy == .dropNewer)
            #expect(stats.maxQueueSizeInBytes == 1_073_741_824)
            #expect(!writer.write(Self.sampleEvent(9), pluginType: "t", pluginID: "i", reason: "after close"))
        }
    }

    @Test func neverWritesEventsThatCameFromTheQueue() throws {
        try Support.withTemporaryDirectory { root in
            let writer = try Self.openWriter(Support.settings(root))
            let replayed = Self.sampleEvent(1)
            replayed.metadata["dead_letter_queue"] = ["reason": "x"]
            #expect(!writer.write(replayed, pluginType: "t", pluginID: "i", reason: "loop"))
            #expect(writer.statistics.droppedEvents == 0)
            writer.close()
            #expect(Self.files(root + "/main") == ["1.log.tmp"])  // empty head left behind, as Logstash does
        }
    }

    @Test func emptyHeadIsRemovedAtNextStartAndNumberingRestarts() throws {
        try Support.withTemporaryDirectory { root in
            try Self.openWriter(Support.settings(root)).close()
            let writer = try Self.openWriter(Support.settings(root))
            #expect(writer.headSegmentID == 1)
            writer.write(Self.sampleEvent(1), pluginType: "t", pluginID: "i", reason: "r")
            writer.close()
            let again = try Self.openWriter(Support.settings(root))
            #expect(again.headSegmentID == 2)
            #expect(again.statistics.queueSizeInBytes == Int64(SegmentFiles.size(root + "/main/1.log")! + 1))
            again.close()
        }
    }

    @Test func sealsAFullSegmentBeforeTheWriteThatWouldOverflowIt() throws {
        try Support.withTemporaryDirectory { root in
            let writer = try Self.openWriter(Support.settings(root))
            let big = Self.sampleEvent(0, padding: 1_048_576)
            for i in 0..<11 { #expect(writer.write(big, pluginType: "t", pluginID: "i", reason: "big \(i)")) }
            let dir = root + "/main"
            #expect(Self.files(dir) == [".lock", "1.log", "2.log.tmp"])
            #expect(SegmentFiles.size(dir + "/1.log")! <= DLQSegmentFormat.maxSegmentSize + 1000)
            writer.close()
            #expect(DeadLetterQueueReader.readAll(directory: dir).entries.map(\.reason) == (0..<11).map { "big \($0)" })
        }
    }

    @Test func concurrentWritersLoseNothing() async throws {
        let root = Support.makeTemporaryDirectory()
        defer { Support.removeTree(root) }
        var settings = Support.settings(root)
        settings.maxSegmentSize = 64 * 1024
        let writer = try Self.openWriter(settings)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for i in 0..<250 {
                        writer.write(Self.sampleEvent(worker * 1000 + i, padding: i % 7 == 0 ? 40_000 : 0),
                                     pluginType: "t", pluginID: "w\(worker)", reason: "r")
                    }
                }
            }
        }
        writer.close()
        let (entries, warnings) = DeadLetterQueueReader.readAll(directory: root + "/main")
        #expect(warnings.isEmpty)
        #expect(entries.count == 1000)
        #expect(Set(entries.compactMap { $0.event.fields["n"].map { "\($0)" } }).count == 1000)
        for worker in 0..<4 {  // each worker's entries keep their order
            let ns = entries.filter { $0.pluginID == "w\(worker)" }.compactMap { $0.event.fields["n"] }
            #expect(ns == (0..<250).map { .int(worker * 1000 + $0) })
        }
    }

    @Test func startupRecoveryFollowsTheSpecTable() throws {
        try Support.withTemporaryDirectory { root in
            let dir = root + "/main"
            try SegmentFiles.makeDirectories(dir)
            var entry: [UInt8] = []
            DLQEntryCodec.encode(event: Self.sampleEvent(1), pluginType: "t", pluginID: "i", reason: "r",
                                 entryTime: FakeClock().now, options: .init(), appendingTo: &entry)
            let valid = SegmentBuilder.segment([entry, entry])
            var corrupt = valid
            corrupt[40] ^= 0x01
            try SegmentFiles.createFile(dir + "/1.log", valid)
            try SegmentFiles.createFile(dir + "/1.log.tmp", valid)  // N.log exists: deleted
            try SegmentFiles.createFile(dir + "/2.log.tmp", valid)  // readable: sealed
            try SegmentFiles.createFile(dir + "/3.log.tmp", [0x31])  // no entry: deleted
            try SegmentFiles.createFile(dir + "/4.log.tmp", corrupt)  // bad checksum: .err
            try SegmentFiles.createFile(dir + "/5.log.tmp", [0x32] + valid.dropFirst())  // bad version: .err
            try SegmentFiles.createFile(dir + "/6.log.tmp", Array(valid.dropLast(5)))  // truncated: .err
            let collector = WarningCollector()
            let writer = try DeadLetterQueue(settings: Support.settings(root), clock: FakeClock().function,
                                             startsFlushTimer: false) { collector.add($0) }
            let warnings = collector.messages
            #expect(Self.files(dir) == [".lock", "1.log", "2.log", "3.log.tmp", "4.err", "5.err", "6.err"])
            #expect(writer.headSegmentID == 3)
            #expect(warnings.count == 3)
            #expect(warnings.first?.contains("4.log.tmp") == true)
            #expect(SegmentFiles.readFile(dir + "/2.log") == valid)
            writer.close()
        }
    }

    @Test func aSecondWriterOnTheSameDirectoryFailsNamingThePath() throws {
        try Support.withTemporaryDirectory { root in
            let first = try Self.openWriter(Support.settings(root))
            do {
                _ = try Self.openWriter(Support.settings(root + "/"))
                Issue.record("the second writer opened")
            } catch let error as DeadLetterQueueError {
                #expect(error.kind == .locked)
                #expect(error.message.contains(root + "/main/.lock") || error.message.contains("main/.lock"))
            }
            #expect(SegmentFiles.exists(root + "/main/.lock"))  // the failed attempt left the holder's lock alone
            first.close()
            #expect(!SegmentFiles.exists(root + "/main/.lock"))
            let third = try Self.openWriter(Support.settings(root))
            third.close()
        }
    }

    @Test func theLockConflictsWithAnotherProcessesFcntlLock() throws {
        guard access("/usr/bin/python3", X_OK) == 0 || getenv("PATH") != nil else { return }
        try Support.withTemporaryDirectory { root in
            let writer = try Self.openWriter(Support.settings(root))
            defer { writer.close() }
            let script = "import fcntl,sys\nf=open(sys.argv[1],'a')\ntry:\n fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB)\nexcept OSError:\n sys.exit(3)\n"
            guard let status = runProcess(["python3", "-c", script, root + "/main/.lock"]) else { return }
            #expect(status == 3, "another process could lock .lock while the writer holds it")
        }
    }

    @Test func dropNewerRefusesAndCountsOnceSealedSegmentsReachMaxBytes() throws {
        try Support.withTemporaryDirectory { root in
            var settings = Support.settings(root)
            settings.maxBytes = 12_000
            settings.maxSegmentSize = 5_000
            let writer = try Self.openWriter(settings)
            var accepted = 0
            for i in 0..<40 where writer.write(Self.sampleEvent(i, padding: 700), pluginType: "t", pluginID: "i", reason: "r") {
                accepted += 1
            }
            let stats = writer.statistics
            #expect(accepted < 40 && accepted > 5)
            #expect(stats.droppedEvents == 40 - accepted)
            #expect(stats.lastError == "Cannot write event to DLQ(path: \(root)/main): reached maxQueueSize of 12000")
            writer.close()
            let sealedSize = SegmentDirectory.sealedSegments(root + "/main").reduce(0) { $0 + $1.size }
            #expect(sealedSize <= 12_000 + 5_000)
            #expect(Self.messages(root + "/main").count == accepted)
        }
    }

    @Test func dropOlderDeletesTheOldestSegmentsToMakeRoom() throws {
        try Support.withTemporaryDirectory { root in
            var settings = Support.settings(root)
            settings.maxBytes = 12_000
            settings.maxSegmentSize = 5_000
            settings.storagePolicy = .dropOlder
            let writer = try Self.openWriter(settings)
            for i in 0..<40 {
                #expect(writer.write(Self.sampleEvent(i, padding: 700), pluginType: "t", pluginID: "i", reason: "r"))
            }
            // An entry larger than max_bytes is dropped and counted instead of looping forever.
            #expect(!writer.write(Self.sampleEvent(99, padding: 20_000), pluginType: "t", pluginID: "i", reason: "r"))
            let stats = writer.statistics
            #expect(stats.expiredEvents == 0)
            writer.close()
            let dir = root + "/main"
            let ids = DeadLetterQueueReader.sealedSegmentIDs(in: dir)
            #expect(ids.first! > 1)
            let messages = Self.messages(dir)
            #expect(messages.last == "event 39" + String(repeating: "x", count: 700))
            let numbers = DeadLetterQueueReader.readAll(directory: dir).entries.compactMap { $0.event.fields["n"] }
            #expect(numbers == (40 - numbers.count..<40).map { .int($0) })  // a contiguous, most recent run
            // The deleted oldest entries and the oversized one are counted (issue 15: they used to be silent).
            #expect(stats.droppedEvents == (40 - numbers.count) + 1)
        }
    }

    @Test func retainAgeDeletesSegmentsWhoseNewestEntryIsTooOld() throws {
        try Support.withTemporaryDirectory { root in
            var settings = Support.settings(root)
            settings.retainAge = .seconds(60)
            settings.maxSegmentSize = 3_000
            let clock = FakeClock()
            let writer = try Self.openWriter(settings, clock: clock)
            for i in 0..<6 { writer.write(Self.sampleEvent(i, padding: 900), pluginType: "t", pluginID: "i", reason: "old") }
            let dir = root + "/main"
            let oldSegments = DeadLetterQueueReader.sealedSegmentIDs(in: dir)
            #expect(oldSegments.count >= 2)
            clock.advance(seconds: 30)
            writer.write(Self.sampleEvent(6), pluginType: "t", pluginID: "i", reason: "new")
            #expect(DeadLetterQueueReader.sealedSegmentIDs(in: dir) == oldSegments)  // not old enough yet
            clock.advance(seconds: 31)
            writer.write(Self.sampleEvent(7), pluginType: "t", pluginID: "i", reason: "new")
            let remaining = DeadLetterQueueReader.sealedSegmentIDs(in: dir)
            #expect(remaining.allSatisfy { !oldSegments.contains($0) } || remaining.count < oldSegments.count)
            let expired = writer.statistics.expiredEvents
            #expect(expired >= 4)
            clock.advance(seconds: 3600)
            writer.close()  // retention runs again on close: everything sealed is now too old
            #expect(DeadLetterQueueReader.sealedSegmentIDs(in: dir).isEmpty)
            #expect(writer.statistics.expiredEvents == 8)
        }
    }

    @Test func staleHeadIsSealedByTheFlushCheck() throws {
        try Support.withTemporaryDirectory { root in
            let clock = FakeClock()
            let writer = try Self.openWriter(Support.settings(root), clock: clock)  // flush_interval 5 s
            writer.write(Self.sampleEvent(1), pluginType: "t", pluginID: "i", reason: "r")
            clock.advance(seconds: 4)
            writer.flushCheck()
            #expect(DeadLetterQueueReader.sealedSegmentIDs(in: root + "/main").isEmpty)
            writer.write(Self.sampleEvent(2), pluginType: "t", pluginID: "i", reason: "r")  // restarts the clock
            clock.advance(seconds: 4)
            writer.flushCheck()
            #expect(DeadLetterQueueReader.sealedSegmentIDs(in: root + "/main").isEmpty)
            clock.advance(seconds: 1)
            writer.flushCheck()
            #expect(DeadLetterQueueReader.sealedSegmentIDs(in: root + "/main") == [1])
            #expect(writer.headSegmentID == 2)
            clock.advance(seconds: 10)
            writer.flushCheck()  // an empty head is never sealed
            #expect(writer.headSegmentID == 2)
            writer.close()
        }
    }

    @Test func backgroundTimerSealsWithinFlushIntervalPlusOneCheck() throws {
        try Support.withTemporaryDirectory { root in
            let settings = DeadLetterQueueSettings(path: root, pipelineID: "main", flushInterval: .milliseconds(200))
            #expect(settings.effectiveFlushIntervalMilliseconds == 1000)
            let writer = try DeadLetterQueue(settings: settings)
            defer { writer.close() }
            writer.write(Self.sampleEvent(1), pluginType: "t", pluginID: "i", reason: "r")
            var waited = 0
            while !SegmentFiles.exists(root + "/main/1.log") && waited < 6000 {
                usleep(50_000)
                waited += 50
            }
            #expect(SegmentFiles.exists(root + "/main/1.log"), "not sealed after \(waited) ms")
            #expect(waited >= 900)
        }
    }

    @Test func killedWriterKeepsFinalizedEntriesWithoutDuplicates() throws {
        try Support.withTemporaryDirectory { root in
            var settings = Support.settings(root)
            settings.maxSegmentSize = 20_000
            let writer = try Self.openWriter(settings)
            for i in 0..<30 { writer.write(Self.sampleEvent(i, padding: 1_000), pluginType: "t", pluginID: "i", reason: "r") }
            // "Kill": snapshot the directory as it is now, lock file included, and never close that state.
            let crashed = root + "/crashed"
            try Support.copyDirectory(root + "/main", to: crashed + "/main")
            try Support.copyDirectory(root + "/main", to: crashed + "-torn/main")
            writer.close()

            let reopened = try Self.openWriter(DeadLetterQueueSettings(path: crashed, pipelineID: "main"))
            for i in 30..<35 { reopened.write(Self.sampleEvent(i), pluginType: "t", pluginID: "i", reason: "r") }
            reopened.close()
            let numbers = DeadLetterQueueReader.readAll(directory: crashed + "/main").entries.compactMap { $0.event.fields["n"] }
            #expect(numbers == (0..<35).map { .int($0) })

            // A head torn in the middle of a record is set aside as N.err (Logstash's table), sealed ones kept.
            let torn = crashed + "-torn/main"
            let head = try #require(Self.files(torn).first { $0.hasSuffix(".log.tmp") })
            let bytes = SegmentFiles.readFile(torn + "/" + head)!
            try SegmentFiles.createFile(torn + "/" + head, Array(bytes.dropLast(7)))
            let afterTear = try Self.openWriter(DeadLetterQueueSettings(path: crashed + "-torn", pipelineID: "main"))
            afterTear.close()
            #expect(Self.files(torn).contains(head.replacingOccurrences(".log.tmp", ".err")))
            let kept = DeadLetterQueueReader.readAll(directory: torn).entries.compactMap { $0.event.fields["n"] }
            #expect(kept == (0..<kept.count).map { .int($0) })
        }
    }

    @Test func unwritableDirectoryRecordsTheErrorAndNeverCrashes() throws {
        try Support.withTemporaryDirectory { root in
            try SegmentFiles.createFile(root + "/file", [1])
            #expect(throws: DeadLetterQueueError.self) {
                try Self.openWriter(DeadLetterQueueSettings(path: root + "/file", pipelineID: "main"))
            }
            var settings = Support.settings(root)
            settings.maxSegmentSize = 2_000
            let writer = try Self.openWriter(settings)
            Support.removeTree(root + "/main")  // the directory disappears under the writer
            var results: [Bool] = []
            for i in 0..<10 { results.append(writer.write(Self.sampleEvent(i, padding: 800), pluginType: "t", pluginID: "i", reason: "r")) }
            #expect(results.contains(false))
            #expect(writer.statistics.lastError.contains(root + "/main"))
            writer.close()
        }
    }

    @Test func deletedSegmentSignalMakesTheWriterRemeasure() throws {
        try Support.withTemporaryDirectory { root in
            var settings = Support.settings(root)
            settings.maxSegmentSize = 3_000
            let clock = FakeClock()
            let writer = try Self.openWriter(settings, clock: clock)
            for i in 0..<6 { writer.write(Self.sampleEvent(i, padding: 900), pluginType: "t", pluginID: "i", reason: "r") }
            let dir = root + "/main"
            let before = writer.statistics.queueSizeInBytes
            SegmentFiles.remove(dir + "/1.log")
            try SegmentFiles.createFile(dir + "/.deleted_segment", Array("\(dir)/1.log\n".utf8))
            clock.advance(seconds: 1)
            writer.flushCheck()
            #expect(writer.statistics.queueSizeInBytes == before)  // checked every 3 s only
            clock.advance(seconds: 2)
            writer.flushCheck()
            #expect(!SegmentFiles.exists(dir + "/.deleted_segment"))
            let onDisk = SegmentDirectory.sealedSegments(dir).reduce(0) { $0 + $1.size }
            #expect(writer.statistics.queueSizeInBytes == Int64(onDisk))
            writer.close()
        }
    }

    @Test func writesWithoutStringReferencesForOlderLogstash() throws {
        try Support.withTemporaryDirectory { root in
            var settings = Support.settings(root)
            settings.stringReferences = false
            let writer = try Self.openWriter(settings)
            writer.write(SpecExamples.tinyEventValue(), pluginType: "elasticsearch", pluginID: "es_out", reason: "status 400")
            writer.close()
            let bytes = SegmentFiles.readFile(root + "/main/1.log")!
            #expect(bytes.count == 1 + 13 + 274)
            #expect(!bytes.contains(0xD9))
        }
    }
}

/// Runs a command, returning its exit status (nil when it cannot be started).
func runProcess(_ arguments: [String]) -> Int32? {
    var pid = pid_t()
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    guard posix_spawnp(&pid, arguments[0], nil, nil, &argv, environ) == 0 else { return nil }
    var status: Int32 = 0
    guard waitpid(pid, &status, 0) == pid else { return nil }
    return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : nil
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        guard let range = firstRange(of: target) else { return self }
        return self[..<range.lowerBound] + replacement + self[range.upperBound...]
    }
}

/// Collects writer warnings from any thread.
final class WarningCollector: @unchecked Sendable {
    private let lock = Lock()
    private var collected: [String] = []
    func add(_ message: String) { lock.withLock { collected.append(message) } }
    var messages: [String] { lock.withLock { collected } }
}

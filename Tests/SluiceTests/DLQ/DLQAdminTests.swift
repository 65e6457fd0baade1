import Testing
@testable import SluiceCore

/// `sluice dlq` and the admin API's reading side: failure signatures, cursor paging across segments (also while the
/// head is being written), single entries and selections.
@Suite("DLQ admin")
struct DLQAdminTests {
    typealias Support = DLQTestSupport

    // MARK: Failure signatures

    static let mappingError = #"Could not index event to Elasticsearch. status: 400, action: ["index", {:_id=>nil, :_index=>"logs-2026.12.07", :routing=>nil}, {"message"=>"user 4411 said \"hi\"", "n"=>"abc"}], response: {"index"=>{"_index"=>"logs-2026.12.07", "_id"=>"Xk3aB9", "status"=>400, "error"=>{"type"=>"mapper_parsing_exception", "reason"=>"failed to parse field [n] of type [long] in document with id 'Xk3aB9'. Preview of field's value: 'abc'"}}}"#

    @Test func elasticsearchMappingErrorsOnDifferentDocumentsShareOneSignature() {
        let other = Self.mappingError.replacing("4411", with: "17").replacing("abc", with: "zz top").replacing("Xk3aB9", with: "q1")
            .replacing("2026.12.07", with: "2026.12.08")
        let a = FailureSignature(pluginType: "elasticsearch", pluginID: "es", reason: Self.mappingError)
        let b = FailureSignature(pluginType: "elasticsearch", pluginID: "es", reason: other)
        #expect(a == b)
        #expect(a.id == b.id && a.id.count == 12)
        #expect(a.pattern.contains("status: 400"))
        #expect(a.pattern.contains("action: [...]"))
        #expect(a.pattern.contains(#""type"=>"mapper_parsing_exception""#))
        #expect(a.pattern.contains("failed to parse field [n] of type [long]"))
        #expect(!a.pattern.contains("abc") && !a.pattern.contains("Xk3aB9") && !a.pattern.contains("4411"))
    }

    @Test func whatDiffersInKindGetsItsOwnSignature() {
        let es = FailureSignature(pluginType: "elasticsearch", pluginID: "es", reason: Self.mappingError)
        let throttled = FailureSignature(
            pluginType: "elasticsearch", pluginID: "es", reason: Self.mappingError.replacing("status: 400", with: "status: 429"))
        let otherOutput = FailureSignature(pluginType: "elasticsearch", pluginID: "es2", reason: Self.mappingError)
        let otherField = FailureSignature(
            pluginType: "elasticsearch", pluginID: "es", reason: Self.mappingError.replacing("field [n]", with: "field [m]"))
        #expect(Set([es, throttled, otherOutput, otherField]).count == 4)
    }

    @Test(arguments: [
        ("value 17 is out of range", "value N is out of range"),
        ("value 123456789 is out of range", "value ID is out of range"),
        ("id 550e8400-e29b-41d4-a716-446655440000 unknown", "id ID unknown"),
        ("no  such   field 'user'", "no such field '?'"),
        ("ecs v8 field", "ecs v8 field"),
        ("grok r2d2 x", "grok r2d2 x"),
        ("condition evaluation error, (TypeError) no implicit conversion from nil to integer",
         "condition evaluation error, (TypeError) no implicit conversion from nil to integer"),
    ])
    func masksNumbersIdsAndQuotedValues(_ reason: String, _ pattern: String) {
        #expect(FailureSignature.normalize(reason) == pattern)
    }

    @Test func aHugeReasonIsCut() {
        let pattern = FailureSignature.normalize(String(repeating: "word ", count: 10_000))
        #expect(pattern.utf8.count <= FailureSignature.maximumLength + 4)
        #expect(pattern.hasSuffix("…"))
    }

    // MARK: Paging

    /// Writes `count` entries one second apart in small segments, reasons "failure N of kind K" (K = N % 3).
    static func populate(_ root: String, count: Int, keepOpen: Bool = false, clock: FakeClock = FakeClock()) throws -> DeadLetterQueue {
        var settings = Support.settings(root)
        settings.maxSegmentSize = 20_000
        let writer = try DeadLetterQueue(settings: settings, clock: clock.function, startsFlushTimer: false)
        for i in 0..<count {
            writer.write(DLQWriterTests.sampleEvent(i, padding: 2_000), pluginType: "t", pluginID: "p\(i % 2)",
                         reason: "failure \(i) of kind \(["a", "b", "c"][i % 3])")
            clock.advance(seconds: 1)
        }
        if !keepOpen { writer.close() }
        return writer
    }

    static func index(_ entry: DeadLetterQueueEntry) -> Int {
        Int(entry.reason.split(separator: " ")[1])!
    }

    @Test(arguments: [false, true])
    func pagesCoverEveryEntryOnceInOrderAcrossSegments(_ headOpen: Bool) throws {
        try Support.withTemporaryDirectory { root in
            let writer = try Self.populate(root, count: 50, keepOpen: headOpen)
            defer { writer.close() }
            let admin = DeadLetterQueueAdmin(root: root, pipelineID: "main")
            #expect(admin.segmentFiles().count > 3, "the entries span several segments")
            var seen: [Int] = []
            var cursor: DeadLetterQueueEntryID?
            var pages = 0
            repeat {
                let page = admin.page(after: cursor, limit: 7)
                seen += page.entries.map { Self.index($0.entry) }
                for (id, entry) in page.entries { #expect(admin.entry(id)?.reason == entry.reason) }
                cursor = page.next
                pages += 1
            } while cursor != nil
            #expect(seen == Array(0..<50))
            #expect(pages == 8)
        }
    }

    @Test func selectionsFilterByTimePluginReasonAndSignature() throws {
        try Support.withTemporaryDirectory { root in
            let clock = FakeClock()
            let start = clock.now
            _ = try Self.populate(root, count: 30, clock: clock)
            let admin = DeadLetterQueueAdmin(root: root, pipelineID: "main")
            func indexes(_ s: DeadLetterQueueSelection) -> [Int] { admin.page(s, limit: 100).entries.map { Self.index($0.entry) } }
            let tenth = Timestamp(seconds: start.seconds + 10, nanoseconds: start.nanoseconds)
            let twentieth = Timestamp(seconds: start.seconds + 20, nanoseconds: start.nanoseconds)
            #expect(indexes(DeadLetterQueueSelection(since: tenth, until: twentieth)) == Array(10..<20))
            #expect(indexes(DeadLetterQueueSelection(plugin: "p1")) == Array(stride(from: 1, to: 30, by: 2)))
            #expect(indexes(DeadLetterQueueSelection(reason: "kind b")) == Array(stride(from: 1, to: 30, by: 3)))
            let kindC = FailureSignature(pluginType: "t", pluginID: "p0", reason: "failure 2 of kind c").id
            #expect(indexes(DeadLetterQueueSelection(signature: kindC)) == Array(stride(from: 2, to: 30, by: 6)))
        }
    }

    @Test func statsGroupEntriesBySignatureWithFirstAndLastSeen() throws {
        try Support.withTemporaryDirectory { root in
            let clock = FakeClock()
            let start = clock.now
            _ = try Self.populate(root, count: 30, clock: clock)
            let stats = DeadLetterQueueAdmin(root: root, pipelineID: "main").stats()
            #expect(stats["entries"] == .int(30))
            guard case .array(let signatures)? = stats["signatures"] else { Issue.record("no signatures"); return }
            #expect(signatures.count == 6, "3 kinds × 2 plugin ids")
            let first = try #require(signatures.first?.objectValue)
            #expect(first["count"] == .int(5))
            #expect(first["reason"] == "failure N of kind a")
            #expect(first["plugin_id"] == "p0")
            #expect(first["first_seen"] == .timestamp(start))
            #expect(first["last_seen"] == .timestamp(Timestamp(seconds: start.seconds + 24, nanoseconds: start.nanoseconds)))
            guard case .array(let samples)? = first["samples"] else { Issue.record("no samples"); return }
            #expect(samples.count == 3)
            #expect(samples.first == "1-1", "the first entry of the first segment")
        }
    }
}

/// Removing single entries (a record beside the segments, honoured by every Sluice reader) and purging, with and
/// without a writer holding the queue.
@Suite("DLQ removals")
struct DLQRemovalTests {
    typealias Support = DLQTestSupport

    func indexes(_ admin: DeadLetterQueueAdmin) -> [Int] {
        admin.page(limit: 1_000).entries.map { DLQAdminTests.index($0.entry) }
    }

    @Test(arguments: [false, true])
    func removedEntriesAreSkippedByListingsAndTheInputsReader(_ headOpen: Bool) throws {
        try Support.withTemporaryDirectory { root in
            let writer = try DLQAdminTests.populate(root, count: 30, keepOpen: headOpen)
            defer { writer.close() }
            let admin = DeadLetterQueueAdmin(root: root, pipelineID: "main")
            let ids = admin.page(limit: 100).entries.map(\.id)
            let victims = [ids[0], ids[7], ids[29]]
            let bogus = DeadLetterQueueEntryID(segment: ids[7].segment, offset: ids[7].offset + 1)
            #expect(try admin.remove(victims + [bogus]) == victims, "a position that is no entry is not removed")
            #expect(try admin.remove([ids[7]]).isEmpty, "removing twice removes nothing")
            #expect(indexes(admin) == (0..<30).filter { ![0, 7, 29].contains($0) })
            #expect(admin.entry(ids[7]) == nil)
            #expect(admin.stats()["entries"] == .int(27))

            let reader = try DeadLetterQueueReader(path: root, pipelineID: "main")
            var read: [Int] = []
            while let entry = reader.next() { read.append(DLQAdminTests.index(entry)) }
            let sealed = (0..<30).filter { ![0, 7, 29].contains($0) }
            #expect(read == (headOpen ? Array(sealed.prefix(read.count)) : sealed), "the input skips removed entries")

            #expect(try admin.remove(DeadLetterQueueSelection(reason: "kind b")) == 9, "10 of kind b, one already removed")
            #expect(indexes(admin).allSatisfy { $0 % 3 != 1 })
        }
    }

    @Test func purgeWhileTheWriterRunsHidesWhatWasWrittenAndKeepsWhatFollows() throws {
        try Support.withTemporaryDirectory { root in
            let clock = FakeClock()
            let writer = try DLQAdminTests.populate(root, count: 20, keepOpen: true, clock: clock)
            defer { writer.close() }
            let admin = DeadLetterQueueAdmin(root: root, pipelineID: "main")
            #expect(throws: DeadLetterQueueError.self) { try admin.clear() }
            #expect(try admin.purge() == 20)
            #expect(indexes(admin).isEmpty)
            writer.write(DLQWriterTests.sampleEvent(99), pluginType: "t", pluginID: "p", reason: "failure 99 of kind a")
            #expect(indexes(admin) == [99])
            writer.close()
            #expect(try admin.purge() == 1)
            #expect(admin.segmentFiles().isEmpty, "without a writer the segments are deleted")
            #expect(!SegmentFiles.exists(root + "/main/" + DeadLetterQueueRemovals.fileName))
        }
    }

    @Test func aDamagedRecordKeepsItsReadableLinesAndNeverCrashesAReader() throws {
        try Support.withTemporaryDirectory { root in
            _ = try DLQAdminTests.populate(root, count: 10)
            let admin = DeadLetterQueueAdmin(root: root, pipelineID: "main")
            let ids = admin.page(limit: 100).entries.map(\.id)
            var garbage: [UInt8] = (0..<4096).map { _ in UInt8.random(in: 0...255) }
            garbage += Array("\n\(ids[4])\n..\n-1-5\n99999999999999999999999-1\n\(ids[6])x\n".utf8)
            try SegmentFiles.createFile(root + "/main/" + DeadLetterQueueRemovals.fileName, garbage)
            #expect(DLQAdminTests.index(try #require(admin.page(limit: 100).entries.first?.entry)) == 0)
            #expect(indexes(admin) == [0, 1, 2, 3, 5, 6, 7, 8, 9], "only the one well-formed id is removed")
            let reader = try DeadLetterQueueReader(path: root, pipelineID: "main")
            var read = 0
            while reader.next() != nil { read += 1 }
            #expect(read == 9)
        }
    }

    @Test func theRecordForgetsSegmentsThatAreGone() throws {
        try Support.withTemporaryDirectory { root in
            _ = try DLQAdminTests.populate(root, count: 30)
            let admin = DeadLetterQueueAdmin(root: root, pipelineID: "main")
            let ids = admin.page(limit: 100).entries.map(\.id)
            try admin.remove([ids[0], ids[29]])
            #expect(SegmentFiles.remove(root + "/main/\(ids[0].segment).log"))
            try admin.remove([ids[28]])
            let record = DeadLetterQueueRemovals.load(root + "/main")
            #expect(!record.contains(ids[0]))
            #expect(record.contains(ids[28]) && record.contains(ids[29]))
        }
    }
}

import Testing
@testable import SluiceCore

/// Builds segments in memory with the writer's framing.
enum SegmentBuilder {
    static func segment(_ entries: [[UInt8]]) -> [UInt8] {
        var file: [UInt8] = [DLQSegmentFormat.versionByte]
        for entry in entries { append(entry, to: &file) }
        return file
    }

    static func append(_ entry: [UInt8], to file: inout [UInt8]) {
        var out: [UInt8] = []
        let at = RecordFraming.appendRecords(of: entry, range: 0..<entry.count, fileLength: file.count, to: &out)
        if at > file.count { file += [UInt8](repeating: 0, count: at - file.count) }
        file += out
    }

    /// Distinctive entry content of `length` bytes.
    static func entry(_ length: Int, seed: Int = 0) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ ($0 >> 8)) }
    }

    /// Raw entries recovered by the scanner, plus anomalies.
    static func scan(_ file: [UInt8]) -> (entries: [[UInt8]], anomalies: [SegmentAnomaly]) {
        var scanner = SegmentScanner(bytes: file)
        var entries: [[UInt8]] = []
        var anomalies: [SegmentAnomaly] = []
        while true {
            switch scanner.next() {
            case .entry(let e): entries.append(Array(e.storage[e.range]))
            case .anomaly(let a): anomalies.append(a)
            case .end: return (entries, anomalies)
            }
        }
    }

    /// (offset, type, size, total) of every record, walking headers as the format lays them out.
    static func records(_ file: [UInt8]) -> [(Int, Character, Int, Int)] {
        var out: [(Int, Character, Int, Int)] = []
        var offset = 1
        while true {
            offset = DLQSegmentFormat.normalizedRecordOffset(offset)
            guard offset + 13 <= file.count, file[offset] != 0 else { return out }
            let size = BigEndian.int32(file, at: offset + 1)
            out.append((offset, Character(UnicodeScalar(file[offset])), size, BigEndian.int32(file, at: offset + 5)))
            offset += 13 + size
        }
    }
}

@Suite("DLQ segment format")
struct DLQSegmentFormatTests {
    @Test func crc32MatchesZlib() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        let long = SegmentBuilder.entry(100_003)
        var bytewise: UInt32 = 0xFFFF_FFFF
        for b in long {
            bytewise ^= UInt32(b)
            for _ in 0..<8 { bytewise = bytewise & 1 != 0 ? 0xEDB8_8320 ^ (bytewise >> 1) : bytewise >> 1 }
        }
        #expect(CRC32.checksum(long) == bytewise ^ 0xFFFF_FFFF)
    }

    @Test func writesTheWorkedExampleOfSection3_3ByteForByte() {
        var entry: [UInt8] = []
        DLQEntryCodec.encode(event: SpecExamples.tinyEventValue(), pluginType: "elasticsearch", pluginID: "es_out",
                             reason: "status 400", entryTime: SpecExamples.tinyEntryTime,
                             options: .init(), appendingTo: &entry)
        #expect(entry.count == 253)
        let segment = SegmentBuilder.segment([entry])
        #expect(segment.count == 267)
        #expect(DLQTestSupport.hex(segment) == DLQTestSupport.hex(SpecExamples.tinySegment))
    }

    @Test func readsTheWorkedExampleOfSection3_3() throws {
        let (entries, warnings) = collect(SpecExamples.tinySegment)
        #expect(warnings.isEmpty)
        let entry = try #require(entries.first)
        #expect(entries.count == 1)
        #expect(entry.entryTime == SpecExamples.tinyEntryTime)
        #expect(entry.pluginType == "elasticsearch")
        #expect(entry.pluginID == "es_out")
        #expect(entry.reason == "status 400")
        #expect(!entry.pluginFieldsSwapped)
        #expect(entry.event.fields == SpecExamples.tinyEventValue().fields)
    }

    @Test func entryWithoutStringrefIs274Bytes() {
        var entry: [UInt8] = []
        DLQEntryCodec.encode(event: SpecExamples.tinyEventValue(), pluginType: "elasticsearch", pluginID: "es_out",
                             reason: "status 400", entryTime: SpecExamples.tinyEntryTime,
                             options: .init(stringReferences: false), appendingTo: &entry)
        #expect(entry.count == 274)
    }

    @Test(arguments: [
        ([70_000], [(1, "s", 32755, 70000), (32769, "m", 32755, -1), (65537, "e", 4490, -1)], 70_040),
        ([32_735, 100], [(1, "c", 32735, -1), (32749, "s", 7, 100), (32769, "e", 93, -1)], 32_875),
        ([33_768, 33_768], [(1, "s", 32755, 33768), (32769, "e", 1013, -1), (33795, "s", 31729, 33768),
                            (65537, "e", 2039, -1)], 67_589),
        ([65_510, 10], [(1, "s", 32755, 65510), (32769, "m", 32755, -1), (65537, "c", 10, -1)], 65_560),
    ] as [([Int], [(Int, Character, Int, Int)], Int)])
    func splitsAndSkipsAsTable3_4(lengths: [Int], expected: [(Int, Character, Int, Int)], fileSize: Int) {
        let entries = lengths.enumerated().map { SegmentBuilder.entry($1, seed: $0) }
        let file = SegmentBuilder.segment(entries)
        #expect(file.count == fileSize)
        let records = SegmentBuilder.records(file)
        #expect(records.count == expected.count)
        for (got, want) in zip(records, expected) {
            #expect(got.0 == want.0 && got.1 == want.1 && got.2 == want.2, "record \(got) expected \(want)")
            if want.3 != -1 { #expect(got.3 == want.3) }
        }
        let scanned = SegmentBuilder.scan(file)
        #expect(scanned.anomalies.isEmpty)
        #expect(scanned.entries == entries)
    }

    @Test(arguments: [1, 20, 100, 32_741, 32_742, 32_754, 32_755, 32_756, 40_000, 65_510, 65_511, 70_000, 200_000])
    func roundTripsEntryLengths(length: Int) {
        for prefix in [0, 1, 32_700, 32_741] {
            let entries = (prefix > 0 ? [SegmentBuilder.entry(prefix, seed: 9)] : []) + [SegmentBuilder.entry(length)]
                + [SegmentBuilder.entry(33, seed: 3)]
            let scanned = SegmentBuilder.scan(SegmentBuilder.segment(entries))
            #expect(scanned.anomalies.isEmpty)
            #expect(scanned.entries == entries)
        }
    }

    @Test func exactBlockBoundaryEntriesEndWithoutAnEndRecord() {
        let one = SegmentBuilder.segment([SegmentBuilder.entry(32_755)])
        #expect(SegmentBuilder.records(one).map(\.1) == ["s"])
        #expect(one.count == 1 + 32_768)
        let two = SegmentBuilder.segment([SegmentBuilder.entry(65_510)])
        #expect(SegmentBuilder.records(two).map(\.1) == ["s", "m"])
        // A split with exactly 14 bytes left gives a 1-byte record.
        let tiny = SegmentBuilder.segment([SegmentBuilder.entry(32_741), SegmentBuilder.entry(50)])
        let records = SegmentBuilder.records(tiny)
        #expect(records.map(\.1) == ["c", "s", "e"])
        #expect(records[1].2 == 1)
        #expect(SegmentBuilder.scan(tiny).entries.count == 2)
    }

    @Test func randomEntrySequencesRoundTrip() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<40 {
            let entries = (0..<Int(rng.next() % 12 + 1)).map { i -> [UInt8] in
                let length = rng.next() % 4 == 0 ? Int(rng.next() % 80_000) + 1 : Int(rng.next() % 600) + 20
                return SegmentBuilder.entry(length, seed: i)
            }
            let scanned = SegmentBuilder.scan(SegmentBuilder.segment(entries))
            #expect(scanned.anomalies.isEmpty)
            #expect(scanned.entries == entries)
        }
    }

    @Test func skipsADamagedRecordAndContinuesWithTheNextValidOne() {
        let entries = (0..<4).map { SegmentBuilder.entry(200, seed: $0) }
        var file = SegmentBuilder.segment(entries)
        let second = 1 + 13 + 200
        file[second + 13 + 50] ^= 0x04  // payload of the second entry
        let scanned = SegmentBuilder.scan(file)
        #expect(scanned.entries == [entries[0], entries[2], entries[3]])
        #expect(scanned.anomalies == [SegmentAnomaly(kind: .checksumMismatch, offset: second, message: "record checksum mismatch")])
        // A damaged type byte hides the record's size: the rest of the block is skipped.
        var typeDamaged = SegmentBuilder.segment(entries + [SegmentBuilder.entry(40_000, seed: 9), SegmentBuilder.entry(30, seed: 5)])
        typeDamaged[second] = 0x41
        let afterType = SegmentBuilder.scan(typeDamaged)
        #expect(afterType.entries == [entries[0], SegmentBuilder.entry(30, seed: 5)])
        #expect(afterType.anomalies.map(\.kind) == [.invalidRecordType])
        // A truncated tail ends the segment with a warning.
        let truncated = SegmentBuilder.scan(Array(SegmentBuilder.segment(entries).dropLast(3)))
        #expect(truncated.entries == Array(entries.prefix(3)))
        #expect(truncated.anomalies.map(\.kind) == [.truncated])
    }

    @Test func decodesTheRealLogstashFixtureSegment() throws {
        let bytes = try DLQTestSupport.fixture("logstash-dlq/main/1.log")
        #expect(bytes.count == 2401)
        let (entries, warnings) = collect(bytes)
        #expect(warnings.isEmpty)
        try #require(entries.count == 2)
        let timestamps = ["2022-01-27T21:23:27.640498Z", "2022-01-27T21:23:28.638647Z"]
        let entryTimes = ["2022-01-27T21:23:27.889234Z", "2022-01-27T21:23:28.703925Z"]
        for (i, entry) in entries.enumerated() {
            let e = entry.event
            #expect(e.fields["@version"] == "1")
            #expect(e.fields["host"] == (["name": "kaise-macbook.local"] as Value))
            #expect(e.fields["ip"] == "hihi")
            #expect(e.fields["message"] == "hello")
            #expect(e.fields.count == 5)
            #expect(e.timestamp == DLQTestSupport.timestamp(timestamps[i]))
            #expect(LogstashTimestampText.string(e.timestamp!) == timestamps[i])
            #expect(e.metadata["some_key"] == "some_value")
            #expect(entry.entryTime == DLQTestSupport.timestamp(entryTimes[i]))
            #expect(LogstashTimestampText.string(entry.entryTime) == entryTimes[i])
            #expect(entry.pluginFieldsSwapped)
            #expect(entry.pluginType == "elasticsearch")
            #expect(entry.pluginID == "8c3360de09968be02e530bec48d373f98ff42ac1895b51bdb5c618240efff103")
            #expect(entry.reason.hasPrefix("Could not index event to Elasticsearch. status: 400"))
            let replay = entry.eventForReplay()
            let dlq = try #require(replay.metadata["dead_letter_queue"]?.objectValue)
            #expect(dlq["reason"]?.stringValue?.hasPrefix("Could not index event to Elasticsearch. status: 400") == true)
            #expect(dlq["plugin_type"] == "elasticsearch")
            #expect(dlq["entry_time"] == .timestamp(entry.entryTime))
            #expect(replay.metadata["some_key"] == "some_value")
            #expect(replay.isFromDeadLetterQueue)
        }
        // The order can be forced either way.
        var forced: [DeadLetterQueueEntry] = []
        var ignored: [DeadLetterQueueReadWarning] = []
        DeadLetterQueueReader.decodeSegment(bytes, path: "1.log", fieldOrder: .typeThenID, entries: &forced,
                                            warnings: &ignored)
        #expect(forced.first?.pluginType == "8c3360de09968be02e530bec48d373f98ff42ac1895b51bdb5c618240efff103")
    }

    @Test func entryTimesUseThreeSixOrNineDigits() {
        #expect(LogstashTimestampText.string(Timestamp(seconds: 1_735_787_045)) == "2025-01-02T03:04:05.000Z")
        #expect(LogstashTimestampText.string(Timestamp(seconds: 1_735_787_045, nanoseconds: 679_000_000))
            == "2025-01-02T03:04:05.679Z")
        #expect(LogstashTimestampText.string(Timestamp(seconds: 1_735_787_045, nanoseconds: 889_234_000))
            == "2025-01-02T03:04:05.889234Z")
        #expect(LogstashTimestampText.string(Timestamp(seconds: 1_735_787_045, nanoseconds: 1)) == "2025-01-02T03:04:05.000000001Z")
    }

    @Test func swapDetectionHeuristic() {
        #expect(DLQEntryCodec.looksSwapped(third: "8c3360de09968be02e530bec48d373f98ff42ac1895b51bdb5c618240efff103",
                                           fourth: "elasticsearch"))
        #expect(DLQEntryCodec.looksSwapped(third: "es_out", fourth: "elasticsearch"))
        #expect(!DLQEntryCodec.looksSwapped(third: "elasticsearch", fourth: "es_out"))
        #expect(!DLQEntryCodec.looksSwapped(third: "elasticsearch",
                                            fourth: "8c3360de09968be02e530bec48d373f98ff42ac1895b51bdb5c618240efff103"))
        #expect(!DLQEntryCodec.looksSwapped(third: "if-statement", fourth: "if-statement"))
        #expect(!DLQEntryCodec.looksSwapped(third: "json", fourth: "json_1"))
    }

    private func collect(_ bytes: [UInt8]) -> ([DeadLetterQueueEntry], [DeadLetterQueueReadWarning]) {
        var entries: [DeadLetterQueueEntry] = []
        var warnings: [DeadLetterQueueReadWarning] = []
        DeadLetterQueueReader.decodeSegment(bytes, path: "test.log", fieldOrder: .automatic, entries: &entries,
                                            warnings: &warnings)
        return (entries, warnings)
    }
}

/// A small deterministic PRNG for reproducible random tests.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

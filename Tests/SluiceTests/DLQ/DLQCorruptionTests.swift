import Testing
@testable import SluiceCore

@Suite("DLQ corruption resistance")
struct DLQCorruptionTests {
    /// Valid segments to damage: small entries, and block-spanning ones (s/m/e chains, 1-byte records).
    static let baseSegments: [(bytes: [UInt8], reasons: Set<String>)] = {
        var out: [(bytes: [UInt8], reasons: Set<String>)] = []
        let layouts: [[Int]] = [[0, 0, 0, 0], [0, 30_000, 0], [32_600, 0], [0, 70_000, 0]]
        var counter = 0
        for layout in layouts {
            var entries: [[UInt8]] = []
            var reasons: Set<String> = []
            for padding in layout {
                counter += 1
                var entry: [UInt8] = []
                let event = DLQWriterTests.sampleEvent(counter, padding: padding)
                event.fields["list"] = [1, 2.5, nil, ["k": "v"]]
                DLQEntryCodec.encode(event: event, pluginType: "t", pluginID: "i", reason: "entry \(counter)",
                                     entryTime: Timestamp(seconds: 1_700_000_000 + Int64(counter)),
                                     options: .init(stringReferences: counter % 2 == 0), appendingTo: &entry)
                entries.append(entry)
                reasons.insert("entry \(counter)")
            }
            out.append((SegmentBuilder.segment(entries), reasons))
        }
        return out
    }()

    /// 10 000 random bit flips, byte overwrites, zeroed ranges and truncations of valid segments: the reader never
    /// traps, every entry it returns is one that was written, and damage is reported.
    @Test func tenThousandRandomCorruptionsNeverCrashTheReader() {
        var rng = SplitMix64(seed: 0x5EED)
        var damaged = 0
        var entriesSeen = 0
        for iteration in 0..<10_000 {
            // Mostly the small segments (fast in debug builds), every tenth one with long split entries.
            let base = Self.baseSegments[iteration % 10 == 0 ? 1 + iteration / 10 % 3 : 0]
            var bytes = base.bytes
            for _ in 0..<(1 + Int(rng.next() % 3)) { Self.mutate(&bytes, &rng) }
            var entries: [DeadLetterQueueEntry] = []
            var warnings: [DeadLetterQueueReadWarning] = []
            DeadLetterQueueReader.decodeSegment(bytes, path: "fuzz.log", fieldOrder: .automatic, entries: &entries,
                                                warnings: &warnings)
            entriesSeen += entries.count
            if !warnings.isEmpty { damaged += 1 }
            for entry in entries where !base.reasons.contains(entry.reason) {
                Issue.record("iteration \(iteration) returned an entry never written: \(entry.reason.prefix(40))")
            }
            if entries.count < base.reasons.count && warnings.isEmpty && bytes.count >= base.bytes.count {
                Issue.record("iteration \(iteration) lost entries without a warning")
            }
            _ = SegmentSummary(bytes: bytes)  // the start-up recovery scan too
        }
        #expect(damaged > 5_000)
        #expect(entriesSeen > 15_000)
    }

    /// Raw CBOR garbage and damaged events: decoding throws, never traps.
    @Test func randomCBORMutationsThrowOrDecode() {
        var rng = SplitMix64(seed: 7)
        let valid = [SpecExamples.tinyEvent,
                     CBOREventCodec.encode(DLQWriterTests.sampleEvent(1), options: .init(stringReferences: false))]
        for iteration in 0..<5_000 {
            var bytes = valid[iteration % 2]
            for _ in 0..<(1 + Int(rng.next() % 4)) { Self.mutate(&bytes, &rng) }
            _ = try? CBOREventCodec.decode(bytes)
        }
        for _ in 0..<2_000 {
            let bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? CBOREventCodec.decode(bytes)
            _ = try? DLQEntryCodec.decode(bytes, range: 0..<bytes.count)
        }
    }

    static func mutate(_ bytes: inout [UInt8], _ rng: inout SplitMix64) {
        guard !bytes.isEmpty else { return }
        let at = Int(rng.next() % UInt64(bytes.count))
        switch rng.next() % 6 {
        case 0, 1: bytes[at] ^= UInt8(1) << (rng.next() % 8)  // bit flip
        case 2: bytes[at] = UInt8(truncatingIfNeeded: rng.next())  // byte overwrite
        case 3: bytes.removeSubrange(at...)  // truncation
        case 4:  // zeroed range
            let end = min(bytes.count, at + Int(rng.next() % 40) + 1)
            for i in at..<end { bytes[i] = 0 }
        default:  // header-sized garbage
            let end = min(bytes.count, at + 13)
            for i in at..<end { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
        }
    }
}

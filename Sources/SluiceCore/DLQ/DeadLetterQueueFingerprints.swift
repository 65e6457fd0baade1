/// What the entries of a queue are, reduced to 64 bits each: the event's bytes and the plugin that failed it (type
/// and id). An event the persisted queue delivers again after a crash, and that fails at the same plugin again, has
/// an entry already — the writer checks these fingerprints for such events and writes no second one. Built once,
/// on the first redelivered failure, from the newest segments back (at most `limit` entries); removed entries are
/// left out. Used by the writer under its own lock.
struct DeadLetterQueueFingerprints {
    private(set) var known: Set<UInt64> = []

    /// The most fingerprints kept (8 bytes each, about 64 MB at most): a crash's redeliveries fail soon after
    /// their first failure, so the newest entries are the ones that matter.
    static let limit = 4_000_000

    func contains(_ fingerprint: UInt64) -> Bool { known.contains(fingerprint) }

    /// The fingerprints of the entries in `directory` (sealed segments and the head), newest segments first.
    static func load(_ directory: String) -> DeadLetterQueueFingerprints {
        var out = DeadLetterQueueFingerprints()
        let removals = DeadLetterQueueRemovals.load(directory)
        let segments = DeadLetterQueueAdmin(directory: directory).segmentFiles().reversed()
        for (id, path) in segments where out.known.count < limit {
            guard let bytes = SegmentFiles.readFile(path) else { continue }
            var scanner = SegmentScanner(bytes: bytes, offset: 1)
            guard scanner.hasValidVersion else { continue }
            scanning: while true {
                switch scanner.next() {
                case .entry(let e):
                    guard !removals.contains(DeadLetterQueueEntryID(segment: id, offset: e.start)),
                          let fingerprint = fingerprint(e.storage, range: e.range) else { continue }
                    out.known.insert(fingerprint)
                case .anomaly:
                    continue
                case .end:
                    break scanning
                }
            }
        }
        return out
    }

    /// The fingerprint of the entry in `bytes[range]` (fields as `DLQEntryCodec` writes them): FNV-1a over the
    /// event's CBOR, the plugin type and the plugin id; nil when the entry is malformed. The entry time and the
    /// reason are left out: they differ between two failures of the same event at the same plugin.
    static func fingerprint(_ bytes: [UInt8], range: Range<Int>) -> UInt64? {
        var cursor = range.lowerBound
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for field in 0..<4 {
            guard range.upperBound - cursor >= 4 else { return nil }
            let length = BigEndian.int32(bytes, at: cursor)
            cursor += 4
            guard length >= 0 && length <= range.upperBound - cursor else { return nil }
            if field > 0 {
                for b in bytes[cursor..<(cursor + length)] { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
                hash = (hash ^ 0xff) &* 0x100_0000_01b3  // field separator
            }
            cursor += length
        }
        return hash
    }
}

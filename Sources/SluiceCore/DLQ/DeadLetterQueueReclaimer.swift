/// Gives back the disk space of sealed segments whose every entry is recorded as removed (`removed_entries`): the
/// segment file is deleted, the writer is told through `.deleted_segment` (so a running Sluice or Logstash writer
/// re-measures its queue size for `max_bytes` within 3 s, as after a `clean_consumed` reader, `DLQ-FORMAT.md` §6.5), and
/// the removal record is compacted.
///
/// Only sealed `N.log` files are candidates, never a head `N.log.tmp`, never a segment with damaged records, and
/// never the newest sealed segment: a writer numbers its next head after the newest segment it finds at start-up, so
/// deleting the newest could give a later segment a deleted one's id — and a sincedb or a removal record naming that
/// id would then apply to the wrong entries. (Logstash's `clean_consumed` never deletes the newest sealed segment
/// either.) Readers meet a deleted segment as they meet one `clean_consumed` deleted: Sluice's and Logstash's skip
/// to the next existing id, also from a sincedb position inside it — and everything after such a position was removed.
///
/// Every function here runs inside `DeadLetterQueueRemovals.changing`, which also guards `pendingLastEntries`.
enum DeadLetterQueueReclaimer {
    /// Per queue directory: segments whose last entry was removed while others were not yet (redrive chunks are
    /// acknowledged out of order); retried when a later removal touches them. Guarded by the removal lock.
    nonisolated(unsafe) private static var pendingLastEntries: [String: Set<Int>] = [:]
    /// Per queue directory and segment: the file size seen and the offset of its last entry start, so that a
    /// removal asks "is this the segment's last entry?" without reading the segment again.
    nonisolated(unsafe) private static var lastEntryOffsets: [String: [Int: (size: Int, offset: Int?)]] = [:]

    /// After `ids` were recorded as removed by a redrive: reclaims the segments whose last entry is among them (or
    /// that waited for a late acknowledgement). Cheap when nothing is due: one directory listing, no segment read.
    static func afterMarking(_ ids: [DeadLetterQueueEntryID], in directory: String) throws(DeadLetterQueueError) {
        let sealed = SegmentDirectory.sealedSegments(directory)
        guard let newest = sealed.last?.id else { return }
        let sizes = Dictionary(uniqueKeysWithValues: sealed.map { ($0.id, $0.size) })
        var pending = pendingLastEntries[directory] ?? []
        pending.formIntersection(sizes.keys)
        var candidates: Set<Int> = []
        for (segment, offsets) in Dictionary(grouping: ids, by: \.segment) where segment != newest {
            guard let size = sizes[segment] else { continue }
            if pending.contains(segment) {
                candidates.insert(segment)
            } else if let last = lastEntryOffset(directory, segment, size: size), offsets.contains(where: { $0.offset == last }) {
                candidates.insert(segment)
            }
        }
        guard !candidates.isEmpty else {
            pendingLastEntries[directory] = pending
            return
        }
        let deleted = try reclaim(candidates, in: directory)
        pending.formUnion(candidates)
        pending.subtract(deleted)
        pendingLastEntries[directory] = pending
    }

    /// Deletes the segments among `candidates` (all sealed segments when nil) whose every entry is removed; signals
    /// the writer and compacts the removal record when any was deleted. Returns the ids deleted.
    @discardableResult
    static func reclaim(_ candidates: Set<Int>?, in directory: String) throws(DeadLetterQueueError) -> [Int] {
        let sealed = SegmentDirectory.sealedSegments(directory)
        guard let newest = sealed.last?.id else { return [] }
        let removals = DeadLetterQueueRemovals.load(directory)
        guard !removals.isEmpty else { return [] }
        var deleted: [Int] = []
        for segment in sealed where segment.id != newest && (candidates?.contains(segment.id) ?? true) {
            let path = SegmentDirectory.sealedPath(directory, segment.id)
            guard let bytes = SegmentFiles.readFile(path), isFullyRemoved(bytes, segment: segment.id, removals) else { continue }
            guard SegmentFiles.remove(path) else { continue }
            deleted.append(segment.id)
        }
        guard !deleted.isEmpty else { return [] }
        for id in deleted { lastEntryOffsets[directory]?[id] = nil }
        try signalDeletion(of: deleted.map { SegmentDirectory.sealedPath(directory, $0) }, in: directory)
        let remaining = Set(SegmentFiles.listDirectory(directory)?.compactMap {
            SegmentDirectory.sealedID($0) ?? SegmentDirectory.headID($0)
        } ?? [])
        try DeadLetterQueueRemovals.compact(in: directory, keepingSegments: remaining)
        return deleted
    }

    /// Whether the segment holds at least one entry, no damage, and only removed entries.
    static func isFullyRemoved(_ bytes: [UInt8], segment: Int, _ removals: DeadLetterQueueRemovals) -> Bool {
        var scanner = SegmentScanner(bytes: bytes)
        guard scanner.hasValidVersion else { return false }
        var entries = 0
        while true {
            switch scanner.next() {
            case .entry(let e):
                guard removals.contains(DeadLetterQueueEntryID(segment: segment, offset: e.start)) else { return false }
                entries += 1
            case .anomaly:
                return false
            case .end:
                return entries > 0
            }
        }
    }

    private static func lastEntryOffset(_ directory: String, _ segment: Int, size: Int) -> Int? {
        if let known = lastEntryOffsets[directory]?[segment], known.size == size { return known.offset }
        var last: Int?
        if let bytes = SegmentFiles.readFile(SegmentDirectory.sealedPath(directory, segment)) {
            var scanner = SegmentScanner(bytes: bytes)
            if scanner.hasValidVersion {
                scanning: while true {
                    switch scanner.next() {
                    case .entry(let e): last = e.start
                    case .anomaly: continue
                    case .end: break scanning
                    }
                }
            }
        }
        lastEntryOffsets[directory, default: [:]][segment] = (size, last)
        return last
    }

    /// Appends the deleted segments' paths to `.deleted_segment`, creating it through `.deleted_segment.tmp`, as a
    /// `clean_consumed` reader does.
    private static func signalDeletion(of paths: [String], in directory: String) throws(DeadLetterQueueError) {
        let signal = SegmentFiles.join(directory, SegmentDirectory.deletedSegmentSignalName)
        let lines = Array(paths.map { $0 + "\n" }.joined().utf8)
        if SegmentFiles.exists(signal) {
            try SegmentFiles.append(signal, lines)
        } else {
            try SegmentFiles.replaceFile(signal, lines)
        }
    }
}

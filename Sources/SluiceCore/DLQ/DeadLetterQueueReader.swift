/// A place in a queue: a sealed segment and the file offset where the next record header is looked for
/// (`DLQ-FORMAT.md` §6.4). What a consumer persists to resume.
public struct DeadLetterQueuePosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The segment id (`N` of `N.log`).
    public var segmentID: Int
    /// Byte offset in that segment; 1 is its first record.
    public var offset: Int

    public init(segmentID: Int, offset: Int = 1) {
        self.segmentID = segmentID
        self.offset = offset
    }

    public static func < (a: Self, b: Self) -> Bool {
        a.segmentID != b.segmentID ? a.segmentID < b.segmentID : a.offset < b.offset
    }

    public var description: String { "\(segmentID).log@\(offset)" }
}

/// Damage found while reading, naming the file and offset; the reader skipped it and went on.
public struct DeadLetterQueueReadWarning: Sendable, CustomStringConvertible {
    /// The segment file.
    public var path: String
    /// File offset of the damaged record or entry.
    public var offset: Int
    public var kind: SegmentAnomaly.Kind
    public var message: String
    public var description: String { "\(path): \(message) at offset \(offset)" }
}

/// One entry read from a queue, with where it starts and where reading goes on after it.
public struct DeadLetterQueueRecord: Sendable {
    public var entry: DeadLetterQueueEntry
    /// The entry's first record.
    public var position: DeadLetterQueuePosition
    /// Where the following entry is looked for (what to persist once this entry is processed).
    public var nextPosition: DeadLetterQueuePosition
}

/// Reads a queue directory's sealed segments in id order, for the `dead_letter_queue` input and `sluice dlq`.
///
/// Reading starts at the first segment, at a restored `DeadLetterQueuePosition`, or at the first entry at or after a
/// time. Damaged records are skipped with a warning (file + offset) and reading resumes at the next valid record.
/// `next()` returns nil when no sealed entry is left *for now*: call it again later to pick up newly sealed
/// segments. With `cleanConsumed`, segments read to the end can be deleted (`deleteConsumedSegments`). Not
/// thread-safe: one consumer per reader.
public final class DeadLetterQueueReader {
    /// The queue directory (`<path>/<pipeline_id>`).
    public let directory: String
    /// How fields 3 and 4 of entries are interpreted.
    public let fieldOrder: PluginFieldOrder
    /// Whether consumed segments may be deleted (holds `dlq_reader.lock`).
    public let cleanConsumed: Bool
    /// Where the next `next()` starts.
    public private(set) var position: DeadLetterQueuePosition
    /// Damaged records, undecodable entries and unreadable segments skipped so far.
    public private(set) var warningCount = 0
    /// Total segments and entries deleted by `deleteConsumedSegments` (the input's `cleaned_*` metrics).
    public private(set) var cleanedSegments = 0
    public private(set) var cleanedEvents = 0

    private let warn: (DeadLetterQueueReadWarning) -> Void
    private var current: (id: Int, scanner: SegmentScanner)?
    private var consumed: [Int] = []
    private var readerLock: FileLock?
    /// Entries removed through `sluice dlq` or the admin API, reloaded whenever a segment is opened.
    private var removals = DeadLetterQueueRemovals()

    /// A reader of the queue in `directory` (the pipeline's subdirectory), positioned at its first segment.
    /// - Parameters:
    ///   - cleanConsumed: take `dlq_reader.lock` (throws if another cleaning reader holds it) and allow deleting
    ///     consumed segments.
    ///   - warningHandler: receives every skipped piece of damage.
    public init(
        directory: String, fieldOrder: PluginFieldOrder = .automatic, cleanConsumed: Bool = false,
        warningHandler: @escaping (DeadLetterQueueReadWarning) -> Void = { _ in }
    ) throws(DeadLetterQueueError) {
        self.directory = directory
        self.fieldOrder = fieldOrder
        self.cleanConsumed = cleanConsumed
        warn = warningHandler
        position = DeadLetterQueuePosition(segmentID: 0, offset: 1)
        if cleanConsumed {
            readerLock = try FileLock.acquire(SegmentFiles.join(directory, SegmentDirectory.readerLockFileName),
                                              owner: "dead letter queue reader of \(directory)")
        }
    }

    /// A reader of `<path>/<pipelineID>`, as the input's `path` and `pipeline_id` options name it.
    public convenience init(
        path: String, pipelineID: String, fieldOrder: PluginFieldOrder = .automatic, cleanConsumed: Bool = false,
        warningHandler: @escaping (DeadLetterQueueReadWarning) -> Void = { _ in }
    ) throws(DeadLetterQueueError) {
        try self.init(directory: SegmentFiles.join(path, pipelineID), fieldOrder: fieldOrder,
                      cleanConsumed: cleanConsumed, warningHandler: warningHandler)
    }

    deinit { close() }

    /// Releases `dlq_reader.lock` (the file stays, as in Logstash).
    public func close() {
        readerLock?.release(deleteFile: false)
        readerLock = nil
    }

    /// Ids of the sealed segments `N.log` in `directory`, in numeric order.
    public static func sealedSegmentIDs(in directory: String) -> [Int] {
        SegmentDirectory.sealedSegments(directory).map(\.id)
    }

    /// The path of sealed segment `id`.
    public func segmentPath(_ id: Int) -> String { SegmentDirectory.sealedPath(directory, id) }

    // MARK: Positioning

    /// Continues from `position` (e.g. restored from a sincedb). An `m`/`e` record there is skipped; a missing
    /// segment means the next existing higher one.
    public func seek(to position: DeadLetterQueuePosition) {
        self.position = DeadLetterQueuePosition(segmentID: position.segmentID, offset: max(position.offset, 1))
        current = nil
    }

    /// Positions at the first entry whose entry_time is at or after `time` (`start_timestamp`, §6.3), by binary
    /// search over each segment's blocks. Returns false when no such entry exists yet: the reader is then left at
    /// the end of the queue, to return only entries sealed later (not, as Logstash's quirk, everything).
    @discardableResult
    public func seek(toFirstEntryAtOrAfter time: Timestamp) -> Bool {
        current = nil
        let segments = SegmentDirectory.sealedSegments(directory)
        for segment in segments {
            guard let bytes = SegmentFiles.readFile(segmentPath(segment.id)),
                  bytes.first == DLQSegmentFormat.versionByte else { continue }
            if let offset = Self.firstOffset(in: bytes, atOrAfter: time) {
                position = DeadLetterQueuePosition(segmentID: segment.id, offset: offset)
                return true
            }
        }
        if let last = segments.last {
            position = DeadLetterQueuePosition(segmentID: last.id, offset: max(last.size, 1))
        } else {
            position = DeadLetterQueuePosition(segmentID: 0, offset: 1)
        }
        return false
    }

    /// The offset of the first entry in `bytes` with entry_time ≥ `time`, nil if none.
    static func firstOffset(in bytes: [UInt8], atOrAfter time: Timestamp) -> Int? {
        let blockCount = (bytes.count - 1 + DLQSegmentFormat.blockSize - 1) / DLQSegmentFormat.blockSize
        guard blockCount > 0 else { return nil }
        // The last block whose first entry start is still before `time` (entry times assumed non-decreasing).
        var low = 0
        var high = blockCount - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if let t = firstEntryTime(in: bytes, fromOffset: 1 + middle * DLQSegmentFormat.blockSize), t < time {
                low = middle
            } else {
                high = middle - 1
            }
        }
        var scanner = SegmentScanner(bytes: bytes, offset: 1 + low * DLQSegmentFormat.blockSize)
        while true {
            switch scanner.next() {
            case .entry(let e):
                if let t = DLQEntryCodec.entryTime(e.storage, range: e.range), t >= time { return e.start }
            case .anomaly: continue
            case .end: return nil
            }
        }
    }

    private static func firstEntryTime(in bytes: [UInt8], fromOffset offset: Int) -> Timestamp? {
        var scanner = SegmentScanner(bytes: bytes, offset: offset)
        while true {
            switch scanner.next() {
            case .entry(let e): return DLQEntryCodec.entryTime(e.storage, range: e.range)
            case .anomaly: continue
            case .end: return nil
            }
        }
    }

    // MARK: Reading

    /// The next entry, or nil when every sealed segment has been read for now.
    public func next() -> DeadLetterQueueEntry? { nextRecord()?.entry }

    /// The next entry with its positions, or nil when every sealed segment has been read for now.
    public func nextRecord() -> DeadLetterQueueRecord? {
        while true {
            if current == nil && !openSegmentAtPosition() { return nil }
            let id = current!.id
            switch current!.scanner.next() {
            case .entry(let bytes):
                let start = DeadLetterQueuePosition(segmentID: id, offset: bytes.start)
                position = DeadLetterQueuePosition(
                    segmentID: id, offset: DLQSegmentFormat.normalizedRecordOffset(bytes.end))
                if !removals.isEmpty && removals.contains(DeadLetterQueueEntryID(segment: id, offset: bytes.start)) { continue }
                do {
                    let entry = try DLQEntryCodec.decode(bytes.storage, range: bytes.range, order: fieldOrder)
                    return DeadLetterQueueRecord(entry: entry, position: start, nextPosition: position)
                } catch {
                    report(id, SegmentAnomaly(kind: .undecodableEntry, offset: bytes.start, message: error.message))
                }
            case .anomaly(let anomaly):
                report(id, anomaly)
            case .end:
                position.offset = max(position.offset, current!.scanner.offset)
                guard let nextID = nextSegmentID(after: id) else { return nil }
                markConsumed(id)
                position = DeadLetterQueuePosition(segmentID: nextID, offset: 1)
                current = nil
            }
        }
    }

    /// Loads the segment at `position` (or the next existing one); false when there is none.
    private func openSegmentAtPosition() -> Bool {
        while true {
            let ids = Self.sealedSegmentIDs(in: directory)
            guard let id = ids.first(where: { $0 >= position.segmentID }) else { return false }
            if id != position.segmentID { position = DeadLetterQueuePosition(segmentID: id, offset: 1) }
            guard let bytes = SegmentFiles.readFile(segmentPath(id)) else {
                position = DeadLetterQueuePosition(segmentID: id + 1, offset: 1)  // deleted meanwhile: skip it
                continue
            }
            let scanner = SegmentScanner(bytes: bytes, offset: position.offset)
            removals = DeadLetterQueueRemovals.load(directory)
            if !scanner.hasValidVersion {
                report(id, SegmentAnomaly(kind: .invalidVersion, offset: 0,
                                          message: bytes.isEmpty ? "empty segment file" : "invalid version byte"))
                guard let nextID = nextSegmentID(after: id) else {
                    position.offset = max(bytes.count, 1)
                    return false
                }
                position = DeadLetterQueuePosition(segmentID: nextID, offset: 1)
                continue
            }
            current = (id, scanner)
            return true
        }
    }

    private func nextSegmentID(after id: Int) -> Int? {
        Self.sealedSegmentIDs(in: directory).first { $0 > id }
    }

    private func report(_ segmentID: Int, _ anomaly: SegmentAnomaly) {
        warningCount += 1
        warn(DeadLetterQueueReadWarning(path: segmentPath(segmentID), offset: anomaly.offset, kind: anomaly.kind,
                                        message: anomaly.message))
    }

    // MARK: clean_consumed

    private func markConsumed(_ id: Int) {
        if cleanConsumed && !consumed.contains(id) { consumed.append(id) }
    }

    /// Segments read to their end and left for a newer one, not yet deleted.
    public var consumedSegmentIDs: [Int] { consumed }

    /// Deletes the consumed segments as the input's `clean_consumed` does (§6.5): writes the sincedb first (when a
    /// path is given), deletes every older segment and the consumed one, and signals the writer through
    /// `.deleted_segment`. Returns the segments and entries deleted by this call.
    @discardableResult
    public func deleteConsumedSegments(sinceDBPath: String? = nil) throws(DeadLetterQueueError) -> (segments: Int, events: Int) {
        guard cleanConsumed else {
            throw DeadLetterQueueError(kind: .io, path: directory,
                                       message: "clean_consumed is not enabled for the reader of \(directory)")
        }
        guard let newestConsumed = consumed.max() else { return (0, 0) }
        if let sinceDBPath {
            try DeadLetterQueueSinceDB(segmentPath: segmentPath(position.segmentID), offset: Int64(position.offset))
                .write(to: sinceDBPath)
        }
        let result = try deleteSegments(olderThanOrEqualTo: newestConsumed)
        consumed.removeAll()
        return result
    }

    /// Deletes every sealed segment older than `position`'s (after restoring a sincedb with `clean_consumed`).
    @discardableResult
    public func deleteSegmentsBeforePosition() throws(DeadLetterQueueError) -> (segments: Int, events: Int) {
        try deleteSegments(before: position.segmentID)
    }

    /// With `clean_consumed`, deletes every sealed segment older than segment `id`: all their entries are safe
    /// (the input's acknowledged position is in segment `id` or later).
    @discardableResult
    public func deleteSegments(before id: Int) throws(DeadLetterQueueError) -> (segments: Int, events: Int) {
        guard cleanConsumed else { return (0, 0) }
        guard let previous = Self.sealedSegmentIDs(in: directory).last(where: { $0 < id }) else { return (0, 0) }
        consumed.removeAll { $0 <= previous }
        return try deleteSegments(olderThanOrEqualTo: previous)
    }

    /// Deletes `target` and every segment older than it (by modification time, then id), then signals the writer.
    private func deleteSegments(olderThanOrEqualTo target: Int) throws(DeadLetterQueueError) -> (segments: Int, events: Int) {
        let targetPath = segmentPath(target)
        let targetTime = SegmentFiles.modificationTime(targetPath)
        var victims: [Int] = []
        for id in Self.sealedSegmentIDs(in: directory) where id != target {
            // Logstash's comparator: by modification time, then id; a time that cannot be read (the target already
            // deleted, say by reclamation) compares equal, so the id decides — never "older than everything".
            let time = SegmentFiles.modificationTime(segmentPath(id))
            let older = if let time, let targetTime, time != targetTime { time < targetTime } else { id < target }
            if older { victims.append(id) }
        }
        victims.append(target)
        var segments = 0
        var events = 0
        var signalled = false
        for id in victims {
            let path = segmentPath(id)
            let entries = SegmentFiles.readFile(path).map(SegmentScanner.countEntries) ?? 0
            if id == target {
                try signalDeletion(of: path)
                signalled = true
            }
            guard SegmentFiles.remove(path) else { continue }
            segments += 1
            events += entries
        }
        if !signalled { try signalDeletion(of: targetPath) }
        cleanedSegments += segments
        cleanedEvents += events
        return (segments, events)
    }

    /// Creates `.deleted_segment` (through `.deleted_segment.tmp`) or appends a line to it.
    private func signalDeletion(of segmentPath: String) throws(DeadLetterQueueError) {
        let signal = SegmentFiles.join(directory, SegmentDirectory.deletedSegmentSignalName)
        let line = Array((segmentPath + "\n").utf8)
        if SegmentFiles.exists(signal) {
            try SegmentFiles.append(signal, line)
        } else {
            try SegmentFiles.replaceFile(signal, line)
        }
    }

    // MARK: Whole-directory convenience

    /// Every entry of every sealed segment of `directory` (and the head segments with `includeHead`), in order,
    /// with the damage skipped: for `sluice dlq` listings and statistics.
    public static func readAll(
        directory: String, fieldOrder: PluginFieldOrder = .automatic, includeHead: Bool = false
    ) -> (entries: [DeadLetterQueueEntry], warnings: [DeadLetterQueueReadWarning]) {
        var entries: [DeadLetterQueueEntry] = []
        var warnings: [DeadLetterQueueReadWarning] = []
        var paths = SegmentDirectory.sealedSegments(directory).map { SegmentDirectory.sealedPath(directory, $0.id) }
        if includeHead {
            let heads = (SegmentFiles.listDirectory(directory) ?? []).compactMap(SegmentDirectory.headID).sorted()
            paths += heads.map { SegmentDirectory.headPath(directory, $0) }
        }
        for path in paths {
            readSegment(path: path, fieldOrder: fieldOrder, entries: &entries, warnings: &warnings)
        }
        return (entries, warnings)
    }

    /// Every entry of one segment file (sealed or head), damage skipped and reported.
    public static func readSegment(
        path: String, fieldOrder: PluginFieldOrder = .automatic
    ) -> (entries: [DeadLetterQueueEntry], warnings: [DeadLetterQueueReadWarning]) {
        var entries: [DeadLetterQueueEntry] = []
        var warnings: [DeadLetterQueueReadWarning] = []
        readSegment(path: path, fieldOrder: fieldOrder, entries: &entries, warnings: &warnings)
        return (entries, warnings)
    }

    private static func readSegment(
        path: String, fieldOrder: PluginFieldOrder, entries: inout [DeadLetterQueueEntry],
        warnings: inout [DeadLetterQueueReadWarning]
    ) {
        guard let bytes = SegmentFiles.readFile(path) else {
            warnings.append(DeadLetterQueueReadWarning(path: path, offset: 0, kind: .invalidVersion,
                                                       message: "cannot read the segment"))
            return
        }
        decodeSegment(bytes, path: path, fieldOrder: fieldOrder, entries: &entries, warnings: &warnings)
    }

    /// Decodes a segment held in memory (also what the corruption tests feed).
    static func decodeSegment(
        _ bytes: [UInt8], path: String, fieldOrder: PluginFieldOrder, entries: inout [DeadLetterQueueEntry],
        warnings: inout [DeadLetterQueueReadWarning]
    ) {
        var scanner = SegmentScanner(bytes: bytes)
        guard scanner.hasValidVersion else {
            warnings.append(DeadLetterQueueReadWarning(path: path, offset: 0, kind: .invalidVersion,
                                                       message: bytes.isEmpty ? "empty segment file" : "invalid version byte"))
            return
        }
        while true {
            switch scanner.next() {
            case .entry(let e):
                do {
                    entries.append(try DLQEntryCodec.decode(e.storage, range: e.range, order: fieldOrder))
                } catch {
                    warnings.append(DeadLetterQueueReadWarning(path: path, offset: e.start, kind: .undecodableEntry,
                                                               message: error.message))
                }
            case .anomaly(let a):
                warnings.append(DeadLetterQueueReadWarning(path: path, offset: a.offset, kind: a.kind,
                                                           message: a.message))
            case .end:
                return
            }
        }
    }
}

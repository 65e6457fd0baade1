/// Where an entry lives: its segment number and the offset of its first record. Stable while the entry exists (a
/// head segment `N.log.tmp` keeps its number and offsets when it is sealed as `N.log`), so it is the entry's id in
/// `sluice dlq` and the admin API, and a paging cursor (`12-4097`).
public struct DeadLetterQueueEntryID: Sendable, Hashable, Comparable, LosslessStringConvertible {
    public let segment: Int
    public let offset: Int

    public init(segment: Int, offset: Int) {
        self.segment = segment
        self.offset = offset
    }

    public init?(_ text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let s = Int(parts[0]), let o = Int(parts[1]), s >= 0, o >= 1 else { return nil }
        self.init(segment: s, offset: o)
    }

    public var description: String { "\(segment)-\(offset)" }

    public static func < (a: Self, b: Self) -> Bool { (a.segment, a.offset) < (b.segment, b.offset) }
}

/// Which entries a listing, a count or a redrive takes: every condition that is set must hold.
public struct DeadLetterQueueSelection: Sendable {
    /// Entries made at or after this time.
    public var since: Timestamp?
    /// Entries made before this time.
    public var until: Timestamp?
    /// The plugin type or id that failed the event.
    public var plugin: String?
    /// Text the reason contains.
    public var reason: String?
    /// A failure signature id (`FailureSignature.id`).
    public var signature: String?

    public init(since: Timestamp? = nil, until: Timestamp? = nil, plugin: String? = nil, reason: String? = nil,
                signature: String? = nil) {
        self.since = since
        self.until = until
        self.plugin = plugin
        self.reason = reason
        self.signature = signature
    }

    /// Whether any condition is set (an empty selection takes everything).
    public var isRestricted: Bool { since != nil || until != nil || plugin != nil || reason != nil || signature != nil }

    public func matches(_ e: DeadLetterQueueEntry) -> Bool {
        var signatures = FailureSignature.Cache()
        return matches(e, signatures: &signatures)
    }

    /// `matches`, with the signatures of a scan computed once per distinct reason.
    public func matches(_ e: DeadLetterQueueEntry, signatures: inout FailureSignature.Cache) -> Bool {
        if let since, e.entryTime < since { return false }
        if let until, !(e.entryTime < until) { return false }
        if let plugin, e.pluginType != plugin && e.pluginID != plugin { return false }
        if let reason, !e.reason.contains(reason) { return false }
        if let signature, signatures.id(of: e) != signature { return false }
        return true
    }
}

/// Inspection and maintenance of one pipeline's DLQ directory from outside the writer — `sluice dlq …` and the
/// admin API, also while the pipeline runs and writes. Every read streams: one segment file in memory at a time,
/// never the whole queue. Called from the CLI's thread or the API's event loops; holds no state of its own.
public struct DeadLetterQueueAdmin: Sendable {
    /// `<root>/<pipelineID>`.
    public let directory: String

    public init(root: String, pipelineID: String) {
        directory = SegmentFiles.join(root, pipelineID)
    }

    public init(directory: String) {
        self.directory = directory
    }

    /// Every entry that is readable and not removed, sealed segments first, then the head being written (small
    /// queues and tests).
    public func entries() -> [DeadLetterQueueEntry] {
        var all: [DeadLetterQueueEntry] = []
        scan { _, entry in
            all.append(entry)
            return true
        }
        return all
    }

    /// Bytes used by segment files.
    public var sizeInBytes: Int64 {
        (SegmentFiles.listDirectory(directory) ?? []).filter { $0.hasSuffix(".log") || $0.hasSuffix(".log.tmp") }
            .reduce(0) { $0 + Int64(SegmentFiles.size(SegmentFiles.join(directory, $1)) ?? 0) }
    }

    // MARK: Scanning

    /// The segment files in entry order: sealed `N.log`, then heads `N.log.tmp`, by number.
    func segmentFiles() -> [(id: Int, path: String)] {
        var files: [(id: Int, path: String)] = []
        for name in SegmentFiles.listDirectory(directory) ?? [] {
            if let id = SegmentDirectory.sealedID(name) {
                files.append((id, SegmentFiles.join(directory, name)))
            } else if let id = SegmentDirectory.headID(name) {
                files.append((id, SegmentFiles.join(directory, name)))
            }
        }
        return files.sorted { $0.id < $1.id }
    }

    /// Calls `body` with every entry after `cursor` (all when nil), in order, until it returns false. Events are
    /// decoded only with `decodeEvents` (statistics need the header fields alone). Returns the damaged records met.
    @discardableResult
    public func scan(
        after cursor: DeadLetterQueueEntryID? = nil, decodeEvents: Bool = true,
        _ body: (DeadLetterQueueEntryID, DeadLetterQueueEntry) -> Bool
    ) -> Int {
        scan(from: cursor, decodeEvents: decodeEvents) { id, entry in
            if let cursor, id <= cursor { return true }
            return body(id, entry)
        }
    }

    /// `scan` from the record at `start` (an entry id), that entry included.
    private func scan(
        from start: DeadLetterQueueEntryID?, decodeEvents: Bool, _ body: (DeadLetterQueueEntryID, DeadLetterQueueEntry) -> Bool
    ) -> Int {
        var damaged = 0
        let removals = DeadLetterQueueRemovals.load(directory)
        for (id, path) in segmentFiles() where start.map({ id >= $0.segment }) ?? true {
            guard let bytes = SegmentFiles.readFile(path) else { continue }  // deleted meanwhile
            let offset = start.flatMap { $0.segment == id ? $0.offset : nil } ?? 1
            var scanner = SegmentScanner(bytes: bytes, offset: offset)
            guard scanner.hasValidVersion else {
                damaged += 1
                continue
            }
            scanning: while true {
                switch scanner.next() {
                case .entry(let e):
                    let entryID = DeadLetterQueueEntryID(segment: id, offset: e.start)
                    if removals.contains(entryID) { continue }
                    guard let entry = try? DLQEntryCodec.decode(e.storage, range: e.range, decodeEvent: decodeEvents) else {
                        damaged += 1
                        continue
                    }
                    if !body(entryID, entry) { return damaged }
                case .anomaly:
                    damaged += 1
                case .end:
                    break scanning
                }
            }
        }
        return damaged
    }

    // MARK: Reading

    /// One page of the entries `selection` takes, after `cursor`; `next` is the cursor of the following page (nil
    /// at the end of the queue).
    public func page(
        _ selection: DeadLetterQueueSelection = DeadLetterQueueSelection(), after cursor: DeadLetterQueueEntryID? = nil,
        limit: Int = 100
    ) -> (entries: [(id: DeadLetterQueueEntryID, entry: DeadLetterQueueEntry)], next: DeadLetterQueueEntryID?) {
        var out: [(id: DeadLetterQueueEntryID, entry: DeadLetterQueueEntry)] = []
        var more = false
        var signatures = FailureSignature.Cache()
        scan(after: cursor) { id, entry in
            guard selection.matches(entry, signatures: &signatures) else { return true }
            if out.count == limit {
                more = true
                return false
            }
            out.append((id, entry))
            return true
        }
        return (out, more ? out.last?.id : nil)
    }

    /// The entry `id`, or nil when there is none there.
    public func entry(_ id: DeadLetterQueueEntryID) -> DeadLetterQueueEntry? {
        var found: DeadLetterQueueEntry?
        _ = scan(from: id, decodeEvents: true) { at, entry in
            if at == id { found = entry }
            return false
        }
        return found
    }

    // MARK: Statistics

    /// A summary: counts, size, oldest and newest entry time, counts by plugin, the failure signatures (count, first
    /// and last seen, sample entry ids; the most frequent first), the entries per time bucket (`timeline`) and the
    /// alert `status` (green, yellow, red) against `dead_letter_queue.warn_entries` / `critical_entries`. Streams the
    /// queue without decoding events.
    public func stats(warnEntries: Int? = nil, criticalEntries: Int? = nil) -> Object {
        var summary = DeadLetterQueueSummary()
        let damaged = scan(decodeEvents: false) { id, entry in
            summary.add(id, entry)
            return true
        }
        var o = Object()
        o["path"] = .string(directory)
        o["entries"] = .int(summary.entries)
        o["queue_size_in_bytes"] = .int(Int(sizeInBytes))
        o["oldest_entry_time"] = summary.oldest.map(Value.timestamp) ?? .null
        o["newest_entry_time"] = summary.newest.map(Value.timestamp) ?? .null
        o["by_plugin"] = .object(summary.byPlugin)
        o["signatures"] = .array(summary.signatureList.map { .object($0) })
        o["timeline"] = .object(summary.timeline.json)
        o["damaged_records"] = .int(damaged)
        o["status"] = .string(
            DeadLetterQueueAlert(entries: summary.entries, warnEntries: warnEntries, criticalEntries: criticalEntries).rawValue)
        return o
    }

    // MARK: Maintenance

    /// Removes the entries `ids` that exist (and are not removed yet), also while a pipeline writes the queue:
    /// they are recorded in `removed_entries`, which every Sluice reader honours, and a sealed segment left with no
    /// entry is deleted (`DeadLetterQueueReclaimer`). Returns the ids removed.
    @discardableResult
    public func remove(_ ids: [DeadLetterQueueEntryID]) throws(DeadLetterQueueError) -> [DeadLetterQueueEntryID] {
        try DeadLetterQueueRemovals.changing(directory) { () throws(DeadLetterQueueError) in
            let existing = ids.filter(self.existing(among: ids).contains)
            try DeadLetterQueueRemovals.record(existing.map(\.description), in: directory)
            // The removal is recorded: a segment that cannot be reclaimed now stays, and takes no entry back.
            _ = try? DeadLetterQueueReclaimer.reclaim(Set(existing.map(\.segment)), in: directory)
            try DeadLetterQueueRemovals.compact(in: directory, keepingSegments: Set(segmentFiles().map(\.id)))
            return existing
        }
    }

    /// Records entries the caller has just read as removed (redrive, once their events are safe): no existence
    /// check and no compaction, so a redrive of a million entries costs an append per chunk, not a scan. A segment
    /// whose last entry is among them is reclaimed once all its entries are removed.
    func markRemoved(_ ids: [DeadLetterQueueEntryID]) throws(DeadLetterQueueError) {
        try DeadLetterQueueRemovals.changing(directory) { () throws(DeadLetterQueueError) in
            try DeadLetterQueueRemovals.record(ids.map(\.description), in: directory)
            try? DeadLetterQueueReclaimer.afterMarking(ids, in: directory)
        }
    }

    /// Which of `ids` are entries not yet removed: each segment they name is read once.
    func existing(among ids: [DeadLetterQueueEntryID]) -> Set<DeadLetterQueueEntryID> {
        let wanted = Set(ids)
        var found: Set<DeadLetterQueueEntryID> = []
        for segment in Set(ids.map(\.segment)) {
            _ = scan(from: DeadLetterQueueEntryID(segment: segment, offset: 1), decodeEvents: false) { id, _ in
                guard id.segment == segment else { return false }
                if wanted.contains(id) { found.insert(id) }
                return true
            }
        }
        return found
    }

    /// Removes every entry `selection` takes; returns how many.
    @discardableResult
    public func remove(_ selection: DeadLetterQueueSelection) throws(DeadLetterQueueError) -> Int {
        var ids: [DeadLetterQueueEntryID] = []
        var signatures = FailureSignature.Cache()
        scan(decodeEvents: false) { id, entry in
            if selection.matches(entry, signatures: &signatures) { ids.append(id) }
            return true
        }
        return try remove(ids).count
    }

    /// Empties the queue: deletes every segment when no pipeline holds it (`clear`), otherwise removes every entry
    /// written so far (one `..ID` line). Returns the entries removed.
    @discardableResult
    public func purge() throws(DeadLetterQueueError) -> Int {
        var count = 0
        var last: DeadLetterQueueEntryID?
        scan(decodeEvents: false) { id, _ in
            count += 1
            last = id
            return true
        }
        if (try? clear()) != nil {
            _ = SegmentFiles.remove(SegmentFiles.join(directory, DeadLetterQueueRemovals.fileName))
            return count
        }
        guard let last else { return 0 }
        try DeadLetterQueueRemovals.changing(directory) { () throws(DeadLetterQueueError) in
            try DeadLetterQueueRemovals.record([".." + last.description], in: directory)
            _ = try? DeadLetterQueueReclaimer.reclaim(nil, in: directory)
        }
        return count
    }

    /// Deletes every segment, refusing while a writer holds the queue's lock.
    /// - Returns: the number of segment files removed.
    public func clear() throws(DeadLetterQueueError) -> Int {
        let lock = try FileLock.acquire(SegmentFiles.join(directory, ".lock"), owner: "sluice dlq clear")
        defer { lock.release(deleteFile: true) }
        var removed = 0
        for name in SegmentFiles.listDirectory(directory) ?? [] where name.hasSuffix(".log") || name.hasSuffix(".log.tmp") {
            if SegmentFiles.remove(SegmentFiles.join(directory, name)) { removed += 1 }
        }
        return removed
    }
}

/// Running totals over a scan: counts by plugin and by failure signature, in bounded memory (at most
/// `maximumSignatures` distinct signatures are tracked; the rest count under `other`).
struct DeadLetterQueueSummary {
    static let maximumSignatures = 10_000
    static let samplesPerSignature = 3

    struct SignatureCounts {
        let signature: FailureSignature
        var count = 0
        var first: Timestamp
        var last: Timestamp
        var samples: [DeadLetterQueueEntryID] = []
    }

    var entries = 0
    var oldest: Timestamp?
    var newest: Timestamp?
    var byPlugin = Object()
    var signatures: [FailureSignature: SignatureCounts] = [:]
    var untracked = 0
    var cache = FailureSignature.Cache()
    var timeline = DeadLetterQueueTimeline()

    mutating func add(_ id: DeadLetterQueueEntryID, _ entry: DeadLetterQueueEntry) {
        entries += 1
        timeline.add(entry.entryTime)
        if oldest.map({ entry.entryTime < $0 }) ?? true { oldest = entry.entryTime }
        if newest.map({ $0 < entry.entryTime }) ?? true { newest = entry.entryTime }
        let pluginKey = "\(entry.pluginType):\(entry.pluginID)"
        if case .int(let n)? = byPlugin[pluginKey] { byPlugin[pluginKey] = .int(n + 1) } else { byPlugin[pluginKey] = .int(1) }
        let signature = cache.signature(of: entry)
        if signatures[signature] == nil {
            guard signatures.count < Self.maximumSignatures else {
                untracked += 1
                return
            }
            signatures[signature] = SignatureCounts(signature: signature, first: entry.entryTime, last: entry.entryTime)
        }
        signatures[signature]!.record(id, entry.entryTime)
    }

    /// The signatures, most entries first, as JSON objects.
    var signatureList: [Object] {
        var list = signatures.values.sorted { $0.count != $1.count ? $0.count > $1.count : $0.first < $1.first }.map { s in
            var o = Object()
            o["id"] = .string(s.signature.id)
            o["plugin_type"] = .string(s.signature.pluginType)
            o["plugin_id"] = .string(s.signature.pluginID)
            o["reason"] = .string(s.signature.pattern)
            o["count"] = .int(s.count)
            o["first_seen"] = .timestamp(s.first)
            o["last_seen"] = .timestamp(s.last)
            o["samples"] = .array(s.samples.map { .string($0.description) })
            return o
        }
        if untracked > 0 {
            var o = Object()
            o["id"] = .string("other")
            o["count"] = .int(untracked)
            list.append(o)
        }
        return list
    }
}

extension DeadLetterQueueSummary.SignatureCounts {
    mutating func record(_ id: DeadLetterQueueEntryID, _ time: Timestamp) {
        count += 1
        if time < first { first = time }
        if last < time { last = time }
        if samples.count < DeadLetterQueueSummary.samplesPerSignature { samples.append(id) }
    }
}

/// Inspection and maintenance of a DLQ directory from outside the pipeline (`sluice dlq …`).
public struct DeadLetterQueueAdmin {
    /// `<root>/<pipelineID>`.
    public let directory: String

    public init(root: String, pipelineID: String) {
        directory = SegmentFiles.join(root, pipelineID)
    }

    /// Every readable entry, sealed segments first, then the head being written.
    public func entries() -> (entries: [DeadLetterQueueEntry], warnings: [DeadLetterQueueReadWarning]) {
        DeadLetterQueueReader.readAll(directory: directory, includeHead: true)
    }

    /// Bytes used by segment files.
    public var sizeInBytes: Int64 {
        (SegmentFiles.listDirectory(directory) ?? []).filter { $0.hasSuffix(".log") || $0.hasSuffix(".log.tmp") }
            .reduce(0) { $0 + Int64(SegmentFiles.size(SegmentFiles.join(directory, $1)) ?? 0) }
    }

    /// A summary: counts, size, oldest and newest entry time, counts by plugin and by reason, and the alert
    /// `status` (green, yellow, red) against `dead_letter_queue.warn_entries` / `critical_entries`.
    public func stats(warnEntries: Int? = nil, criticalEntries: Int? = nil) -> Object {
        let (all, warnings) = entries()
        var o = Object()
        o["path"] = .string(directory)
        o["entries"] = .int(all.count)
        o["queue_size_in_bytes"] = .int(Int(sizeInBytes))
        o["oldest_entry_time"] = all.map(\.entryTime).min().map(Value.timestamp) ?? .null
        o["newest_entry_time"] = all.map(\.entryTime).max().map(Value.timestamp) ?? .null
        o["by_plugin"] = .object(Self.count(all.map { "\($0.pluginType):\($0.pluginID)" }))
        o["by_reason"] = .object(Self.count(all.map { Self.reasonKey($0.reason) }))
        o["damaged_records"] = .int(warnings.count)
        o["status"] = .string(
            DeadLetterQueueAlert(entries: all.count, warnEntries: warnEntries, criticalEntries: criticalEntries).rawValue)
        return o
    }

    /// Entries as JSON-ready events (`[@metadata][dead_letter_queue]` filled in), filtered.
    public func list(since: Timestamp? = nil, reason: String? = nil, plugin: String? = nil) -> [Event] {
        entries().entries.filter { e in
            if let since, e.entryTime < since { return false }
            if let reason, !e.reason.contains(reason) { return false }
            if let plugin, e.pluginType != plugin && e.pluginID != plugin { return false }
            return true
        }.map { $0.eventForReplay() }
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

    /// Groups reasons by their leading part, so entries that differ only in the event they quote count together.
    static func reasonKey(_ reason: String) -> String {
        if let r = reason.firstRange(of: ", action:") { return String(reason[..<r.lowerBound]) }
        return reason.count > 120 ? String(reason.prefix(120)) + "…" : reason
    }

    static func count(_ keys: [String]) -> Object {
        var o = Object()
        for k in keys {
            if case .int(let n)? = o[k] { o[k] = .int(n + 1) } else { o[k] = .int(1) }
        }
        return o
    }
}

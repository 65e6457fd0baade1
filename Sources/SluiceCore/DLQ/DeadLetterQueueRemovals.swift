#if canImport(Glibc)
import Glibc
#endif

/// Entries removed one by one from a DLQ directory, where Logstash's format can only delete whole segments: the
/// `removed_entries` file beside the segments holds one entry id per line (`12-4097`), or `..12-4097` for every
/// entry up to and including that one (a purge while the pipeline holds the queue). Sluice's readers — `sluice dlq`,
/// the admin API and the `dead_letter_queue` input — skip these entries; Logstash does not know the file and would
/// still read them until their segment is deleted. Loaded by each reader when it opens a segment; appended by the
/// admin only (one process at a time, under `removed_entries.lock`).
public struct DeadLetterQueueRemovals: Sendable {
    public static let fileName = "removed_entries"
    static let lockFileName = "removed_entries.lock"

    private(set) var ids: Set<DeadLetterQueueEntryID> = []
    /// Every entry up to and including this one is removed.
    private(set) var upTo: DeadLetterQueueEntryID?

    public init() {}

    /// The removals recorded in `directory` (none when the file is absent; unreadable lines are ignored).
    public static func load(_ directory: String) -> DeadLetterQueueRemovals {
        var removals = DeadLetterQueueRemovals()
        guard let bytes = SegmentFiles.readFile(SegmentFiles.join(directory, fileName)) else { return removals }
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix(".."), let id = DeadLetterQueueEntryID(String(text.dropFirst(2))) {
                removals.upTo = max(removals.upTo ?? id, id)
            } else if let id = DeadLetterQueueEntryID(text) {
                removals.ids.insert(id)
            }
        }
        return removals
    }

    public var isEmpty: Bool { ids.isEmpty && upTo == nil }

    public func contains(_ id: DeadLetterQueueEntryID) -> Bool {
        if let upTo, id <= upTo { return true }
        return ids.contains(id)
    }

    /// Serialises the threads of this process that change a removal record (the record's file lock is per process).
    private static let writers = Lock()

    /// Runs `change` holding the record's lock: the threads of this process one after another, other processes (a
    /// `sluice dlq remove` beside a running pipeline) through `removed_entries.lock`, waited for up to 5 s.
    static func changing<T>(_ directory: String, _ change: () throws(DeadLetterQueueError) -> T) throws(DeadLetterQueueError) -> T {
        writers.lock()
        defer { writers.unlock() }
        let path = SegmentFiles.join(directory, lockFileName)
        var attempts = 0
        while true {
            do {
                let lock = try FileLock.acquire(path, owner: "the removal record of \(directory)")
                defer { lock.release(deleteFile: false) }
                return try change()
            } catch where error.kind == .locked && attempts < 500 {
                attempts += 1
                usleep(10_000)
            }
        }
    }

    /// Appends removals to `directory`'s file (created if needed). Not synced: after a crash a removal may be lost,
    /// so an entry can come back (never the other way round).
    static func record(_ lines: [String], in directory: String) throws(DeadLetterQueueError) {
        guard !lines.isEmpty else { return }
        let path = SegmentFiles.join(directory, fileName)
        let bytes = Array(lines.joined(separator: "\n").utf8) + [UInt8(ascii: "\n")]
        if SegmentFiles.exists(path) {
            try SegmentFiles.append(path, bytes)
        } else {
            try SegmentFiles.replaceFile(path, bytes)
        }
    }

    /// Rewrites the file without the ids of segments that no longer exist (deleted by retention, `clean_consumed`
    /// or a purge), so it never outgrows the queue.
    static func compact(in directory: String, keepingSegments existing: Set<Int>) throws(DeadLetterQueueError) {
        let current = load(directory)
        var lines = current.ids.filter { existing.contains($0.segment) }.sorted().map(\.description)
        if let upTo = current.upTo, existing.contains(where: { $0 <= upTo.segment }) { lines.append(".." + upTo.description) }
        let path = SegmentFiles.join(directory, fileName)
        if lines.isEmpty {
            _ = SegmentFiles.remove(path)
        } else {
            try SegmentFiles.replaceFile(path, Array((lines.joined(separator: "\n") + "\n").utf8))
        }
    }
}

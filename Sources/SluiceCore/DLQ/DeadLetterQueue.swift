#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pipeline's dead letter queue writer, storing entries in Logstash's on-disk format in `<path>/<pipeline_id>/`.
///
/// Thread-safe: workers call `write` concurrently. Entries go to the head segment `N.log.tmp`, sealed to `N.log`
/// when full (10 MiB), when idle for `flush_interval` (checked by a background thread), and at `close()`. Start-up
/// recovers leftover heads, `max_bytes` is enforced by the storage policy, `retain.age` deletes old segments, and
/// `statistics` reports what Logstash's monitoring API does. Every entry that does not reach the disk is counted in
/// `dropped_events`: refused by `drop_newer`, deleted by `drop_older` (whole oldest segments, as Logstash counts
/// them) or lost to an I/O error (a descriptor shortage, a full disk), which is also logged at ERROR, rate-limited,
/// and recorded in `last_error`. Nothing here traps.
public final class DeadLetterQueue: DeadLetterQueueWriter, @unchecked Sendable {
    /// The settings this writer was opened with.
    public let settings: DeadLetterQueueSettings
    /// `<path>/<pipeline_id>`: the queue directory.
    public let directory: String

    private let mutex = Lock()
    private let clock: @Sendable () -> Timestamp
    private let warn: @Sendable (String) -> Void
    private let reportError: @Sendable (String) -> Void
    private let encoding: CBOREventCodec.EncodingOptions
    private let flushIntervalNanoseconds: Int64
    private let retainAgeNanoseconds: Int64?
    private var fileLock: FileLock?
    private var flushTimer: PeriodicThread?
    /// The entries on disk when the first redelivered event failed; guarded by `fingerprintMutex`.
    private let fingerprintMutex = Lock()
    private var fingerprints: DeadLetterQueueFingerprints?
    private var skippedRedeliveries = 0
    /// The archive (`settings.archive`), opened on its first entry; guarded by `archiveMutex`.
    private let archiveMutex = Lock()
    private var archiveWriter: DeadLetterQueue?
    private var archiveClosed = false

    // Guarded by `mutex`.
    private var head: HeadSegment?
    private var nextHeadID: Int
    private var sealed: [SealedSegment]
    private var oldestSummary: (id: Int, summary: SegmentSummary)?
    private var queueSize: Int64
    private var droppedEvents = 0
    private var expiredEvents = 0
    private var lastError = "no errors"
    private var lastWrite: Timestamp?
    private var lastSignalCheck: Timestamp
    private var recordBuffer: [UInt8] = []
    private var closed = false
    /// Entries written since the writer opened (the `/metrics` write counter).
    private var writes = 0
    /// When the head's first entry was written.
    private var headFirstEntryTime: Timestamp?
    /// Per sealed segment: its size when counted, its entry count and first entry time, so occupancy scans each
    /// segment file at most once.
    private var segmentCensus: [Int: (size: Int, entries: Int, firstEntryTime: Timestamp?)] = [:]
    /// Per kind of loss (`drop_older`, `io`): when it was last logged and how many were not logged since.
    private var lossReports: [String: (lastLogged: Timestamp, unreported: Int)] = [:]

    /// Losses of one kind are logged at most once per this interval; the next line says how many were not.
    static let lossReportIntervalNanoseconds: Int64 = 10_000_000_000

    /// The open head segment.
    private struct HeadSegment {
        var id: Int
        var fd: Int32
        var size: Int
        var entries: Int
    }

    /// How often the writer looks for the `.deleted_segment` signal of a cleaning reader (§6.5).
    static let deletedSegmentCheckNanoseconds: Int64 = 3_000_000_000

    /// Opens the queue: creates the directory, takes `.lock`, recovers leftover heads, opens a new head and starts the
    /// flush checker. Throws (naming the path) when the directory cannot be created or another writer holds it.
    /// - Parameters:
    ///   - warningHandler: receives warnings (failed heads, skipped events, segments `drop_older` deleted); it may
    ///     be called with the writer's lock held, so it must not call back into the writer.
    ///   - errorHandler: receives errors (entries lost to I/O failures), rate-limited; the same rules apply.
    ///     Defaults to `warningHandler`.
    public convenience init(
        settings: DeadLetterQueueSettings, warningHandler: @escaping @Sendable (String) -> Void = { _ in },
        errorHandler: (@Sendable (String) -> Void)? = nil
    ) throws(DeadLetterQueueError) {
        try self.init(settings: settings, clock: { Timestamp.now() }, startsFlushTimer: true,
                      warningHandler: warningHandler, errorHandler: errorHandler)
    }

    /// The designated initialiser; tests pass a fake clock and drive `flushCheck()` themselves.
    init(
        settings: DeadLetterQueueSettings, clock: @escaping @Sendable () -> Timestamp, startsFlushTimer: Bool,
        warningHandler: @escaping @Sendable (String) -> Void = { _ in },
        errorHandler: (@Sendable (String) -> Void)? = nil
    ) throws(DeadLetterQueueError) {
        self.settings = settings
        directory = settings.queueDirectory
        self.clock = clock
        warn = warningHandler
        reportError = errorHandler ?? warningHandler
        encoding = CBOREventCodec.EncodingOptions(stringReferences: settings.stringReferences)
        flushIntervalNanoseconds = Int64(settings.effectiveFlushIntervalMilliseconds) * 1_000_000
        retainAgeNanoseconds = settings.retainAge.map(DeadLetterQueueSettings.nanoseconds)
        try SegmentFiles.makeDirectories(directory)
        fileLock = try FileLock.acquire(SegmentFiles.join(directory, SegmentDirectory.lockFileName),
                                        owner: "dead letter queue \(directory)")
        DeadLetterQueue.recoverHeads(in: directory, warn: warningHandler)
        sealed = SegmentDirectory.sealedSegments(directory)
        queueSize = Int64(sealed.reduce(0) { $0 + $1.size })
        nextHeadID = (sealed.last?.id ?? 0) + 1
        lastSignalCheck = clock()
        do {
            try openHead()
        } catch {
            fileLock?.release(deleteFile: true)
            throw error
        }
        if startsFlushTimer { startFlushTimer() }
    }

    deinit { close() }

    public var isEnabled: Bool { true }

    // MARK: Writing

    /// Stores one entry. False when the event came from a DLQ, when the policy refuses it (`drop_newer` over
    /// `max_bytes`), after `close()`, or on an I/O error (then `last_error` says which).
    @discardableResult
    public func write(_ event: Event, pluginType: String, pluginID: String, reason: String) -> Bool {
        if event.isFromDeadLetterQueue {
            warn("event previously submitted to the dead letter queue \(directory), skipping (plugin \(pluginID))")
            return false
        }
        if let archive = settings.archive, DeadLetterQueueEntry.attempts(of: event) >= archive.afterAttempts,
           let writer = openArchive()
        {
            return writer.write(event, pluginType: pluginType, pluginID: pluginID, reason: reason)
        }
        var entry: [UInt8] = []
        entry.reserveCapacity(512)
        DLQEntryCodec.encode(event: event, pluginType: pluginType, pluginID: pluginID, reason: reason,
                             entryTime: clock(), options: encoding, appendingTo: &entry)
        if event.redelivered && hasEntry(like: entry) { return true }
        return mutex.withLock { appendEntry(entry) }
    }

    /// §7.2 steps 3–6, under the lock.
    private func appendEntry(_ entry: [UInt8]) -> Bool {
        guard !closed else { return false }
        let now = clock()
        let need = DLQSegmentFormat.recordHeaderSize + entry.count
        applyRetention(now: now)
        guard admit(need: need) else { return false }
        if let h = head, h.entries > 0, h.size + need > settings.maxSegmentSize {
            sealHead(openingNext: true)
        }
        if head == nil {
            do {
                try openHead()
            } catch {
                return entryLost(error, now: now)
            }
        }
        guard var h = head else { return false }
        recordBuffer.removeAll(keepingCapacity: true)
        let offset = RecordFraming.appendRecords(of: entry, range: 0..<entry.count, fileLength: h.size,
                                                 to: &recordBuffer)
        guard SegmentFiles.writeAll(h.fd, recordBuffer, at: offset) else {
            let code = errno
            _ = ftruncate(h.fd, off_t(h.size))
            let error = DeadLetterQueueError.io("cannot write to", SegmentDirectory.headPath(directory, h.id), errno: code)
            return entryLost(error, now: now)
        }
        let newSize = offset + recordBuffer.count
        queueSize += Int64(newSize - h.size)
        h.size = newSize
        if h.entries == 0 { headFirstEntryTime = now }
        h.entries += 1
        head = h
        lastWrite = now
        writes += 1
        return true
    }

    /// An entry that an I/O error kept from the disk: counted in `dropped_events`, recorded in `last_error` and
    /// logged at ERROR (rate-limited). Returns false, for `write`.
    private func entryLost(_ error: DeadLetterQueueError, now: Timestamp) -> Bool {
        droppedEvents += 1
        let message = "Cannot write event to DLQ(path: \(directory)): \(error.message); the event is lost"
        lastError = message
        reportLoss(kind: "io", message, now: now, using: reportError)
        return false
    }

    /// Logs a loss of `kind` unless one was logged less than `lossReportIntervalNanoseconds` ago; the next line
    /// logged says how many were left out.
    private func reportLoss(kind: String, _ message: String, now: Timestamp, using log: (String) -> Void) {
        var report = lossReports[kind] ?? (lastLogged: Timestamp(seconds: 0, nanoseconds: 0), unreported: 0)
        let due = lossReports[kind] == nil
            || DeadLetterQueue.nanoseconds(from: report.lastLogged, to: now) >= DeadLetterQueue.lossReportIntervalNanoseconds
        if due {
            let omitted = report.unreported > 0 ? " (\(report.unreported) similar messages suppressed)" : ""
            log(message + omitted)
            report = (now, 0)
        } else {
            report.unreported += 1
        }
        lossReports[kind] = report
    }

    /// The storage policy (§7.3): whether an entry needing `need` bytes may be written.
    private func admit(need: Int) -> Bool {
        let maxBytes = settings.maxBytes
        guard queueSize + Int64(need) > maxBytes else { return true }
        remeasureQueueSize()
        guard queueSize + Int64(need) > maxBytes else { return true }
        if settings.storagePolicy == .dropOlder && Int64(need) <= maxBytes {
            while queueSize + Int64(need) > maxBytes, let oldest = sealed.first { dropOldest(oldest) }
            if queueSize + Int64(need) <= maxBytes { return true }
        }
        droppedEvents += 1
        lastError = "Cannot write event to DLQ(path: \(directory)): reached maxQueueSize of \(maxBytes)"
        return false
    }

    // MARK: Segments

    private func openHead() throws(DeadLetterQueueError) {
        let id = nextHeadID
        let path = SegmentDirectory.headPath(directory, id)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        // Not logged here: a failure recurs for every entry until it clears; `entryLost` logs it rate-limited.
        guard fd >= 0 else {
            let error = DeadLetterQueueError.io("cannot create segment", path)
            lastError = error.message
            throw error
        }
        guard SegmentFiles.writeAll(fd, [DLQSegmentFormat.versionByte], at: 0) else {
            let error = DeadLetterQueueError.io("cannot write segment", path)
            SegmentFiles.closeDescriptor(fd)
            unlink(path)
            lastError = error.message
            throw error
        }
        head = HeadSegment(id: id, fd: fd, size: 1, entries: 0)
        nextHeadID = id + 1
        queueSize += 1
    }

    @discardableResult
    private func recordError(_ error: DeadLetterQueueError) -> DeadLetterQueueError {
        lastError = error.message
        warn(error.message)
        return error
    }

    /// Seals the head (only if it holds an entry): renames `N.log.tmp` to `N.log`, then opens the next head.
    private func sealHead(openingNext: Bool) {
        guard let h = head, h.entries > 0 else { return }
        SegmentFiles.closeDescriptor(h.fd)
        head = nil
        let from = SegmentDirectory.headPath(directory, h.id)
        if SegmentFiles.move(from, SegmentDirectory.sealedPath(directory, h.id)) {
            sealed.append(SealedSegment(id: h.id, size: h.size))
            segmentCensus[h.id] = (h.size, h.entries, headFirstEntryTime)
        } else {
            recordError(.io("cannot seal segment", from))
        }
        if openingNext { try? openHead() }
        applyRetention(now: clock())
    }

    /// `drop_older` makes room: the oldest segment's entries are counted in `dropped_events` (Logstash's
    /// `dropTailSegment`), then it is deleted; the loss is logged (rate-limited) and recorded in `last_error`.
    private func dropOldest(_ segment: SealedSegment) {
        let path = SegmentDirectory.sealedPath(directory, segment.id)
        guard SegmentFiles.exists(path) else {
            // Reclaimed (every entry removed) or cleaned by a reader since the last re-measure: nothing is lost.
            deleteSealed(segment)
            return
        }
        let entries: Int
        if let known = segmentCensus[segment.id], known.size == segment.size {
            entries = known.entries
        } else {
            entries = SegmentSummary(path: path).entryCount
        }
        deleteSealed(segment)
        droppedEvents += entries
        let message = "Dropped \(entries) events from the dead letter queue \(directory): deleted its oldest segment "
            + "\(path) to stay under max_bytes of \(settings.maxBytes) (storage_policy drop_older)"
        lastError = message
        reportLoss(kind: "drop_older", message, now: clock(), using: warn)
    }

    private func deleteSealed(_ segment: SealedSegment) {
        let path = SegmentDirectory.sealedPath(directory, segment.id)
        if !SegmentFiles.remove(path) && errno != ENOENT { recordError(.io("cannot delete segment", path)) }
        sealed.removeAll { $0.id == segment.id }
        queueSize -= Int64(segment.size)
        if oldestSummary?.id == segment.id { oldestSummary = nil }
    }

    /// Queue size = the on-disk sum of sealed segments, head excluded (Logstash's re-measure, §7.5).
    private func remeasureQueueSize() {
        sealed = SegmentDirectory.sealedSegments(directory)
        queueSize = Int64(sealed.reduce(0) { $0 + $1.size })
        if let cached = oldestSummary, !sealed.contains(where: { $0.id == cached.id }) { oldestSummary = nil }
    }

    // MARK: Age retention

    /// Deletes sealed segments, oldest first, whose newest entry is older than `retain.age` (§7.4).
    private func applyRetention(now: Timestamp) {
        guard let retain = retainAgeNanoseconds else { return }
        let cutoff = DeadLetterQueue.subtract(nanoseconds: retain, from: now)
        for segment in sealed where segment.size > 1 {
            let summary = summaryOfOldest(segment)
            if !summary.readable && !SegmentFiles.exists(SegmentDirectory.sealedPath(directory, segment.id)) {
                deleteSealed(segment)  // reclaimed or cleaned meanwhile: forgotten, not counted as expired
                continue
            }
            guard let newest = summary.newestEntryTime, newest < cutoff else { return }
            deleteSealed(segment)
            expiredEvents += summary.entryCount
        }
    }

    private func summaryOfOldest(_ segment: SealedSegment) -> SegmentSummary {
        if let cached = oldestSummary, cached.id == segment.id { return cached.summary }
        let summary = SegmentSummary(path: SegmentDirectory.sealedPath(directory, segment.id))
        oldestSummary = (segment.id, summary)
        return summary
    }

    static func subtract(nanoseconds: Int64, from t: Timestamp) -> Timestamp {
        let (seconds, rest) = nanoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
        var result = Timestamp(seconds: t.seconds &- seconds, nanoseconds: t.nanoseconds - Int32(rest))
        if result.nanoseconds < 0 {
            result.nanoseconds += 1_000_000_000
            result.seconds -= 1
        }
        return result
    }

    static func nanoseconds(from a: Timestamp, to b: Timestamp) -> Int64 {
        (b.seconds - a.seconds) * 1_000_000_000 + Int64(b.nanoseconds - a.nanoseconds)
    }

    // MARK: Flush timer

    private func startFlushTimer() {
        let interval = settings.effectiveFlushCheckIntervalMilliseconds
        let timer = PeriodicThread(intervalMilliseconds: interval) { [weak self] in self?.flushCheck() }
        do {
            try timer.start(name: "dlq-flush")
            flushTimer = timer
        } catch {
            warn("cannot start the DLQ flush thread for \(directory): \(error); a head segment is sealed only when full or at close")
        }
    }

    /// One tick of the flush checker: seals a stale head, applies retention, and reacts to `.deleted_segment`.
    func flushCheck() {
        mutex.withLock {
            guard !closed else { return }
            let now = clock()
            if let h = head, h.entries > 0, let last = lastWrite,
               DeadLetterQueue.nanoseconds(from: last, to: now) >= flushIntervalNanoseconds {
                sealHead(openingNext: true)
            }
            applyRetention(now: now)
            if DeadLetterQueue.nanoseconds(from: lastSignalCheck, to: now) >= DeadLetterQueue.deletedSegmentCheckNanoseconds {
                lastSignalCheck = now
                checkDeletedSegmentSignal()
            }
        }
    }

    /// A cleaning reader deleted segments: drop the signal file and re-measure the queue from disk.
    private func checkDeletedSegmentSignal() {
        let signal = SegmentFiles.join(directory, SegmentDirectory.deletedSegmentSignalName)
        guard SegmentFiles.exists(signal) else { return }
        SegmentFiles.remove(signal)
        remeasureQueueSize()
    }

    // MARK: Closing and statistics

    /// Seals the head if it holds an entry, applies retention, removes `.lock` and stops the flush checker.
    /// An empty head stays behind as a 1-byte `N.log.tmp`, as in Logstash. Idempotent.
    public func close() {
        let timer: PeriodicThread?? = mutex.withLock {
            guard !closed else { return .none }
            closed = true
            return .some(flushTimer)
        }
        guard case .some(let t) = timer else { return }
        t?.stop()
        archiveMutex.withLock {
            archiveClosed = true
            archiveWriter?.close()
        }
        mutex.withLock {
            sealHead(openingNext: false)
            applyRetention(now: clock())
            if let h = head { SegmentFiles.closeDescriptor(h.fd) }
            head = nil
            fileLock?.release(deleteFile: true)
            fileLock = nil
        }
    }

    // MARK: Redeliveries

    /// Whether the queue already holds this entry (same event, same plugin): a redelivery after a crash failing
    /// where it failed before. The fingerprints are loaded on the first call.
    private func hasEntry(like entry: [UInt8]) -> Bool {
        guard let fingerprint = DeadLetterQueueFingerprints.fingerprint(entry, range: entry.indices) else { return false }
        let (known, first) = fingerprintMutex.withLock { () -> (Bool, Bool) in
            if fingerprints == nil { fingerprints = DeadLetterQueueFingerprints.load(directory) }
            let known = fingerprints?.contains(fingerprint) == true
            defer { if known { skippedRedeliveries += 1 } }
            return (known, known && skippedRedeliveries == 0)
        }
        if first {
            warn("events the persisted queue delivered again after a restart fail again where they failed before; their entries from before the restart are kept and no second ones are written")
        }
        return known
    }

    // MARK: Archive

    /// The archive writer, opened on first use; nil (the entry then stays in this queue) when it cannot be opened,
    /// with the reason logged as an error.
    private func openArchive() -> DeadLetterQueue? {
        guard let archive = settings.archive else { return nil }
        return archiveMutex.withLock { () -> DeadLetterQueue? in
            if let archiveWriter { return archiveWriter }
            guard !archiveClosed else { return nil }
            do {
                archiveWriter = try DeadLetterQueue(
                    settings: archive.writerSettings(of: settings), clock: clock, startsFlushTimer: flushTimer != nil,
                    warningHandler: warn, errorHandler: reportError)
            } catch {
                reportError("Cannot open the dead letter queue archive: \(error); exhausted entries stay in \(directory)")
            }
            return archiveWriter
        }
    }

    /// `<directory>/archive`: where the archive's segments are, whether it was opened yet or not.
    public var archiveDirectory: String { SegmentFiles.join(directory, DeadLetterQueueArchiveSettings.directoryName) }

    /// Moves an entry of this queue to the archive (its attempts are used up); false when the archive refused it.
    public func archive(_ entry: DeadLetterQueueEntry) -> Bool {
        guard let writer = openArchive() else { return false }
        return writer.write(entry.event, pluginType: entry.pluginType, pluginID: entry.pluginID, reason: entry.reason)
    }

    /// The metrics Logstash reports for this queue.
    public var statistics: DeadLetterQueueStatistics {
        mutex.withLock {
            DeadLetterQueueStatistics(
                queueSizeInBytes: queueSize, maxQueueSizeInBytes: settings.maxBytes, droppedEvents: droppedEvents,
                expiredEvents: expiredEvents, lastError: lastError, storagePolicy: settings.storagePolicy)
        }
    }

    /// Entries on disk (sealed segments and the head), the oldest one's time and the writes since opening: what
    /// `/metrics` and the alert thresholds read. Each sealed segment is scanned once, then remembered by size.
    public var occupancy: DeadLetterQueueOccupancy {
        mutex.withLock {
            var entries = head?.entries ?? 0
            var oldest: Timestamp? = nil
            var census: [Int: (size: Int, entries: Int, firstEntryTime: Timestamp?)] = [:]
            for segment in sealed {
                var known = segmentCensus[segment.id]
                if known == nil || known!.size != segment.size {
                    let path = SegmentDirectory.sealedPath(directory, segment.id)
                    let first = DeadLetterQueueReader.readSegment(path: path).entries
                    known = (segment.size, first.count, first.first?.entryTime)
                }
                census[segment.id] = known!
                entries += known!.entries
                if oldest == nil { oldest = known!.firstEntryTime }
            }
            segmentCensus = census
            if oldest == nil, (head?.entries ?? 0) > 0 { oldest = headFirstEntryTime }
            return DeadLetterQueueOccupancy(entries: entries, oldestEntryTime: oldest, writes: writes)
        }
    }

    /// The id of the current head segment (nil when none could be created).
    var headSegmentID: Int? { mutex.withLock { head?.id } }

    // MARK: Start-up recovery

    /// Handles every leftover `N.log.tmp` as Logstash does (§2): deleted when `N.log` exists or it holds no entry,
    /// renamed to `N.log` when it reads without error, to `N.err` when it does not.
    static func recoverHeads(in directory: String, warn: (String) -> Void) {
        for name in SegmentFiles.listDirectory(directory) ?? [] {
            guard let id = SegmentDirectory.headID(name) else { continue }
            let temporary = SegmentFiles.join(directory, name)
            let sealedPath = SegmentDirectory.sealedPath(directory, id)
            if SegmentFiles.exists(sealedPath) {
                SegmentFiles.remove(temporary)
                continue
            }
            let summary = SegmentSummary(path: temporary)
            if summary.failsStrictScan {
                let failed = SegmentDirectory.failedPath(directory, id)
                SegmentFiles.move(temporary, failed)
                warn("DLQ segment \(temporary) is damaged (\(summary.anomalies.first?.description ?? "unreadable")); renamed to \(failed)")
            } else if summary.entryCount > 0 {
                SegmentFiles.move(temporary, sealedPath)
            } else {
                SegmentFiles.remove(temporary)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The `queue.*` settings of one pipeline's persisted queue, with Logstash's defaults.
public struct PersistedQueueSettings: Sendable {
    /// `path.queue/<pipeline.id>`.
    public var directory: String
    public var pageCapacity = 64 << 20
    /// 0: unlimited.
    public var maxBytes: Int64 = 1024 << 20
    /// Unread events at which intake blocks; 0: unlimited.
    public var maxEvents = 0
    public var checkpointAcks = 1024
    public var checkpointWrites = 1024
    public var checkpointRetry = true
    public var drain = false

    public init(directory: String) { self.directory = directory }
}

/// Logstash's persisted queue (`queue.type: persisted`), on Logstash's own files: a queue Logstash left behind
/// is drained by Sluice and the reverse (`PQ-FORMAT.md`).
///
/// Inputs push on their threads: events are serialised (CBOR, as Logstash) outside the lock, then appended to
/// the head page in one write; the input's acknowledgement completes once they are written. Workers take batches
/// that never span pages and acknowledge them; fully acknowledged tail pages are deleted. Events just written
/// are also kept in memory (a bounded run) so that a worker that keeps up takes them without decoding; anything
/// older is read back from disk. Recovery after a crash scans the head page past its checkpoint with checksums.
public final class PersistedQueue: PipelineQueue, @unchecked Sendable {
    public let settings: PersistedQueueSettings
    let ledger: PipelineLedger
    let metrics: PipelineMetrics?
    let logger: Logger
    private let monitor = QueueMonitor()
    private var lock: FileLock?
    private var tails: [QueuePage] = []
    private var head: QueuePage
    private var seqNum: Int64 = 0
    private var unread = 0
    private var unacked = 0
    private var persistedBytes: Int64 = 0
    private var recoveredCount = 0
    /// The highest sequence number written before this run: events up to it are redeliveries (`Event.redelivered`).
    private var redeliveredUpTo: Int64 = 0
    private var lastError: String?
    /// Events just written, in sequence order from `cacheFirst`, for workers that keep up.
    private var cache: [(event: Event?, size: Int)] = []
    private var cacheStart = 0
    private var cacheFirst: Int64 = 0
    private let cacheLimit: Int
    private var directory: String { settings.directory }
    /// Checkpoints triggered by writes and acknowledgements, written off the pushing and acking threads.
    private let checkpointWriter: CheckpointWriter

    /// Opens (or creates) the queue directory, recovering what a previous run left.
    public init(settings: PersistedQueueSettings, cacheLimit: Int = 1000, ledger: PipelineLedger = PipelineLedger(),
                metrics: PipelineMetrics? = nil, logger: Logger) throws(PersistedQueueError) {
        self.settings = settings
        self.ledger = ledger
        self.metrics = metrics
        self.logger = logger
        self.cacheLimit = cacheLimit
        checkpointWriter = CheckpointWriter(directory: settings.directory, retry: settings.checkpointRetry, logger: logger)
        guard FileSystem.makeDirectories(settings.directory) else { throw .io("cannot create the queue directory", settings.directory) }
        do {
            lock = try FileLock.acquire(settings.directory + "/.lock", owner: "The queue")
        } catch {
            throw PersistedQueueError(
                "The queue failed to obtain exclusive access, cause: Lock held by another program on lock path: \(settings.directory)/.lock (another Sluice or Logstash process uses this queue)")
        }
        head = QueuePage(number: 0)
        do {
            try PersistedQueue.checkVersionFile(settings.directory)
            try openPages()
        } catch {
            lock?.release(deleteFile: false)
            throw error
        }
        recoveredCount = unacked
        redeliveredUpTo = seqNum
        ledger.recovered.add(unacked, ordering: .relaxed)
    }

    deinit { checkpointWriter.stop() }

    // MARK: Opening

    /// `.queue-version` must hold 2; a new directory gets it. Pages without it are Logstash's V1 pages.
    static func checkVersionFile(_ directory: String) throws(PersistedQueueError) {
        let path = directory + "/.queue-version"
        if let bytes = FileSystem.readBytes(path) {
            guard bytes == [0, 0, 0, 2] else { throw PersistedQueueError("Unexpected upgrade file contents found in \(path).") }
            return
        }
        if FileSystem.list(directory).contains(where: { $0.hasPrefix("page.") }) {
            throw PersistedQueueError(
                "\(directory) holds pages without a .queue-version file (Logstash before 6.3, queue format V1): drain it with that Logstash first (queue.drain: true)")
        }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot create", path) }
        var two = UInt32(2).bigEndian
        let ok = Glibc.write(fd, &two, 4) == 4 && fsync(fd) == 0
        Glibc.close(fd)
        if !ok { throw .io("cannot write", path) }
    }

    /// Logstash's `openPages`: tail pages from their checkpoints, the head page recovered by a checksummed scan
    /// and, when it holds elements, turned into a tail behind a fresh head page.
    private func openPages() throws(PersistedQueueError) {
        guard let headCheckpoint = try QueueCheckpoint.read(directory, "checkpoint.head") else {
            try ensureDiskAvailable(used: 0)
            head = try newHeadPage(0)
            return
        }
        guard headCheckpoint.firstUnackedPageNum <= headCheckpoint.pageNum else {
            throw PersistedQueueError(
                "\(directory)/checkpoint.head: the first unacknowledged page \(headCheckpoint.firstUnackedPageNum) comes after the head page \(headCheckpoint.pageNum) (a corrupted checkpoint). Run `sluice queue check` and `sluice queue repair`.")
        }
        // The tail pages between the two: those with a checkpoint (a corrupted head checkpoint may span 2^31 numbers).
        let tailRange = Int(headCheckpoint.firstUnackedPageNum)..<Int(headCheckpoint.pageNum)
        let names = FileSystem.list(directory)
        let tailNumbers = names.compactMap { $0.hasPrefix("checkpoint.") ? Int($0.dropFirst(11)) : nil }.filter(tailRange.contains).sorted()
        let unlisted = names.compactMap { $0.hasPrefix("page.") ? Int($0.dropFirst(5)) : nil }
            .filter { tailRange.contains($0) && !tailNumbers.contains($0) }.sorted()
        for n in unlisted { logger.warn("Page \(n) of \(directory) has no checkpoint and is skipped; `sluice queue repair` removes it") }
        var foundUnacked = false
        for n in tailNumbers {
            guard let cp = try QueueCheckpoint.read(directory, "checkpoint.\(n)") else { continue }
            if cp.isFullyAcked {
                unlink(QueuePageFile.path(directory, n))
                if !foundUnacked { unlink(directory + "/checkpoint.\(n)") }
                continue
            }
            foundUnacked = true
            let page = try openTailPage(n, cp)
            tails.append(page)
            seqNum = max(seqNum, cp.maxSeqNum)
        }
        var headNumber = Int(headCheckpoint.pageNum)
        let headPath = QueuePageFile.path(directory, headNumber)
        if headCheckpoint.isFullyAcked && (FileSystem.size(headPath) ?? 0) < QueuePageFile.minimumSize {
            unlink(headPath)
            unlink(directory + "/checkpoint.head")
            headNumber += 1
            head = try newHeadPage(headNumber)
            return
        }
        let recovered = try recoverHeadPage(headNumber, headCheckpoint)
        try ensureDiskAvailable(used: persistedBytes + Int64(recovered.end))
        seqNum = max(seqNum, recovered.maxSeq)
        persistedBytes += Int64(recovered.end)
        head = recovered
        if recovered.count > 0 { startNextHeadPage(after: recovered) }
        checkpointHeadLogging()
    }

    /// At open, a head page with elements becomes a tail behind a new head page, as in Logstash. When the disk
    /// is too full for a new page or a checkpoint, the recovered page stays the head (a valid layout) and intake
    /// continues in it until space returns.
    private func startNextHeadPage(after recovered: QueuePage) {
        guard recovered.number < Int(Int32.max) else {
            noteError("Page \(recovered.number) is the last page number a checkpoint can name; it stays the head")
            return
        }
        let file: QueuePageFile
        do {
            file = try QueuePageFile.create(directory, recovered.number + 1, capacity: settings.pageCapacity)
        } catch {
            noteError("Cannot start a new head page (\(error)); page \(recovered.number) stays the head")
            return
        }
        do {
            try retire(recovered)
        } catch {
            unlink(file.path)
            noteError("Cannot checkpoint page \(recovered.number) (\(error)); it stays the head")
            return
        }
        head = QueuePage(number: recovered.number + 1, file: file, minSeq: 0, count: 0, end: QueuePageFile.headerSize)
        persistedBytes += Int64(head.end)
    }

    private func openTailPage(_ n: Int, _ cp: QueueCheckpoint) throws(PersistedQueueError) -> QueuePage {
        let file = try QueuePageFile.open(directory, n)
        let scan = file.scan(first: cp.minSeqNum, limit: Int(cp.elementCount), verify: false)
        guard scan.count == Int(cp.elementCount) else {
            throw PersistedQueueError(
                "\(file.path) does not match its checkpoint (\(cp)): \(scan.problem ?? "it ends after \(scan.count) elements"). Run `sluice queue check` and `sluice queue repair`.")
        }
        let page = QueuePage(number: n, file: file, minSeq: cp.minSeqNum, count: Int(cp.elementCount), end: scan.end)
        page.restoreAcknowledged(upTo: cp.firstUnackedSeqNum)
        page.lastCheckpoint = cp
        persistedBytes += Int64(scan.end)
        unread += page.unreadCount
        unacked += page.unreadCount
        return page
    }

    /// Logstash's `recover()`: the checkpoint is not trusted for the head page; every element with the next
    /// sequence number, a sane length and a matching checksum is kept, including those written after it.
    private func recoverHeadPage(_ n: Int, _ cp: QueueCheckpoint) throws(PersistedQueueError) -> QueuePage {
        let file = try QueuePageFile.open(directory, n)
        guard let version = file.readVersion(), version == QueuePageFile.version else {
            throw PersistedQueueError("\(file.path): Expected page version=2 but found version=\(file.readVersion() ?? 0). Run `sluice queue repair`.")
        }
        let scan = file.scan(first: nil, verify: true)
        let minSeq = scan.count > 0 ? scan.firstSeqNum : 0
        if Int64(scan.count) != Int64(cp.elementCount) || (scan.count > 0 && minSeq != cp.minSeqNum) {
            logger.warn("recovered head data page \(n) is different than checkpoint, using recovered page information (\(scan.count) elements from seqNum \(minSeq); checkpoint: \(cp))")
        }
        if let problem = scan.problem, scan.count < Int(cp.elementCount) {
            logger.error("Head page \(file.path) ends early: \(problem); \(Int(cp.elementCount) - scan.count) checkpointed elements are unreadable")
        }
        let page = QueuePage(number: n, file: file, minSeq: minSeq, count: scan.count, end: scan.end)
        page.restoreAcknowledged(upTo: max(cp.firstUnackedSeqNum, minSeq))
        page.lastCheckpoint = cp
        unread += page.unreadCount
        unacked += page.unreadCount
        return page
    }

    /// Logstash's `ensureDiskAvailable`: free space for what `queue.max_bytes` may still add.
    private func ensureDiskAvailable(used: Int64) throws(PersistedQueueError) {
        guard settings.maxBytes > 0, let free = FileSystem.freeBytes(directory) else { return }
        let needed = settings.maxBytes - used
        if needed > free {
            throw PersistedQueueError(
                "Unable to allocate \(needed) more bytes for persisted queue on top of its current usage of \(used) bytes: \(directory) has \(free) bytes free (lower queue.max_bytes or free space)")
        }
    }

    private func newHeadPage(_ n: Int) throws(PersistedQueueError) -> QueuePage {
        let file = try QueuePageFile.create(directory, n, capacity: settings.pageCapacity)
        let page = QueuePage(number: n, file: file, minSeq: 0, count: 0, end: QueuePageFile.headerSize)
        persistedBytes += Int64(page.end)
        head = page
        try writeHeadCheckpoint()
        return page
    }

    // MARK: Checkpoints

    private var firstUnackedPageNum: Int32 { Int32(tails.first?.number ?? head.number) }

    /// The head checkpoint, now (after any requested one); when it advertises new elements, the page is synced
    /// first.
    private func writeHeadCheckpoint() throws(PersistedQueueError) {
        checkpointWriter.drain()
        let cp = head.checkpoint(firstUnackedPageNum: firstUnackedPageNum)
        if cp == head.lastCheckpoint { return }
        if cp.elementCount != head.lastCheckpoint?.elementCount, let file = head.file, !file.sync() {
            throw .io("cannot sync page", file.path)
        }
        try cp.write(directory, "checkpoint.head", retry: settings.checkpointRetry)
        head.lastCheckpoint = cp
    }

    /// The head checkpoint a write or acknowledgement count triggers (`queue.checkpoint.writes`/`acks`), handed to
    /// the checkpoint thread.
    private func requestHeadCheckpoint() {
        let cp = head.checkpoint(firstUnackedPageNum: firstUnackedPageNum)
        if cp == head.lastCheckpoint { return }
        let sync = cp.elementCount != head.lastCheckpoint?.elementCount ? head.file : nil
        checkpointWriter.request(cp, syncing: sync)
        head.lastCheckpoint = cp
    }

    /// Writes `checkpoint.N` now, after any requested checkpoint (so none of those can overwrite it later).
    private func writeTailCheckpoint(_ page: QueuePage) throws(PersistedQueueError) {
        checkpointWriter.drain()
        let cp = page.checkpoint(firstUnackedPageNum: 0)
        try cp.write(directory, "checkpoint.\(page.number)", retry: settings.checkpointRetry)
        page.lastCheckpoint = cp
    }

    /// A checkpoint that failed is logged and retried at the next trigger; the page data stays recoverable.
    private func checkpointHeadLogging() {
        do {
            try writeHeadCheckpoint()
        } catch {
            noteError("Cannot write the head checkpoint of \(directory): \(error)")
        }
    }

    private func noteError(_ message: String) {
        lastError = message
        logger.rateLimited(.error, key: "pq", message)
    }

    /// The head page becomes tail page N: synced, `checkpoint.N` written (deleted again when fully acked).
    private func retire(_ page: QueuePage) throws(PersistedQueueError) {
        if let file = page.file, !file.sync() { throw .io("cannot sync page", file.path) }
        try writeTailCheckpoint(page)
        if page.isFullyAcked {
            deletePageFile(page)
            if tails.isEmpty { unlink(directory + "/checkpoint.\(page.number)") } else { tails.append(page) }
        } else {
            tails.append(page)
        }
    }

    private func deletePageFile(_ page: QueuePage) {
        guard page.file != nil else { return }
        page.file = nil
        unlink(QueuePageFile.path(directory, page.number))
        persistedBytes -= Int64(page.end)
    }

    // MARK: Writing

    public var drainsOnClose: Bool { settings.drain }

    public var prefersFeederThread: Bool { true }

    @discardableResult
    public func push(_ events: [Event], acknowledgement: InputAcknowledgement?, metrics input: PluginMetrics?) -> Bool {
        let started = Clock.nanoseconds()
        var frames = QueueFrames(events)
        monitor.lock.lock()
        var written = 0
        while written < frames.count && !monitor.closed {
            switch appendFrames(&frames, from: written) {
            case .wrote(let n): written += n
            case .tooLarge:
                noteError("An event of \(frames.size(written)) bytes is bigger than the page capacity (\(head.capacity)); it is dropped")
                ledger.dropped.add(1, ordering: .relaxed)
                frames.skip(written)
                written += 1
            case .failed(let message):
                noteError("Persisted queue intake stopped: \(message); retrying every second")
                let deadline = Clock.deadline(afterMillis: 1000)
                monitor.lock.wait(QueueMonitor.notFull, until: deadline)
            }
        }
        monitor.lock.broadcast(QueueMonitor.notEmpty)
        let accepted = frames.acceptedCount(upTo: written)
        while isFull && !monitor.closed { monitor.lock.wait(QueueMonitor.notFull) }
        monitor.lock.unlock()
        ledger.accepted.add(accepted, ordering: .relaxed)
        if written == frames.count { acknowledgement?.complete(events.count) }
        if let metrics {
            metrics.eventsIn.add(accepted, ordering: .relaxed)
            let elapsed = Clock.nanoseconds() - started
            metrics.queuePushNanos.add(elapsed, ordering: .relaxed)
            input?.recordPushed(accepted, nanoseconds: elapsed)
        }
        return written == frames.count
    }

    private enum AppendResult {
        case wrote(Int)
        case tooLarge
        case failed(String)
    }

    /// Writes as many frames from `first` as fit in the head page in one `pwrite`, rolling to a new page when
    /// the head is full. Nothing changes unless the write succeeds.
    private func appendFrames(_ frames: inout QueueFrames, from first: Int) -> AppendResult {
        if frames.size(first) > head.capacity - QueuePageFile.headerSize { return .tooLarge }
        if frames.size(first) > head.capacity - head.end {
            do {
                try rollHeadPage()
            } catch {
                return .failed(error.message)
            }
        }
        var n = 0, bytes = 0
        while first + n < frames.count, bytes + frames.size(first + n) <= head.capacity - head.end {
            frames.setSequence(first + n, seqNum + 1 + Int64(n))
            bytes += frames.size(first + n)
            n += 1
        }
        guard let file = head.file, file.write(frames.bytes, frames.range(first..<first + n), at: head.end) else {
            return .failed("cannot write to \(head.file?.path ?? "the head page"): \(String(cString: strerror(errno)))")
        }
        lastError = nil
        if head.count == 0 { head.start(at: seqNum + 1) }
        for k in 0..<n { cacheAppend(frames.event(first + k), seq: seqNum + 1 + Int64(k), size: frames.size(first + k)) }
        seqNum += Int64(n)
        head.count += n
        head.end += bytes
        persistedBytes += Int64(bytes)
        unread += n
        unacked += n
        if settings.checkpointWrites > 0, seqNum >= (head.lastCheckpoint?.maxSeqNum ?? -1) + Int64(settings.checkpointWrites) {
            // `queue.checkpoint.writes: 1` is Logstash's maximum durability: every write synced and checkpointed
            // before the input is told. Larger values trade that bound for throughput, checkpointed in the background.
            if settings.checkpointWrites == 1 { checkpointHeadLogging() } else { requestHeadCheckpoint() }
        }
        return .wrote(n)
    }

    /// Logstash's behead: the full head page becomes a tail (or is deleted when fully acked) and page N+1 is
    /// created. A failure leaves the head as it was.
    private func rollHeadPage() throws(PersistedQueueError) {
        let old = head
        guard old.number < Int(Int32.max) else {
            throw PersistedQueueError("page \(old.number) is the last page number a checkpoint can name (a corrupted checkpoint numbered the pages)")
        }
        let file = try QueuePageFile.create(directory, old.number + 1, capacity: settings.pageCapacity)
        if old.isFullyAcked && tails.isEmpty {
            deletePageFile(old)
        } else {
            try retire(old)
        }
        head = QueuePage(number: old.number + 1, file: file, minSeq: 0, count: 0, end: QueuePageFile.headerSize)
        persistedBytes += Int64(head.end)
        checkpointHeadLogging()
    }

    private var isFull: Bool {
        (settings.maxBytes > 0 && persistedBytes > settings.maxBytes) || (settings.maxEvents > 0 && unread >= settings.maxEvents)
    }

    /// Keeps the most recent writes in memory, a contiguous run of at most `cacheLimit` events: a worker that
    /// keeps up takes them from here; one that lags reads the older ones from disk until it reaches the run.
    private func cacheAppend(_ event: Event, seq: Int64, size: Int) {
        guard cacheLimit > 0 else { return }
        if cache.count - cacheStart == 0 || seq != cacheFirst + Int64(cache.count - cacheStart) {
            cache.removeAll(keepingCapacity: true)
            cacheStart = 0
            cacheFirst = seq
        } else if cache.count - cacheStart >= cacheLimit {
            cache[cacheStart].event = nil
            cacheStart += 1
            cacheFirst += 1
        }
        if cacheStart >= cacheLimit {
            cache.removeFirst(cacheStart)
            cacheStart = 0
        }
        cache.append((event, size))
    }

    /// The cached event with sequence number `seq`, removed from the cache; older cached events are dropped.
    private func takeCached(_ seq: Int64) -> (event: Event, size: Int)? {
        while cache.count > cacheStart && cacheFirst < seq {
            cache[cacheStart].event = nil
            cacheStart += 1
            cacheFirst += 1
        }
        guard cache.count > cacheStart, cacheFirst == seq, let event = cache[cacheStart].event else { return nil }
        let size = cache[cacheStart].size
        cache[cacheStart].event = nil
        cacheStart += 1
        cacheFirst += 1
        if cacheStart == cache.count {
            cache.removeAll(keepingCapacity: true)
            cacheStart = 0
        }
        return (event, size)
    }

    // MARK: Reading

    public func take(max: Int, delayMillis: Int) -> QueueBatch? {
        monitor.lock.lock()
        while unread == 0 && !monitor.closed { monitor.lock.wait(QueueMonitor.notEmpty) }
        if monitor.closed && (!settings.drain || unread == 0) {
            monitor.lock.unlock()
            return nil
        }
        if unread < max && !monitor.closed && delayMillis > 0 {
            let deadline = Clock.deadline(afterMillis: delayMillis)
            while unread < max && !monitor.closed {
                if !monitor.lock.wait(QueueMonitor.notEmpty, until: deadline) { break }
            }
        }
        let taken = takeLocked(max: max)
        monitor.lock.unlock()
        return taken.map(decoded)
    }

    public func take(max: Int, waitMillis: Int) -> QueueBatch? {
        monitor.lock.lock()
        monitor.waitForFirst(waitMillis: waitMillis) { unread == 0 }
        let taken = monitor.closed && !settings.drain ? nil : takeLocked(max: max)
        monitor.lock.unlock()
        return taken.map(decoded)
    }

    public var isDrained: Bool { monitor.lock.withLock { monitor.closed && (!settings.drain || unread == 0) } }

    /// A batch as taken under the queue's lock: events still in memory, and elements read from the page whose
    /// checksums and decoding are left to the worker, after it lets go of the lock.
    private struct TakenElements {
        var events: [Event?]
        var fromDisk: [(index: Int, seq: Int64, element: QueueElement)] = []
        let page: Int
        let path: String
        let firstSequence: Int64
    }

    /// Takes up to `max` unread events from the oldest page holding any; the caller holds the monitor's lock.
    private func takeLocked(max: Int) -> TakenElements? {
        guard let page = tails.first(where: { $0.unreadCount > 0 }) ?? (head.unreadCount > 0 ? head : nil) else { return nil }
        let n = Swift.min(max, page.unreadCount)
        var taken = TakenElements(
            events: [Event?](repeating: nil, count: n), page: page.number, path: QueuePageFile.path(directory, page.number),
            firstSequence: page.readSeq)
        for i in 0..<n { takeNext(page, into: &taken, at: i) }
        unread -= n
        if settings.maxEvents > 0 { monitor.lock.broadcast(QueueMonitor.notFull) }
        if unread > 0 { monitor.lock.signal(QueueMonitor.notEmpty) }
        return taken
    }

    /// The next unread element of `page`: from memory when it was just written, else its bytes from disk. An
    /// element whose length cannot be read is logged and skipped (acknowledged with its batch, counted as
    /// dropped).
    private func takeNext(_ page: QueuePage, into taken: inout TakenElements, at index: Int) {
        let seq = page.readSeq
        page.readSeq += 1
        if let cached = takeCached(seq) {
            page.readOffset += cached.size
            taken.events[index] = cached.event
            return
        }
        guard let file = page.file else { return }
        do {
            let element = try page.reader.unverifiedElement(of: file, at: page.readOffset, end: page.end)
            page.readOffset = element.next
            taken.fromDisk.append((index, seq, element))
        } catch {
            noteError("Cannot read the event with seqNum \(seq) from \(file.path): \(error); it is skipped. Run `sluice queue check`.")
            page.readOffset = page.nextElementOffset(after: page.readOffset) ?? page.end
        }
    }

    /// The batch, with the elements read from disk verified and decoded here, on the worker's thread.
    private func decoded(_ taken: TakenElements) -> QueueBatch {
        var slots = taken.events
        for (index, seq, element) in taken.fromDisk {
            do {
                try element.verify(taken.path)
                let event = try QueueFrames.decode(element.bytes, element.payload)
                event.redelivered = seq <= redeliveredUpTo
                slots[index] = event
            } catch {
                monitor.lock.withLock {
                    noteError("Cannot read the event with seqNum \(seq) from \(taken.path): \(error); it is skipped. Run `sluice queue check`.")
                }
            }
        }
        let events = slots.compactMap { $0 }
        ledger.processing.add(events.count, ordering: .relaxed)
        if events.count < slots.count { ledger.dropped.add(slots.count - events.count, ordering: .relaxed) }
        return QueueBatch(events: events, page: taken.page, firstSequence: taken.firstSequence, sequenceCount: slots.count)
    }

    public func acknowledge(_ batch: QueueBatch) {
        monitor.lock.lock()
        defer { monitor.lock.unlock() }
        let page = batch.page == head.number ? head : tails.first { $0.number == batch.page }
        guard let page else { return }
        let before = page.firstUnackedSeq
        let count = page.acknowledge(from: batch.firstSequence, count: batch.sequenceCount)
        unacked -= count
        if page === head {
            if page.isFullyAcked || (settings.checkpointAcks > 0 && page.firstUnackedSeq >= (page.lastCheckpoint?.firstUnackedSeqNum ?? before) + Int64(settings.checkpointAcks)) {
                requestHeadCheckpoint()
            }
            return
        }
        if page.isFullyAcked {
            do {
                try writeTailCheckpoint(page)
            } catch {
                noteError("Cannot write the checkpoint of page \(page.number): \(error)")
            }
            deletePageFile(page)
            while let first = tails.first, first.isFullyAcked {
                unlink(directory + "/checkpoint.\(first.number)")
                tails.removeFirst()
            }
            monitor.lock.broadcast(QueueMonitor.notFull)
            requestHeadCheckpoint()
        } else if settings.checkpointAcks > 0,
                  page.firstUnackedSeq >= (page.lastCheckpoint?.firstUnackedSeqNum ?? before) + Int64(settings.checkpointAcks) {
            let cp = page.checkpoint(firstUnackedPageNum: 0)
            checkpointWriter.request(cp, name: "checkpoint.\(page.number)", syncing: nil)
            page.lastCheckpoint = cp
        }
    }

    public func close() {
        monitor.close()
    }

    /// Logstash's close: every tail checkpoint rewritten, the head synced and checkpointed, the lock released.
    public func shutdown() {
        checkpointWriter.stop()
        monitor.lock.lock()
        for page in tails where page.file != nil { try? writeTailCheckpoint(page) }
        checkpointHeadLogging()
        lock?.release(deleteFile: false)
        lock = nil
        monitor.lock.unlock()
    }

    public var snapshot: QueueSnapshot {
        monitor.lock.lock()
        defer { monitor.lock.unlock() }
        var s = QueueSnapshot(type: "persisted", unread: unread, unacknowledged: unacked)
        s.persistedBytes = persistedBytes
        s.maxBytes = settings.maxBytes
        s.maxUnread = settings.maxEvents
        s.pageCapacity = settings.pageCapacity
        s.path = directory
        s.recovered = recoveredCount
        s.lastError = lastError ?? checkpointWriter.lastFailure
        return s
    }
}

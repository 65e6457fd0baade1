/// Redrive: entries of a pipeline's own DLQ go back into that pipeline right after its inputs (into its queue), and
/// each entry is removed only once its event is safe — written to the persisted queue, or, with the memory queue,
/// finished by every output (delivered, or dead-lettered again as a new entry, or archived). A crash before that
/// leaves the entry in place. The event carries its attempt count (`[@metadata][dead_letter_queue_attempts]`) into
/// the entry it makes if it fails again. An entry already on its way (`RedrivesInFlight`) is never sent twice, by
/// the API, the CLI or the automatic redriver.
extension Pipeline {
    /// Entries pushed per queue push (and per removal write).
    static let redriveChunk = 125

    /// Pushes every entry `selection` takes into the queue, blocking while it is full; returns how many were pushed.
    /// Called on a thread of the caller's (the API starts one), never on a pipeline worker.
    /// With `fromArchive`, the entries come from the pipeline's archive (events that used up their attempts; one
    /// that fails again goes back there).
    @discardableResult
    public func redrive(_ selection: DeadLetterQueueSelection, fromArchive: Bool = false) -> Int {
        var signatures = FailureSignature.Cache()
        return redrive(fromArchive: fromArchive) { _, entry in selection.matches(entry, signatures: &signatures) }
    }

    /// Pushes the entry `id` (the dashboard's per-entry button). False when there is no such entry (or it was
    /// removed, or is already on its way) or the queue is closed.
    @discardableResult
    public func redrive(entry id: DeadLetterQueueEntryID, fromArchive: Bool = false) -> Bool {
        guard let writer = deadLetterQueue else { return false }
        let admin = DeadLetterQueueAdmin(directory: fromArchive ? writer.archiveDirectory : writer.directory)
        let inFlight = fromArchive ? archiveRedrivesInFlight : redrivesInFlight
        guard let entry = admin.entry(id), inFlight.claim(id) else { return false }
        return push([(id, entry.eventForRedrive())], admin, inFlight)
    }

    /// Pushes every entry `takes` accepts (and that is not already on its way); returns how many were pushed.
    func redrive(fromArchive: Bool = false, _ takes: (DeadLetterQueueEntryID, DeadLetterQueueEntry) -> Bool) -> Int {
        guard let writer = deadLetterQueue else { return 0 }
        let admin = DeadLetterQueueAdmin(directory: fromArchive ? writer.archiveDirectory : writer.directory)
        let inFlight = fromArchive ? archiveRedrivesInFlight : redrivesInFlight
        var pushed = 0
        var chunk: [(DeadLetterQueueEntryID, Event)] = []
        var open = true
        admin.scan { id, entry in
            guard takes(id, entry), inFlight.claim(id) else { return true }
            chunk.append((id, entry.eventForRedrive()))
            if chunk.count == Self.redriveChunk {
                open = push(chunk, admin, inFlight)
                pushed += open ? chunk.count : 0
                chunk.removeAll(keepingCapacity: true)
            }
            return open
        }
        if open && !chunk.isEmpty && push(chunk, admin, inFlight) { pushed += chunk.count }
        return pushed
    }

    /// Pushes one chunk; its entries are removed once every event in it is safe. False (and the entries released,
    /// still in the queue) when the pipeline's queue has closed.
    private func push(
        _ chunk: [(DeadLetterQueueEntryID, Event)], _ admin: DeadLetterQueueAdmin, _ inFlight: RedrivesInFlight
    ) -> Bool {
        let ids = chunk.map(\.0)
        let logger = Logger("deadletterqueue.redrive", pipelineID: settings.id)
        let acknowledgement = InputAcknowledgement(events: chunk.count) {
            do {
                try admin.markRemoved(ids)
            } catch {
                logger.error("Redriven entries were delivered but could not be removed (they may be redriven again): \(error)")
            }
            inFlight.release(ids)
        }
        if queue.push(chunk.map(\.1), acknowledgement: acknowledgement, metrics: nil) { return true }
        inFlight.release(ids)
        return false
    }
}

/// The entries of a pipeline's DLQ whose events were pushed back into the pipeline and are not safe yet. Shared by
/// every redrive of the pipeline (API threads, the automatic redriver, acknowledgements on worker threads).
final class RedrivesInFlight: @unchecked Sendable {
    private let lock = Lock()
    private var ids: Set<DeadLetterQueueEntryID> = []

    /// Marks `id` as on its way; false when it already is.
    func claim(_ id: DeadLetterQueueEntryID) -> Bool {
        lock.withLock { ids.insert(id).inserted }
    }

    func release(_ done: [DeadLetterQueueEntryID]) {
        lock.withLock { for id in done { ids.remove(id) } }
    }

    var count: Int { lock.withLock { ids.count } }
}

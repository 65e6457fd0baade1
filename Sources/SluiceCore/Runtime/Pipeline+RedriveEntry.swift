/// Redrive of one entry by its id (the dashboard's per-entry button), with the guarantees of `redrive(_:)`: the
/// event goes back into the pipeline's queue and the entry is removed only once the event is safe.
extension Pipeline {
    /// Pushes the entry `id` into the queue, blocking while it is full. False when there is no such entry (or it
    /// was removed) or the queue is closed. Called on a thread of the caller's (the API starts one), never on a
    /// pipeline worker or an event loop.
    @discardableResult
    public func redrive(entry id: DeadLetterQueueEntryID) -> Bool {
        guard let directory = deadLetterQueue?.directory else { return false }
        let admin = DeadLetterQueueAdmin(directory: directory)
        guard let entry = admin.entry(id) else { return false }
        let logger = Logger("deadletterqueue.redrive", pipelineID: settings.id)
        // The same acknowledgement as a redrive by selection (Pipeline+Redrive.swift's push): the removal is
        // recorded when every output has finished with the event.
        let acknowledgement = InputAcknowledgement(events: 1) {
            do {
                try admin.markRemoved([id])
            } catch {
                logger.error("The redriven entry \(id) was delivered but could not be removed (it may be redriven again): \(error)")
            }
        }
        return queue.push([Self.redriven(entry)], acknowledgement: acknowledgement, metrics: nil)
    }
}

import Synchronization

/// Where every event of a pipeline went, so that "nothing is lost" can be checked while it runs: what came in
/// (accepted from inputs, recovered from a persisted queue, created by filters) equals what went out (delivered,
/// dead-lettered, dropped on purpose, kept undelivered for a later run) plus what is in flight. Always counted,
/// whatever `metric.collect` says; inputs and workers add to it lock-free.
public final class PipelineLedger: Sendable {
    /// Events the queue accepted from inputs in this run.
    public let accepted = Atomic<Int>(0)
    /// Unacknowledged events found in the persisted queue when it opened.
    public let recovered = Atomic<Int>(0)
    /// Events filters made (split pieces, clones).
    public let created = Atomic<Int>(0)
    public let delivered = Atomic<Int>(0)
    public let deadLettered = Atomic<Int>(0)
    /// Dropped on purpose: `drop`, a failed condition without a DLQ, an Elasticsearch 409.
    public let dropped = Atomic<Int>(0)
    /// Events in batches that could not be acknowledged (an output kept them for a later run).
    public let undelivered = Atomic<Int>(0)
    /// Events taken by workers whose batch is not finished.
    public let processing = Atomic<Int>(0)

    public init() {}

    /// The counts now; `queued` is what the queue holds unread.
    public func snapshot(queued: Int) -> PipelineLedgerSnapshot {
        PipelineLedgerSnapshot(
            accepted: accepted.load(ordering: .relaxed), recovered: recovered.load(ordering: .relaxed),
            created: created.load(ordering: .relaxed), delivered: delivered.load(ordering: .relaxed),
            deadLettered: deadLettered.load(ordering: .relaxed), dropped: dropped.load(ordering: .relaxed),
            undelivered: undelivered.load(ordering: .relaxed), inFlight: queued + processing.load(ordering: .relaxed))
    }

    /// Adds a finished batch's counts.
    func record(_ batch: BatchLedger, taken: Int) {
        if batch.created > 0 { created.add(batch.created, ordering: .relaxed) }
        if batch.delivered > 0 { delivered.add(batch.delivered, ordering: .relaxed) }
        if batch.deadLettered > 0 { deadLettered.add(batch.deadLettered, ordering: .relaxed) }
        if batch.dropped > 0 { dropped.add(batch.dropped, ordering: .relaxed) }
        if batch.undelivered > 0 { undelivered.add(batch.undelivered, ordering: .relaxed) }
        processing.subtract(taken, ordering: .relaxed)
    }
}

/// One reading of a `PipelineLedger` (the API's `ledger` object).
public struct PipelineLedgerSnapshot: Sendable, Equatable {
    public var accepted, recovered, created, delivered, deadLettered, dropped, undelivered, inFlight: Int

    /// In minus out minus in flight: 0 unless an event went missing.
    public var unaccounted: Int {
        accepted + recovered + created - delivered - deadLettered - dropped - undelivered - inFlight
    }
}

/// The counts of one batch as a worker moves it through filters and outputs (no atomics until the end), and the
/// deliveries its pipelined outputs still have in flight.
struct BatchLedger {
    var created = 0
    var delivered = 0
    var deadLettered = 0
    var dropped = 0
    var undelivered = 0
    /// Whether pipelined outputs may leave their deliveries in `inFlight` (a worker's batches), rather than finish
    /// them before `send` returns.
    var defersDeliveries = false
    var inFlight: [OutputInFlight] = []
}

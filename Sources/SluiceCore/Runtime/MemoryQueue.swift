#if canImport(Glibc)
import Glibc
#endif

/// The bounded in-memory queue between a pipeline's inputs and its workers (Logstash's memory queue).
///
/// Inputs block in `push` while it is full, which is how a slow output pushes back on the inputs; workers take
/// batches of up to `batchSize`, waiting at most `batchDelay` for a batch to fill once the first event is there.
/// An input's acknowledgement completes when the workers acknowledge its events: nothing is safe before it is
/// delivered, since a crash loses what the queue holds.
public final class MemoryQueue: PipelineQueue, @unchecked Sendable {
    private let monitor = QueueMonitor()
    private var buffer: [Event?]
    private var head = 0
    /// Entries waiting (the ring's occupied slots).
    private var slots = 0
    /// Events waiting: one per entry, or an `UndecodedLines` entry's lines.
    private var count = 0
    /// Pushes waiting for room: while there are any, a worker does not wait for its batch to fill.
    private var blockedPushes = 0
    /// The most events the queue holds (`pipeline.batch.size` × workers, as Logstash's memory queue).
    public let capacity: Int
    public let undecodedLinesLimit: Int?
    let metrics: PipelineMetrics?
    let ledger: PipelineLedger

    /// `undecodedLinesLimit`: the most lines an `UndecodedLines` entry may carry (the batch size), nil to take
    /// decoded events only.
    public init(
        capacity: Int, undecodedLinesLimit: Int? = nil, metrics: PipelineMetrics? = nil, ledger: PipelineLedger = PipelineLedger()
    ) {
        self.capacity = max(1, capacity)
        self.undecodedLinesLimit = undecodedLinesLimit
        self.ledger = ledger
        buffer = [Event?](repeating: nil, count: self.capacity)
        self.metrics = metrics
    }

    /// Events waiting.
    public var size: Int {
        monitor.lock.lock()
        defer { monitor.lock.unlock() }
        return count
    }

    public var drainsOnClose: Bool { true }

    public var snapshot: QueueSnapshot {
        monitor.lock.lock()
        defer { monitor.lock.unlock() }
        return QueueSnapshot(type: "memory", unread: count, unacknowledged: count + ledger.processing.load(ordering: .relaxed))
    }

    @discardableResult
    public func push(_ events: [Event], acknowledgement: InputAcknowledgement?, metrics input: PluginMetrics?) -> Bool {
        if let acknowledgement { for e in events { e.acknowledgement = acknowledgement } }
        let started = Clock.nanoseconds()
        monitor.lock.lock()
        var accepted = 0, weight = 0
        while accepted < events.count {
            while !fits(events[accepted]) && !monitor.closed { waitForRoom() }
            if monitor.closed { break }
            while accepted < events.count, fits(events[accepted]) {
                let entry = events[accepted]
                entry.undecoded?.pushedBy = input
                buffer[(head + slots) % buffer.count] = entry
                slots += 1
                count += entry.queueWeight
                weight += entry.queueWeight
                accepted += 1
            }
            monitor.lock.signal(QueueMonitor.notEmpty)
        }
        monitor.lock.unlock()
        ledger.accepted.add(weight, ordering: .relaxed)
        if let metrics = self.metrics {
            metrics.eventsIn.add(weight, ordering: .relaxed)
            let elapsed = Clock.nanoseconds() - started
            metrics.queuePushNanos.add(elapsed, ordering: .relaxed)
            input?.recordPushed(weight, nanoseconds: elapsed)
        }
        return accepted == events.count
    }

    /// Waits for a worker to take entries (the caller holds the lock). A worker waiting for its batch to fill stops
    /// waiting: no more events can come until it takes some (an entry of many lines may not fit beside the few
    /// events already waiting).
    private func waitForRoom() {
        blockedPushes += 1
        monitor.lock.broadcast(QueueMonitor.notEmpty)
        monitor.lock.wait(QueueMonitor.notFull)
        blockedPushes -= 1
    }

    /// Whether `entry` fits now; the caller holds the lock. An entry heavier than the whole queue goes into an empty one.
    private func fits(_ entry: Event) -> Bool {
        count == 0 || (count + entry.queueWeight <= capacity && slots < buffer.count)
    }

    public func take(max: Int, delayMillis: Int) -> QueueBatch? {
        monitor.lock.lock()
        defer { monitor.lock.unlock() }
        while count == 0 && !monitor.closed { monitor.lock.wait(QueueMonitor.notEmpty) }
        if delayMillis > 0 && waitsToFill(max) {
            let deadline = Clock.deadline(afterMillis: delayMillis)
            while waitsToFill(max) {
                if !monitor.lock.wait(QueueMonitor.notEmpty, until: deadline) { break }
            }
        }
        return takeLocked(max: max)
    }

    /// Whether a worker that found events waits (`pipeline.batch.delay`) for `max` of them; the caller holds the lock.
    /// Not when a push is blocked for room (nothing more can come), nor when the first entry is undecoded lines: the
    /// input already gathered into it everything it had read, up to a batch.
    private func waitsToFill(_ max: Int) -> Bool {
        count < max && blockedPushes == 0 && !monitor.closed && buffer[head]?.undecoded == nil
    }

    public func take(max: Int, waitMillis: Int) -> QueueBatch? {
        monitor.lock.lock()
        defer { monitor.lock.unlock() }
        monitor.waitForFirst(waitMillis: waitMillis) { slots == 0 }
        return takeLocked(max: max)
    }

    public var isDrained: Bool { monitor.lock.withLock { monitor.closed && slots == 0 } }

    /// Takes waiting entries up to `max` events (at least one entry, however many lines it holds); the caller holds
    /// the monitor's lock.
    private func takeLocked(max: Int) -> QueueBatch? {
        if slots == 0 { return nil }
        var batch: [Event] = []
        batch.reserveCapacity(Swift.min(max, slots))
        var acknowledged = false, undecoded = false, weight = 0
        while slots > 0 {
            let e = buffer[head]!
            if !batch.isEmpty && weight + e.queueWeight > max { break }
            acknowledged = acknowledged || e.acknowledgement != nil
            undecoded = undecoded || e.undecoded != nil
            weight += e.queueWeight
            batch.append(e)
            buffer[head] = nil
            head = (head + 1) % buffer.count
            slots -= 1
        }
        count -= weight
        ledger.processing.add(weight, ordering: .relaxed)
        monitor.lock.broadcast(QueueMonitor.notFull)
        if slots > 0 { monitor.lock.signal(QueueMonitor.notEmpty) }
        return QueueBatch(events: batch, hasAcknowledgements: acknowledged, hasUndecoded: undecoded)
    }

    public func acknowledge(_ batch: QueueBatch) {
        guard batch.hasAcknowledgements else { return }
        InputAcknowledgement.complete(batch.events)
    }

    /// No more pushes: wakes every waiting worker so they drain what is left and stop.
    public func close() {
        monitor.close()
    }

    public func shutdown() {}
}

extension InputAcknowledgement {
    /// Completes the acknowledgements `events` carry, one call per run of events from the same push.
    static func complete(_ events: [Event]) {
        var current: InputAcknowledgement?
        var run = 0
        for e in events {
            guard let ack = e.acknowledgement else { continue }
            e.acknowledgement = nil
            if ack !== current {
                current?.complete(run)
                current = ack
                run = 0
            }
            run += 1
        }
        current?.complete(run)
    }
}

/// The queue as one input sees it: what it pushes also counts as that input's `events.out`. Offers go through a
/// hand-off made on first use, so inputs that never offer cost no thread.
final class InputSink: EventSink, @unchecked Sendable {
    let queue: any PipelineQueue
    let metrics: PluginMetrics?
    private let handOffCapacity: Int
    /// The queue's `prefersFeederThread`, read once.
    private let pushesThroughFeeder: Bool
    private let lock = Lock()
    private var handOff: InputHandOff?

    init(queue: any PipelineQueue, metrics: PluginMetrics?, handOffCapacity: Int = 4096) {
        self.queue = queue
        self.metrics = metrics
        self.handOffCapacity = handOffCapacity
        pushesThroughFeeder = queue.prefersFeederThread
    }

    func offer(
        _ events: [Event], acknowledgement: InputAcknowledgement?, onQueued: (@Sendable () -> Void)?,
        resume: @escaping @Sendable () -> Void
    ) -> Bool {
        madeHandOff().offer(events, acknowledgement: acknowledgement, onQueued: onQueued, resume: resume)
    }

    private func madeHandOff() -> InputHandOff {
        lock.withLock { () -> InputHandOff in
            if let handOff = self.handOff { return handOff }
            let made = InputHandOff(queue: queue, metrics: metrics, capacity: handOffCapacity)
            self.handOff = made
            return made
        }
    }

    /// The input has returned: whatever it offered is pushed into the queue before the pipeline counts it ended.
    func finish() {
        lock.withLock { handOff }?.finish()
    }

    var undecodedLinesLimit: Int? { queue.undecodedLinesLimit }

    func push(_ event: Event) { push([event], acknowledgement: nil) }
    func push(contentsOf events: [Event]) { push(events, acknowledgement: nil) }
    func push(contentsOf events: [Event], acknowledgement: InputAcknowledgement) { push(events, acknowledgement: acknowledgement) }
    func pushQueued(contentsOf events: [Event]) { queue.push(events, acknowledgement: nil, metrics: metrics) }

    private func push(_ events: [Event], acknowledgement: InputAcknowledgement?) {
        if pushesThroughFeeder {
            madeHandOff().hand(events, acknowledgement: acknowledgement)
        } else {
            queue.push(events, acknowledgement: acknowledgement, metrics: metrics)
        }
    }
}

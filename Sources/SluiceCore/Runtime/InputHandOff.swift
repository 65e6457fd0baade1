/// The bounded buffer between an input and the pipeline's queue, whose `push` blocks: one feeder thread pushes
/// what is handed over into the queue.
///
/// Event-loop threads `offer` events and never wait. Past `capacity` waiting events an offer answers "stop
/// reading" and keeps the caller's `resume`, which the feeder runs once the buffer has drained to half: a full
/// queue so pauses the sockets, and TCP back-pressure reaches the senders, while memory stays bounded by `capacity`
/// plus one read per connection. Inputs with threads of their own `hand` events over when the queue's push is
/// the costly part (the persisted queue): they wait only while `capacity` events are waiting, so their next read
/// overlaps the feeder's serialising and writing. Acknowledgements travel with the events and complete when the
/// queue has them, as with a direct push.
final class InputHandOff: @unchecked Sendable {
    private struct Entry {
        let events: [Event]
        let acknowledgement: InputAcknowledgement?
        let onQueued: (@Sendable () -> Void)?
    }

    private let queue: any PipelineQueue
    private let metrics: PluginMetrics?
    private let capacity: Int
    /// Guards what follows; condition 0: something to push (the feeder waits), 1: room (`hand` waits).
    private let state = Lock(conditions: 2)
    private static let pendingCondition = 0
    private static let roomCondition = 1
    /// The most events one joined push carries (the persisted queue keeps the last 2,048 or more written in memory
    /// for workers that keep up: a larger push would send them to the disk for the rest).
    private static let joinLimit = 512
    // Guarded by `state`.
    private var pending: [Entry] = []
    private var pendingEvents = 0
    private var resumers: [@Sendable () -> Void] = []
    private var finished = false
    private var feeder: Thread?

    init(queue: any PipelineQueue, metrics: PluginMetrics?, capacity: Int) {
        self.queue = queue
        self.metrics = metrics
        self.capacity = max(1, capacity)
    }

    /// Called on event-loop threads; see `EventSink.offer`.
    func offer(
        _ events: [Event], acknowledgement: InputAcknowledgement?, onQueued: (@Sendable () -> Void)?,
        resume: @escaping @Sendable () -> Void
    ) -> Bool {
        // nil: no feeder thread could be started.
        let accepted = state.withLock { () -> Bool? in
            guard startFeeder() else { return nil }
            append(Entry(events: events, acknowledgement: acknowledgement, onQueued: onQueued))
            guard pendingEvents >= capacity else { return true }
            resumers.append(resume)
            return false
        }
        guard let accepted else {
            // Without a feeder the events are pushed here, blocking the caller while the queue is full, rather than lost.
            queue.push(events, acknowledgement: acknowledgement, metrics: metrics)
            onQueued?()
            return true
        }
        return accepted
    }

    /// Called on an input's own thread: hands `events` to the feeder, first waiting while `capacity` events are
    /// waiting to be pushed. Once the hand-off is finished (or without a feeder) the caller pushes them itself.
    func hand(_ events: [Event], acknowledgement: InputAcknowledgement?) {
        let handed = state.withLock { () -> Bool in
            while pendingEvents >= capacity && !finished { state.wait(InputHandOff.roomCondition) }
            guard !finished, startFeeder() else { return false }
            append(Entry(events: events, acknowledgement: acknowledgement, onQueued: nil))
            return true
        }
        if !handed { queue.push(events, acknowledgement: acknowledgement, metrics: metrics) }
    }

    /// Starts the feeder on first use; false when no thread could be started (the caller pushes itself).
    /// Called under `state`.
    private func startFeeder() -> Bool {
        guard feeder == nil else { return true }
        do {
            feeder = try Thread(name: "input-handoff") { [self] in feed() }
            return true
        } catch {
            Logger("pipeline").rateLimited(.error, key: "input-handoff", "\(error); the input pushes into the queue itself")
            return false
        }
    }

    /// Called under `state`.
    private func append(_ entry: Entry) {
        pending.append(entry)
        pendingEvents += entry.events.queueWeight
        state.signal(InputHandOff.pendingCondition)
    }

    /// Pushes what is left and stops the feeder; called on the input's thread once it has returned.
    func finish() {
        let thread = state.withLock { () -> Thread? in
            finished = true
            state.broadcast(InputHandOff.pendingCondition)
            state.broadcast(InputHandOff.roomCondition)
            return feeder
        }
        thread?.join()
        for resume in state.withLock({ () -> [@Sendable () -> Void] in defer { resumers = [] }; return resumers }) { resume() }
    }

    /// The feeder thread: takes everything waiting, pushes it (blocking while the queue is full), then wakes the
    /// paused sources once the buffer is down to half.
    private func feed() {
        while let entries = nextEntries() {
            var pushed = 0
            var start = 0
            while start < entries.count {
                pushed += push(entries, from: &start)
            }
            let wake = state.withLock { () -> [@Sendable () -> Void] in
                pendingEvents -= pushed
                if pendingEvents < capacity { state.broadcast(InputHandOff.roomCondition) }
                guard pendingEvents <= capacity / 2, !resumers.isEmpty else { return [] }
                defer { resumers = [] }
                return resumers
            }
            for resume in wake { resume() }
        }
    }

    private func nextEntries() -> [Entry]? {
        state.withLock {
            while pending.isEmpty && !finished { state.wait(InputHandOff.pendingCondition, milliseconds: 1000) }
            if pending.isEmpty { return nil }
            defer { pending = [] }
            return pending
        }
    }

    /// Pushes `entries[start]`, joined with the entries after it that carry no acknowledgement (one queue push for
    /// many small offers, such as one datagram each), then runs their `onQueued`. Returns the events pushed.
    private func push(_ entries: [Entry], from start: inout Int) -> Int {
        var end = start + 1
        var events = entries[start].events
        if entries[start].acknowledgement == nil {
            while end < entries.count && entries[end].acknowledgement == nil && events.count + entries[end].events.count <= InputHandOff.joinLimit {
                events += entries[end].events
                end += 1
            }
        }
        if !queue.push(events, acknowledgement: entries[start].acknowledgement, metrics: metrics) {
            Logger("pipeline").error("The queue closed while an input still had \(events.count) events to push; they are lost")
        }
        for entry in entries[start..<end] { entry.onQueued?() }
        start = end
        return events.queueWeight
    }
}

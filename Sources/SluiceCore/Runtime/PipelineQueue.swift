import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The queue between a pipeline's inputs and its workers (`queue.type`): `MemoryQueue` or `PersistedQueue`.
///
/// Inputs push on their own threads and block while the queue is full (back-pressure). Workers take batches and
/// acknowledge each one once every output has finished with every event in it; a batch that is not acknowledged
/// (an output kept some of its events for later) stays unacknowledged: the persisted queue redelivers it after a
/// restart, and an input's source is never told its events are safe.
public protocol PipelineQueue: AnyObject, Sendable {
    /// Accepts `events`, blocking while the queue is full. `acknowledgement`, when given, is completed once the
    /// events are safe: written to disk (persisted queue) or acknowledged by the workers (memory queue).
    /// Returns false when the queue closed before every event was accepted.
    @discardableResult
    func push(_ events: [Event], acknowledgement: InputAcknowledgement?, metrics: PluginMetrics?) -> Bool
    /// Takes up to `max` events: waits for the first indefinitely (until closed), then up to `delayMillis` for
    /// more. Nil once the queue is closed and nothing is left to take.
    func take(max: Int, delayMillis: Int) -> QueueBatch?
    /// Takes up to `max` events, waiting at most `waitMillis` for the first and not at all for more; nil when none
    /// came (a worker with output deliveries in flight looks at them between these short waits).
    func take(max: Int, waitMillis: Int) -> QueueBatch?
    /// Closed, and nothing is left that a worker would take.
    var isDrained: Bool { get }
    /// Every output is done with every event of `batch`.
    func acknowledge(_ batch: QueueBatch)
    /// No more pushes (the inputs have ended). Workers drain what is left, as far as `drainsOnClose` says.
    func close()
    /// Whether workers drain every remaining event after `close` (memory: always; persisted: `queue.drain`).
    var drainsOnClose: Bool { get }
    /// Releases files and locks, after the workers have stopped.
    func shutdown()
    /// What the queue holds now, for the monitoring API and the ledger.
    var snapshot: QueueSnapshot { get }
    /// The most lines one `UndecodedLines` entry may hold (a batch), or nil when the queue takes decoded events
    /// only (the persisted queue, which writes them out).
    var undecodedLinesLimit: Int? { get }
    /// Whether an input's own pushes go through a feeder thread (`InputHandOff.hand`) instead of into `push`
    /// directly: true where a push costs much more than making the events (the persisted queue serialises,
    /// checksums and writes them), so that cost overlaps the input's next read instead of adding to it.
    var prefersFeederThread: Bool { get }
}

extension PipelineQueue {
    public var undecodedLinesLimit: Int? { nil }
    public var prefersFeederThread: Bool { false }
}

/// A batch taken from a queue: the events as they were taken, and where they came from for the acknowledgement.
public struct QueueBatch {
    /// The events in queue order, exactly as taken (filters may cancel some or add others later).
    public let events: [Event]
    /// The persisted queue's page and first sequence number (unused by the memory queue).
    let page: Int
    let firstSequence: Int64
    /// How many sequence numbers the batch covers (elements that could not be read are in the range, not in
    /// `events`).
    let sequenceCount: Int
    /// Whether some event waits for an input acknowledgement (memory queue).
    let hasAcknowledgements: Bool
    /// Whether some entry is `UndecodedLines` a worker must decode first (memory queue).
    let hasUndecoded: Bool

    init(
        events: [Event], page: Int = -1, firstSequence: Int64 = 0, sequenceCount: Int = 0, hasAcknowledgements: Bool = false,
        hasUndecoded: Bool = false
    ) {
        self.events = events
        self.hasUndecoded = hasUndecoded
        self.page = page
        self.firstSequence = firstSequence
        self.sequenceCount = sequenceCount
        self.hasAcknowledgements = hasAcknowledgements
    }
}

/// What the queue holds at one moment (`/_node/stats/pipelines/<id>` → `queue`).
public struct QueueSnapshot: Sendable {
    public var type: String
    /// Events written and not yet taken by a worker (Logstash's `events_count`).
    public var unread: Int
    /// Events written and not yet acknowledged (taken or not).
    public var unacknowledged: Int
    /// Bytes written to the live pages (persisted queue; Logstash's `queue_size_in_bytes`).
    public var persistedBytes: Int64 = 0
    public var maxBytes: Int64 = 0
    public var maxUnread: Int = 0
    public var pageCapacity: Int = 0
    /// The queue directory (persisted queue).
    public var path: String? = nil
    /// Unacknowledged events found in the queue when it was opened (replayed from a previous run).
    public var recovered: Int = 0
    /// The last error that stopped intake (full disk), nil when writing works.
    public var lastError: String? = nil

    public init(type: String, unread: Int, unacknowledged: Int) {
        self.type = type
        self.unread = unread
        self.unacknowledged = unacknowledged
    }
}

/// What an output made of one event. Ordered: an event several outputs handled keeps the strongest fate.
public enum EventFate: UInt8, Comparable, Sendable {
    /// Handed on (written, sent, accepted).
    case delivered
    /// Dropped on purpose (an Elasticsearch 409 conflict, an event with nothing to send).
    case dropped
    /// Written to the dead letter queue instead.
    case deadLettered
    /// Not done: the output could not deliver it before shutdown. Its batch is not acknowledged, so the persisted
    /// queue redelivers it after a restart.
    case retryLater

    public static func < (a: EventFate, b: EventFate) -> Bool { a.rawValue < b.rawValue }
}

/// What an output reports for one batch: nothing in the usual case (every event delivered), otherwise the events
/// that met another fate.
public struct OutputOutcome: Sendable {
    /// Every event delivered.
    public static let delivered = OutputOutcome()

    /// The events that were not simply delivered, with their fate.
    public private(set) var exceptions: [(event: Event, fate: EventFate)] = []

    public init() {}

    /// Every event of `events` met `fate`.
    public init(_ events: [Event], _ fate: EventFate) {
        if fate != .delivered { exceptions = events.map { ($0, fate) } }
    }

    /// Records that `event` met `fate` (delivered needs no record).
    public mutating func record(_ event: Event, _ fate: EventFate) {
        if fate != .delivered { exceptions.append((event, fate)) }
    }

    /// Whether every event was delivered.
    public var allDelivered: Bool { exceptions.isEmpty }
}

/// One input push waiting for its events to be safe (memory queue: acknowledged by the workers). Completed from
/// worker threads; `onSafe` runs once, on the thread that acknowledges the last event.
public final class InputAcknowledgement: @unchecked Sendable {
    private let remaining: Atomic<Int>
    private let onSafe: @Sendable () -> Void

    public init(events: Int, onSafe: @escaping @Sendable () -> Void) {
        remaining = Atomic(events)
        self.onSafe = onSafe
    }

    /// `count` more events are safe.
    func complete(_ count: Int) {
        if remaining.subtract(count, ordering: .acquiringAndReleasing).newValue == 0 { onSafe() }
    }
}

/// Keeps the positions an input has pushed, in push order, and tells which one is the furthest that is safe with
/// everything before it safe too: acknowledgements arrive out of order from several workers, and a source may only
/// be told about a contiguous prefix (a DLQ read offset, a file position, a Kafka offset). Thread-safe.
public final class AcknowledgementTracker<Position: Sendable>: @unchecked Sendable {
    private let lock = Lock()
    private var pending: [(id: Int, position: Position, safe: Bool)] = []
    private var nextID = 0
    private var safePosition: Position?

    public init() {}

    /// Registers a push that reaches `position`; complete the returned acknowledgement when it is safe.
    public func register(_ position: Position, events: Int) -> InputAcknowledgement {
        let id = lock.withLock { () -> Int in
            defer { nextID += 1 }
            pending.append((nextID, position, false))
            return nextID
        }
        return InputAcknowledgement(events: events) { [weak self] in self?.markSafe(id) }
    }

    /// Registers a position reached with no event to wait for (a Kafka record the codec made nothing of): it
    /// becomes safe as soon as everything registered before it is.
    public func registerSafe(_ position: Position) {
        lock.withLock {
            defer { nextID += 1 }
            pending.append((nextID, position, true))
            advanceSafePrefix()
        }
    }

    private func markSafe(_ id: Int) {
        lock.withLock {
            guard let i = pending.firstIndex(where: { $0.id == id }) else { return }
            pending[i].safe = true
            advanceSafePrefix()
        }
    }

    /// Under `lock`: drops the safe prefix of `pending`, remembering its last position.
    private func advanceSafePrefix() {
        var n = 0
        while n < pending.count && pending[n].safe { n += 1 }
        if n > 0 {
            safePosition = pending[n - 1].position
            pending.removeFirst(n)
        }
    }

    /// The furthest position with everything before it safe, nil when none is yet.
    public var safe: Position? { lock.withLock { safePosition } }

    /// Pushes whose events are not all safe yet.
    public var outstanding: Int { lock.withLock { pending.count } }
}

/// The lock and the two conditions a bounded queue waits on (`notEmpty` for workers, `notFull` for inputs), timed
/// on the monotonic clock. Used by both queues, from input and worker threads.
final class QueueMonitor {
    let lock = Lock(conditions: 2)
    static let notEmpty = 0
    static let notFull = 1
    /// Set once by `close`; read under `lock`.
    var closed = false

    /// A worker's short wait for a first event (the caller holds `lock`): until `isEmpty` is false, the queue closes
    /// or `waitMillis` have passed.
    func waitForFirst(waitMillis: Int, isEmpty: () -> Bool) {
        let deadline = Clock.deadline(afterMillis: waitMillis)
        while isEmpty() && !closed {
            if !lock.wait(QueueMonitor.notEmpty, until: deadline) { return }
        }
    }

    /// No more pushes (under the lock): every waiting input and worker wakes up and sees `closed`.
    func close() {
        lock.withLock {
            closed = true
            lock.broadcast(QueueMonitor.notEmpty)
            lock.broadcast(QueueMonitor.notFull)
        }
    }
}

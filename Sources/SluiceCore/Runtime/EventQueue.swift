#if canImport(Glibc)
import Glibc
#endif

/// The bounded in-memory queue between a pipeline's inputs and its workers (Logstash's memory queue).
///
/// Inputs block in `push` while it is full, which is how a slow output pushes back on the inputs; workers take
/// batches of up to `batchSize`, waiting at most `batchDelay` for a batch to fill once the first event is there.
public final class EventQueue: EventSink, @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var notEmpty = pthread_cond_t()
    private var notFull = pthread_cond_t()
    private var buffer: [Event?]
    private var head = 0
    private var count = 0
    private var closed = false
    public let capacity: Int
    let metrics: PipelineMetrics?

    public init(capacity: Int, metrics: PipelineMetrics? = nil) {
        self.capacity = max(1, capacity)
        buffer = [Event?](repeating: nil, count: self.capacity)
        self.metrics = metrics
        pthread_mutex_init(&mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(&notEmpty, &attr)
        pthread_cond_init(&notFull, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_mutex_destroy(&mutex)
        pthread_cond_destroy(&notEmpty)
        pthread_cond_destroy(&notFull)
    }

    /// Events waiting.
    public var size: Int {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return count
    }

    public func push(_ event: Event) {
        push(contentsOf: CollectionOfOne(event))
    }

    public func push(contentsOf events: [Event]) {
        push(contentsOf: events[...])
    }

    func push<C: Collection<Event>>(contentsOf events: C, input: PluginMetrics? = nil) {
        let started = Clock.nanoseconds()
        pthread_mutex_lock(&mutex)
        var it = events.makeIterator()
        var pending = it.next()
        while pending != nil {
            while count == capacity && !closed { pthread_cond_wait(&notFull, &mutex) }
            if closed { break }
            while let e = pending, count < capacity {
                buffer[(head + count) % capacity] = e
                count += 1
                pending = it.next()
            }
            pthread_cond_signal(&notEmpty)
        }
        pthread_mutex_unlock(&mutex)
        if let metrics {
            metrics.eventsIn.add(events.count, ordering: .relaxed)
            let elapsed = Clock.nanoseconds() - started
            metrics.queuePushNanos.add(elapsed, ordering: .relaxed)
            input?.recordPushed(events.count, nanoseconds: elapsed)
        }
    }

    /// Takes up to `max` events. Waits for the first one indefinitely (until closed), then up to `delayMillis` for
    /// more. Returns an empty array only when the queue is closed and drained.
    public func take(max: Int, delayMillis: Int) -> [Event] {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while count == 0 && !closed { pthread_cond_wait(&notEmpty, &mutex) }
        if count < max && !closed && delayMillis > 0 {
            var deadline = timespec()
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            deadline.tv_nsec += delayMillis * 1_000_000
            deadline.tv_sec += deadline.tv_nsec / 1_000_000_000
            deadline.tv_nsec %= 1_000_000_000
            while count < max && !closed {
                if pthread_cond_timedwait(&notEmpty, &mutex, &deadline) == ETIMEDOUT { break }
            }
        }
        let n = Swift.min(max, count)
        var batch: [Event] = []
        batch.reserveCapacity(n)
        for _ in 0..<n {
            batch.append(buffer[head]!)
            buffer[head] = nil
            head = (head + 1) % capacity
        }
        count -= n
        if n > 0 { pthread_cond_broadcast(&notFull) }
        if count > 0 { pthread_cond_signal(&notEmpty) }
        return batch
    }

    /// No more pushes: wakes every waiting worker so they drain what is left and stop.
    public func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&notEmpty)
        pthread_cond_broadcast(&notFull)
        pthread_mutex_unlock(&mutex)
    }
}

/// The queue as one input sees it: what it pushes also counts as that input's `events.out`.
final class InputSink: EventSink, @unchecked Sendable {
    let queue: EventQueue
    let metrics: PluginMetrics?

    init(queue: EventQueue, metrics: PluginMetrics?) {
        self.queue = queue
        self.metrics = metrics
    }

    func push(_ event: Event) { queue.push(contentsOf: CollectionOfOne(event), input: metrics) }
    func push(contentsOf events: [Event]) { queue.push(contentsOf: events[...], input: metrics) }
}

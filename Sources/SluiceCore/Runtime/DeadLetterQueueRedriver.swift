/// The automatic redrive of one running pipeline (`dead_letter_queue.redrive.automatic: true`): a thread that looks
/// through the pipeline's DLQ every `checkInterval`, sends each transient failure whose backoff has passed back into
/// the pipeline (`RedrivePolicy.decide`), and moves entries whose attempts are used up to the archive. Permanent
/// failures stay for an operator. Started and stopped by the pipeline; `tick(now:)` is also called by tests with an
/// injected clock.
final class DeadLetterQueueRedriver: @unchecked Sendable {
    let policy: RedrivePolicy
    private unowned let pipeline: Pipeline
    private let writer: DeadLetterQueue
    private let clock: @Sendable () -> Timestamp
    private let seed: UInt64
    private let logger: Logger
    private var thread: PeriodicThread?
    /// When the timer thread may look through the queue again (monotonic nanoseconds); its own.
    private var notBefore = 0

    /// What one look through the queue did.
    struct Tick: Equatable {
        var redriven = 0
        var archived = 0
        /// The earliest time a waiting transient entry becomes due.
        var nextDue: Timestamp?
    }

    init(pipeline: Pipeline, writer: DeadLetterQueue, policy: RedrivePolicy,
         clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() }, seed: UInt64 = UInt64.random(in: 0...UInt64.max)) {
        self.pipeline = pipeline
        self.writer = writer
        self.policy = policy
        self.clock = clock
        self.seed = seed
        logger = Logger("deadletterqueue.redrive", pipelineID: pipeline.settings.id)
    }

    /// How often the queue is looked through: a quarter of the base delay, between 200 ms and 5 s.
    var checkIntervalMilliseconds: Int { min(max(policy.baseDelayMilliseconds / 4, 200), 5_000) }

    func start() {
        // A look through a large queue costs a scan of it: the next one waits at least ten times as long as this
        // one took, so the redriver stays under a tenth of a core however large the queue grows.
        let timer = PeriodicThread(intervalMilliseconds: checkIntervalMilliseconds) { [weak self] in
            guard let self, Clock.nanoseconds() >= self.notBefore else { return }
            let started = Clock.nanoseconds()
            _ = self.tick(now: self.clock())
            self.notBefore = started + 10 * (Clock.nanoseconds() - started)
        }
        do {
            try timer.start(name: "[\(pipeline.settings.id)]dlq-redrive")
            thread = timer
            logger.info("Automatic redrive of transient failures is on {max_attempts=>\(policy.maxAttempts), base_delay=>\(policy.baseDelayMilliseconds)ms, max_delay=>\(policy.maxDelayMilliseconds)ms}")
        } catch {
            logger.error("Cannot start the automatic redrive thread: \(error); entries can still be redriven by hand")
        }
    }

    func stop() {
        thread?.stop()
        thread = nil
    }

    /// Redrives what is due at `now` and archives what is exhausted.
    @discardableResult
    func tick(now: Timestamp) -> Tick {
        var result = Tick()
        var exhausted: [(DeadLetterQueueEntryID, DeadLetterQueueEntry)] = []
        result.redriven = pipeline.redrive { id, entry in
            let jitter = RedrivePolicy.jitter(for: id, attempts: entry.attempts, seed: seed)
            switch policy.decide(entry, kind: FailureKind(entry), jitter: jitter, now: now) {
            case .redrive:
                return true
            case .archive:
                exhausted.append((id, entry))
            case .wait(let due):
                if result.nextDue.map({ due < $0 }) ?? true { result.nextDue = due }
            case .keep:
                break
            }
            return false
        }
        result.archived = archive(exhausted)
        if result.redriven > 0 || result.archived > 0 {
            logger.info("Redrove \(result.redriven) transient failures; archived \(result.archived) entries whose \(policy.maxAttempts) attempts were used up")
        }
        return result
    }

    /// Moves `entries` to the archive, removing each one the archive took; returns how many.
    private func archive(_ entries: [(DeadLetterQueueEntryID, DeadLetterQueueEntry)]) -> Int {
        guard !entries.isEmpty else { return 0 }
        let moved = entries.filter { writer.archive($0.1) }.map(\.0)
        do {
            try DeadLetterQueueAdmin(directory: writer.directory).markRemoved(moved)
        } catch {
            logger.error("Archived entries could not be removed from the dead letter queue (they are in both): \(error)")
        }
        return moved.count
    }
}

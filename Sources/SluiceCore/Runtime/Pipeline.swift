#if canImport(Glibc)
import Glibc
#endif

/// The runtime settings of one pipeline (`pipeline.*`), already validated.
public struct PipelineRuntimeSettings: Sendable {
    public var id: String
    public var workers: Int
    public var batchSize: Int
    public var batchDelayMillis: Int

    public init(id: String = "main", workers: Int = System.cpuCount, batchSize: Int = 125, batchDelayMillis: Int = 50) {
        self.id = id
        self.workers = workers
        self.batchSize = batchSize
        self.batchDelayMillis = batchDelayMillis
    }
}

/// A running pipeline: input threads feeding a bounded queue, and workers moving batches through the program.
///
/// Lifecycle: `start()`, then either every input finishes (the pipeline drains and stops by itself) or `stop()`
/// asks the inputs to stop and drains what is in flight. `wait()` blocks until the workers are done and the
/// outputs closed.
public final class Pipeline: @unchecked Sendable {
    public let settings: PipelineRuntimeSettings
    public let program: PipelineProgram
    /// The memory queue, or the persisted queue once `openQueue()` opened it.
    public private(set) var queue: any PipelineQueue
    /// `queue.type: persisted`: the queue `openQueue()` opens (nil: memory).
    public let persistedQueueSettings: PersistedQueueSettings?
    /// Where every event went (in = out + in flight), always counted.
    public let ledger = PipelineLedger()
    let shutdown: ShutdownFlag
    let logger: Logger
    /// Guards the variables below it; its condition is "finished or launched changed".
    private let lock = Lock(conditions: 1)
    private var threads: [Thread] = []
    private var runningInputs = 0
    private var runningWorkers = 0
    /// `start()` was called; it has returned once `launched` is set.
    private var started = false
    private var launched = false
    private var deadLetterQueueStorage: DeadLetterQueue?
    /// The writer was lent to the pipeline replacing this one (`lendDeadLetterQueue`): this one no longer closes it.
    private var deadLetterQueueLent = false
    /// `finish()` has decided who closes the writer: it can no longer be lent.
    private var closingDeadLetterQueue = false

    /// The pipeline's DLQ writer when enabled; sealed and closed after the outputs, unless a reload took it over.
    public var deadLetterQueue: DeadLetterQueue? {
        get { lock.withLock { deadLetterQueueStorage } }
        set { lock.withLock { deadLetterQueueStorage = newValue } }
    }

    /// Hands the DLQ writer over to the pipeline that will replace this one: from now on this pipeline does not
    /// close it. Nil when there is none, or when this pipeline has already begun to close it (it ended meanwhile):
    /// the new pipeline then opens the directory afresh. `reclaimDeadLetterQueue` undoes it when the new pipeline
    /// does not come.
    func lendDeadLetterQueue() -> DeadLetterQueue? {
        lock.withLock {
            guard let writer = deadLetterQueueStorage, !closingDeadLetterQueue else { return nil }
            deadLetterQueueLent = true
            return writer
        }
    }

    /// Takes back a writer `lendDeadLetterQueue` handed out; closes it when this pipeline ended meanwhile.
    func reclaimDeadLetterQueue() {
        let closeNow = lock.withLock { () -> DeadLetterQueue? in
            guard deadLetterQueueLent else { return nil }
            deadLetterQueueLent = false
            return closingDeadLetterQueue ? deadLetterQueueStorage : nil
        }
        closeNow?.close()
    }

    /// Called once when the pipeline has fully stopped.
    public var onFinished: (@Sendable () -> Void)?
    /// SHA-256 of the config text: the API's `hash`, and how a reload tells a changed pipeline.
    public var configHash = ""
    /// A random id for this run of the pipeline (the API's `ephemeral_id`); a reload gets a new one.
    public let ephemeralID = randomUUID()
    /// `dead_letter_queue.warn_entries` / `critical_entries`: entry counts that raise the DLQ alert level.
    public var deadLetterQueueThresholds: (warn: Int?, critical: Int?) = (nil, nil)
    /// `dead_letter_queue.redrive.*`: the retry policy of this pipeline's DLQ.
    public var redrivePolicy = RedrivePolicy()
    /// DLQ entries whose events were redriven into this pipeline and are not safe yet.
    let redrivesInFlight = RedrivesInFlight()
    /// The same for entries redriven from the archive.
    let archiveRedrivesInFlight = RedrivesInFlight()
    /// The automatic redrive thread, while the pipeline runs with `redrivePolicy.automatic`; guarded by `lock`.
    private var redriver: DeadLetterQueueRedriver?
    /// Rates over the pipeline's counters (the API's `flow`); the agent captures them every 5 s.
    public let flow: PipelineFlow
    /// What the persisted queue's flow metrics read, attached when the queue opens.
    private let persistedQueueGauges = PersistedQueueGauges()
    private var alertLevel = DeadLetterQueueAlert.green
    private var finished = false

    /// Whether every worker has stopped and the plugins are closed.
    public var isFinished: Bool { lock.withLock { finished } }

    /// The DLQ's occupancy and alert level (nil when the DLQ is off). A change of level is logged once, when it
    /// happens: the agent checks periodically and every API read checks too.
    public func deadLetterQueueStatus() -> (occupancy: DeadLetterQueueOccupancy, alert: DeadLetterQueueAlert)? {
        guard let dlq = deadLetterQueue else { return nil }
        let occupancy = dlq.occupancy
        let (warn, critical) = deadLetterQueueThresholds
        let level = DeadLetterQueueAlert(entries: occupancy.entries, warnEntries: warn, criticalEntries: critical)
        let previous = lock.withLock { () -> DeadLetterQueueAlert in
            defer { alertLevel = level }
            return alertLevel
        }
        if level > previous {
            let limit = level == .red ? "dead_letter_queue.critical_entries (\(critical ?? 0))" : "dead_letter_queue.warn_entries (\(warn ?? 0))"
            logger.log(level == .red ? .error : .warn,
                       "The dead letter queue holds \(occupancy.entries) entries, reaching \(limit); status \(level.rawValue)")
        } else if level < previous {
            logger.info("The dead letter queue holds \(occupancy.entries) entries; status back to \(level.rawValue)")
        }
        return (occupancy, level)
    }

    public init(
        settings: PipelineRuntimeSettings, program: PipelineProgram, shutdown: ShutdownFlag,
        persistedQueue: PersistedQueueSettings? = nil
    ) {
        self.settings = settings
        self.program = program
        self.shutdown = shutdown
        persistedQueueSettings = persistedQueue
        queue = MemoryQueue(
            capacity: settings.workers * settings.batchSize, undecodedLinesLimit: settings.batchSize, metrics: program.collectsMetrics ? program.metrics : nil, ledger: ledger)
        logger = Logger("pipeline", pipelineID: settings.id)
        flow = PipelineFlow(
            metrics: program.metrics, workers: settings.workers, startNanos: Clock.nanoseconds(),
            persistedQueue: persistedQueue == nil ? nil : persistedQueueGauges)
    }

    /// Opens the persisted queue (`queue.type: persisted`), recovering what a previous run left; a no-op for the
    /// memory queue. Called before `start`, once any earlier pipeline on the same queue has stopped.
    public func openQueue() throws(PersistedQueueError) {
        guard let persistedQueueSettings, queue is MemoryQueue else { return }
        queue = try PersistedQueue(
            settings: persistedQueueSettings, cacheLimit: max(2048, 4 * settings.workers * settings.batchSize), ledger: ledger,
            metrics: program.collectsMetrics ? program.metrics : nil, logger: Logger("queue", pipelineID: settings.id))
        persistedQueueGauges.attach(queue)
        let snapshot = queue.snapshot
        if snapshot.unacknowledged > 0 {
            logger.info("The persisted queue at \(persistedQueueSettings.directory) holds \(snapshot.unacknowledged) unacknowledged events from an earlier run; they are delivered first")
        }
    }

    /// Starts inputs and workers. A thread the system refuses to create is logged: the pipeline runs with the
    /// workers it got, without the inputs it could not start, and ends at once when it got no worker.
    public func start() {
        logger.info(
            "Starting pipeline {\"pipeline.workers\"=>\(settings.workers), \"pipeline.batch.size\"=>\(settings.batchSize), \"pipeline.batch.delay\"=>\(settings.batchDelayMillis)}"
        )
        flow.capture(at: Clock.nanoseconds())  // the lifetime baseline
        lock.withLock {
            started = true
            runningWorkers = settings.workers
            runningInputs = program.inputs.count
        }
        var workers = 0
        for w in 0..<settings.workers {
            do {
                let thread = try Thread(name: "[\(settings.id)]>worker\(w)") { [self] in self.workerLoop() }
                lock.withLock { threads.append(thread) }
                workers += 1
            } catch {
                logger.error("Cannot start worker \(w): \(error)")
            }
        }
        if workers == 0 {
            // Nothing would take from the queue: the inputs are not started and the pipeline ends here.
            lock.withLock {
                runningWorkers = 0
                runningInputs = 0
            }
            queue.close()
            finish()
        } else if workers < settings.workers {
            let last = lock.withLock { () -> Bool in
                runningWorkers -= settings.workers - workers
                return runningWorkers == 0
            }
            if last { finish() }
        }
        if workers > 0 {
            if program.inputs.isEmpty { queue.close() }
            for input in program.inputs {
                let plugin = input.instance as! any Input
                do {
                    let thread = try Thread(name: "[\(settings.id)]<\(input.name)") { [self] in self.runInput(plugin, input) }
                    lock.withLock { threads.append(thread) }
                } catch {
                    logger.error("A plugin could not be started: \(input.name) (\(input.id)): \(error)")
                    inputEnded()
                }
            }
        }
        if workers > 0 { startRedriver() }
        lock.withLock {
            launched = true
            lock.broadcast()
        }
        logger.info("Pipeline started")
    }

    /// Starts the automatic redrive when the policy asks for it and the DLQ is on.
    private func startRedriver() {
        guard redrivePolicy.automatic, let writer = deadLetterQueue else { return }
        let r = DeadLetterQueueRedriver(pipeline: self, writer: writer, policy: redrivePolicy)
        lock.withLock { redriver = r }
        r.start()
    }

    private func stopRedriver() {
        let r = lock.withLock { () -> DeadLetterQueueRedriver? in
            defer { redriver = nil }
            return redriver
        }
        r?.stop()
    }

    private func runInput(_ input: any Input, _ built: BuiltPlugin) {
        let sink = InputSink(
            queue: queue, metrics: built.collectsMetrics ? program.metrics.plugins[built.id] : nil,
            handOffCapacity: input.handOffCapacity ?? max(1024, settings.batchSize * settings.workers * 2))
        do {
            try input.run(sink)
        } catch {
            logger.error("A plugin had an unrecoverable error: \(built.name) (\(built.id)): \(error)")
        }
        sink.finish()
        inputEnded()
    }

    /// One input has ended; the last one closes the queue, so the workers drain it and stop.
    private func inputEnded() {
        let last = lock.withLock { () -> Bool in
            runningInputs -= 1
            return runningInputs == 0
        }
        if last { queue.close() }
    }

    private func workerLoop() {
        runBatches()
        let last = lock.withLock { () -> Bool in
            runningWorkers -= 1
            return runningWorkers == 0
        }
        if last { finish() }
    }

    /// Runs once, on the last worker to stop: every input has ended and the queue is drained, so the plugins
    /// are closed now — a `pipeline` output closing here is what lets downstream pipelines end.
    private func finish() {
        stopRedriver()
        program.close()
        queue.shutdown()
        for p in program.inputs { p.instance.close() }
        let owned = lock.withLock { () -> DeadLetterQueue? in
            closingDeadLetterQueue = true
            return deadLetterQueueLent ? nil : deadLetterQueueStorage
        }
        owned?.close()
        reportUndelivered()
        lock.withLock {
            finished = true
            lock.broadcast()
        }
        logger.info("Pipeline terminated")
        onFinished?()
    }

    /// Undelivered events at the end: kept in the persisted queue for the next start, or lost with the memory
    /// queue. Either way the log says how many.
    private func reportUndelivered() {
        let undelivered = ledger.undelivered.load(ordering: .relaxed)
        guard undelivered > 0 else { return }
        if persistedQueueSettings != nil {
            logger.warn("\(undelivered) events could not be delivered before shutdown; they stay in the persisted queue for the next start")
        } else {
            logger.error("\(undelivered) events could not be delivered before shutdown and are lost (memory queue; queue.type: persisted keeps them)")
        }
    }

    /// Runs one batch through filters and outputs without a queue (tests and benchmarks).
    public func process(_ batch: [Event]) {
        ledger.processing.add(batch.count, ordering: .relaxed)
        _ = settle(start(QueueBatch(events: batch), defersDeliveries: false))
    }

    /// Batches a worker keeps in flight at most (pipelined outputs): enough to hide a broker's round trip, few
    /// enough that a crash re-reads little.
    static let maxBatchesInFlight = 8

    /// Takes batches and runs them. While pipelined outputs have deliveries in flight the worker keeps taking the
    /// batches that come (its intake never waits on a broker), finishing deliveries in order as they settle: the
    /// oldest at once when the window is full or the queue has ended, else between waits of at most 10 ms.
    private func runBatches() {
        var window: [InFlightBatch] = []
        while true {
            let next = window.isEmpty
                ? queue.take(max: settings.batchSize, delayMillis: settings.batchDelayMillis)
                : queue.take(max: settings.batchSize, waitMillis: 10)
            if let batch = next {
                let running = start(batch, defersDeliveries: true)
                if running.counts.inFlight.isEmpty { finish(running) } else { window.append(running) }
            } else if window.isEmpty {
                return
            } else if queue.isDrained {
                finish(window.removeFirst())
            }
            while let oldest = window.first, window.count > Self.maxBatchesInFlight || oldest.isSettled {
                finish(window.removeFirst())
            }
        }
    }

    /// A batch between its filters and the end of its outputs' deliveries.
    struct InFlightBatch {
        let batch: QueueBatch
        let survivors: [Event]
        var counts: BatchLedger
        /// Nanoseconds the worker spent on it so far (0 without metrics): its filters and sends, then its settling —
        /// not the time it spent on other batches meanwhile, so that a worker's batches never add up to more than
        /// its wall time (`worker_utilization` stays at most 100).
        let busyNanos: Int

        var isSettled: Bool { counts.inFlight.allSatisfy { $0.delivery.isSettled } }
    }

    /// Filters a batch and hands the survivors to the outputs.
    private func start(_ taken: QueueBatch, defersDeliveries: Bool) -> InFlightBatch {
        var counts = BatchLedger()
        counts.defersDeliveries = defersDeliveries
        let started = program.collectsMetrics ? Clock.nanoseconds() : 0
        let batch = taken.hasUndecoded
            ? taken.decodingLines(ledger: ledger, metrics: program.collectsMetrics ? program.metrics : nil) : taken
        if program.collectsMetrics { program.metrics.eventsFiltered.add(batch.events.count, ordering: .relaxed) }
        let survivors = program.runFilters(batch.events, &counts)
        program.sendToOutputs(survivors, &counts)
        let busy = program.collectsMetrics ? Clock.nanoseconds() - started : 0
        return InFlightBatch(batch: batch, survivors: survivors, counts: counts, busyNanos: busy)
    }

    /// Settles a batch and acknowledges it unless an output kept some of its events.
    private func finish(_ running: InFlightBatch) {
        if settle(running) { queue.acknowledge(running.batch) }
    }

    /// Finishes a batch's deliveries and adds its counts to the ledger; returns whether every event is done.
    private func settle(_ running: InFlightBatch) -> Bool {
        var counts = running.counts
        let started = program.collectsMetrics ? Clock.nanoseconds() : 0
        let done = program.settleOutputs(running.survivors, &counts)
        if program.collectsMetrics {
            let metrics = program.metrics
            metrics.eventsOut.add(running.survivors.count, ordering: .relaxed)
            metrics.durationNanos.add(running.busyNanos + Clock.nanoseconds() - started, ordering: .relaxed)
        }
        ledger.record(counts, taken: running.batch.events.count)
        return done
    }

    /// Whether the run ended with events lost (memory queue, undelivered): the process then exits non-zero.
    public var lostEvents: Int {
        persistedQueueSettings == nil ? ledger.undelivered.load(ordering: .relaxed) : 0
    }

    /// Asks the inputs to stop; the workers then drain the queue.
    public func stop() {
        shutdown.request()
        stopRedriver()
        for input in program.inputs { (input.instance as! any Input).stop() }
    }

    /// Waits until the pipeline has stopped and its plugins are closed (at once when it was never started). Safe to
    /// call from several threads, and while another thread is in `start()`.
    public func wait() {
        let all = lock.withLock { () -> [Thread] in
            while started && !(finished && launched) { lock.wait() }
            return threads
        }
        for t in all { t.join() }
    }
}

/// Facts about the machine.
public enum System {
    /// Online CPU cores (the default `pipeline.workers`).
    public static var cpuCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// The host name, as inputs record it.
    public static let hostname: String = {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, 255)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()
}

/// A random version-4 UUID string.
public func randomUUID() -> String {
    var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
    bytes[6] = (bytes[6] & 0x0f) | 0x40
    bytes[8] = (bytes[8] & 0x3f) | 0x80
    let hex = bytes.map { b in String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16) }
    return [0..<4, 4..<6, 6..<8, 8..<10, 10..<16].map { hex[$0].joined() }.joined(separator: "-")
}

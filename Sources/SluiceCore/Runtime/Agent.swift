#if canImport(Glibc)
import Glibc
#endif

/// One pipeline to run: its id, config parts and effective settings.
public struct PipelineDefinition: Sendable {
    public let id: String
    public let sources: [ConfigSource]
    public let settings: Settings

    public init(id: String, sources: [ConfigSource], settings: Settings) {
        self.id = id
        self.sources = sources
        self.settings = settings
    }
}

/// A pipeline that failed to compile: the diagnostics and the sources to render them against.
public struct PipelineCompileError: Error, Sendable {
    public let pipelineID: String
    public let error: ConfigError
    public let sources: [ConfigSource]

    /// The diagnostics rendered with source lines and carets.
    public var rendered: String { DiagnosticRenderer(sources: sources).render(error) }
}

/// A pipeline's reload counters (the API's `reloads`); they outlive the pipeline objects a reload replaces.
public struct PipelineReloadStats: Sendable {
    public var successes = 0
    public var failures = 0
    /// The last failure's message, nil until one happens.
    public var lastError: String?
    public var lastSuccessTimestamp: Timestamp?
    public var lastFailureTimestamp: Timestamp?

    public init() {}
}

/// A read-only view of the running pipelines, for the monitoring API (the agent is one; tests pass their own).
public protocol PipelineDirectory: AnyObject, Sendable {
    /// The pipelines started, in start order.
    var runningPipelines: [Pipeline] { get }
    /// The reload counters of pipeline `id`.
    func reloadStats(_ id: String) -> PipelineReloadStats
    /// The node-level flow metrics, when the directory keeps them.
    var flow: NodeFlow? { get }
}

extension PipelineDirectory {
    public var flow: NodeFlow? { nil }
}

/// Runs a process's pipelines: compiles them, starts them, stops them on a signal, and waits until all are done
/// (Logstash's agent).
public final class Agent: PipelineDirectory, @unchecked Sendable {
    let registry: PluginRegistry
    let logger = Logger("agent")
    /// Shared by every pipeline of the process, for `pipeline` inputs and outputs.
    let bus = PipelineBus()
    private var pipelines: [Pipeline] = []
    let lock = Lock()
    private var stopping = false
    /// Live reload, when enabled.
    var reloader: Reloader?
    /// The config hash of each pipeline's last failed reload, so a broken config is reported once.
    var failedHashes: [String: String] = [:]
    /// Set while a reload swaps pipelines, so `waitAll` does not mistake the gap for the end.
    var reloadInProgress = false
    private var reloads: [String: PipelineReloadStats] = [:]
    private var alertChecker: PeriodicThread?
    private var flowTicker: PeriodicThread?
    /// Rates over every running pipeline's events (`GET /_node/stats/flow`), from the agent's start.
    let nodeFlow: NodeFlow
    public var flow: NodeFlow? { nodeFlow }

    public init(registry: PluginRegistry) {
        self.registry = registry
        let owner = WeakAgent()
        nodeFlow = NodeFlow(startNanos: Clock.nanoseconds()) { EventCounts(summing: owner.agent?.runningPipelines ?? []) }
        owner.agent = self
    }

    /// Parses and compiles one pipeline without starting it. `-t` passes `openDeadLetterQueue: false`, so checking a
    /// config never takes the DLQ's or the persisted queue's lock or creates files. A reload passes
    /// `openQueue: false` and opens the queue once the pipeline it replaces has released it.
    public func compile(
        _ definition: PipelineDefinition, shutdown: ShutdownFlag = ShutdownFlag(), openDeadLetterQueue: Bool = true,
        openQueue: Bool = true, sharing existingDeadLetterQueue: DeadLetterQueue? = nil
    ) throws -> Pipeline {
        let s = definition.settings
        let options = ConfigParser.Options(supportEscapes: try s.bool("config.support_escapes"))
        let fail = { (e: ConfigError) in PipelineCompileError(pipelineID: definition.id, error: e, sources: definition.sources) }
        let ast: PipelineAST
        do {
            ast = try ConfigParser.parse(definition.sources, options: options)
        } catch {
            throw fail(error)
        }
        let ecs = ECSCompatibility(rawValue: try s.oneOf("pipeline.ecs_compatibility", ["v8", "disabled", "v1"])) ?? .v8
        let dlqSettings = try s.deadLetterQueueSettings(pipelineID: definition.id)
        let queueSettings = try s.persistedQueueSettings(pipelineID: definition.id)
        for warning in s.deprecatedQueueSettingWarnings { logger.warn(warning) }
        // A reload hands the running pipeline's writer over instead of opening the directory a second time.
        let reused = dlqSettings != nil ? existingDeadLetterQueue : nil
        let deadLetterQueue = openDeadLetterQueue ? try reused ?? dlqSettings.map(openWriter) : nil
        var environment = PipelineEnvironment(
            pipelineID: definition.id, ecsCompatibility: ecs, dataPath: s["path.data"] ?? "data",
            deadLetterQueue: deadLetterQueue ?? DisabledDeadLetterQueue(), shutdown: shutdown)
        environment.requiresEnabledDLQ = openDeadLetterQueue || dlqSettings == nil
        environment.bus = bus
        environment.collectMetrics = try s.bool("metric.collect")
        environment.persistedQueue = queueSettings != nil
        environment.regexMatchLimit = try s.regexMatchLimit()
        let program: PipelineProgram
        do {
            program = try ProgramCompiler(registry: registry, environment: environment).compile(ast)
        } catch {
            if reused == nil { deadLetterQueue?.close() }
            throw fail(error)
        }
        let renderer = DiagnosticRenderer(sources: definition.sources)
        for w in program.warnings { logger.warn(renderer.render(w).trimmingTrailingNewline()) }
        let runtime = try runtimeSettings(definition)
        let pipeline = Pipeline(settings: runtime, program: program, shutdown: shutdown, persistedQueue: queueSettings)
        pipeline.deadLetterQueue = deadLetterQueue
        if openDeadLetterQueue && openQueue {
            do {
                try pipeline.openQueue()
            } catch {
                program.close()
                if reused == nil { deadLetterQueue?.close() }
                throw SettingsError("Cannot open the persisted queue of pipeline '\(definition.id)': \(error.message)")
            }
        }
        pipeline.configHash = Agent.hash(definition)
        pipeline.redrivePolicy = try s.redrivePolicy()
        pipeline.deadLetterQueueThresholds = (
            try s.nonNegativeInt("dead_letter_queue.warn_entries"), try s.nonNegativeInt("dead_letter_queue.critical_entries"))
        return pipeline
    }

    /// Opens a pipeline's DLQ writer; a locked or unwritable directory is a settings error naming the path.
    func openWriter(_ settings: DeadLetterQueueSettings) throws(SettingsError) -> DeadLetterQueue {
        let log = Logger("deadletterqueue", pipelineID: settings.pipelineID)
        do {
            return try DeadLetterQueue(
                settings: settings, warningHandler: { message in log.warn(message) },
                errorHandler: { message in log.error(message) })
        } catch {
            throw SettingsError("Cannot open the dead letter queue of pipeline '\(settings.pipelineID)': \(error.message)")
        }
    }

    func runtimeSettings(_ d: PipelineDefinition) throws(SettingsError) -> PipelineRuntimeSettings {
        let s = d.settings
        let workers = try s.positiveInt("pipeline.workers") ?? System.cpuCount
        let ordered = try s.oneOf("pipeline.ordered", ["auto", "true", "false"])
        if ordered == "true" && workers > 1 {
            throw SettingsError("enabling the 'pipeline.ordered' setting requires the use of a single pipeline worker")
        }
        return PipelineRuntimeSettings(
            id: d.id, workers: workers, batchSize: try s.positiveInt("pipeline.batch.size") ?? 125,
            batchDelayMillis: try s.nonNegativeInt("pipeline.batch.delay") ?? 50)
    }

    /// Starts the compiled pipelines and blocks until every one has finished.
    public func run(_ toRun: [Pipeline]) {
        start(toRun)
        waitAll()
    }

    /// Starts the compiled pipelines and returns; `waitAll()` blocks until they finish.
    public func start(_ toRun: [Pipeline]) {
        lock.withLock { pipelines = toRun }
        for p in toRun { p.start() }
        startAlertChecker()
        startFlowTicker()
    }

    /// Blocks until every started pipeline has finished.
    /// Waits until every pipeline has finished; with automatic reload, until the agent is stopped, since
    /// pipelines may be replaced or added meanwhile.
    public func waitAll() {
        while true {
            for p in lock.withLock({ pipelines }) { p.wait() }
            let done = lock.withLock {
                !reloadInProgress && pipelines.allSatisfy(\.isFinished) && (stopping || !(reloader?.automatic ?? false))
            }
            if done { break }
            usleep(100_000)
        }
        alertChecker?.stop()
        flowTicker?.stop()
        lock.withLock { stopping = true }
        requestReload()
    }

    /// Whether a shutdown was requested.
    var isStopping: Bool { lock.withLock { stopping } }

    /// Replaces `old` by `new` in the running list (either may be nil: removal or addition).
    func swap(_ old: Pipeline?, _ new: Pipeline?) {
        lock.withLock {
            if let old { pipelines.removeAll { $0 === old } }
            if let new { pipelines.append(new) }
        }
    }

    /// The pipelines started, in start order (the monitoring API's read-only view).
    public var runningPipelines: [Pipeline] { lock.withLock { pipelines } }

    /// The reload counters of pipeline `id`.
    public func reloadStats(_ id: String) -> PipelineReloadStats { lock.withLock { reloads[id] ?? PipelineReloadStats() } }

    /// Records the outcome of reloading pipeline `id`.
    public func recordReload(_ id: String, error: String?) {
        lock.withLock {
            var r = reloads[id] ?? PipelineReloadStats()
            if let error {
                r.failures += 1
                r.lastError = error
                r.lastFailureTimestamp = Timestamp.now()
            } else {
                r.successes += 1
                r.lastSuccessTimestamp = Timestamp.now()
            }
            reloads[id] = r
        }
    }

    /// Checks the DLQ alert thresholds every 5 s, so a crossing is logged even when nobody reads the API.
    private func startAlertChecker() {
        guard lock.withLock({ pipelines.contains {
            $0.deadLetterQueue != nil && ($0.deadLetterQueueThresholds.warn != nil || $0.deadLetterQueueThresholds.critical != nil)
        } })
        else { return }
        let checker = PeriodicThread(intervalMilliseconds: 5000) { [weak self] in
            for p in self?.runningPipelines ?? [] where !p.isFinished { _ = p.deadLetterQueueStatus() }
        }
        do {
            try checker.start(name: "dlq-alerts")
            alertChecker = checker
        } catch {
            logger.error("The DLQ alert levels are checked only when the API is read: \(error)")
        }
    }

    /// Captures the node's and every running pipeline's flow metrics every 5 s (Logstash's flow poller period).
    private func startFlowTicker() {
        nodeFlow.capture(at: Clock.nanoseconds())
        let ticker = PeriodicThread(intervalMilliseconds: 5000) { [weak self] in
            guard let self else { return }
            let now = Clock.nanoseconds()
            self.nodeFlow.capture(at: now)
            for p in self.runningPipelines where !p.isFinished { p.flow.capture(at: now) }
        }
        do {
            try ticker.start(name: "flow-ticker")
            flowTicker = ticker
        } catch {
            logger.error("The flow metrics are not captured: \(error)")
        }
    }

    /// Graceful stop: inputs stop, in-flight events drain through filters and outputs.
    public func stopAll() {
        let all = lock.withLock { () -> [Pipeline] in
            stopping = true
            return pipelines
        }
        logger.info("SIGTERM/SIGINT received. Shutting down the agent.")
        bus.beginShutdown()
        for p in all { p.stop() }
        requestReload()
    }
}

/// Lets the node flow read the agent's pipelines without keeping the agent alive.
private final class WeakAgent: @unchecked Sendable {
    weak var agent: Agent?
}

extension String {
    func trimmingTrailingNewline() -> String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}

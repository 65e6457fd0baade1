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

/// Runs a process's pipelines: compiles them, starts them, stops them on a signal, and waits until all are done
/// (Logstash's agent).
public final class Agent: @unchecked Sendable {
    let registry: PluginRegistry
    let logger = Logger("agent")
    /// Shared by every pipeline of the process, for `pipeline` inputs and outputs.
    let bus = PipelineBus()
    private var pipelines: [Pipeline] = []
    private let lock = Lock()
    private var stopping = false

    public init(registry: PluginRegistry) { self.registry = registry }

    /// Parses and compiles one pipeline without starting it. `-t` passes `openDeadLetterQueue: false`, so checking a
    /// config never takes the DLQ's lock or creates files.
    public func compile(
        _ definition: PipelineDefinition, shutdown: ShutdownFlag = ShutdownFlag(), openDeadLetterQueue: Bool = true
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
        let deadLetterQueue = openDeadLetterQueue ? try dlqSettings.map(openWriter) : nil
        var environment = PipelineEnvironment(
            pipelineID: definition.id, ecsCompatibility: ecs, dataPath: s["path.data"] ?? "data",
            deadLetterQueue: deadLetterQueue ?? DisabledDeadLetterQueue(), shutdown: shutdown)
        environment.requiresEnabledDLQ = openDeadLetterQueue || dlqSettings == nil
        environment.bus = bus
        let program: PipelineProgram
        do {
            program = try ProgramCompiler(registry: registry, environment: environment).compile(ast)
        } catch {
            deadLetterQueue?.close()
            throw fail(error)
        }
        let renderer = DiagnosticRenderer(sources: definition.sources)
        for w in program.warnings { logger.warn(renderer.render(w).trimmingTrailingNewline()) }
        let runtime = try runtimeSettings(definition)
        let pipeline = Pipeline(settings: runtime, program: program, shutdown: shutdown)
        pipeline.deadLetterQueue = deadLetterQueue
        return pipeline
    }

    /// Opens a pipeline's DLQ writer; a locked or unwritable directory is a settings error naming the path.
    func openWriter(_ settings: DeadLetterQueueSettings) throws(SettingsError) -> DeadLetterQueue {
        let log = Logger("deadletterqueue", pipelineID: settings.pipelineID)
        do {
            return try DeadLetterQueue(settings: settings) { message in log.warn(message) }
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
        lock.withLock { pipelines = toRun }
        for p in toRun { p.start() }
        for p in toRun { p.wait() }
    }

    /// Graceful stop: inputs stop, in-flight events drain through filters and outputs.
    public func stopAll() {
        let all = lock.withLock { () -> [Pipeline] in
            stopping = true
            return pipelines
        }
        logger.info("SIGTERM/SIGINT received. Shutting down the agent.")
        for p in all { p.stop() }
    }
}

extension String {
    func trimmingTrailingNewline() -> String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}

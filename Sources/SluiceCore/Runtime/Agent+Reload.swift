#if canImport(Glibc)
import Glibc
#endif

/// Live reload (`-r`, `config.reload.interval`, SIGHUP): re-reads the pipeline definitions and applies the changes.
///
/// A changed pipeline is compiled first, next to the running one and sharing its DLQ writer, so a config that does
/// not compile leaves the old pipeline running and is recorded in the reload stats. Then the old pipeline stops
/// (its in-flight events drain through its outputs) and the new one starts. Pipelines added to or removed from
/// pipelines.yml start and stop.
extension Agent {
    /// Turns reloading on: `loader` re-reads the definitions; with `intervalMillis` they are checked periodically
    /// (`-r`), otherwise only when `requestReload()` is called (SIGHUP).
    public func enableReload(
        intervalMillis: Int?, loader: @escaping @Sendable () throws -> [PipelineDefinition]
    ) {
        let reloader = Reloader(agent: self, loader: loader, automatic: intervalMillis != nil)
        do {
            try reloader.start(intervalMillis: intervalMillis ?? 0)
        } catch {
            logger.error("Config reloading is off: \(error)")
            return
        }
        lock.withLock { self.reloader = reloader }
    }

    /// Asks for a reload check now (SIGHUP).
    public func requestReload() {
        lock.withLock { reloader }?.trigger.signal()
    }

    /// Whether the process keeps running after its pipelines finish (automatic reload is on).
    var keepsRunning: Bool { lock.withLock { reloader?.automatic ?? false } }

    /// Applies a fresh set of definitions. Serialized by the reloader thread.
    func apply(_ definitions: [PipelineDefinition]) {
        let running = Dictionary(runningPipelines.map { ($0.settings.id, $0) }, uniquingKeysWith: { a, _ in a })
        for d in definitions {
            guard let old = running[d.id] else {
                add(d)
                continue
            }
            let hash = Agent.hash(d)
            // A config that already failed is not retried until it changes again.
            guard old.configHash != hash, lock.withLock({ failedHashes[d.id] }) != hash else { continue }
            if old.isFinished {
                swap(old, nil)
                add(d)
            } else {
                replace(old, with: d)
            }
        }
        let wanted = Set(definitions.map(\.id))
        for (id, old) in running where !wanted.contains(id) { remove(old, id: id) }
    }

    static func hash(_ d: PipelineDefinition) -> String {
        SHA256.hex(of: d.sources.map(\.text).joined(separator: "\n"))
    }

    private func replace(_ old: Pipeline, with d: PipelineDefinition) {
        guard old.program.isReloadable else {
            fail(d.id, "Cannot reload pipeline, because the existing pipeline is not reloadable")
            return
        }
        // The DLQ writer moves to the new pipeline (the old one then does not close it), unless the old one has
        // already ended and closed it: the new one then opens the directory again.
        let lent = old.lendDeadLetterQueue()
        // Refused: the old pipeline is ending and closing its writer; let it finish, so the directory is free again.
        if lent == nil && old.deadLetterQueue != nil { old.wait() }
        let new: Pipeline
        do {
            new = try compile(d, openQueue: false, sharing: lent)
        } catch let e as PipelineCompileError {
            old.reclaimDeadLetterQueue()
            fail(d.id, e.rendered.trimmingTrailingNewline(), hash: Agent.hash(d))
            return
        } catch {
            old.reclaimDeadLetterQueue()
            fail(d.id, "\(error)", hash: Agent.hash(d))
            return
        }
        // A new config without a DLQ leaves the writer to the old pipeline, which closes it as it ends.
        if lent != nil && new.deadLetterQueue !== lent { old.reclaimDeadLetterQueue() }
        old.stop()
        old.wait()
        do {
            try new.openQueue()
        } catch {
            swap(old, nil)
            new.deadLetterQueue?.close()
            fail(d.id, "Cannot open the persisted queue of pipeline '\(d.id)': \(error.message)", hash: Agent.hash(d))
            return
        }
        swap(old, new)
        new.start()
        // A shutdown that began during the swap may not have seen the new pipeline.
        if isStopping { new.stop() }
        recordReload(d.id, error: nil)
        logger.info("Pipeline '\(d.id)' was reloaded")
    }

    private func add(_ d: PipelineDefinition) {
        do {
            let p = try compile(d)
            swap(nil, p)
            p.start()
            if isStopping { p.stop() }
            logger.info("Pipeline '\(d.id)' was added")
        } catch let e as PipelineCompileError {
            fail(d.id, e.rendered.trimmingTrailingNewline())
        } catch {
            fail(d.id, "\(error)")
        }
    }

    private func remove(_ old: Pipeline, id: String) {
        old.stop()
        old.wait()
        swap(old, nil)
        logger.info("Pipeline '\(id)' was removed")
    }

    private func fail(_ id: String, _ message: String, hash: String? = nil) {
        if let hash { lock.withLock { failedHashes[id] = hash } }
        recordReload(id, error: message)
        logger.error("Failed to reload pipeline '\(id)', the running pipeline keeps running:\n\(message)")
    }
}

/// The thread that performs reloads, on a timer (`-r`) or on request (SIGHUP).
final class Reloader: @unchecked Sendable {
    weak var agent: Agent?
    let loader: @Sendable () throws -> [PipelineDefinition]
    let automatic: Bool
    let trigger = Semaphore()
    private var thread: Thread?

    init(agent: Agent, loader: @escaping @Sendable () throws -> [PipelineDefinition], automatic: Bool) {
        self.agent = agent
        self.loader = loader
        self.automatic = automatic
    }

    /// Starts the reloader thread; throws when the system cannot create it.
    func start(intervalMillis: Int) throws(ThreadStartError) {
        thread = try Thread(name: "reloader") { [self] in
            while let agent, !agent.isStopping {
                if intervalMillis > 0 {
                    _ = trigger.wait(timeoutMillis: intervalMillis)
                } else {
                    trigger.wait()
                }
                guard !agent.isStopping else { return }
                check(agent)
            }
        }
    }

    private func check(_ agent: Agent) {
        agent.lock.withLock { agent.reloadInProgress = true }
        defer { agent.lock.withLock { agent.reloadInProgress = false } }
        do {
            agent.apply(try loader())
        } catch {
            agent.logger.error("Failed to read the configuration for reload: \(error)")
        }
    }
}

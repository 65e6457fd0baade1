import ArgumentParser
import SluiceAPI
import SluiceCore
import SluicePlugins

#if canImport(Glibc)
import Glibc
#endif

/// Options shared by every command that loads pipelines (`run`, `graph`).
struct PipelineOptions: ParsableArguments {
    @Option(name: [.customShort("f"), .customLong("path.config")], help: "A config file, directory or glob.")
    var pathConfig: String?

    @Option(name: [.customShort("e"), .customLong("config.string")], help: "A config given as a string.")
    var configString: String?

    @Option(name: [.customShort("w"), .customLong("pipeline.workers")], help: "Worker threads (default: CPU cores).")
    var workers: Int?

    @Option(name: [.customShort("b"), .customLong("pipeline.batch.size")], help: "Events per worker batch (125).")
    var batchSize: Int?

    @Option(name: [.customShort("u"), .customLong("pipeline.batch.delay")], help: "Milliseconds to wait for a batch to fill (50).")
    var batchDelay: Int?

    @Option(name: .customLong("pipeline.id"), help: "The id of the -f/-e pipeline (main).")
    var pipelineID: String?

    @Option(name: .customLong("pipeline.ordered"), help: "auto, true or false.")
    var ordered: String?

    @Option(name: .customLong("pipeline.ecs_compatibility"), help: "disabled, v1 or v8 (v8).")
    var ecsCompatibility: String?

    @Option(name: .customLong("path.data"), help: "Where plugins and the dead letter queue keep data (./data).")
    var pathData: String?

    @Option(name: .customLong("path.settings"), help: "Directory holding logstash.yml and pipelines.yml (./config).")
    var pathSettings: String?

    @Option(name: [.customShort("l"), .customLong("path.logs")], help: "Also write logs to this directory.")
    var pathLogs: String?

    @Option(name: .customLong("log.level"), help: "fatal, error, warn, info, debug or trace (info).")
    var logLevel: String?

    @Flag(name: .customLong("config.support_escapes"), help: "Interpret \\n, \\t, \\\" … in quoted strings.")
    var supportEscapes = false

    @Option(name: [.customShort("S"), .customLong("setting")], help: "Set any setting: KEY=VALUE (repeatable).")
    var settings: [String] = []

    @Option(name: [.customShort("n"), .customLong("node.name")], help: "The node name.")
    var nodeName: String?

    /// Applies the flags over the settings: they override logstash.yml.
    func apply(to s: inout Settings) throws {
        let flags: [(String, String?)] = [
            ("path.config", pathConfig), ("config.string", configString), ("pipeline.workers", workers.map(String.init)),
            ("pipeline.batch.size", batchSize.map(String.init)), ("pipeline.batch.delay", batchDelay.map(String.init)),
            ("pipeline.id", pipelineID), ("pipeline.ordered", ordered), ("pipeline.ecs_compatibility", ecsCompatibility),
            ("path.data", pathData), ("path.logs", pathLogs), ("log.level", logLevel), ("node.name", nodeName),
            ("config.support_escapes", supportEscapes ? "true" : nil),
        ]
        for (key, value) in flags {
            if let value { try s.set(key, value, origin: "command line") }
        }
        for kv in settings {
            guard let eq = kv.firstIndex(of: "=") else { throw SettingsError("-S expects KEY=VALUE, got \"\(kv)\"") }
            try s.set(String(kv[..<eq]), String(kv[kv.index(after: eq)...]), origin: "command line")
        }
    }

    /// The effective process settings: defaults, then logstash.yml, then flags.
    func processSettings() throws -> Settings {
        var s = Settings()
        let dir = pathSettings ?? (getenv("LS_SETTINGS_DIR").map { String(cString: $0) }) ?? "config"
        try s.set("path.settings", dir, origin: "command line")
        try s.load(yamlFile: dir + "/logstash.yml", substitution: .environment)
        try apply(to: &s)
        if pathConfig != nil && configString != nil {
            throw SettingsError("Settings 'path.config' (-f) and 'config.string' (-e) can't be used simultaneously.")
        }
        if let level = s["log.level"] {
            guard let l = LogLevel(name: level) else { throw SettingsError("Invalid log.level \"\(level)\"") }
            LogSink.shared.level = l
        }
        if let logs = s["path.logs"] { LogSink.shared.openFile(inDirectory: logs) }
        return s
    }

    /// The pipelines to run: the -f/-e one, or every entry of pipelines.yml.
    func definitions(_ s: Settings) throws -> [PipelineDefinition] {
        let id = s["pipeline.id"] ?? "main"
        if let text = s["config.string"] {
            return [PipelineDefinition(id: id, sources: ConfigSources.fromString(text), settings: s)]
        }
        if let path = s["path.config"] {
            return [PipelineDefinition(id: id, sources: try ConfigSources.load(path: path), settings: s)]
        }
        let file = (s["path.settings"] ?? "config") + "/pipelines.yml"
        return try Settings.loadPipelines(file, substitution: .environment).compactMap { entry in
            let settings = s.merging(entry)
            let pid = entry["pipeline.id"] ?? "main"
            if let text = entry["config.string"] {
                return PipelineDefinition(id: pid, sources: ConfigSources.fromString(text), settings: settings)
            }
            guard let path = entry["path.config"] else { return nil }
            return PipelineDefinition(id: pid, sources: try ConfigSources.load(path: path), settings: settings)
        }
    }
}

/// Runs pipelines (the default command): `sluice -f pipeline.conf`.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run pipelines from -f, -e or pipelines.yml (the default command).")

    @OptionGroup var options: PipelineOptions

    @Flag(name: [.customShort("t"), .customLong("config.test_and_exit")], help: "Check the config, print 'Configuration OK' and exit.")
    var testAndExit = false

    @Flag(name: [.customShort("V"), .customLong("version")], help: "Print the version and exit.")
    var version = false

    @Flag(name: [.customShort("r"), .customLong("config.reload.automatic")], help: "Reload changed pipeline configs while running.")
    var reloadAutomatic = false

    @Option(name: .customLong("config.reload.interval"), help: "How often to check for config changes (3s).")
    var reloadInterval: String?

    @Option(name: .customLong("api.enabled"), help: "Serve the monitoring API (true).")
    var apiEnabled: String?

    @Option(name: .customLong("api.http.host"), help: "The API's bind address (127.0.0.1).")
    var apiHost: String?

    @Option(name: .customLong("api.http.port"), help: "The API's port or port range; the first free one is used (9600-9700).")
    var apiPort: String?

    func run() throws {
        if version {
            print("sluice \(Sluice.version) (Logstash 8.x compatible)")
            return
        }
        do {
            var settings = try options.processSettings()
            for (key, value) in [
                ("api.enabled", apiEnabled), ("api.http.host", apiHost), ("api.http.port", apiPort),
                ("config.reload.automatic", reloadAutomatic ? "true" : nil), ("config.reload.interval", reloadInterval),
            ] {
                if let value { try settings.set(key, value, origin: "command line") }
            }
            let reloadMillis = try reloadInterval(settings)
            let definitions = try options.definitions(settings)
            let agent = Agent(registry: builtinRegistry)
            SignalHandling.blockSignals()
            let pipelines = try compileAll(definitions, agent)
            if testAndExit {
                print("Configuration OK")
                return
            }
            try SignalHandling.start(agent)
            logOpenFileLimit()
            let finalSettings = settings
            let options = self.options
            agent.enableReload(intervalMillis: reloadMillis) { try options.definitions(finalSettings) }
            let server = try startAPI(settings, agent)
            agent.run(pipelines)
            server?.stop()
            let lost = agent.runningPipelines.reduce(0) { $0 + $1.lostEvents }
            if lost > 0 {
                printError("ERROR: \(lost) events could not be delivered and were lost (see the log above)")
                throw ExitCode(1)
            }
        } catch let e as PipelineCompileError {
            printError(e.rendered)
            throw ExitCode(1)
        } catch let e as SettingsError {
            printError("ERROR: \(e.message)")
            throw ExitCode(1)
        } catch let e as ThreadStartError {
            printError("ERROR: \(e)")
            throw ExitCode(1)
        }
    }
}

extension Run {
    /// Raises the soft descriptor limit to the hard one (a flood of API connections or many files must not make
    /// the pipelines' own `open` fail at 1,024) and says so.
    func logOpenFileLimit() {
        let logger = SluiceCore.Logger("runner")
        guard let limits = OpenFileLimit.raiseToHardLimit() else {
            logger.warn("Cannot read the open file limit (RLIMIT_NOFILE)")
            return
        }
        if limits.after > limits.before {
            logger.info("Raised the open file limit (RLIMIT_NOFILE) from \(limits.before) to \(limits.after), the hard limit")
        } else {
            logger.info("The open file limit (RLIMIT_NOFILE) is \(limits.after) (hard limit \(limits.hard))")
        }
    }

    /// The reload interval in milliseconds when `config.reload.automatic` is on, nil otherwise.
    func reloadInterval(_ settings: Settings) throws -> Int? {
        guard try settings.bool("config.reload.automatic") else { return nil }
        if settings["config.string"] != nil {
            throw SettingsError("Configuration reloading can't be used with 'config.string' (-e).")
        }
        let text = settings["config.reload.interval"] ?? "3s"
        guard let millis = Settings.parseDurationMillis(text), millis > 0 else {
            throw SettingsError("Setting \"config.reload.interval\" must be a duration such as 3s, got \"\(text)\"")
        }
        return millis
    }

    /// Starts the monitoring API once the pipelines are compiled; nil when `api.enabled` is false. A bad `api.*`
    /// setting is fatal; finding no free port only logs an error, and the pipelines run without the API.
    func startAPI(_ settings: Settings, _ agent: Agent) throws -> MonitoringServer? {
        let configuration = try APIConfiguration(settings)
        guard configuration.enabled else { return nil }
        let dataPath = settings["path.data"] ?? "data"
        let node = NodeInfo(
            version: Sluice.version, id: NodeIdentity.persistentID(dataPath: dataPath), name: settings["node.name"],
            workers: try settings.positiveInt("pipeline.workers") ?? System.cpuCount,
            batchSize: try settings.positiveInt("pipeline.batch.size") ?? 125,
            batchDelay: try settings.nonNegativeInt("pipeline.batch.delay") ?? 50,
            reloadAutomatic: try settings.bool("config.reload.automatic"))
        let server = MonitoringServer(api: MonitoringAPI(agent: agent, node: node, configuration: configuration),
                                      configuration: configuration)
        do {
            try server.start()
        } catch {
            Logger("api.service").error(error.message)
            return nil
        }
        return server
    }

    /// Compiles every pipeline. With several (pipelines.yml), one that fails is reported and the others run, as
    /// Logstash does; only when none compiles is it an error. A single pipeline's failure is an error at once.
    func compileAll(_ definitions: [PipelineDefinition], _ agent: Agent) throws -> [Pipeline] {
        if definitions.count == 1 { return [try agent.compile(definitions[0], openDeadLetterQueue: !testAndExit)] }
        var pipelines: [Pipeline] = []
        var failures: [Error] = []
        for d in definitions {
            do {
                pipelines.append(try agent.compile(d, openDeadLetterQueue: !testAndExit))
            } catch let e as PipelineCompileError {
                printError("Failed to execute action {:id=>:\(d.id)}:\n" + e.rendered)
                failures.append(e)
            }
        }
        if pipelines.isEmpty, let first = failures.first { throw first }
        if testAndExit, let first = failures.first { throw first }
        return pipelines
    }
}

/// SIGINT/SIGTERM: graceful drain; a second one exits at once. Signals are handled on one thread via sigwait.
enum SignalHandling {
    static func blockSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGHUP)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Starts the signal thread; without it SIGTERM would never be handled, so a failure ends the start-up.
    static func start(_ agent: Agent) throws(ThreadStartError) {
        _ = try SluiceCore.Thread(name: "signals") {
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGINT)
            sigaddset(&set, SIGTERM)
            sigaddset(&set, SIGHUP)
            var received = 0
            while true {
                var sig: Int32 = 0
                sigwait(&set, &sig)
                if sig == SIGHUP {
                    agent.requestReload()
                    continue
                }
                received += 1
                if received == 1 {
                    agent.stopAll()
                } else {
                    printError("[FATAL] second signal received: forcing exit")
                    exit(1)
                }
            }
        }
    }
}

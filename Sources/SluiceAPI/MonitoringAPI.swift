import SluiceCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Who this node is: the metadata that heads every API body.
public struct NodeInfo: Sendable {
    public var host: String
    public var version: String
    public var id: String
    public var name: String
    public var ephemeralID: String
    /// The process-wide `pipeline.*` defaults.
    public var workers: Int
    public var batchSize: Int
    public var batchDelay: Int
    public var reloadAutomatic: Bool
    public var reloadIntervalSeconds: Int

    public init(host: String = System.hostname, version: String, id: String, name: String? = nil,
                ephemeralID: String = randomUUID(), workers: Int = System.cpuCount, batchSize: Int = 125,
                batchDelay: Int = 50, reloadAutomatic: Bool = false, reloadIntervalSeconds: Int = 3) {
        self.host = host
        self.version = version
        self.id = id
        self.name = name ?? host
        self.ephemeralID = ephemeralID
        self.workers = workers
        self.batchSize = batchSize
        self.batchDelay = batchDelay
        self.reloadAutomatic = reloadAutomatic
        self.reloadIntervalSeconds = reloadIntervalSeconds
    }
}

/// The monitoring API without the HTTP server: routes a request to a JSON (or Prometheus) body built from the
/// agent's running pipelines. Called concurrently from the server's event loops; it only reads atomics and takes
/// short locks.
public final class MonitoringAPI: Sendable {
    let agent: any PipelineDirectory
    let node: NodeInfo
    let basicAuth: (username: [UInt8], password: [UInt8])?
    /// Where the server listens (`api.http.host`), and whether that is a loopback address: the dashboard is served
    /// only there or with auth on.
    let host: String
    let hostIsLoopback: Bool
    let startedAt = Clock.nanoseconds()
    private let address = Mutex("")

    public init(agent: any PipelineDirectory, node: NodeInfo, configuration: APIConfiguration) {
        self.agent = agent
        self.node = node
        basicAuth = configuration.basicAuth.map { (Array($0.username.utf8), Array($0.password.utf8)) }
        host = configuration.host
        hostIsLoopback = configuration.isLoopback
    }

    /// `host:port` once the server is bound (the `http_address` field).
    public var httpAddress: String {
        get { address.withLock { $0 } }
        set { address.withLock { $0 = newValue } }
    }

    /// Answers one request; never throws (errors become their status and JSON body).
    public func respond(to request: APIRequest) -> APIResponse {
        do {
            try authorize(request)
            let reads = request.method == "GET" || request.method == "HEAD"
            guard reads || DeadLetterQueueAPI.takes(request) else { throw MethodNotAllowed(path: request.path) }
            if request.path == "/metrics" {
                return APIResponse(contentType: "text/plain; version=0.0.4; charset=utf-8", body: prometheus())
            }
            if DeadLetterQueueDashboard.serves(request) {
                // A page that can redrive and delete entries is not left open to a network without credentials.
                guard basicAuth != nil || hostIsLoopback else { throw DashboardRefused(path: request.path, host: host) }
                return DeadLetterQueueDashboard.response()
            }
            let body = try route(request.path, options: ResponseOptions(request), request: request)
            let text = request.hasFlag("pretty") ? PrettyJSON.string(body) : JSONWriter.string(body)
            return APIResponse(body: text)
        } catch let e as any APIResponseError {
            return APIResponse(status: e.status, body: JSONWriter.string(e.body), headers: e.headers)
        } catch {
            return APIResponse(
                status: 500, body: JSONWriter.string(errorBody(path: request.path, status: 500, message: "\(error)")))
        }
    }

    // MARK: Security

    /// Basic auth: the decoded `user:password` is compared in constant time, whatever its length.
    func authorize(_ request: APIRequest) throws {
        guard let (user, password) = basicAuth else { return }
        guard let header = request.authorization, header.lowercased().hasPrefix("basic "),
              let decoded = Base64.decode(String(header.dropFirst(6)).trimmingSpaces())
        else { throw Unauthorized(path: request.path) }
        let expected = user + [UInt8(ascii: ":")] + password
        guard Self.constantTimeEquals(decoded, expected) else { throw Unauthorized(path: request.path) }
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<b.count { diff |= (i < a.count ? a[i] : 0) ^ b[i] }
        return diff == 0 && a.count == b.count
    }

    // MARK: Routing

    /// What the query asks to add: `?graph=true` on `/_node/pipelines`, `?vertices=true` on the pipeline stats.
    struct ResponseOptions {
        var graph = false
        var vertices = false

        init(graph: Bool = false, vertices: Bool = false) {
            self.graph = graph
            self.vertices = vertices
        }

        init(_ request: APIRequest) {
            self.init(graph: request.hasFlag("graph"), vertices: request.hasFlag("vertices"))
        }
    }

    func route(_ rawPath: String, options: ResponseOptions = ResponseOptions(), request: APIRequest? = nil) throws -> Value {
        var path = rawPath
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        let parts = path.split(separator: "/").map(String.init)
        if parts.starts(with: ["_sluice", "dlq"]) {
            return try DeadLetterQueueAPI(directory: agent).route(parts.dropFirst(2), request ?? APIRequest(path: rawPath))
        }
        let id = parts.count == 3 || parts.count == 4 ? parts.last! : ""
        switch parts {
        case []:
            return .object(root())
        case ["_node"]:
            var o = metadata()
            o["pipelines"] = .object(pipelinesInfo(nil, options))
            o["os"] = .object(osInfo())
            return .object(o)
        case ["_node", "pipelines"]:
            return .object(metadata(["pipelines": .object(pipelinesInfo(nil, options))]))
        case ["_node", "pipelines", id]:
            let info = pipelinesInfo(id, options)
            if info.isEmpty { throw NotFound(path: rawPath) }
            return .object(metadata(["pipelines": .object(info)]))
        case ["_node", "stats"]:
            var o = metadata()
            o["process"] = .object(processStats())
            o["events"] = .object(eventTotals())
            if let flow = nodeFlow() { o["flow"] = .object(flow) }
            o["pipelines"] = .object(pipelineStats(nil, options))
            o["reloads"] = .object(reloadTotals())
            o["os"] = .object(osInfo())
            var q = Object()
            q["events_count"] = .int(agent.runningPipelines.reduce(0) { $0 + $1.queue.snapshot.unread })
            o["queue"] = .object(q)
            return .object(o)
        case ["_node", "stats", "process"]:
            return .object(metadata(["process": .object(processStats())]))
        case ["_node", "stats", "events"]:
            return .object(metadata(["events": .object(eventTotals())]))
        case ["_node", "stats", "flow"]:
            return .object(metadata(["flow": .object(nodeFlow() ?? Object())]))
        case ["_node", "stats", "reloads"]:
            return .object(metadata(["reloads": .object(reloadTotals())]))
        case ["_node", "stats", "os"]:
            return .object(metadata(["os": .object(osInfo())]))
        case ["_node", "stats", "pipelines"]:
            return .object(metadata(["pipelines": .object(pipelineStats(nil, options))]))
        case ["_node", "stats", "pipelines", id]:
            let stats = pipelineStats(id, options)
            if stats.isEmpty { throw NotFound(path: rawPath) }
            return .object(metadata(["pipelines": .object(stats)]))
        default:
            throw NotFound(path: rawPath)
        }
    }

    // MARK: Bodies

    /// The node metadata every body starts with.
    func metadata(_ extra: [(String, Value)] = []) -> Object {
        var o = Object()
        o["host"] = .string(node.host)
        o["version"] = .string(node.version)
        o["http_address"] = .string(httpAddress)
        o["id"] = .string(node.id)
        o["name"] = .string(node.name)
        o["ephemeral_id"] = .string(node.ephemeralID)
        o["snapshot"] = .bool(false)
        o["status"] = .string("green")
        o["pipeline"] = .object(pipelineSettings(workers: node.workers, batchSize: node.batchSize, delay: node.batchDelay))
        for (k, v) in extra { o[k] = v }
        return o
    }

    func metadata(_ extra: KeyValuePairs<String, Value>) -> Object { metadata(extra.map { ($0.key, $0.value) }) }

    func root() -> Object {
        var o = metadata()
        var build = Object()
        build["date"] = .string("")
        build["sha"] = .string("")
        build["snapshot"] = .bool(false)
        o["build"] = .object(build)
        return o
    }

    func pipelineSettings(workers: Int, batchSize: Int, delay: Int) -> Object {
        var o = Object()
        o["workers"] = .int(workers)
        o["batch_size"] = .int(batchSize)
        o["batch_delay"] = .int(delay)
        return o
    }

    /// `/_node/pipelines`: each pipeline's settings (one pipeline when `only` is given), and with `?graph=true` the
    /// graph it runs in Logstash's LIR shape.
    func pipelinesInfo(_ only: String?, _ options: ResponseOptions = ResponseOptions()) -> Object {
        var out = Object()
        for p in agent.runningPipelines where only == nil || p.settings.id == only {
            var o = Object()
            o["ephemeral_id"] = .string(p.ephemeralID)
            o["hash"] = .string(p.configHash)
            o["workers"] = .int(p.settings.workers)
            o["batch_size"] = .int(p.settings.batchSize)
            o["batch_delay"] = .int(p.settings.batchDelayMillis)
            o["config_reload_automatic"] = .bool(node.reloadAutomatic)
            o["config_reload_interval"] = .int(node.reloadIntervalSeconds)
            o["dead_letter_queue_enabled"] = .bool(p.deadLetterQueue != nil)
            if let dlq = p.deadLetterQueue { o["dead_letter_queue_path"] = .string(dlq.directory) }
            if options.graph { o["graph"] = .object(p.program.graph.lir(hash: p.configHash)) }
            out[p.settings.id] = .object(o)
        }
        return out
    }

    /// `/_node/stats/pipelines`: events, plugins, reloads, queue and DLQ per pipeline; with `?vertices=true` each
    /// plugin vertex's figures under the graph's vertex ids.
    func pipelineStats(_ only: String?, _ options: ResponseOptions = ResponseOptions()) -> Object {
        var out = Object()
        for p in agent.runningPipelines where only == nil || p.settings.id == only {
            var o = stats(of: p)
            if options.vertices { o["vertices"] = .array(vertexStats(p)) }
            out[p.settings.id] = .object(o)
        }
        return out
    }

    /// Logstash's per-vertex figures (the monitoring shape): one entry per plugin vertex, inputs first.
    func vertexStats(_ p: Pipeline) -> [Value] {
        (p.program.inputs + p.program.filters + p.program.outputs).map { built in
            let m = p.program.metrics.plugins[built.id]
            var o = Object()
            o["id"] = .string(built.id)
            o["pipeline_ephemeral_id"] = .string(p.ephemeralID)
            if built.kind == .input {
                o["events_out"] = .int(m?.outCount ?? 0)
                o["queue_push_duration_in_millis"] = .int(m?.durationMillis ?? 0)
            } else {
                o["events_in"] = .int(m?.inCount ?? 0)
                o["events_out"] = .int(m?.outCount ?? 0)
                o["duration_in_millis"] = .int(m?.durationMillis ?? 0)
            }
            o["long_counters"] = .array([])
            o["double_gauges"] = .array([])
            return .object(o)
        }
    }

    func stats(of p: Pipeline) -> Object {
        let m = p.program.metrics
        var o = Object()
        o["events"] = .object(events(of: m))
        if p.program.collectsMetrics { o["flow"] = .object(p.flow.pipeline.object(at: Clock.nanoseconds())) }
        var plugins = Object()
        plugins["inputs"] = .array(p.program.inputs.map { plugin(p, $0, input: true) })
        plugins["codecs"] = .array([])
        plugins["filters"] = .array(p.program.filters.map { plugin(p, $0, input: false) })
        plugins["outputs"] = .array(p.program.outputs.map { plugin(p, $0, input: false) })
        o["plugins"] = .object(plugins)
        o["reloads"] = .object(reloads(agent.reloadStats(p.settings.id)))
        let snapshot = p.queue.snapshot
        o["queue"] = .object(queueStats(snapshot))
        o["ledger"] = .object(ledger(p.ledger.snapshot(queued: snapshot.unread)))
        o["pipeline"] = .object(pipelineSettings(
            workers: p.settings.workers, batchSize: p.settings.batchSize, delay: p.settings.batchDelayMillis))
        if let dlq = p.deadLetterQueue, let (occupancy, alert) = p.deadLetterQueueStatus() {
            var d = dlq.statistics.object
            // Sluice extensions, after Logstash's keys.
            d["entries"] = .int(occupancy.entries)
            d["status"] = .string(alert.rawValue)
            o["dead_letter_queue"] = .object(d)
        }
        o["hash"] = .string(p.configHash)
        o["ephemeral_id"] = .string(p.ephemeralID)
        return o
    }

    /// Logstash's `queue` object: the memory queue's four keys, or the persisted queue's full shape.
    func queueStats(_ q: QueueSnapshot) -> Object {
        var o = Object()
        o["type"] = .string(q.type)
        guard q.type == "persisted" else {
            o["events_count"] = .int(q.unread)
            o["queue_size_in_bytes"] = .int(0)
            o["max_queue_size_in_bytes"] = .int(0)
            return o
        }
        o["events"] = .int(q.unread)
        var capacity = Object()
        capacity["max_queue_size_in_bytes"] = .int(Int(q.maxBytes))
        capacity["max_unread_events"] = .int(q.maxUnread)
        capacity["queue_size_in_bytes"] = .int(Int(q.persistedBytes))
        capacity["page_capacity_in_bytes"] = .int(q.pageCapacity)
        o["capacity"] = .object(capacity)
        var data = Object()
        let path = q.path ?? ""
        data["free_space_in_bytes"] = .int(Int(FileSystem.freeBytes(path) ?? 0))
        data["path"] = .string(FileSystem.absolute(path))
        data["storage_type"] = .string(FileSystem.storageType(path) ?? "unknown")
        o["data"] = .object(data)
        o["events_count"] = .int(q.unread)
        o["queue_size_in_bytes"] = .int(Int(q.persistedBytes))
        o["max_queue_size_in_bytes"] = .int(Int(q.maxBytes))
        // Sluice extensions.
        o["unacked_events"] = .int(q.unacknowledged)
        if let error = q.lastError { o["last_error"] = .string(error) }
        return o
    }

    /// Where every event went; `unaccounted` is 0 unless an event went missing (a Sluice extension).
    func ledger(_ l: PipelineLedgerSnapshot) -> Object {
        var o = Object()
        o["accepted"] = .int(l.accepted)
        o["recovered"] = .int(l.recovered)
        o["created"] = .int(l.created)
        o["delivered"] = .int(l.delivered)
        o["dead_lettered"] = .int(l.deadLettered)
        o["dropped"] = .int(l.dropped)
        o["undelivered"] = .int(l.undelivered)
        o["in_flight"] = .int(l.inFlight)
        o["unaccounted"] = .int(l.unaccounted)
        return o
    }

    func events(of m: PipelineMetrics) -> Object {
        var o = Object()
        o["in"] = .int(m.eventsIn.load(ordering: .relaxed))
        o["filtered"] = .int(m.eventsFiltered.load(ordering: .relaxed))
        o["out"] = .int(m.eventsOut.load(ordering: .relaxed))
        o["duration_in_millis"] = .int(m.durationNanos.load(ordering: .relaxed) / 1_000_000)
        o["queue_push_duration_in_millis"] = .int(m.queuePushNanos.load(ordering: .relaxed) / 1_000_000)
        return o
    }

    func plugin(_ p: Pipeline, _ built: BuiltPlugin, input: Bool) -> Value {
        var o = Object()
        o["id"] = .string(built.id)
        o["name"] = .string(built.name)
        var e = Object()
        let m = p.program.metrics.plugins[built.id]
        if input {
            e["out"] = .int(m?.outCount ?? 0)
            e["queue_push_duration_in_millis"] = .int(m?.durationMillis ?? 0)
        } else {
            e["in"] = .int(m?.inCount ?? 0)
            e["out"] = .int(m?.outCount ?? 0)
            e["duration_in_millis"] = .int(m?.durationMillis ?? 0)
        }
        o["events"] = .object(e)
        if built.collectsMetrics, let flow = p.flow.plugins[built.id] {
            o["flow"] = .object(flow.object(at: Clock.nanoseconds()))
        }
        return .object(o)
    }

    func reloads(_ r: PipelineReloadStats) -> Object {
        var o = Object()
        o["successes"] = .int(r.successes)
        o["failures"] = .int(r.failures)
        if let message = r.lastError {
            var e = Object()
            e["message"] = .string(message)
            e["backtrace"] = .array([])
            o["last_error"] = .object(e)
        } else {
            o["last_error"] = .null
        }
        o["last_success_timestamp"] = r.lastSuccessTimestamp.map(Value.timestamp) ?? .null
        o["last_failure_timestamp"] = r.lastFailureTimestamp.map(Value.timestamp) ?? .null
        return o
    }

    func eventTotals() -> Object {
        let totals = EventCounts(summing: agent.runningPipelines)
        var o = Object()
        o["in"] = .int(totals.in)
        o["filtered"] = .int(totals.filtered)
        o["out"] = .int(totals.out)
        o["duration_in_millis"] = .int(totals.durationNanos / 1_000_000)
        o["queue_push_duration_in_millis"] = .int(totals.queuePushNanos / 1_000_000)
        return o
    }

    /// The node-level `flow`, when the directory keeps one.
    func nodeFlow() -> Object? { agent.flow?.metrics.object(at: Clock.nanoseconds()) }

    func reloadTotals() -> Object {
        let all = agent.runningPipelines.map { agent.reloadStats($0.settings.id) }
        var o = Object()
        o["successes"] = .int(all.reduce(0) { $0 + $1.successes })
        o["failures"] = .int(all.reduce(0) { $0 + $1.failures })
        return o
    }

    // MARK: Process and OS (Linux /proc)

    func processStats() -> Object {
        var o = Object()
        let fds = ProcessInfoReader.openFileDescriptors()
        o["open_file_descriptors"] = .int(fds)
        o["peak_open_file_descriptors"] = .int(ProcessInfoReader.peakFileDescriptors(fds))
        o["max_file_descriptors"] = .int(ProcessInfoReader.maxFileDescriptors())
        var mem = Object()
        mem["total_virtual_in_bytes"] = .int(ProcessInfoReader.virtualMemoryBytes())
        o["mem"] = .object(mem)
        var cpu = Object()
        cpu["total_in_millis"] = .int(ProcessInfoReader.cpuMillis())
        cpu["percent"] = .int(0)
        var load = Object()
        let l = ProcessInfoReader.loadAverage()
        load["1m"] = .double(l.0)
        load["5m"] = .double(l.1)
        load["15m"] = .double(l.2)
        cpu["load_average"] = .object(load)
        o["cpu"] = .object(cpu)
        return o
    }

    func osInfo() -> Object {
        var u = utsname()
        uname(&u)
        func field<T>(_ t: T) -> String {
            withUnsafeBytes(of: t) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
        }
        var o = Object()
        o["name"] = .string(field(u.sysname))
        o["arch"] = .string(field(u.machine))
        o["version"] = .string(field(u.release))
        o["available_processors"] = .int(System.cpuCount)
        return o
    }
}

/// Reads the process's resource use from Linux's `/proc`.
enum ProcessInfoReader {
    private static let peak = Mutex(0)

    static func openFileDescriptors() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var n = 0
        while readdir(dir) != nil { n += 1 }
        return max(0, n - 3)  // ".", ".." and the directory's own descriptor
    }

    static func peakFileDescriptors(_ current: Int) -> Int {
        peak.withLock { p in
            p = max(p, current)
            return p
        }
    }

    static func maxFileDescriptors() -> Int {
        var r = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r)
        return Int(clamping: r.rlim_cur)
    }

    static func virtualMemoryBytes() -> Int {
        guard let text = read("/proc/self/statm"), let pages = Int(text.split(separator: " ").first ?? "") else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func cpuMillis() -> Int {
        var u = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
        return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000
    }

    static func loadAverage() -> (Double, Double, Double) {
        let parts = (read("/proc/loadavg") ?? "").split(separator: " ").compactMap { Double($0) }
        return parts.count >= 3 ? (parts[0], parts[1], parts[2]) : (0, 0, 0)
    }

    static func read(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 4096)
        let n = fread(&buf, 1, buf.count - 1, f)
        return String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A tiny lock-protected value (Synchronization's Mutex needs `~Copyable` care across modules; this is enough).
final class Mutex<T>: @unchecked Sendable {
    private var value: T
    private let lock = Lock()
    init(_ value: T) { self.value = value }
    func withLock<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&value) } }
}


extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Writes events to Redis (Logstash's `redis` output 5.2): `RPUSH` to a list or `PUBLISH` to a channel, the key
/// rendered per event (sprintf), each event encoded by the codec (`json` by default). A batch's commands are
/// pipelined; with `batch => true` consecutive events for one list go in one `RPUSH` of up to `batch_events`
/// values (each worker batch is written when it is received, so `batch_timeout` never has to wait).
///
/// Nothing is lost: when the server cannot be reached or the connection breaks, the output waits
/// `reconnect_interval`, moves to the next host and sends the whole batch again until it is written (so items
/// written just before a break may be written twice); at shutdown the batch stays in the persisted queue. An
/// error reply for a command (`WRONGTYPE`, `OOM`) is retried the same way, as Logstash does, unless the DLQ is
/// enabled: then those events go to the DLQ with the server's reason. With `congestion_threshold`, a list longer
/// than the threshold (checked at most once per `congestion_interval` per key) makes the output wait until it
/// shrinks, which back-pressures the pipeline. Called on worker threads; batches are written one at a time.
public final class RedisOutput: Output, @unchecked Sendable {
    public static let name = "redis"
    public static let summary = "Writes events to a Redis list (RPUSH) or channel (PUBLISH)."
    public static let defaultCodec = "json"

    public struct Settings: PluginSettings {
        @Setting("host", doc: "Redis servers, `host` or `host:port`; one is used at a time, the next after a failure.") var host = ["127.0.0.1"]
        @Setting("shuffle_hosts", doc: "Start with the hosts in random order.") var shuffleHosts = true
        @Setting("port", doc: "The port for hosts given without one.") var port = 6379
        @Setting("db", doc: "The Redis database number.") var db = 0
        @Setting("password", doc: "The password sent with AUTH.") var password: String? = nil
        @Setting("timeout", doc: "Seconds to wait for a connection or a reply.") var timeout = 5.0
        @Setting("key", doc: "The list or channel, rendered per event (`logstash-%{type}`).", required: true) var key = Template("")
        @Setting("data_type", doc: "`list` appends with RPUSH; `channel` publishes with PUBLISH.", required: true)
        var dataType = RedisOutputDataType.list
        @Setting("batch", doc: "Lists only: push several events with one RPUSH.") var batch = false
        @Setting("batch_events", doc: "The most events in one RPUSH when batch is true.") var batchEvents = 50
        @Setting("batch_timeout", doc: "Accepted for Logstash compatibility: Sluice writes each worker batch at once, so nothing waits for it.")
        var batchTimeout = 5.0
        @Setting("congestion_threshold", doc: "Lists only: wait while the list holds more items than this (0: never).") var congestionThreshold = 0
        @Setting("congestion_interval", doc: "Seconds between two length checks of one list, and between checks while waiting.")
        var congestionInterval = 1.0
        @Setting("reconnect_interval", doc: "Seconds to wait before reconnecting after a failure.") var reconnectInterval = 1.0
        @Setting("ssl_enabled", doc: "TLS to the server: not supported by Sluice; `true` is refused.") var sslEnabled = false

        public init() {}

        public func validate() throws(SettingsValidationError) {
            if sslEnabled {
                throw SettingsValidationError(
                    "ssl_enabled => true is not supported by Sluice's redis output; reach Redis over loopback or a TLS tunnel",
                    setting: "ssl_enabled")
            }
            if host.isEmpty { throw SettingsValidationError("host must name at least one server", setting: "host") }
            for h in host where RedisOutput.endpoint(h, defaultPort: port) == nil {
                throw SettingsValidationError("host '\(h)' is not `host` or `host:port` with a port between 1 and 65535", setting: "host")
            }
            if !(1...65535).contains(port) { throw SettingsValidationError("port must be between 1 and 65535, got \(port)", setting: "port") }
            if db < 0 { throw SettingsValidationError("db must not be negative, got \(db)", setting: "db") }
            if batchEvents < 1 { throw SettingsValidationError("batch_events must be at least 1, got \(batchEvents)", setting: "batch_events") }
            if batch && dataType != .list { throw SettingsValidationError("batch works only with data_type => list", setting: "batch") }
            if congestionThreshold < 0 { throw SettingsValidationError("congestion_threshold must not be negative", setting: "congestion_threshold") }
            if congestionInterval < 0 { throw SettingsValidationError("congestion_interval must not be negative", setting: "congestion_interval") }
            if reconnectInterval < 0 { throw SettingsValidationError("reconnect_interval must not be negative", setting: "reconnect_interval") }
            if timeout <= 0 { throw SettingsValidationError("timeout must be positive, got \(timeout)", setting: "timeout") }
        }
    }

    let settings: Settings
    let context: PluginContext
    private let codec: any Codec
    private let endpoints: [RedisEndpoint]
    private let options: RedisConnectionOptions
    private let lock = Lock()
    // Guarded by `lock`: the connection, the host it goes to, and when each list's length was last checked.
    private var connection: RedisConnection?
    private var hostIndex = 0
    private var lastCongestionCheck: [String: Int] = [:]

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        codec = context.codec!
        var endpoints = settings.host.compactMap { Self.endpoint($0, defaultPort: settings.port) }
        if settings.shuffleHosts { endpoints.shuffle() }
        self.endpoints = endpoints
        options = RedisConnectionOptions(timeout: settings.timeout, password: settings.password, db: settings.db)
    }

    /// `host` or `host:port` (the port overrides `port`), as Logstash's redis output reads its `host` entries.
    static func endpoint(_ text: String, defaultPort: Int) -> RedisEndpoint? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return text.isEmpty ? nil : .tcp(host: text, port: defaultPort)
        case 2:
            guard !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) else { return nil }
            return .tcp(host: String(parts[0]), port: port)
        default: return nil
        }
    }

    public func receive(_ events: [Event]) -> OutputOutcome {
        var pending = Pending(events: events, keys: events.map { settings.key.render($0) }, payloads: events.map { event in
            var bytes: [UInt8] = []
            codec.encode(event, into: &bytes)
            return bytes
        })
        return lock.withLock {
            var outcome = OutputOutcome()
            while !pending.isEmpty {
                if context.shutdown.isRequested {
                    UndeliveredAtShutdown.record(pending.events, context: context, what: "written to Redis", into: &outcome)
                    return outcome
                }
                do {
                    let connection = try connected()
                    if settings.congestionThreshold > 0 && settings.dataType == .list {
                        guard try waitWhileCongested(Set(pending.keys), connection) else { continue }
                    }
                    let (commands, ranges) = commands(for: pending)
                    let replies = try connection.pipeline(commands)
                    var failed: [Int] = []
                    var reason = ""
                    for (reply, range) in zip(replies, ranges) {
                        if case .error(let message) = reply {
                            failed.append(contentsOf: range)
                            reason = message
                        }
                    }
                    if failed.isEmpty { return outcome }
                    let retry = pending.subset(failed)
                    if context.deadLetterQueue.isEnabled {
                        for event in retry.events {
                            let stored = context.deadLetterQueue.write(
                                event, pluginType: context.pluginName, pluginID: context.pluginID, reason: "Redis refused the write: \(reason)")
                            outcome.record(event, stored ? .deadLettered : .retryLater)
                        }
                        return outcome
                    }
                    context.logger.warn("Redis at \(connection.endpoint) refused \(failed.count) writes: \(reason); retrying in \(settings.reconnectInterval) s")
                    pending = retry
                    _ = RetryPolicy.sleep(settings.reconnectInterval) { context.shutdown.isRequested }
                } catch {
                    let endpoint = connection?.endpoint ?? endpoints[hostIndex]
                    context.logger.warn("Failed to write \(pending.events.count) events to Redis at \(endpoint): \(error); retrying in \(settings.reconnectInterval) s")
                    connection?.close()
                    connection = nil
                    hostIndex = (hostIndex + 1) % endpoints.count
                    _ = RetryPolicy.sleep(settings.reconnectInterval) { context.shutdown.isRequested }
                }
            }
            return outcome
        }
    }

    public func close() {
        lock.withLock {
            connection?.close()
            connection = nil
        }
    }

    /// Events still to be written, with their rendered keys and encoded payloads.
    private struct Pending {
        var events: [Event]
        var keys: [String]
        var payloads: [[UInt8]]
        var isEmpty: Bool { events.isEmpty }

        func subset(_ indexes: [Int]) -> Pending {
            Pending(events: indexes.map { events[$0] }, keys: indexes.map { keys[$0] }, payloads: indexes.map { payloads[$0] })
        }
    }

    /// One command per event, or with `batch` one `RPUSH` per run of up to `batch_events` events with the same key;
    /// with each command, the events it writes.
    private func commands(for pending: Pending) -> ([[[UInt8]]], [Range<Int>]) {
        let verb: [UInt8] = settings.dataType == .list ? Array("RPUSH".utf8) : Array("PUBLISH".utf8)
        var commands: [[[UInt8]]] = []
        var ranges: [Range<Int>] = []
        var i = 0
        while i < pending.events.count {
            var end = i + 1
            if settings.batch {
                while end < pending.events.count && end - i < settings.batchEvents && pending.keys[end] == pending.keys[i] { end += 1 }
            }
            commands.append([verb, Array(pending.keys[i].utf8)] + pending.payloads[i..<end])
            ranges.append(i..<end)
            i = end
        }
        return (commands, ranges)
    }

    private func connected() throws(RedisError) -> RedisConnection {
        if let connection { return connection }
        let fresh = try RedisConnection(endpoints[hostIndex], options: options)
        connection = fresh
        return fresh
    }

    /// Waits while one of `keys` (lists) holds more than `congestion_threshold` items, checking each key at most
    /// once per `congestion_interval`. False when the pipeline is stopping.
    private func waitWhileCongested(_ keys: Set<String>, _ connection: RedisConnection) throws(RedisError) -> Bool {
        let interval = Int(settings.congestionInterval * 1e9)
        for key in keys {
            while true {
                let now = Clock.nanoseconds()
                if let last = lastCongestionCheck[key], now - last < interval { break }
                lastCongestionCheck[key] = now
                let length = try connection.call(["LLEN", key]).integer ?? 0
                guard length > settings.congestionThreshold else { break }
                context.logger.rateLimited(
                    .warn, key: "congestion",
                    "Redis list '\(key)' holds \(length) items, more than congestion_threshold \(settings.congestionThreshold); waiting")
                if !RetryPolicy.sleep(settings.congestionInterval, shouldStop: { context.shutdown.isRequested }) { return false }
            }
        }
        return true
    }
}

/// The redis output's `data_type`.
public enum RedisOutputDataType: String, SettingEnum, Sendable {
    case list
    case channel
}

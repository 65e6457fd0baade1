#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Reads events from Redis (Logstash's `redis` input 3.7): the items of a list, or the messages published on a
/// channel (`SUBSCRIBE`) or on the channels matching a pattern (`PSUBSCRIBE`). Each item or message is decoded by
/// the codec (`json` by default); channel events get `[@metadata][redis_channel]`.
///
/// Lists are read at least once, which Logstash does not promise (it removes items before they are queued, so a
/// crash loses them). Each consumer moves up to `batch_count` items atomically (one Lua script: `LRANGE`, `LTRIM`,
/// `RPUSH`) from the list to a processing list of its own, `<key>:sluice:processing:<host>:<data path digest>:
/// <pipeline>:<plugin id>:<thread>`, pushes their events, and removes them from the processing list (`LTRIM`) only
/// once the events are safe (in the persisted queue, or delivered by every output with the memory queue). On start
/// and after a lost connection, a consumer first moves what its processing list still holds back to the head of the
/// list, so a `kill -9` re-reads those items rather than losing them. This is the reliable-queue pattern, chosen
/// over "`LRANGE`, then `LTRIM` on acknowledgement" because that one is wrong with several consumers on one key:
/// both would read the same items, and each trim would remove items the other had not delivered. Here an item is in
/// exactly one place at any moment, so any number of Sluice processes (and `threads`) can share a key. A consumer
/// that never comes back leaves its unfinished items in its processing list: start it again with the same
/// `path.data`, or move them back by hand (`LMOVE`).
///
/// Channels are at most once by nature: Redis keeps no message for a subscriber that is not connected. Runs on the
/// input's thread, plus one thread per further consumer (`threads`); the last removals happen in `close`.
public final class RedisInput: Input, @unchecked Sendable {
    public static let name = "redis"
    public static let summary = "Reads events from a Redis list (at least once) or from channels (SUBSCRIBE / PSUBSCRIBE)."
    public static let defaultCodec = "json"

    public struct Settings: PluginSettings {
        @Setting("host", doc: "The Redis server's host name or address.") var host = "127.0.0.1"
        @Setting("port", doc: "The Redis server's port.") var port = 6379
        @Setting("path", doc: "The Redis server's unix socket; overrides host and port.") var path: String? = nil
        @Setting("db", doc: "The Redis database number.") var db = 0
        @Setting("password", doc: "The password sent with AUTH.") var password: String? = nil
        @Setting("key", doc: "The name of the list, the channel, or the channel pattern.", required: true) var key = ""
        @Setting(
            "data_type", doc: "`list` reads and removes items; `channel` subscribes to `key`; `pattern_channel` subscribes to the channels matching `key`.",
            required: true)
        var dataType = RedisInputDataType.list
        @Setting("batch_count", doc: "The number of list items read per round trip.") var batchCount = 125
        @Setting("threads", doc: "Consumers, each with its own connection (with channels, each receives every message).") var threads = 1
        @Setting("timeout", doc: "Seconds to wait for a connection or a reply.") var timeout = 5.0
        @Setting("ssl", doc: "TLS to the server: not supported by Sluice; `true` is refused.") var ssl = false
        @Setting("command_map", doc: "Renamed Redis commands (the server's `rename-command`): `{ \"EVALSHA\" => \"secret_evalsha\" }`.")
        var commandMap = SettingHash<String>()

        public init() {}

        public func validate() throws(SettingsValidationError) {
            if ssl {
                throw SettingsValidationError(
                    "ssl => true is not supported by Sluice's redis input; reach Redis over loopback, a unix socket (path) or a TLS tunnel",
                    setting: "ssl")
            }
            if key.isEmpty { throw SettingsValidationError("key must not be empty", setting: "key") }
            if !(1...65535).contains(port) { throw SettingsValidationError("port must be between 1 and 65535, got \(port)", setting: "port") }
            if db < 0 { throw SettingsValidationError("db must not be negative, got \(db)", setting: "db") }
            if batchCount < 1 { throw SettingsValidationError("batch_count must be at least 1, got \(batchCount)", setting: "batch_count") }
            if threads < 1 { throw SettingsValidationError("threads must be at least 1, got \(threads)", setting: "threads") }
            if timeout <= 0 { throw SettingsValidationError("timeout must be positive, got \(timeout)", setting: "timeout") }
        }
    }

    let settings: Settings
    let context: PluginContext
    let endpoint: RedisEndpoint
    let options: RedisConnectionOptions
    private let stopRequested = ShutdownFlag()
    private let consumersLock = Lock()
    private var consumers: [RedisListConsumer] = []

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        endpoint = settings.path.map { .unix(path: $0) } ?? .tcp(host: settings.host, port: settings.port)
        var commandMap: [String: String] = [:]
        for (name, renamed) in settings.commandMap { commandMap[name.uppercased()] = renamed }
        options = RedisConnectionOptions(timeout: settings.timeout, password: settings.password, db: settings.db, commandMap: commandMap)
    }

    var stopping: Bool { stopRequested.isRequested || context.shutdown.isRequested }

    public func stop() { stopRequested.request() }

    public func run(_ sink: EventSink) throws {
        var threads: [SluiceCore.Thread] = []
        for index in 1..<max(settings.threads, 1) {
            threads.append(try SluiceCore.Thread(name: "redis-\(index)") { [self] in
                do { try consume(index, sink) } catch { context.logger.error("Redis consumer \(index) stopped: \(error)") }
            })
        }
        defer { for thread in threads { thread.join() } }
        try consume(0, sink)
    }

    /// Removes from the processing lists what became safe after `run` returned (the memory queue drains later).
    public func close() {
        for consumer in consumersLock.withLock({ consumers }) { consumer.finish() }
    }

    private func consume(_ index: Int, _ sink: EventSink) throws {
        let codec = try context.makeCodec()
        switch settings.dataType {
        case .list:
            let consumer = RedisListConsumer(input: self, processingKey: processingKey(index), codec: codec)
            consumersLock.withLock { consumers.append(consumer) }
            consumer.run(sink)
        case .channel, .patternChannel:
            RedisSubscriber(input: self, codec: codec).run(sink)
        }
    }

    /// The processing list of consumer `index`: the same for the same host, data path, pipeline, plugin and thread,
    /// so a restarted process finds what its previous run left there, and distinct for two processes on one host.
    private func processingKey(_ index: Int) -> String {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        let host = String(cString: name)
        var digest: UInt32 = 2_166_136_261
        for byte in context.dataPath.utf8 { digest = (digest ^ UInt32(byte)) &* 16_777_619 }
        let dataPath = String(digest, radix: 16)
        return "\(settings.key):sluice:processing:\(host):\(dataPath):\(context.pipelineID):\(context.pluginID):\(index)"
    }

    /// Connects, retrying with a growing pause (1 s up to 30 s) until it works or the input stops.
    func connect() -> RedisConnection? {
        var pause = 1.0
        while !stopping {
            do {
                let connection = try RedisConnection(endpoint, options: options)
                context.logger.info("Connected to Redis at \(endpoint) (db \(settings.db), \(settings.dataType.rawValue) '\(settings.key)')")
                return connection
            } catch {
                if error.isAuthentication {
                    context.logger.error("Redis at \(endpoint) refused the password: \(error); check the redis input's password. Retrying in \(pause) s")
                } else {
                    context.logger.warn("Cannot reach Redis at \(endpoint): \(error); retrying in \(pause) s")
                }
                if !pauseUnlessStopping(pause) { return nil }
                pause = min(pause * 2, 30)
            }
        }
        return nil
    }

    /// Sleeps `seconds` unless the input stops first; false when it stopped.
    func pauseUnlessStopping(_ seconds: Double) -> Bool {
        let end = Clock.nanoseconds() + Int(seconds * 1e9)
        while !stopping {
            let left = end - Clock.nanoseconds()
            if left <= 0 { return true }
            usleep(useconds_t(min(left / 1000, 50_000)))
        }
        return false
    }

    /// Decodes one item or message into `events`, decorated.
    func decode(_ bytes: [UInt8], codec: any Codec, channel: String?, into events: inout [Event]) {
        let first = events.count
        bytes.withUnsafeBufferPointer { buffer in codec.decode(buffer) { events.append($0) } }
        codec.flush { events.append($0) }
        for event in events[first...] {
            if let channel { event.set(Self.channelField, .string(channel)) }
            context.decorate(event)
        }
    }

    static let channelField = try! FieldReference(parsing: "[@metadata][redis_channel]")
}

/// The redis input's `data_type`.
public enum RedisInputDataType: String, SettingEnum, Sendable {
    case list
    case channel
    case patternChannel = "pattern_channel"
}

/// Where a list consumer has got to: items moved to its processing list since its connection `epoch` began. A new
/// connection starts a new epoch (what the old one moved went back to the list), so late acknowledgements of an
/// old epoch remove nothing.
struct RedisListPosition: Sendable {
    let epoch: Int
    let moved: Int
}

/// One consumer of a list (one per `threads`): moves batches to its processing list, pushes their events, and
/// removes them from the processing list once they are safe. `run` is called on its thread; `finish` on the
/// pipeline's thread after the queue drained.
final class RedisListConsumer: @unchecked Sendable {
    private unowned let input: RedisInput
    private let processingKey: String
    private let codec: any Codec
    private let acknowledgements = AcknowledgementTracker<RedisListPosition>()
    private let lock = Lock()
    // Guarded by `lock`: the connection, its epoch, what was moved and what was removed in that epoch.
    private var connection: RedisConnection?
    private var epoch = 0
    private var moved = 0
    private var removed = 0
    /// Moved items that decoded to no event, safe as soon as everything before them is.
    private var movedWithoutEvents: Int?

    /// Moves up to ARGV[1] items from the head of KEYS[1] to the tail of KEYS[2], atomically, and returns them.
    static let take = RedisScript("""
        local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
        if #items > 0 then
          redis.call('LTRIM', KEYS[1], #items, -1)
          for i = 1, #items, 1000 do
            redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
          end
        end
        return items
        """)

    /// Moves every item of KEYS[2] back to the head of KEYS[1], in order, and returns how many.
    static let requeue = RedisScript("""
        local items = redis.call('LRANGE', KEYS[2], 0, -1)
        for i = #items, 1, -1 do redis.call('LPUSH', KEYS[1], items[i]) end
        redis.call('DEL', KEYS[2])
        return #items
        """)

    init(input: RedisInput, processingKey: String, codec: any Codec) {
        self.input = input
        self.processingKey = processingKey
        self.codec = codec
    }

    func run(_ sink: EventSink) {
        let key = input.settings.key
        let count = String(input.settings.batchCount)
        var events: [Event] = []
        while !input.stopping {
            do {
                let items = try lock.withLock { () throws(RedisError) -> [[UInt8]] in
                    let connection = try connected()
                    try removeSafe(connection)
                    let reply = try connection.evalScript(Self.take, keys: [key, processingKey], arguments: [count])
                    guard case .array(let list?) = reply else { return [] }
                    let items = list.compactMap { item -> [UInt8]? in
                        if case .bulk(let bytes?) = item { return bytes }
                        return nil
                    }
                    moved += list.count
                    return items
                }
                if items.isEmpty {
                    _ = input.pauseUnlessStopping(0.1)
                    continue
                }
                events.removeAll(keepingCapacity: true)
                for item in items { input.decode(item, codec: codec, channel: nil, into: &events) }
                let position = lock.withLock { RedisListPosition(epoch: epoch, moved: moved) }
                if events.isEmpty {
                    lock.withLock { movedWithoutEvents = position.moved }
                    continue
                }
                sink.push(contentsOf: events, acknowledgement: acknowledgements.register(position, events: events.count))
            } catch {
                lock.withLock { dropConnection() }
                input.context.logger.warn("Lost the connection to Redis at \(input.endpoint): \(error); reconnecting")
                if !input.pauseUnlessStopping(1) { break }
            }
        }
    }

    /// Removes what became safe since the input stopped; a failure leaves the items to be re-read next time.
    func finish() {
        lock.withLock {
            do {
                if let connection { try removeSafe(connection) }
            } catch {
                input.context.logger.warn("Could not remove delivered items from \(processingKey): \(error); they will be read again")
            }
            dropConnection()
        }
    }

    /// The connection, made when there is none: a new epoch begins, and what the processing list still holds
    /// (a previous run's or a lost connection's unfinished items) goes back to the head of the list first.
    private func connected() throws(RedisError) -> RedisConnection {
        if let connection { return connection }
        guard let fresh = input.connect() else { throw RedisError(.connection, "stopped before connecting") }
        let reply = try fresh.evalScript(Self.requeue, keys: [input.settings.key, processingKey], arguments: [])
        if let n = reply.integer, n > 0 {
            input.context.logger.info("Moved \(n) unfinished items from \(processingKey) back to '\(input.settings.key)'")
        }
        connection = fresh
        epoch += 1
        moved = 0
        removed = 0
        movedWithoutEvents = nil
        return fresh
    }

    private func dropConnection() {
        connection?.close()
        connection = nil
    }

    /// Removes from the head of the processing list the items moved in this epoch whose events are safe.
    private func removeSafe(_ connection: RedisConnection) throws(RedisError) {
        var safe = 0
        if let position = acknowledgements.safe, position.epoch == epoch { safe = position.moved }
        if let quiet = movedWithoutEvents, acknowledgements.outstanding == 0 { safe = max(safe, quiet) }
        guard safe > removed else { return }
        try connection.call(["LTRIM", processingKey, String(safe - removed), "-1"])
        removed = safe
    }
}

/// A subscriber to a channel or a channel pattern: at most once, since Redis keeps nothing for a subscriber that
/// is away. Runs on its consumer's thread.
struct RedisSubscriber {
    let input: RedisInput
    let codec: any Codec

    func run(_ sink: EventSink) {
        let settings = input.settings
        let pattern = settings.dataType == .patternChannel
        var events: [Event] = []
        while !input.stopping {
            guard let connection = input.connect() else { return }
            defer { connection.close() }
            do {
                try connection.send([[Array((pattern ? "PSUBSCRIBE" : "SUBSCRIBE").utf8), Array(settings.key.utf8)]])
                input.context.logger.info("Subscribed to \(pattern ? "channels matching" : "channel") '\(settings.key)'")
                while !input.stopping {
                    guard var message = try connection.waitForMessage(milliseconds: 200) else { continue }
                    events.removeAll(keepingCapacity: true)
                    var taken = 0
                    while true {
                        if let (channel, payload) = try Self.parse(message, pattern: pattern) {
                            input.decode(payload, codec: codec, channel: channel, into: &events)
                        }
                        taken += 1
                        guard taken < settings.batchCount, let next = try connection.bufferedReply() else { break }
                        message = next
                    }
                    if !events.isEmpty { sink.push(contentsOf: events) }
                }
            } catch {
                input.context.logger.warn("Lost the subscription at Redis \(input.endpoint): \(error); reconnecting (messages published meanwhile are not received)")
                if !input.pauseUnlessStopping(1) { return }
            }
        }
    }

    /// The channel and payload of a pushed `message` / `pmessage`; nil for other pushes (subscription confirmations).
    static func parse(_ reply: RedisReply, pattern: Bool) throws(RedisError) -> (String, [UInt8])? {
        if case .error(let message) = reply { throw RedisError(.server, message) }
        guard case .array(let parts?) = reply, case .bulk(let kind?)? = parts.first else { return nil }
        switch String(decoding: kind, as: UTF8.self) {
        case "message" where parts.count == 3:
            guard case .bulk(let channel?) = parts[1], case .bulk(let payload?) = parts[2] else { return nil }
            return (String(decoding: channel, as: UTF8.self), payload)
        case "pmessage" where parts.count == 4:
            guard case .bulk(let channel?) = parts[2], case .bulk(let payload?) = parts[3] else { return nil }
            return (String(decoding: channel, as: UTF8.self), payload)
        default:
            return nil
        }
    }
}

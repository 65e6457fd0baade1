import CRdKafka
import SluiceCore

/// Consumes Kafka topics as a member of a consumer group (Logstash's `kafka` input, integration-kafka 11.6, on
/// librdkafka). Each of `consumer_threads` is its own librdkafka consumer in the group, with its own codec.
///
/// Beyond Logstash: a record's offset is stored for commit only once its events are safe (in the persisted queue,
/// or delivered by every output with the memory queue), contiguously per partition, so a crash re-reads rather than
/// loses — at least once. A rebalance that revokes partitions waits (bounded) for their in-flight events and
/// commits synchronously before letting them go. `run` is called on the input's thread, which drives consumer 0;
/// the others get threads of their own. `stop` is called from another thread.
public final class KafkaInput: Input, @unchecked Sendable {
    public static let name = "kafka"
    public static let summary = "Reads Kafka topics as a consumer group member; offsets are committed once events are safe."

    /// `decorate_events`; `true`/`false` are Logstash's deprecated aliases of `basic`/`none`.
    public enum Decoration: String, SettingEnum, Sendable {
        case none, basic, extended
        case `true` = "true", `false` = "false"

        var level: Int {
            switch self {
            case .none, .false: return 0
            case .basic, .true: return 1
            case .extended: return 2
            }
        }
    }

    /// `auto_offset_reset`; `none` is librdkafka's `error`.
    public enum OffsetReset: String, SettingEnum, Sendable { case earliest, latest, none }
    public enum IsolationLevel: String, SettingEnum, Sendable { case read_uncommitted, read_committed }

    public struct Settings: PluginSettings {
        var client = KafkaClientSettings()
        var security = KafkaSecuritySettings()
        @Setting("topics", doc: "Topics to subscribe to (ignored when topics_pattern is set).")
        var topics = ["logstash"]
        @Setting("topics_pattern", doc: "A regular expression the whole topic name must match (librdkafka's regex syntax, anchored at both ends).")
        var topicsPattern: String? = nil
        @Setting("group_id", doc: "The consumer group (librdkafka `group.id`).")
        var groupID = "logstash"
        @Setting("group_instance_id", doc: "Static group membership id (librdkafka `group.instance.id`); each thread appends `-<i>`.")
        var groupInstanceID: String? = nil
        @Setting("group_protocol", doc: "Only `classic` is supported by librdkafka 2.0.")
        var groupProtocol = "classic"
        @Setting("consumer_threads", doc: "Consumers in the group run by this input, each on its own thread.")
        var consumerThreads = 1
        @Setting("auto_offset_reset", doc: "Where to start without a committed offset: earliest, latest or none (an error); unset is Kafka's default, latest.")
        var autoOffsetReset: OffsetReset? = nil
        @Setting("enable_auto_commit", doc: "Commit acknowledged offsets every auto_commit_interval_ms; false commits them synchronously after each poll.")
        var enableAutoCommit = true
        @Setting("auto_commit_interval_ms", doc: "How often acknowledged offsets are committed (librdkafka `auto.commit.interval.ms`).")
        var autoCommitIntervalMs = 5000
        @Setting("decorate_events", doc: "`basic` adds [@metadata][kafka] topic, consumer_group, partition, offset, key, timestamp; `extended` adds headers too.")
        var decorateEvents = Decoration.none
        @Setting("poll_timeout_ms", doc: "How long one poll waits for records.")
        var pollTimeoutMs = 100
        @Setting("max_poll_records", doc: "The most records handed to the pipeline per poll.")
        var maxPollRecords = 500
        @Setting("max_poll_interval_ms", doc: "The longest gap between polls before the consumer leaves the group (librdkafka `max.poll.interval.ms`).")
        var maxPollIntervalMs = 300_000
        @Setting("session_timeout_ms", doc: "Group session timeout (librdkafka `session.timeout.ms`).")
        var sessionTimeoutMs = 10_000
        @Setting("heartbeat_interval_ms", doc: "Group heartbeat interval (librdkafka `heartbeat.interval.ms`).")
        var heartbeatIntervalMs = 3000
        @Setting("fetch_max_bytes", doc: "The most data a fetch returns (librdkafka `fetch.max.bytes`).")
        var fetchMaxBytes = 52_428_800
        @Setting("max_partition_fetch_bytes", doc: "The most data per partition a fetch returns (librdkafka `max.partition.fetch.bytes`).")
        var maxPartitionFetchBytes = 1_048_576
        @Setting("fetch_max_wait_ms", doc: "How long the broker may wait to fill fetch_min_bytes (librdkafka `fetch.wait.max.ms`).")
        var fetchMaxWaitMs = 500
        @Setting("fetch_min_bytes", doc: "The least data a fetch waits for (librdkafka `fetch.min.bytes`).")
        var fetchMinBytes: Int? = nil
        @Setting("request_timeout_ms", doc: "Timeout of a request to a broker (librdkafka `socket.timeout.ms`).")
        var requestTimeoutMs: Int? = nil
        @Setting("check_crcs", doc: "Verify record CRCs (librdkafka `check.crcs`).")
        var checkCRCs: Bool? = nil
        @Setting("isolation_level", doc: "read_uncommitted or read_committed (librdkafka `isolation.level`).")
        var isolationLevel = IsolationLevel.read_uncommitted
        @Setting("auto_create_topics", doc: "Let subscribing create a missing topic (librdkafka `allow.auto.create.topics`).")
        var autoCreateTopics = true
        @Setting("partition_assignment_strategy", doc: "`range` or `round_robin`; sticky strategies and class names are refused.")
        var partitionAssignmentStrategy: String? = nil
        @Setting("key_deserializer_class", doc: "Only StringDeserializer (keys become strings).")
        var keyDeserializerClass = "org.apache.kafka.common.serialization.StringDeserializer"
        @Setting("value_deserializer_class", doc: "StringDeserializer or ByteArrayDeserializer (the codec decodes the bytes either way).")
        var valueDeserializerClass = "org.apache.kafka.common.serialization.StringDeserializer"
        @Setting("retry_backoff_ms", doc: "Refused: librdkafka's consumer has no request retry back-off setting.")
        var retryBackoffMs: Int? = nil
        @Setting("schema_registry_url", doc: "Refused: the Avro schema registry is not supported.")
        var schemaRegistryURL: String? = nil

        public init() {}

        public func validate() throws(SettingsValidationError) {
            if consumerThreads < 1 { throw SettingsValidationError("consumer_threads must be at least 1", setting: "consumer_threads") }
            if maxPollRecords < 1 { throw SettingsValidationError("max_poll_records must be at least 1", setting: "max_poll_records") }
            if pollTimeoutMs < 0 { throw SettingsValidationError("poll_timeout_ms must not be negative", setting: "poll_timeout_ms") }
            if topicsPattern == nil && topics.isEmpty { throw SettingsValidationError("topics must name at least one topic", setting: "topics") }
            if groupProtocol != "classic" {
                throw SettingsValidationError("group_protocol \"\(groupProtocol)\" is not supported: librdkafka 2.0 speaks the classic group protocol only", setting: "group_protocol")
            }
            if let s = partitionAssignmentStrategy, Self.assignmentStrategies[s] == nil {
                throw SettingsValidationError(
                    "partition_assignment_strategy \"\(s)\" is not supported with librdkafka: use range or round_robin", setting: "partition_assignment_strategy")
            }
            if keyDeserializerClass != "org.apache.kafka.common.serialization.StringDeserializer" {
                throw SettingsValidationError("key_deserializer_class \(keyDeserializerClass) is not supported: keys are read as strings", setting: "key_deserializer_class")
            }
            if !Self.valueDeserializers.contains(valueDeserializerClass) {
                throw SettingsValidationError(
                    "value_deserializer_class \(valueDeserializerClass) is not supported: use StringDeserializer or ByteArrayDeserializer and a codec",
                    setting: "value_deserializer_class")
            }
            if retryBackoffMs != nil {
                throw SettingsValidationError("retry_backoff_ms is not supported by the kafka input: librdkafka's consumer has no such setting; remove it", setting: "retry_backoff_ms")
            }
            if schemaRegistryURL != nil {
                throw SettingsValidationError("schema_registry_url is not supported: the Avro schema registry has no librdkafka equivalent here", setting: "schema_registry_url")
            }
        }

        static let assignmentStrategies = ["range": "range", "round_robin": "roundrobin"]
        static let valueDeserializers: Set = [
            "org.apache.kafka.common.serialization.StringDeserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer",
        ]

        /// The librdkafka configuration of consumer `index`.
        func configuration(index: Int) -> KafkaConfiguration {
            var conf = KafkaConfiguration()
            client.apply(to: &conf, clientID: "\(client.clientID)-\(index)")
            security.apply(to: &conf)
            conf.set("group.id", groupID, from: "group_id")
            if let id = groupInstanceID { conf.set("group.instance.id", "\(id)-\(index)", from: "group_instance_id") }
            conf.set("enable.auto.commit", enableAutoCommit ? "true" : "false", from: "enable_auto_commit")
            conf.set("auto.commit.interval.ms", String(autoCommitIntervalMs), from: "auto_commit_interval_ms")
            // Offsets are stored by the input once events are safe, never by librdkafka when it hands a record out.
            conf.set("enable.auto.offset.store", "false", from: "enable_auto_commit")
            if let reset = autoOffsetReset {
                conf.set("auto.offset.reset", reset == .none ? "error" : reset.rawValue, from: "auto_offset_reset")
            }
            conf.set("max.poll.interval.ms", String(maxPollIntervalMs), from: "max_poll_interval_ms")
            conf.set("session.timeout.ms", String(sessionTimeoutMs), from: "session_timeout_ms")
            conf.set("heartbeat.interval.ms", String(heartbeatIntervalMs), from: "heartbeat_interval_ms")
            conf.set("fetch.max.bytes", String(fetchMaxBytes), from: "fetch_max_bytes")
            conf.set("max.partition.fetch.bytes", String(maxPartitionFetchBytes), from: "max_partition_fetch_bytes")
            conf.set("fetch.wait.max.ms", String(fetchMaxWaitMs), from: "fetch_max_wait_ms")
            if let v = fetchMinBytes { conf.set("fetch.min.bytes", String(v), from: "fetch_min_bytes") }
            if let v = requestTimeoutMs { conf.set("socket.timeout.ms", String(v), from: "request_timeout_ms") }
            if let v = checkCRCs { conf.set("check.crcs", v ? "true" : "false", from: "check_crcs") }
            conf.set("isolation.level", isolationLevel.rawValue, from: "isolation_level")
            conf.set("allow.auto.create.topics", autoCreateTopics ? "true" : "false", from: "auto_create_topics")
            if let s = partitionAssignmentStrategy, let name = Self.assignmentStrategies[s] {
                conf.set("partition.assignment.strategy", name, from: "partition_assignment_strategy")
            }
            return conf
        }
    }

    let settings: Settings
    let context: PluginContext
    let stopRequested = ShutdownFlag()

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        // Every property is checked by librdkafka now, so a refused value stops the pipeline at start-up.
        let conf = try settings.configuration(index: 0).make()
        rd_kafka_conf_destroy(conf)
    }

    public func stop() { stopRequested.request() }

    var stopping: Bool { stopRequested.isRequested || context.shutdown.isRequested }

    public func run(_ sink: EventSink) throws {
        var consumers: [KafkaConsumerLoop] = []
        defer { for c in consumers { c.destroy() } }
        for i in 0..<settings.consumerThreads {
            consumers.append(try KafkaConsumerLoop(index: i, input: self, codec: try context.makeCodec()))
        }
        var threads: [Thread] = []
        for c in consumers.dropFirst() {
            threads.append(try Thread(name: "kafka-consumer-\(c.index)") { c.run(sink) })
        }
        consumers[0].run(sink)
        for t in threads { t.join() }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CRdKafka
import SluiceCore

/// Writes events to Kafka topics (Logstash's `kafka` output, integration-kafka 11.6, on one librdkafka producer
/// shared by all workers). `begin` produces the whole batch and returns; the worker goes on with its next batches
/// and later finishes this one (`KafkaBatch.finish`), which waits for every delivery report and reports each
/// event's fate: delivered; retriable failures (timeouts, brokers down, leader changes) are sent again after
/// `retry_backoff_ms` — forever unless `retries` is set, as Logstash does — and a message that can never be written
/// (too large, unknown topic, invalid record, retries used up) goes to the DLQ with librdkafka's or the broker's
/// reason, where Logstash drops it. Called on worker threads, concurrently.
public final class KafkaOutput: PipelinedOutput, @unchecked Sendable {
    public static let name = "kafka"
    public static let summary = "Writes events to Kafka topics; undeliverable messages go to the DLQ with the broker's reason."

    public enum Acks: String, SettingEnum, Sendable {
        case zero = "0", one = "1", all = "all", minusOne = "-1"
    }
    public enum Compression: String, SettingEnum, Sendable { case none, gzip, snappy, lz4, zstd }

    public struct Settings: PluginSettings {
        var client = KafkaClientSettings()
        var security = KafkaSecuritySettings()
        @Setting("topic_id", doc: "The topic to write to (sprintf per event).", required: true)
        var topicID = Template("")
        @Setting("message_key", doc: "The record key (sprintf per event); none when unset.")
        var messageKey: Template? = nil
        @Setting("message_headers", doc: "Record headers; values are sprintf'd per event.")
        var messageHeaders = SettingHash<Template>()
        @Setting("acks", doc: "Acknowledgements the leader waits for: 0, 1 or all (librdkafka `acks`).")
        var acks = Acks.one
        @Setting("retries", doc: "How many times a retriable failure is retried; unset retries until delivered. Used up, the event goes to the DLQ.")
        var retries: Int? = nil
        @Setting("retry_backoff_ms", doc: "Wait before sending a failed message again (librdkafka `retry.backoff.ms`, and the output's own retry loop).")
        var retryBackoffMs = 100
        @Setting("batch_size", doc: "Bytes per partition batch (librdkafka `batch.size`).")
        var batchSize = 16384
        @Setting("linger_ms", doc: "Wait this long to fill a batch (librdkafka `linger.ms`).")
        var lingerMs = 0
        @Setting("compression_type", doc: "none, gzip, snappy, lz4 or zstd (librdkafka `compression.codec`).")
        var compressionType = Compression.none
        @Setting("max_request_size", doc: "The largest message (librdkafka `message.max.bytes`); larger ones go to the DLQ.")
        var maxRequestSize = 1_048_576
        @Setting("buffer_memory", doc: "Bytes of messages waiting to be sent (librdkafka `queue.buffering.max.kbytes`, rounded up to KiB).")
        var bufferMemory = 33_554_432
        @Setting("request_timeout_ms", doc: "How long the broker may take to acknowledge (librdkafka `request.timeout.ms`).")
        var requestTimeoutMs = 40_000
        @Setting("enable_idempotence", doc: "Exactly-once per partition from this producer (librdkafka `enable.idempotence`).")
        var enableIdempotence = false
        @Setting("partitioner", doc: "`default` or `uniform_sticky` (murmur2 for keyed records, sticky for the rest, as the Java client); round_robin and class names are refused.")
        var partitioner: String? = nil
        @Setting("key_serializer", doc: "StringSerializer or ByteArraySerializer (the key is sent as its UTF-8 bytes).")
        var keySerializer = "org.apache.kafka.common.serialization.StringSerializer"
        @Setting("value_serializer", doc: "StringSerializer or ByteArraySerializer (the codec's bytes are sent).")
        var valueSerializer = "org.apache.kafka.common.serialization.StringSerializer"

        public init() {}

        static let serializers: Set = [
            "org.apache.kafka.common.serialization.StringSerializer", "org.apache.kafka.common.serialization.ByteArraySerializer",
        ]

        public func validate() throws(SettingsValidationError) {
            if let retries, retries < 0 { throw SettingsValidationError("retries must not be negative, got \(retries)", setting: "retries") }
            if retryBackoffMs < 0 { throw SettingsValidationError("retry_backoff_ms must not be negative", setting: "retry_backoff_ms") }
            if let p = partitioner, !["default", "uniform_sticky"].contains(p) {
                throw SettingsValidationError(
                    "partitioner \"\(p)\" is not supported with librdkafka: use default or uniform_sticky", setting: "partitioner")
            }
            for (name, value) in [("key_serializer", keySerializer), ("value_serializer", valueSerializer)] where !Self.serializers.contains(value) {
                throw SettingsValidationError("\(name) \(value) is not supported: use StringSerializer or ByteArraySerializer", setting: name)
            }
        }

        func configuration() -> KafkaConfiguration {
            var conf = KafkaConfiguration()
            client.apply(to: &conf, clientID: client.clientID)
            security.apply(to: &conf)
            conf.set("acks", acks == .minusOne ? "all" : acks.rawValue, from: "acks")
            if let retries { conf.set("retries", String(retries), from: "retries") }
            conf.set("retry.backoff.ms", String(retryBackoffMs), from: "retry_backoff_ms")
            conf.set("batch.size", String(batchSize), from: "batch_size")
            conf.set("linger.ms", String(lingerMs), from: "linger_ms")
            conf.set("compression.codec", compressionType.rawValue, from: "compression_type")
            conf.set("message.max.bytes", String(maxRequestSize), from: "max_request_size")
            conf.set("queue.buffering.max.kbytes", String((bufferMemory + 1023) / 1024), from: "buffer_memory")
            conf.set("request.timeout.ms", String(requestTimeoutMs), from: "request_timeout_ms")
            conf.set("enable.idempotence", enableIdempotence ? "true" : "false", from: "enable_idempotence")
            conf.set("partitioner", "murmur2_random", from: "partitioner")
            return conf
        }
    }

    let settings: Settings
    let context: PluginContext
    let codec: any Codec
    let headers: [(name: String, value: Template)]
    private let lock = Lock()
    /// The producer's opaque: librdkafka's log and error callbacks find the logger through it.
    private let log: KafkaLog
    /// The producer, made on the first batch (guarded by `lock`).
    private var producer: OpaquePointer?

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        codec = context.codec!
        headers = settings.messageHeaders.map { ($0.key, $0.value) }
        log = KafkaLog(context.logger)
        // librdkafka checks every property now, so a refused value stops the pipeline at start-up.
        let conf = try settings.configuration().make()
        rd_kafka_conf_destroy(conf)
    }

    public func close() {
        lock.withLock {
            guard let producer else { return }
            let left = rd_kafka_flush(producer, 10_000)
            if left != RD_KAFKA_RESP_ERR_NO_ERROR {
                context.logger.warn("Kafka producer closed with messages still waiting: \(KafkaError.text(left))")
            }
            rd_kafka_destroy(producer)
            self.producer = nil
        }
    }

    private func currentProducer() throws -> OpaquePointer {
        try lock.withLock {
            if let producer { return producer }
            let conf = try settings.configuration().make()
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(log).toOpaque())
            // Delivery reports and errors are served by librdkafka's own background thread (as the Java producer's
            // sender thread does): a worker waiting for its batch sleeps until its last report, and nobody polls.
            rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR)
            rd_kafka_conf_set_background_event_cb(conf) { _, event, opaque in
                guard let event else { return }
                defer { rd_kafka_event_destroy(event) }
                switch rd_kafka_event_type(event) {
                case RD_KAFKA_EVENT_DR:
                    while let message = rd_kafka_event_message_next(event) {
                        if let report = message.pointee._private { KafkaReports.report(report, message.pointee.err) }
                    }
                case RD_KAFKA_EVENT_ERROR:
                    guard let opaque else { return }
                    let error = rd_kafka_event_error(event)
                    Unmanaged<KafkaLog>.fromOpaque(opaque).takeUnretainedValue().logger.rateLimited(.warn, key: "kafka-error-\(error.rawValue)",
                        "Kafka producer: \(rd_kafka_event_error_string(event).map { String(cString: $0) } ?? KafkaError.text(error))")
                default: break
                }
            }
            rd_kafka_conf_set_log_cb(conf) { rk, level, facility, text in
                guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
                let logger = Unmanaged<KafkaLog>.fromOpaque(opaque).takeUnretainedValue().logger
                let message = "librdkafka \(facility.map { String(cString: $0) } ?? ""): \(text.map { String(cString: $0) } ?? "")"
                if level <= 3 { logger.error(message) } else if level <= 5 { logger.warn(message) } else { logger.debug(message) }
            }
            var message = [CChar](repeating: 0, count: 512)
            guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &message, message.count) else {
                rd_kafka_conf_destroy(conf)
                throw KafkaError("cannot create the Kafka producer: \(String(cString: message))")
            }
            // The delivery reports arrive on the main queue: forward it to the background thread's queue.
            let main = rd_kafka_queue_get_main(handle), background = rd_kafka_queue_get_background(handle)
            rd_kafka_queue_forward(main, background)
            rd_kafka_queue_destroy(main)
            rd_kafka_queue_destroy(background)
            producer = handle
            return handle
        }
    }

    public func receive(_ events: [Event]) -> OutputOutcome {
        begin(events).finish()
    }

    /// Produces the whole batch and returns at once; the worker finishes it once its delivery reports are in.
    public func begin(_ events: [Event]) -> any OutputDelivery {
        do {
            let rk = try currentProducer()
            return KafkaBatch(events, output: self, producer: rk)
        } catch {
            context.logger.error("\(error)")
            var outcome = OutputOutcome()
            UndeliveredAtShutdown.record(events, context: context, what: "written to Kafka (\(error))", into: &outcome)
            return FinishedDelivery(outcome)
        }
    }

    /// One batch produced: waits for its reports, sends retriable failures again after `retry_backoff_ms` (forever
    /// unless `retries` is set) and dead-letters the rest. Used by the worker that began it.
    final class KafkaBatch: OutputDelivery {
        let events: [Event]
        let output: KafkaOutput
        let call: KafkaProducerCall
        /// The records of the latest attempt, and their reports.
        var pending: [Int]
        var reports: KafkaReports

        init(_ events: [Event], output: KafkaOutput, producer rk: OpaquePointer) {
            self.events = events
            self.output = output
            let settings = output.settings, context = output.context
            let records = KafkaRecords(events, topic: settings.topicID, key: settings.messageKey, headers: output.headers, codec: output.codec)
            call = KafkaProducerCall(rk: rk, records: records, shouldStop: { context.shutdown.isRequested })
            pending = Array(events.indices)
            reports = call.produce(pending)
        }

        var isSettled: Bool { reports.isComplete }

        func finish() -> OutputOutcome {
            var outcome = OutputOutcome()
            let context = output.context, records = call.records
            var attempt = 0
            while true {
                reports.wait(call.rk, shouldStop: call.shouldStop)
                var again: [(index: Int, error: rd_kafka_resp_err_t)] = []
                for (j, i) in pending.enumerated() {
                    let error = reports.error(j)
                    switch KafkaOutput.classify(error) {
                    case .delivered: break
                    case .retriable: again.append((i, error))
                    case .shutdown:
                        UndeliveredAtShutdown.record([events[i]], context: context, what: "written to Kafka", into: &outcome)
                    case .permanent:
                        output.deadLetter(events[i], reason: "Kafka output: \(KafkaError.text(error)) (topic \(records.topic(i)))", &outcome)
                    }
                }
                guard let first = again.first else { return outcome }
                attempt += 1
                if let retries = output.settings.retries, attempt > retries {
                    for (i, error) in again {
                        output.deadLetter(events[i], reason: "Kafka output: \(KafkaError.text(error)) (topic \(records.topic(i))), still failing after \(retries) retries", &outcome)
                    }
                    return outcome
                }
                let backoff = output.settings.retryBackoffMs
                context.logger.rateLimited(.warn, key: "kafka-retry",
                    "Kafka output: \(again.count) messages failed with a retriable error (\(KafkaError.text(first.error))); retrying in \(backoff) ms")
                if !RetryPolicy.sleep(Double(backoff) / 1000, shouldStop: call.shouldStop) {
                    UndeliveredAtShutdown.record(again.map { events[$0.index] }, context: context, what: "written to Kafka", into: &outcome)
                    return outcome
                }
                pending = again.map(\.index)
                reports = call.produce(pending)
            }
        }
    }

    enum Fate { case delivered, retriable, permanent, shutdown }

    /// Which failures are worth sending again: the transient ones of Kafka's RetriableException family and
    /// librdkafka's local timeouts; everything else can never succeed as is.
    static func classify(_ error: rd_kafka_resp_err_t) -> Fate {
        switch error {
        case RD_KAFKA_RESP_ERR_NO_ERROR: return .delivered
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT: return .shutdown
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
            RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
            RD_KAFKA_RESP_ERR__RETRY, RD_KAFKA_RESP_ERR__WAIT_COORD, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
            RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
            RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
            RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH, RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH,
            RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
            return .retriable
        default: return .permanent
        }
    }

    func deadLetter(_ event: Event, reason: String, _ outcome: inout OutputOutcome) {
        context.logger.rateLimited(.error, key: "kafka-dlq", "\(reason)")
        let stored = context.deadLetterQueue.isEnabled
            && context.deadLetterQueue.write(event, pluginType: Self.name, pluginID: context.pluginID, reason: reason)
        outcome.record(event, stored ? .deadLettered : .dropped)
    }
}

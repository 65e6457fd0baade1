#if canImport(Glibc)
import Glibc
#endif
import CRdKafka
import SluiceCore

/// Writes events to Kafka topics (Logstash's `kafka` output, integration-kafka 11.6, on one librdkafka producer
/// shared by all workers). `receive` produces the whole batch, waits for every delivery report and reports each
/// event's fate: delivered; retriable failures (timeouts, brokers down, leader changes) are sent again after
/// `retry_backoff_ms` — forever unless `retries` is set, as Logstash does — and a message that can never be written
/// (too large, unknown topic, invalid record, retries used up) goes to the DLQ with librdkafka's or the broker's
/// reason, where Logstash drops it. Called on worker threads, concurrently.
public final class KafkaOutput: Output, @unchecked Sendable {
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
    private let codec: any Codec
    private let headers: [(name: String, value: Template)]
    private let lock = Lock()
    /// The producer's opaque: librdkafka's log and error callbacks find the logger through it.
    private let log: KafkaLog
    // Guarded by `lock`: the producer, made on the first batch, and the thread serving its delivery reports.
    private var producer: OpaquePointer?
    private var poller: (thread: SluiceCore.Thread, running: KafkaPollFlag)?

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
            if let poller {
                poller.running.stop()
                poller.thread.join()
                self.poller = nil
            }
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
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
                guard let message, let opaque = message.pointee._private else { return }
                Unmanaged<KafkaDelivery>.fromOpaque(opaque).takeRetainedValue().complete(message.pointee.err, KafkaOutput.errorText(message))
            }
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(log).toOpaque())
            rd_kafka_conf_set_log_cb(conf) { rk, level, facility, text in
                guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
                let logger = Unmanaged<KafkaLog>.fromOpaque(opaque).takeUnretainedValue().logger
                let message = "librdkafka \(facility.map { String(cString: $0) } ?? ""): \(text.map { String(cString: $0) } ?? "")"
                if level <= 3 { logger.error(message) } else if level <= 5 { logger.warn(message) } else { logger.debug(message) }
            }
            rd_kafka_conf_set_error_cb(conf) { _, error, reason, opaque in
                guard let opaque else { return }
                Unmanaged<KafkaLog>.fromOpaque(opaque).takeUnretainedValue().logger.rateLimited(.warn, key: "kafka-error-\(error)",
                    "Kafka producer: \(reason.map { String(cString: $0) } ?? KafkaError.text(rd_kafka_resp_err_t(rawValue: error)))")
            }
            var message = [CChar](repeating: 0, count: 512)
            guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &message, message.count) else {
                rd_kafka_conf_destroy(conf)
                throw KafkaError("cannot create the Kafka producer: \(String(cString: message))")
            }
            // One thread serves the delivery reports (as the Java producer's sender thread does), so a worker
            // waiting for its batch sleeps until its last report instead of polling for everyone's.
            let running = KafkaPollFlag()
            // librdkafka handles are thread-safe; rd_kafka_poll may be called from any thread.
            nonisolated(unsafe) let polled = handle
            do {
                let thread = try SluiceCore.Thread(name: "kafka-out-poll") {
                    while running.isRunning { rd_kafka_poll(polled, 100) }
                }
                poller = (thread, running)
            } catch {
                rd_kafka_destroy(handle)
                throw KafkaError("cannot start the Kafka producer's delivery thread: \(error)")
            }
            producer = handle
            return handle
        }
    }

    static func errorText(_ message: UnsafePointer<rd_kafka_message_t>) -> String {
        message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR ? "" : KafkaError.text(message.pointee.err)
    }

    public func receive(_ events: [Event]) -> OutputOutcome {
        var outcome = OutputOutcome()
        let rk: OpaquePointer
        do {
            rk = try currentProducer()
        } catch {
            context.logger.error("\(error)")
            UndeliveredAtShutdown.record(events, context: context, what: "written to Kafka (\(error))", into: &outcome)
            return outcome
        }
        let messages = events.map { Message(event: $0, output: self) }
        var pending = Array(messages.indices)
        var attempt = 0
        while !pending.isEmpty {
            let group = KafkaDeliveryGroup(count: pending.count)
            let deliveries = pending.map { i in produce(messages[i], rk, group) }
            group.wait(rk, shouldStop: { self.context.shutdown.isRequested })
            var again: [Int] = []
            for (i, d) in zip(pending, deliveries) {
                switch Self.classify(d.error) {
                case .delivered: break
                case .retriable: again.append(i)
                case .shutdown:
                    UndeliveredAtShutdown.record([events[i]], context: context, what: "written to Kafka", into: &outcome)
                case .permanent:
                    deadLetter(events[i], reason: "Kafka output: \(d.reason) (topic \(messages[i].topic))", &outcome)
                }
            }
            if again.isEmpty { break }
            attempt += 1
            if let retries = settings.retries, attempt > retries {
                for (i, d) in zip(pending, deliveries) where again.contains(i) {
                    deadLetter(events[i], reason: "Kafka output: \(d.reason) (topic \(messages[i].topic)), still failing after \(retries) retries", &outcome)
                }
                break
            }
            context.logger.rateLimited(.warn, key: "kafka-retry",
                "Kafka output: \(again.count) messages failed with a retriable error (\(deliveries[pending.firstIndex(of: again[0])!].reason)); retrying in \(settings.retryBackoffMs) ms")
            if !RetryPolicy.sleep(Double(settings.retryBackoffMs) / 1000, shouldStop: { context.shutdown.isRequested }) {
                UndeliveredAtShutdown.record(again.map { events[$0] }, context: context, what: "written to Kafka", into: &outcome)
                break
            }
            pending = again
        }
        return outcome
    }

    /// One event rendered: topic, key, headers and the codec's bytes; rendered once, resent as is on retries.
    struct Message {
        let topic: String
        let key: [UInt8]?
        let headers: [(String, String)]
        let value: [UInt8]

        init(event: Event, output: KafkaOutput) {
            topic = output.settings.topicID.render(event)
            key = output.settings.messageKey.map { Array($0.render(event).utf8) }
            headers = output.headers.map { ($0.name, $0.value.render(event)) }
            var bytes: [UInt8] = []
            output.codec.encode(event, into: &bytes)
            value = bytes
        }
    }

    /// Hands one message to librdkafka; the returned delivery completes with its report (or at once on a local error).
    private func produce(_ message: Message, _ rk: OpaquePointer, _ group: KafkaDeliveryGroup) -> KafkaDelivery {
        let delivery = KafkaDelivery(group)
        while true {
            var headerList: OpaquePointer? = nil
            if !message.headers.isEmpty {
                headerList = rd_kafka_headers_new(message.headers.count)
                for (name, value) in message.headers { rd_kafka_header_add(headerList, name, -1, value, -1) }
            }
            let opaque = Unmanaged.passRetained(delivery).toOpaque()
            let error = message.value.withUnsafeBytes { value in
                let v = value.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
                if let key = message.key {
                    return key.withUnsafeBytes { k in
                        sluice_kafka_produce(rk, message.topic, v, value.count, k.baseAddress ?? v, k.count, headerList, opaque)
                    }
                }
                return sluice_kafka_produce(rk, message.topic, v, value.count, nil, 0, headerList, opaque)
            }
            if error == RD_KAFKA_RESP_ERR_NO_ERROR { return delivery }
            // Not taken: the reference and the headers are still ours.
            Unmanaged<KafkaDelivery>.fromOpaque(opaque).release()
            if let headerList { rd_kafka_headers_destroy(headerList) }
            if error == RD_KAFKA_RESP_ERR__QUEUE_FULL && !context.shutdown.isRequested {
                rd_kafka_poll(rk, 100)
                continue
            }
            delivery.complete(error, KafkaError.text(error))
            return delivery
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

    private func deadLetter(_ event: Event, reason: String, _ outcome: inout OutputOutcome) {
        context.logger.rateLimited(.error, key: "kafka-dlq", "\(reason)")
        let stored = context.deadLetterQueue.isEnabled
            && context.deadLetterQueue.write(event, pluginType: Self.name, pluginID: context.pluginID, reason: reason)
        outcome.record(event, stored ? .deadLettered : .dropped)
    }
}

/// The delivery report of one produced message, completed on the producer's delivery thread (or at once on a local
/// error); its batch's `KafkaDeliveryGroup` is told.
final class KafkaDelivery: @unchecked Sendable {
    private let group: KafkaDeliveryGroup
    // Written once, before `group.completeOne()`; read after the group's wait (the group's lock orders them).
    private(set) var error = RD_KAFKA_RESP_ERR_NO_ERROR
    private(set) var reason = ""

    init(_ group: KafkaDeliveryGroup) { self.group = group }

    func complete(_ error: rd_kafka_resp_err_t, _ reason: String) {
        self.error = error
        self.reason = reason
        group.completeOne()
    }
}

/// The deliveries of one batch: the worker that produced them waits until the last report has arrived.
final class KafkaDeliveryGroup: @unchecked Sendable {
    private let lock = Lock(conditions: 1)
    private var remaining: Int

    init(count: Int) { remaining = count }

    /// Called once per delivery, on the delivery thread or the producing worker.
    func completeOne() {
        lock.withLock {
            remaining -= 1
            if remaining == 0 { lock.signal() }
        }
    }

    /// Waits for every report; on shutdown gives in-flight messages a moment, then purges what has not been sent,
    /// so that the reports (purged) still arrive and the wait ends. The worker that produced the batch.
    func wait(_ rk: OpaquePointer, shouldStop: () -> Bool) {
        var purged = false
        lock.lock()
        while remaining > 0 {
            lock.wait(milliseconds: 100)
            if remaining > 0 && !purged && shouldStop() {
                lock.unlock()
                rd_kafka_flush(rk, 2000)
                rd_kafka_purge(rk, Int32(RD_KAFKA_PURGE_F_QUEUE))
                lock.lock()
                purged = true
            }
        }
        lock.unlock()
    }
}

/// Whether a kafka output's delivery thread keeps polling (cleared by `close`).
final class KafkaPollFlag: @unchecked Sendable {
    private let lock = Lock()
    private var running = true
    var isRunning: Bool { lock.withLock { running } }
    func stop() { lock.withLock { running = false } }
}

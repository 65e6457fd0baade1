#if canImport(Glibc)
import Glibc
#endif
import CRdKafka
import SluiceCore

/// One topic partition as the consumer keys it.
struct KafkaPartitionKey: Hashable, Sendable, CustomStringConvertible {
    let topic: String
    let partition: Int32
    var description: String { "\(topic)[\(partition)]" }
}

/// An assigned partition: what was pushed from it and is not yet safe, and the offset last stored for commit.
/// Created and dropped on the consumer's thread; the tracker is completed from worker threads.
final class KafkaPartitionState: @unchecked Sendable {
    /// Positions are "next offset to read" (the offset Kafka commits): last record's offset + 1.
    let tracker = AcknowledgementTracker<Int64>()
    var stored: Int64 = -1
}

/// One librdkafka consumer of the `kafka` input (one per `consumer_threads`): polls, decodes each record with its
/// own codec, pushes events per partition with an acknowledgement, and stores (and commits) only offsets whose
/// events are all safe. Everything but the trackers runs on this consumer's thread, including librdkafka's
/// rebalance callback, which is served from inside `rd_kafka_consumer_poll`, `rd_kafka_consume_batch_queue` and
/// `rd_kafka_consumer_close`.
final class KafkaConsumerLoop: @unchecked Sendable {
    let index: Int
    private let input: KafkaInput
    private let codec: any Codec
    private let logger: Logger
    private var rk: OpaquePointer?
    private var partitions: [KafkaPartitionKey: KafkaPartitionState] = [:]
    /// How long a revoke or the shutdown waits for events in flight before committing what is safe.
    private let drainMilliseconds: Int

    init(index: Int, input: KafkaInput, codec: any Codec) throws {
        self.index = index
        self.input = input
        self.codec = codec
        logger = input.context.logger
        drainMilliseconds = min(input.settings.maxPollIntervalMs / 2, 30_000)
        let conf = try input.settings.configuration(index: index).make()
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_rebalance_cb(conf) { _, error, list, opaque in
            guard let opaque else { return }
            Unmanaged<KafkaConsumerLoop>.fromOpaque(opaque).takeUnretainedValue().rebalance(error, list)
        }
        rd_kafka_conf_set_error_cb(conf) { _, error, reason, opaque in
            guard let opaque else { return }
            let loop = Unmanaged<KafkaConsumerLoop>.fromOpaque(opaque).takeUnretainedValue()
            loop.logger.rateLimited(.warn, key: "kafka-error-\(error)",
                "Kafka consumer \(loop.index): \(reason.map { String(cString: $0) } ?? KafkaError.text(rd_kafka_resp_err_t(rawValue: error)))")
        }
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, text in
            guard let rk, let opaque = rd_kafka_opaque(rk) else { return }
            let loop = Unmanaged<KafkaConsumerLoop>.fromOpaque(opaque).takeUnretainedValue()
            let message = "librdkafka \(facility.map { String(cString: $0) } ?? ""): \(text.map { String(cString: $0) } ?? "")"
            if level <= 3 { loop.logger.error(message) } else if level <= 5 { loop.logger.warn(message) } else { loop.logger.debug(message) }
        }
        var message = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &message, message.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError("cannot create Kafka consumer \(index): \(String(cString: message))")
        }
        rk = handle
        rd_kafka_poll_set_consumer(handle)
        try subscribe()
    }

    private func subscribe() throws {
        let settings = input.settings
        let topics: [String]
        if let pattern = settings.topicsPattern {
            // librdkafka treats a name starting with ^ as a regex; Logstash matches the whole name.
            topics = ["^(" + pattern + ")$"]
        } else {
            topics = settings.topics
        }
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for t in topics { rd_kafka_topic_partition_list_add(list, t, -1) }
        let error = rd_kafka_subscribe(rk, list)
        if error != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError("cannot subscribe to \(topics.joined(separator: ", ")): \(KafkaError.text(error))")
        }
    }

    /// Polls until the input stops, then drains, commits and leaves the group.
    func run(_ sink: EventSink) {
        let settings = input.settings
        let decoration = settings.decorateEvents.level
        let queue = rd_kafka_queue_get_consumer(rk)
        defer { if let queue { rd_kafka_queue_destroy(queue) } }
        var fetched = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: max(settings.maxPollRecords - 1, 1))
        while !input.stopping {
            var polled = PolledRecords()
            // The first record waits up to poll_timeout_ms; the rest of the poll takes, in one call, what librdkafka
            // has already fetched (rebalance callbacks are served inside either call).
            if let first = rd_kafka_consumer_poll(rk, Int32(settings.pollTimeoutMs)) {
                take(first, into: &polled, decoration)
                let more = settings.maxPollRecords > 1
                    ? fetched.withUnsafeMutableBufferPointer { rd_kafka_consume_batch_queue(queue, 0, $0.baseAddress, $0.count) } : 0
                for i in 0..<max(more, 0) { take(fetched[i]!, into: &polled, decoration) }
            }
            for run in polled.runs where partitions[run.key] === run.state {
                if run.events.isEmpty {
                    run.state.tracker.registerSafe(run.next)
                } else {
                    sink.push(contentsOf: run.events, acknowledgement: run.state.tracker.register(run.next, events: run.events.count))
                }
            }
            storeSafeOffsets(commit: !settings.enableAutoCommit)
        }
        let all = Array(partitions.keys)
        waitForAcknowledgements(of: all)
        storeSafeOffsets(commit: true, force: true)
        rd_kafka_consumer_close(rk)
    }

    /// The records of one poll, as runs of one partition each (pushed with one acknowledgement per run).
    struct PolledRecords {
        struct Run {
            let topic: OpaquePointer?
            let partition: Int32
            let key: KafkaPartitionKey
            let state: KafkaPartitionState
            var events: [Event] = []
            var next: Int64
        }
        var runs: [Run] = []
    }

    /// Decodes one polled record into its partition's run (and releases it); errors other than a partition's end
    /// are logged, records of partitions revoked meanwhile are left to their new owner.
    private func take(_ message: UnsafeMutablePointer<rd_kafka_message_t>, into polled: inout PolledRecords, _ decoration: Int) {
        defer { rd_kafka_message_destroy(message) }
        let m = message.pointee
        guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if m.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                logger.rateLimited(.warn, key: "kafka-poll", "Unable to poll Kafka consumer \(index): \(Self.errorText(message))")
            }
            return
        }
        // Runs are found by librdkafka's topic handle and partition, so a topic's name is read once per poll.
        var r = polled.runs.lastIndex { $0.topic == m.rkt && $0.partition == m.partition }
        if r == nil {
            let key = KafkaPartitionKey(topic: String(cString: rd_kafka_topic_name(m.rkt)), partition: m.partition)
            guard let state = partitions[key] else { return }
            polled.runs.append(.init(topic: m.rkt, partition: m.partition, key: key, state: state, next: m.offset + 1))
            r = polled.runs.count - 1
        }
        let i = r!
        polled.runs[i].next = m.offset + 1
        decode(message, key: polled.runs[i].key, decoration: decoration, into: &polled.runs[i].events)
    }

    /// Releases the librdkafka handle; after `run` has returned (or when it never ran).
    func destroy() {
        if let rk { rd_kafka_destroy(rk) }
        rk = nil
    }

    // MARK: Records to events

    private func decode(
        _ message: UnsafeMutablePointer<rd_kafka_message_t>, key: KafkaPartitionKey, decoration: Int, into events: inout [Event]
    ) {
        let m = message.pointee
        let first = events.count
        let payload = UnsafeBufferPointer(start: m.payload?.assumingMemoryBound(to: UInt8.self), count: m.payload == nil ? 0 : m.len)
        codec.decode(payload) { events.append($0) }
        // Each record is a whole message: nothing stays buffered in the codec across records (and offsets).
        codec.flush { events.append($0) }
        var metadata: Object? = nil
        if decoration > 0 {
            var kafka = Object()
            kafka["topic"] = .string(key.topic)
            kafka["consumer_group"] = .string(input.settings.groupID)
            kafka["partition"] = .int(Int(key.partition))
            kafka["offset"] = .int(Int(m.offset))
            if let k = m.key {
                kafka["key"] = .string(String(decoding: UnsafeRawBufferPointer(start: k, count: m.key_len), as: UTF8.self))
            } else {
                kafka["key"] = .null
            }
            var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            let timestamp = rd_kafka_message_timestamp(message, &type)
            kafka["timestamp"] = timestamp >= 0 ? .int(Int(timestamp)) : .null
            if decoration > 1 { kafka["headers"] = .object(Self.headers(message)) }
            metadata = kafka
        }
        for event in events[first...] {
            if let metadata { event.metadata["kafka"] = .object(metadata) }
            input.context.decorate(event)
        }
    }

    /// The record's headers whose values are valid UTF-8 (Logstash skips the others silently).
    private static func headers(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Object {
        var out = Object()
        var headers: OpaquePointer? = nil
        guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR, let headers else { return out }
        var i = 0
        var name: UnsafePointer<CChar>? = nil
        var value: UnsafeRawPointer? = nil
        var size = 0
        while rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            i += 1
            guard let name else { continue }
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
            if let text = String(validating: bytes, as: UTF8.self) { out[String(cString: name)] = .string(text) }
        }
        return out
    }

    private static func errorText(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> String {
        if let text = rd_kafka_message_errstr(message) { return String(cString: text) }
        return KafkaError.text(message.pointee.err)
    }

    // MARK: Offsets

    /// Stores the furthest safe offset of every assigned partition (librdkafka commits stored offsets every
    /// auto_commit_interval_ms); with `commit`, commits them synchronously as well. Without `force`, only when an
    /// offset moved since the last store.
    private func storeSafeOffsets(commit: Bool, force: Bool = false, only keys: [KafkaPartitionKey]? = nil) {
        let chosen = keys ?? Array(partitions.keys)
        let list = rd_kafka_topic_partition_list_new(Int32(max(chosen.count, 1)))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        var changed = false
        for key in chosen {
            guard let state = partitions[key], let safe = state.tracker.safe else { continue }
            let p = rd_kafka_topic_partition_list_add(list, key.topic, key.partition)!
            p.pointee.offset = safe
            if safe != state.stored { changed = true }
        }
        guard list.pointee.cnt > 0, changed || force else { return }
        let stored = rd_kafka_offsets_store(rk, list)
        if stored != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.rateLimited(.warn, key: "kafka-store", "Kafka consumer \(index): cannot store offsets: \(KafkaError.text(stored))")
        }
        if commit {
            let error = rd_kafka_commit(rk, list, 0)
            if error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR__NO_OFFSET {
                logger.rateLimited(.warn, key: "kafka-commit", "Kafka consumer \(index): commit failed: \(KafkaError.text(error))")
                return
            }
        }
        for i in 0..<Int(list.pointee.cnt) {
            let e = list.pointee.elems[i]
            partitions[KafkaPartitionKey(topic: String(cString: e.topic), partition: e.partition)]?.stored = e.offset
        }
    }

    /// Waits, at most `drainMilliseconds`, until every event pushed from `keys` is safe.
    private func waitForAcknowledgements(of keys: [KafkaPartitionKey]) {
        let deadline = Clock.nanoseconds() + drainMilliseconds * 1_000_000
        while keys.contains(where: { (partitions[$0]?.tracker.outstanding ?? 0) > 0 }) {
            if Clock.nanoseconds() >= deadline {
                logger.warn("Kafka consumer \(index): events of \(keys.map(\.description).joined(separator: ", ")) still in flight after \(drainMilliseconds) ms; committing what is safe (the rest will be read again)")
                return
            }
            usleep(10_000)
        }
    }

    /// librdkafka's rebalance callback (eager protocol): a revoke finishes and commits the partitions it takes away.
    private func rebalance(_ error: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        var keys: [KafkaPartitionKey] = []
        if let list {
            for i in 0..<Int(list.pointee.cnt) {
                let e = list.pointee.elems[i]
                keys.append(KafkaPartitionKey(topic: String(cString: e.topic), partition: e.partition))
            }
        }
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            for key in keys { partitions[key] = KafkaPartitionState() }
            logger.info("Kafka consumer \(index) assigned \(keys.map(\.description).joined(separator: ", "))")
            rd_kafka_assign(rk, list)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            waitForAcknowledgements(of: keys)
            storeSafeOffsets(commit: true, force: true, only: keys)
            for key in keys { partitions[key] = nil }
            logger.info("Kafka consumer \(index) released \(keys.map(\.description).joined(separator: ", "))")
            rd_kafka_assign(rk, nil)
        default:
            logger.error("Kafka consumer \(index): rebalance failed: \(KafkaError.text(error))")
            partitions.removeAll()
            rd_kafka_assign(rk, nil)
        }
    }
}

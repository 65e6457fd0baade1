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
/// rebalance callback, which is served from inside `rd_kafka_consumer_poll` and `rd_kafka_consumer_close`.
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
        while !input.stopping {
            var groups: [(key: KafkaPartitionKey, state: KafkaPartitionState, events: [Event], next: Int64)] = []
            var timeout = Int32(settings.pollTimeoutMs)
            var polled = 0
            while polled < settings.maxPollRecords, let message = rd_kafka_consumer_poll(rk, timeout) {
                defer { rd_kafka_message_destroy(message) }
                timeout = 0
                polled += 1
                let m = message.pointee
                if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    if m.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                        logger.rateLimited(.warn, key: "kafka-poll", "Unable to poll Kafka consumer \(index): \(Self.errorText(message))")
                    }
                    continue
                }
                let key = KafkaPartitionKey(topic: String(cString: rd_kafka_topic_name(m.rkt)), partition: m.partition)
                // A partition revoked while this poll was collected: its new owner reads from the committed offset.
                guard let state = partitions[key] else { continue }
                let events = decode(message, key: key, decoration: decoration)
                if let g = groups.lastIndex(where: { $0.key == key }) {
                    groups[g].events += events
                    groups[g].next = m.offset + 1
                } else {
                    groups.append((key, state, events, m.offset + 1))
                }
            }
            for g in groups where partitions[g.key] === g.state {
                if g.events.isEmpty {
                    g.state.tracker.registerSafe(g.next)
                } else {
                    sink.push(contentsOf: g.events, acknowledgement: g.state.tracker.register(g.next, events: g.events.count))
                }
            }
            storeSafeOffsets(commit: !settings.enableAutoCommit)
        }
        let all = Array(partitions.keys)
        waitForAcknowledgements(of: all)
        storeSafeOffsets(commit: true, force: true)
        rd_kafka_consumer_close(rk)
    }

    /// Releases the librdkafka handle; after `run` has returned (or when it never ran).
    func destroy() {
        if let rk { rd_kafka_destroy(rk) }
        rk = nil
    }

    // MARK: Records to events

    private func decode(_ message: UnsafeMutablePointer<rd_kafka_message_t>, key: KafkaPartitionKey, decoration: Int) -> [Event] {
        let m = message.pointee
        var events: [Event] = []
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
        for event in events {
            if let metadata { event.metadata["kafka"] = .object(metadata) }
            input.context.decorate(event)
        }
        return events
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

#if canImport(Glibc)
import Glibc
#endif
import CRdKafka
import SluiceCore
import Synchronization

/// The records of one batch as the kafka output renders them, once: every value in one buffer, and topics, keys and
/// headers only as far as the settings make them differ per event. A retry sends these bytes again as they are.
struct KafkaRecords {
    /// The codec's bytes of every event, back to back; record `i` ends at `valueEnds[i]`.
    private(set) var values: [UInt8] = []
    private(set) var valueEnds: [Int] = []
    /// One topic for the batch when `topic_id` has no reference, else one per record.
    private(set) var topics: [String] = []
    /// The keys, back to back as the values (`message_key` set), record `i`'s ending at `keyEnds[i]`.
    private(set) var keys: [UInt8]? = nil
    private(set) var keyEnds: [Int] = []
    private(set) var headers: [[(String, String)]]? = nil

    init(_ events: [Event], topic: Template, key: Template?, headers headerTemplates: [(name: String, value: Template)], codec: any Codec) {
        valueEnds.reserveCapacity(events.count)
        for event in events {
            codec.encode(event, into: &values)
            valueEnds.append(values.count)
        }
        topics = topic.isConstant ? [topic.render(events[0])] : events.map { topic.render($0) }
        if let key {
            var bytes: [UInt8] = []
            for event in events {
                bytes.append(contentsOf: key.render(event).utf8)
                keyEnds.append(bytes.count)
            }
            keys = bytes
        }
        if !headerTemplates.isEmpty {
            headers = events.map { e in headerTemplates.map { ($0.name, $0.value.render(e)) } }
        }
    }

    func topic(_ i: Int) -> String { topics.count == 1 ? topics[0] : topics[i] }
    func valueRange(_ i: Int) -> Range<Int> { (i == 0 ? 0 : valueEnds[i - 1])..<valueEnds[i] }
    func keyRange(_ i: Int) -> Range<Int> { (i == 0 ? 0 : keyEnds[i - 1])..<keyEnds[i] }

    /// Calls `body` with the start of the values and of the keys (nil without keys), valid during the call.
    func withBytes<R>(_ body: (UnsafeRawPointer, UnsafeRawPointer?) -> R) -> R {
        values.withUnsafeBytes { v in
            let values = v.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
            guard let keys else { return body(values, nil) }
            return keys.withUnsafeBytes { k in body(values, k.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!) }
        }
    }
}

/// The delivery reports of one produce attempt: a slot per message, filled from the delivery-report events on
/// librdkafka's background thread (or by the producing worker for a message librdkafka refused at once), and the
/// count of reports still to come. The worker that produced the messages waits for the last one.
final class KafkaReports: @unchecked Sendable {
    /// What librdkafka carries as a message's opaque: where its report goes.
    struct Slot {
        var error: rd_kafka_resp_err_t
        let owner: UnsafeMutableRawPointer
    }

    private let slots: UnsafeMutableBufferPointer<Slot>
    private let remaining: Atomic<Int>
    private let lock = Lock(conditions: 1)
    /// Set, under `lock`, with the last report: the wait ends only once the callback no longer touches this object.
    private var done = false

    init(count: Int) {
        slots = .allocate(capacity: count)
        remaining = Atomic(count)
        let owner = Unmanaged.passUnretained(self).toOpaque()
        for i in 0..<count { (slots.baseAddress! + i).initialize(to: Slot(error: RD_KAFKA_RESP_ERR_NO_ERROR, owner: owner)) }
        if count == 0 { done = true }
    }

    deinit { slots.deallocate() }

    /// The opaque to give librdkafka for message `i`.
    func opaque(_ i: Int) -> UnsafeMutableRawPointer { UnsafeMutableRawPointer(slots.baseAddress! + i) }

    /// Message `i`'s outcome; read after `wait`.
    func error(_ i: Int) -> rd_kafka_resp_err_t { slots[i].error }

    /// Whether every report is in.
    var isComplete: Bool { remaining.load(ordering: .acquiring) == 0 }

    /// Records the report carried by `opaque`: librdkafka's delivery callback, or a refusal at produce time.
    static func report(_ opaque: UnsafeMutableRawPointer, _ error: rd_kafka_resp_err_t) {
        let slot = opaque.assumingMemoryBound(to: Slot.self)
        slot.pointee.error = error
        Unmanaged<KafkaReports>.fromOpaque(slot.pointee.owner).takeUnretainedValue().countOne()
    }

    private func countOne() {
        if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            lock.withLock {
                done = true
                lock.signal()
            }
        }
    }

    /// Waits for every report; on shutdown gives in-flight messages a moment, then purges what has not been sent,
    /// so that the reports (purged) still arrive and the wait ends.
    func wait(_ rk: OpaquePointer, shouldStop: () -> Bool) {
        var purged = false
        lock.lock()
        while !done {
            lock.wait(milliseconds: 100)
            if !done && !purged && shouldStop() {
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

/// Hands records to librdkafka: a whole run of same-topic records in one `rd_kafka_produce_batch` call when they carry
/// no headers (one lock and one topic lookup per run instead of per message), one `producev` each otherwise. A full
/// local queue is waited out; any other refusal becomes the message's report at once.
struct KafkaProducerCall {
    let rk: OpaquePointer
    let records: KafkaRecords
    let shouldStop: () -> Bool

    /// Produces records `indices`; report `j` belongs to `indices[j]`.
    func produce(_ indices: [Int]) -> KafkaReports {
        let reports = KafkaReports(count: indices.count)
        if records.headers == nil {
            var start = 0
            while start < indices.count {
                let topic = records.topic(indices[start])
                var end = start + 1
                while end < indices.count && records.topic(indices[end]) == topic { end += 1 }
                produceRun(topic, indices, start..<end, reports)
                start = end
            }
        } else {
            for j in indices.indices { produceOne(indices[j], reports.opaque(j)) }
        }
        return reports
    }

    /// Records `indices[run]`, all for `topic`, in batch calls, again for those refused with a full queue.
    private func produceRun(_ topic: String, _ indices: [Int], _ run: Range<Int>, _ reports: KafkaReports) {
        guard let rkt = rd_kafka_topic_new(rk, topic, nil) else {
            let error = rd_kafka_last_error()
            for j in run { KafkaReports.report(reports.opaque(j), error) }
            return
        }
        defer { rd_kafka_topic_destroy(rkt) }
        var waiting = Array(run)
        records.withBytes { values, keys in
            while !waiting.isEmpty {
                var messages = waiting.map { j in message(indices[j], values, keys, reports.opaque(j)) }
                let taken = rd_kafka_produce_batch(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, &messages, Int32(messages.count))
                if Int(taken) == messages.count { return }
                var full: [Int] = []
                for (j, m) in zip(waiting, messages) where m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    if m.err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !shouldStop() { full.append(j) } else { KafkaReports.report(reports.opaque(j), m.err) }
                }
                if !full.isEmpty { Self.waitForRoom() }
                waiting = full
            }
        }
    }

    /// Record `i` as `rd_kafka_produce_batch` takes it (librdkafka copies payload and key during the call).
    private func message(_ i: Int, _ values: UnsafeRawPointer, _ keys: UnsafeRawPointer?, _ opaque: UnsafeMutableRawPointer) -> rd_kafka_message_t {
        var m = rd_kafka_message_t()
        let range = records.valueRange(i)
        m.payload = UnsafeMutableRawPointer(mutating: values + range.lowerBound)
        m.len = range.count
        if let keys {
            let key = records.keyRange(i)
            m.key = UnsafeMutableRawPointer(mutating: keys + key.lowerBound)
            m.key_len = key.count
        }
        m._private = opaque
        return m
    }

    /// A full local queue drains as the background thread's reports come in: try again shortly.
    private static func waitForRoom() { usleep(5_000) }

    /// One record with its headers through `producev`, waiting out a full queue.
    private func produceOne(_ i: Int, _ opaque: UnsafeMutableRawPointer) {
        let topic = records.topic(i), range = records.valueRange(i)
        while true {
            var headerList: OpaquePointer? = nil
            if let headers = records.headers?[i], !headers.isEmpty {
                headerList = rd_kafka_headers_new(headers.count)
                for (name, value) in headers { rd_kafka_header_add(headerList, name, -1, value, -1) }
            }
            let error = records.withBytes { values, keys in
                let key = keys.map { ($0 + records.keyRange(i).lowerBound, records.keyRange(i).count) }
                return sluice_kafka_produce(rk, topic, values + range.lowerBound, range.count, key?.0, key?.1 ?? 0, headerList, opaque)
            }
            if error == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            // Not taken: the headers are still ours.
            if let headerList { rd_kafka_headers_destroy(headerList) }
            if error == RD_KAFKA_RESP_ERR__QUEUE_FULL && !shouldStop() {
                Self.waitForRoom()
                continue
            }
            KafkaReports.report(opaque, error)
            return
        }
    }
}

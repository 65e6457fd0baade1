/// The in-memory state of one live page of a `PersistedQueue`: its elements, what was read and what was
/// acknowledged (a bitset: batches from several workers are acknowledged out of order, and only the first gap is
/// persisted). Used under the queue's lock.
final class QueuePage {
    let number: Int
    /// Nil once the page file was deleted (fully acknowledged tail page waiting for older pages).
    var file: QueuePageFile?
    var minSeq: Int64
    var count: Int
    /// The offset after the last element written (Logstash's head offset).
    var end: Int
    var firstUnackedSeq: Int64
    /// The next element to hand to a worker, and where it starts.
    var readSeq: Int64
    var readOffset = QueuePageFile.headerSize
    var lastCheckpoint: QueueCheckpoint?
    var reader = QueuePageReader()
    private var acked: [UInt64] = []

    init(number: Int, file: QueuePageFile? = nil, minSeq: Int64 = 0, count: Int = 0, end: Int = QueuePageFile.headerSize) {
        self.number = number
        self.file = file
        self.minSeq = minSeq
        self.count = count
        self.end = end
        firstUnackedSeq = minSeq
        readSeq = minSeq
    }

    /// The first element of an empty page gets sequence number `seq`.
    func start(at seq: Int64) {
        minSeq = seq
        firstUnackedSeq = seq
        readSeq = seq
        readOffset = QueuePageFile.headerSize
        acked.removeAll()
    }

    var capacity: Int { file?.capacity ?? 0 }
    var maxSeq: Int64 { minSeq + Int64(count) - 1 }
    var unreadCount: Int { count == 0 ? 0 : Int(minSeq + Int64(count) - readSeq) }
    var isFullyAcked: Bool { count > 0 && firstUnackedSeq >= minSeq + Int64(count) }

    func checkpoint(firstUnackedPageNum: Int32) -> QueueCheckpoint {
        QueueCheckpoint(
            pageNum: Int32(number), firstUnackedPageNum: firstUnackedPageNum,
            firstUnackedSeqNum: count == 0 ? 0 : firstUnackedSeq, minSeqNum: count == 0 ? 0 : minSeq,
            elementCount: Int32(count))
    }

    /// After opening: everything before `seq` counts as acknowledged and reading resumes there (Logstash
    /// redelivers from the first unacknowledged element).
    func restoreAcknowledged(upTo seq: Int64) {
        let done = Int(max(0, min(seq - minSeq, Int64(count))))
        if done > 0 { setAcked(0, done) }
        firstUnackedSeq = minSeq + Int64(done)
        readSeq = firstUnackedSeq
        readOffset = QueuePageFile.headerSize
        for _ in 0..<done { readOffset = nextElementOffset(after: readOffset) ?? end }
    }

    /// Marks `count` elements from `first` acknowledged; returns how many were newly acknowledged.
    func acknowledge(from first: Int64, count n: Int) -> Int {
        let start = Int(first - minSeq)
        guard start >= 0, n > 0 else { return 0 }
        let newly = setAcked(start, n)
        var index = Int(firstUnackedSeq - minSeq)
        while index < count && isAcked(index) { index += 1 }
        firstUnackedSeq = minSeq + Int64(index)
        return newly
    }

    @discardableResult
    private func setAcked(_ start: Int, _ n: Int) -> Int {
        let words = (start + n + 63) / 64
        if acked.count < words { acked += [UInt64](repeating: 0, count: words - acked.count) }
        var newly = 0
        for i in start..<start + n where !isAcked(i) {
            acked[i >> 6] |= 1 << UInt64(i & 63)
            newly += 1
        }
        return newly
    }

    private func isAcked(_ i: Int) -> Bool { i >> 6 < acked.count && acked[i >> 6] & (1 << UInt64(i & 63)) != 0 }

    /// The offset of the element after the one at `offset`, read from its length field.
    func nextElementOffset(after offset: Int) -> Int? {
        guard let file, let header = file.read(at: offset + 8, count: 4) else { return nil }
        let length = Int(Int32(bitPattern: BigEndian.uint32(header, at: 0)))
        return length > 0 ? offset + 16 + length : nil
    }
}

/// A push's events serialised as queue elements in one buffer, `[seqNum][length][payload][crc]` each, built
/// outside the queue's lock; sequence numbers are filled in under it.
struct QueueFrames {
    private(set) var bytes: [UInt8] = []
    private var offsets: [Int] = []
    private let events: [Event]
    private var skipped = 0

    init(_ events: [Event]) {
        self.events = events
        offsets.reserveCapacity(events.count + 1)
        var w = CBORWriter(capacity: events.count * 512, stringReferences: QueueFrames.encoding.stringReferences)
        for e in events {
            let start = w.bytes.count
            offsets.append(start)
            w.bytes.appendZeros(12)
            CBOREventCodec.encode(e, versionAsJavaString: QueueFrames.encoding.versionAsJavaString, to: &w)
            w.bytes.store(UInt32(w.bytes.count - start - 12), at: start + 8)
            w.appendBigEndian(w.bytes.checksum(start + 12..<w.bytes.count))
        }
        offsets.append(w.bytes.count)
        bytes = w.takeBytes()
    }

    /// Events as Logstash 8.x serialises them, without CBOR string references: every Logstash since the PQ's
    /// V2 format reads them (string references need 8.10+), and they are cheaper to write.
    static let encoding = CBOREventCodec.EncodingOptions(stringReferences: false)

    var count: Int { events.count }
    func size(_ i: Int) -> Int { offsets[i + 1] - offsets[i] }
    func event(_ i: Int) -> Event { events[i] }
    func range(_ r: Range<Int>) -> Range<Int> { offsets[r.lowerBound]..<offsets[r.upperBound] }
    mutating func setSequence(_ i: Int, _ seq: Int64) { BigEndian.store(UInt64(bitPattern: seq), in: &bytes, at: offsets[i]) }
    /// Frame `i` will not be written (too large for a page).
    mutating func skip(_ i: Int) { skipped += 1 }
    /// Frames written among the first `n`.
    func acceptedCount(upTo n: Int) -> Int { n - skipped }

    /// Decodes one element's payload (Logstash's event serialisation; a ZSTD-compressed payload is refused with
    /// a clear error, since Sluice has no ZSTD).
    static func decode(_ bytes: [UInt8], _ payload: Range<Int>) throws -> Event {
        if payload.count >= 4 && bytes[payload.lowerBound] == 0x28 && bytes[payload.lowerBound + 1] == 0xB5
            && bytes[payload.lowerBound + 2] == 0x2F && bytes[payload.lowerBound + 3] == 0xFD
        {
            throw PersistedQueueError("the element is ZSTD-compressed (queue.compression in Logstash 9.2+), which Sluice cannot read")
        }
        return try CBOREventCodec.decode(bytes, range: payload)
    }
}

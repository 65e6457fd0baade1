/// The constants of Logstash's DLQ segment files (`DLQ-FORMAT.md` §1, §3).
public enum DLQSegmentFormat {
    /// Byte 0 of every segment: ASCII `1`.
    public static let versionByte: UInt8 = 0x31
    /// Records are laid out in blocks of this size, block k starting at file offset `1 + k * blockSize`.
    public static let blockSize = 32_768
    /// type (1) + size (4) + total (4) + CRC-32 (4).
    public static let recordHeaderSize = 13
    /// Logstash seals a segment before a write that would take it past 10 MiB (hard-coded, no setting).
    public static let maxSegmentSize = 10 * 1024 * 1024

    /// The start of the block holding file offset `offset` (offset ≥ 1).
    static func blockStart(of offset: Int) -> Int { offset - (offset - 1) % blockSize }

    /// Where a record header may start at or after `offset`: the next block when 13 or fewer bytes are left in this
    /// one (no record fits there, so writers skip and readers change block).
    static func normalizedRecordOffset(_ offset: Int) -> Int {
        let offset = max(offset, 1)
        let used = (offset - 1) % blockSize
        return used + recordHeaderSize + 1 > blockSize ? offset + (blockSize - used) : offset
    }
}

/// The record type byte.
enum RecordType: UInt8 {
    case complete = 0x63  // c
    case start = 0x73  // s
    case middle = 0x6D  // m
    case end = 0x65  // e
}

// MARK: - Writing

/// Splits an entry into records exactly as Logstash's `RecordIOWriter` does (§3.2).
enum RecordFraming {
    /// Appends the records of `entry[range]` to `out` for a segment currently `fileLength` bytes long, and returns the
    /// file offset where `out`'s new bytes must be written (past `fileLength` when a block tail is skipped).
    static func appendRecords(of entry: [UInt8], range: Range<Int>, fileLength: Int, to out: inout [UInt8]) -> Int {
        let blockSize = DLQSegmentFormat.blockSize
        let header = DLQSegmentFormat.recordHeaderSize
        let writeOffset = DLQSegmentFormat.normalizedRecordOffset(fileLength)
        var pos = (writeOffset - 1) % blockSize
        let total = range.count
        var written = 0
        out.reserveCapacity(out.count + total + header * (total / (blockSize - header) + 2))
        repeat {
            if pos + header + 1 > blockSize { pos = 0 }
            let rest = total - written
            let fits = rest + header < blockSize - pos
            let type: RecordType = written == 0 ? (fits ? .complete : .start) : (fits ? .end : .middle)
            let n = min(blockSize - pos - header, rest)
            let payload = (range.lowerBound + written)..<(range.lowerBound + written + n)
            appendHeader(type: type, size: n, total: type == .start ? total : -1,
                         crc: CRC32.checksum(entry, range: payload), to: &out)
            out.append(contentsOf: entry[payload])
            pos += header + n
            written += n
        } while written < total
        return writeOffset
    }

    private static func appendHeader(type: RecordType, size: Int, total: Int, crc: UInt32, to out: inout [UInt8]) {
        out.append(type.rawValue)
        BigEndian.append(UInt32(truncatingIfNeeded: size), to: &out)
        BigEndian.append(UInt32(truncatingIfNeeded: total), to: &out)
        BigEndian.append(crc, to: &out)
    }
}

// MARK: - Reading

/// Something wrong found while scanning a segment; the scanner has already moved past it.
public struct SegmentAnomaly: Sendable, Equatable, CustomStringConvertible {
    /// What kind of damage was found.
    public enum Kind: String, Sendable {
        /// A record's payload does not match its CRC-32.
        case checksumMismatch
        /// A type byte that is none of `c`, `s`, `m`, `e` (Logstash's reader skips the block silently).
        case invalidRecordType
        /// A size or total that cannot be right.
        case invalidRecordHeader
        /// The file ends inside a record or an entry.
        case truncated
        /// An entry's records do not add up (a new entry started before the previous one was complete, …).
        case brokenEntry
        /// A continuation record (`m`/`e`) with no entry started, where one was expected.
        case orphanRecord
        /// The entry's records are fine but its content is not a valid entry.
        case undecodableEntry
        /// The file is empty or its version byte is not `1`.
        case invalidVersion
    }

    public var kind: Kind
    /// File offset of the record (or entry) concerned.
    public var offset: Int
    public var message: String
    public var description: String { "\(message) at offset \(offset)" }

    /// Whether Logstash's own scan (start-up recovery) treats this as an error.
    var failsStrictScan: Bool { kind != .invalidRecordType && kind != .orphanRecord }
}

/// The bytes of one entry found in a segment: a slice of the file (one `c` record) or reassembled from records.
struct EntryBytes {
    var storage: [UInt8]
    var range: Range<Int>
    /// File offset of the entry's first record header.
    var start: Int
    /// File offset just past its last record.
    var end: Int
}

/// Walks the records of a segment held in memory, reassembling entries and resynchronising after damage: a bad
/// record makes it skip to the next block and resume at the first `c` or `s` record there (§6.2).
struct SegmentScanner {
    /// One result of `next()`.
    enum Step {
        case entry(EntryBytes)
        case anomaly(SegmentAnomaly)
        case end
    }

    private struct PartialEntry {
        var start: Int
        var total: Int
        var bytes: [UInt8]
    }

    let bytes: [UInt8]
    /// Where the next record header is looked for.
    private(set) var offset: Int
    private var partial: PartialEntry?
    /// True at a starting position and after resynchronisation, where `m`/`e` records are skipped silently.
    private var expectingOrphans = true

    init(bytes: [UInt8], offset: Int = 1) {
        self.bytes = bytes
        self.offset = max(offset, 1)
    }

    /// Whether the file starts with the version byte.
    var hasValidVersion: Bool { bytes.first == DLQSegmentFormat.versionByte }

    /// Counts the entry starts (`c` and `s` records with a good checksum) of the whole segment, as Logstash counts
    /// entries of deleted segments.
    static func countEntries(_ bytes: [UInt8]) -> Int {
        var scanner = SegmentScanner(bytes: bytes)
        var count = 0
        while true {
            switch scanner.next() {
            case .entry: count += 1
            case .anomaly: continue
            case .end: return count
            }
        }
    }

    mutating func next() -> Step {
        let blockSize = DLQSegmentFormat.blockSize
        let headerSize = DLQSegmentFormat.recordHeaderSize
        while true {
            offset = DLQSegmentFormat.normalizedRecordOffset(offset)
            if offset >= bytes.count { return finishAtEndOfFile() }
            let recordOffset = offset
            let blockEnd = DLQSegmentFormat.blockStart(of: offset) + blockSize
            if bytes.count - offset < headerSize {
                if partial == nil && isZeroFilled(offset..<bytes.count) { return finishAtEndOfFile() }
                return truncate(at: recordOffset, "record header cut short by the end of the file")
            }
            guard let type = RecordType(rawValue: bytes[offset]) else {
                let wasPartial = partial != nil
                if !wasPartial && isZeroFilled(offset..<min(blockEnd, bytes.count)) {
                    resync(to: blockEnd)
                    continue
                }
                resync(to: blockEnd)
                return anomaly(wasPartial ? .brokenEntry : .invalidRecordType, recordOffset,
                               "invalid record type 0x\(String(bytes[recordOffset], radix: 16))")
            }
            let size = BigEndian.int32(bytes, at: offset + 1)
            let total = BigEndian.int32(bytes, at: offset + 5)
            let roomInBlock = blockEnd - offset - headerSize
            guard size >= 1 && size <= roomInBlock else {
                resync(to: blockEnd)
                return anomaly(.invalidRecordHeader, recordOffset, "invalid record size \(size)")
            }
            let payload = (offset + headerSize)..<(offset + headerSize + size)
            guard payload.upperBound <= bytes.count else {
                return truncate(at: recordOffset, "record cut short by the end of the file")
            }
            if (type == .middle || type == .end) && partial == nil {
                offset = payload.upperBound
                if expectingOrphans { continue }
                return anomaly(.orphanRecord, recordOffset, "continuation record without a start")
            }
            guard CRC32.checksum(bytes, range: payload) == BigEndian.uint32(bytes, at: offset + 9) else {
                let following = DLQSegmentFormat.normalizedRecordOffset(payload.upperBound)
                resync(to: following < blockEnd && isIntactEntryStart(at: following) ? following : blockEnd)
                return anomaly(.checksumMismatch, recordOffset, "record checksum mismatch")
            }
            if (type == .complete || type == .start), let broken = partial {
                partial = nil
                return anomaly(.brokenEntry, broken.start, "entry interrupted by a new entry at offset \(recordOffset)")
            }
            if let step = consume(type: type, total: total, payload: payload, recordOffset: recordOffset) { return step }
        }
    }

    /// Takes a record whose header and checksum are valid; returns a step when there is something to report.
    private mutating func consume(type: RecordType, total: Int, payload: Range<Int>, recordOffset: Int) -> Step? {
        offset = payload.upperBound
        expectingOrphans = false
        switch type {
        case .complete:
            return .entry(EntryBytes(storage: bytes, range: payload, start: recordOffset, end: offset))
        case .start:
            guard total >= payload.count && total <= bytes.count - recordOffset else {
                resync(to: DLQSegmentFormat.blockStart(of: recordOffset) + DLQSegmentFormat.blockSize)
                return anomaly(.invalidRecordHeader, recordOffset, "invalid entry length \(total)")
            }
            var collected: [UInt8] = []
            collected.reserveCapacity(total)
            collected.append(contentsOf: bytes[payload])
            partial = PartialEntry(start: recordOffset, total: total, bytes: collected)
        case .middle, .end:
            partial!.bytes.append(contentsOf: bytes[payload])
        }
        guard let p = partial else { return nil }
        if p.bytes.count == p.total {
            partial = nil
            return .entry(EntryBytes(storage: p.bytes, range: 0..<p.total, start: p.start, end: offset))
        }
        if p.bytes.count > p.total || type == .end {
            partial = nil
            return anomaly(.brokenEntry, p.start, "entry records do not add up to its length \(p.total)")
        }
        return nil
    }

    /// Whether a `c`/`s` record with a plausible size and a matching checksum starts at `at`: where to resume after
    /// a record whose payload (but, judging by this, not its size) was damaged.
    private func isIntactEntryStart(at: Int) -> Bool {
        let headerSize = DLQSegmentFormat.recordHeaderSize
        guard at + headerSize <= bytes.count, bytes[at] == RecordType.complete.rawValue || bytes[at] == RecordType.start.rawValue
        else { return false }
        let size = BigEndian.int32(bytes, at: at + 1)
        let room = DLQSegmentFormat.blockStart(of: at) + DLQSegmentFormat.blockSize - at - headerSize
        guard size >= 1 && size <= room && at + headerSize + size <= bytes.count else { return false }
        return CRC32.checksum(bytes, range: (at + headerSize)..<(at + headerSize + size)) == BigEndian.uint32(bytes, at: at + 9)
    }

    private func isZeroFilled(_ range: Range<Int>) -> Bool {
        for i in range where bytes[i] != 0 { return false }
        return true
    }

    private mutating func resync(to blockEnd: Int) {
        offset = blockEnd
        partial = nil
        expectingOrphans = true
    }

    private func anomaly(_ kind: SegmentAnomaly.Kind, _ at: Int, _ message: String) -> Step {
        .anomaly(SegmentAnomaly(kind: kind, offset: at, message: message))
    }

    private mutating func truncate(at recordOffset: Int, _ message: String) -> Step {
        let start = partial?.start ?? recordOffset
        partial = nil
        offset = bytes.count
        return anomaly(.truncated, start, message)
    }

    private mutating func finishAtEndOfFile() -> Step {
        guard let p = partial else { return .end }
        partial = nil
        return anomaly(.truncated, p.start, "entry cut short by the end of the file")
    }
}

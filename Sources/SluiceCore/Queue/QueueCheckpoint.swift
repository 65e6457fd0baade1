#if canImport(Glibc)
import Glibc
#endif

/// A persisted-queue error; the message names the file and what to do.
public struct PersistedQueueError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    static func io(_ operation: String, _ path: String, errno code: Int32 = errno) -> PersistedQueueError {
        PersistedQueueError("\(operation) \(path): \(String(cString: strerror(code)))")
    }
}

/// One 34-byte checkpoint file of Logstash's persisted queue (`checkpoint.head`, `checkpoint.N`): version 1,
/// page number, first unacknowledged page (head only), first unacknowledged sequence number, first sequence
/// number, element count and a CRC-32 of the first 30 bytes, all big-endian.
public struct QueueCheckpoint: Equatable, Sendable, CustomStringConvertible {
    public static let size = 34
    /// The largest sequence number read from a file (2^62): a queue taking a million events a second reaches it
    /// after 146,000 years, so anything above is corruption, and arithmetic on what is read cannot overflow.
    public static let maximumSeqNum: Int64 = 1 << 62
    /// The largest page number read from a file: the next page's number still fits in 32 bits.
    public static let maximumPageNum = Int32.max - 1
    public var pageNum: Int32
    public var firstUnackedPageNum: Int32
    public var firstUnackedSeqNum: Int64
    public var minSeqNum: Int64
    public var elementCount: Int32

    public init(pageNum: Int32, firstUnackedPageNum: Int32, firstUnackedSeqNum: Int64, minSeqNum: Int64, elementCount: Int32) {
        self.pageNum = pageNum
        self.firstUnackedPageNum = firstUnackedPageNum
        self.firstUnackedSeqNum = firstUnackedSeqNum
        self.minSeqNum = minSeqNum
        self.elementCount = elementCount
    }

    /// Every element acknowledged (Logstash's `isFullyAcked`).
    public var isFullyAcked: Bool { elementCount > 0 && firstUnackedSeqNum >= minSeqNum + Int64(elementCount) }
    public var maxSeqNum: Int64 { minSeqNum + Int64(elementCount) - 1 }

    /// Logstash's `Checkpoint.toString`, as `pqcheck` prints it.
    public var description: String {
        "pageNum=\(pageNum), firstUnackedPageNum=\(firstUnackedPageNum), firstUnackedSeqNum=\(firstUnackedSeqNum), minSeqNum=\(minSeqNum), elementCount=\(elementCount), isFullyAcked=\(isFullyAcked ? "yes" : "no")"
    }

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.size)
        BigEndian.append(UInt16(1), to: &out)
        BigEndian.append(UInt32(bitPattern: pageNum), to: &out)
        BigEndian.append(UInt32(bitPattern: firstUnackedPageNum), to: &out)
        BigEndian.append(UInt64(bitPattern: firstUnackedSeqNum), to: &out)
        BigEndian.append(UInt64(bitPattern: minSeqNum), to: &out)
        BigEndian.append(UInt32(bitPattern: elementCount), to: &out)
        BigEndian.append(CRC32.checksum(out), to: &out)
        return out
    }

    /// Decodes Logstash's checks in Logstash's order: the checksum first, then the version.
    public static func decode(_ bytes: [UInt8], name: String) throws(PersistedQueueError) -> QueueCheckpoint {
        guard bytes.count >= size else { throw PersistedQueueError("\(name): invalid size: \(bytes.count) (a checkpoint has 34 bytes)") }
        let expected = BigEndian.uint32(bytes, at: 30), actual = CRC32.checksum(bytes, range: 0..<30)
        guard expected == actual else {
            throw PersistedQueueError("\(name): Checkpoint checksum mismatch, expected: \(Int32(bitPattern: expected)), actual: \(Int32(bitPattern: actual))")
        }
        let version = BigEndian.uint16(bytes, at: 0)
        guard version == 1 else { throw PersistedQueueError("\(name): Unknown file format version: \(version)") }
        let cp = QueueCheckpoint(
            pageNum: Int32(bitPattern: BigEndian.uint32(bytes, at: 2)),
            firstUnackedPageNum: Int32(bitPattern: BigEndian.uint32(bytes, at: 6)),
            firstUnackedSeqNum: Int64(bitPattern: BigEndian.uint64(bytes, at: 10)),
            minSeqNum: Int64(bitPattern: BigEndian.uint64(bytes, at: 18)),
            elementCount: Int32(bitPattern: BigEndian.uint32(bytes, at: 26)))
        if let problem = cp.rangeProblem {
            throw PersistedQueueError("\(name): \(problem), which no queue writes (a corrupted checkpoint: run `sluice queue check` and `sluice queue repair`)")
        }
        return cp
    }

    /// A field outside what a queue can write: negative numbers, sequence numbers past `maximumSeqNum`, page
    /// numbers past `maximumPageNum`. Checked after the checksum, so it only finds checkpoints written wrong.
    var rangeProblem: String? {
        let pages = 0...Self.maximumPageNum, seqs = 0...Self.maximumSeqNum
        if !pages.contains(pageNum) { return "page number \(pageNum)" }
        if !pages.contains(firstUnackedPageNum) { return "first unacknowledged page number \(firstUnackedPageNum)" }
        if !seqs.contains(minSeqNum) { return "minSeqNum \(minSeqNum)" }
        if !seqs.contains(firstUnackedSeqNum) { return "firstUnackedSeqNum \(firstUnackedSeqNum)" }
        if elementCount < 0 || minSeqNum + Int64(elementCount) > Self.maximumSeqNum { return "elementCount \(elementCount) from minSeqNum \(minSeqNum)" }
        return nil
    }

    /// Reads `<directory>/<name>`; nil when the file does not exist.
    static func read(_ directory: String, _ name: String) throws(PersistedQueueError) -> QueueCheckpoint? {
        let path = directory + "/" + name
        guard let bytes = FileSystem.readBytes(path) else {
            if FileSystem.exists(path) { throw .io("cannot read", path) }
            return nil
        }
        return try decode(bytes, name: path)
    }

    /// Logstash's write protocol: `<name>.tmp`, fsync, atomic rename; with `retry`, the rename is tried four more
    /// times with growing pauses.
    func write(_ directory: String, _ name: String, retry: Bool) throws(PersistedQueueError) {
        let path = directory + "/" + name, tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot create checkpoint", tmp) }
        let bytes = encoded()
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = written == bytes.count && fsync(fd) == 0
        let code = errno
        close(fd)
        guard synced else {
            unlink(tmp)
            throw .io("cannot write checkpoint", tmp, errno: written < 0 || written == bytes.count ? code : ENOSPC)
        }
        var attempt = 0
        while rename(tmp, path) != 0 {
            guard retry && attempt < 4 else {
                let code = errno
                unlink(tmp)
                throw .io("Error writing checkpoint", path, errno: code)
            }
            usleep(useconds_t((100 << attempt) * 1000 + Int.random(in: 0..<1000) * 1000))
            attempt += 1
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// One `page.N` file of Logstash's persisted queue: a version byte (2) followed by contiguous elements
/// `[seqNum i64][length i32][payload][crc32(payload) i32]`, big-endian, in a file pre-allocated to the page
/// capacity. Sluice writes with `pwrite` into blocks reserved by `posix_fallocate`, so a full disk shows up as an
/// error when a page is created, never as a torn write or a signal; reads use `pread`, so pages do not count in
/// the process's resident memory. Used under the queue's lock.
final class QueuePageFile {
    static let version: UInt8 = 2
    static let headerSize = 1
    /// seqNum, length and checksum around each payload.
    static let elementOverhead = 16
    /// The smallest valid page: a header and one one-byte element.
    static let minimumSize = 18

    let path: String
    let fd: Int32
    /// The file's length, which is the page's capacity (a page written with another `page_capacity` keeps its own).
    let capacity: Int

    private init(path: String, fd: Int32, capacity: Int) {
        self.path = path
        self.fd = fd
        self.capacity = capacity
    }

    deinit { close(fd) }

    static func path(_ directory: String, _ number: Int) -> String { directory + "/page.\(number)" }

    /// Creates a page of `capacity` bytes with every block reserved, writes the version byte and syncs it.
    static func create(_ directory: String, _ number: Int, capacity: Int) throws(PersistedQueueError) -> QueuePageFile {
        let path = path(directory, number)
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot create page", path) }
        let reserved = posix_fallocate(fd, 0, off_t(capacity))
        var version = QueuePageFile.version
        guard reserved == 0, pwrite(fd, &version, 1, 0) == 1, fsync(fd) == 0 else {
            let code = reserved != 0 ? reserved : errno
            close(fd)
            unlink(path)
            throw .io("cannot allocate \(capacity) bytes for page", path, errno: code)
        }
        return QueuePageFile(path: path, fd: fd, capacity: capacity)
    }

    /// Opens an existing page; its capacity is its length.
    static func open(_ directory: String, _ number: Int) throws(PersistedQueueError) -> QueuePageFile {
        let path = path(directory, number)
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .io("cannot open page", path) }
        var info = stat()
        fstat(fd, &info)
        guard info.st_size >= minimumSize else {
            close(fd)
            throw PersistedQueueError(
                "Page file size is too small to hold elements: \(path) has \(info.st_size) bytes. This is potentially a queue corruption problem. Run `sluice queue check` and `sluice queue repair`.")
        }
        guard info.st_size <= Int(Int32.max) else {
            close(fd)
            throw PersistedQueueError("Page file too large: \(path)")
        }
        return QueuePageFile(path: path, fd: fd, capacity: Int(info.st_size))
    }

    /// The version byte.
    func readVersion() -> UInt8? { read(at: 0, count: 1)?.first }

    /// Writes `bytes[range]` at `offset`; false (errno set) on failure.
    func write(_ bytes: [UInt8], _ range: Range<Int>, at offset: Int) -> Bool {
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < range.count {
                let n = pwrite(fd, raw.baseAddress! + range.lowerBound + done, range.count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
    }

    /// Reads `count` bytes at `offset`; nil past the end or on error.
    func read(at offset: Int, count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0, offset + count <= capacity else { return nil }
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBytes { raw -> Bool in
            var done = 0
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        return ok ? out : nil
    }

    /// Makes written elements durable (Logstash's msync before a head checkpoint).
    func sync() -> Bool { fdatasync(fd) == 0 }

    /// The result of walking a page's elements.
    struct Scan {
        var count = 0
        /// The offset just past the last valid element (the head offset).
        var end = headerSize
        var firstSeqNum: Int64 = 0
        /// Why the walk stopped before `limit` elements, nil when it reached it or clean zeroes.
        var problem: String?
    }

    /// Walks the elements from the start: each must carry `first + i` (the first one's sequence number is taken
    /// from the page when `first` is nil), a positive length inside the page and, with `verify`, a matching
    /// CRC-32. Stops at `limit` elements or the first element that fails, as Logstash's recovery does.
    func scan(first: Int64?, limit: Int = Int.max, verify: Bool) -> Scan {
        var scan = Scan()
        var offset = QueuePageFile.headerSize
        var expected = first
        while scan.count < limit {
            guard offset + 12 <= capacity, let header = read(at: offset, count: 12) else { break }
            let seq = Int64(bitPattern: BigEndian.uint64(header, at: 0))
            let length = Int(Int32(bitPattern: BigEndian.uint32(header, at: 8)))
            if seq == 0 && length == 0 { break }
            // The first element of a recovered page may carry any sequence number a queue can write.
            guard seq == expected ?? seq, seq >= 1, seq <= QueueCheckpoint.maximumSeqNum else {
                scan.problem = "element \(scan.count) at offset \(offset) has seqNum \(seq), expected \(expected.map(String.init) ?? "a number from 1 to 2^62")"
                break
            }
            guard length > 0, offset + 12 + length + 4 <= capacity else {
                scan.problem = "element seqNum \(seq) at offset \(offset) has an invalid length \(length)"
                break
            }
            if verify {
                guard let body = read(at: offset + 12, count: length + 4) else { break }
                let stored = BigEndian.uint32(body, at: length)
                let computed = CRC32.checksum(body, range: 0..<length)
                guard stored == computed else {
                    scan.problem = "element seqNum \(seq) at offset \(offset): computed checksum=\(computed) != checksum \(stored)"
                    break
                }
            }
            if scan.count == 0 { scan.firstSeqNum = seq }
            scan.count += 1
            offset += 12 + length + 4
            expected = seq + 1
        }
        scan.end = offset
        return scan
    }
}

/// One element of a page as read: its payload inside `bytes`, followed there by its stored CRC-32.
struct QueueElement {
    let bytes: [UInt8]
    let payload: Range<Int>
    /// Where the element starts in its page, and where the next one does.
    let offset: Int
    let next: Int

    /// Checks the payload against its stored CRC-32.
    func verify(_ path: String) throws(PersistedQueueError) {
        let stored = BigEndian.uint32(bytes, at: payload.upperBound)
        let computed = CRC32.checksum(bytes, range: payload)
        guard stored == computed else {
            throw PersistedQueueError("\(path): element at offset \(offset): computed checksum=\(computed) != checksum \(stored)")
        }
    }
}

/// Reads consecutive elements of one page through a buffer, one `pread` per megabyte or so. An element handed
/// out keeps its buffer alive: the next fill replaces the buffer, it never changes it.
struct QueuePageReader {
    private var buffer: [UInt8] = []
    private var bufferOffset = 0

    /// The element at `offset`, verified by its CRC-32. `end` is where the written data ends: nothing past it is
    /// buffered, since it may be written later.
    mutating func element(of page: QueuePageFile, at offset: Int, end: Int) throws(PersistedQueueError) -> QueueElement {
        let element = try unverifiedElement(of: page, at: offset, end: end)
        try element.verify(page.path)
        return element
    }

    /// The element at `offset` with its length checked but not its checksum (the caller verifies it, outside the
    /// queue's lock).
    mutating func unverifiedElement(of page: QueuePageFile, at offset: Int, end: Int) throws(PersistedQueueError) -> QueueElement {
        try fill(page, offset, 12, end)
        let length = Int(Int32(bitPattern: BigEndian.uint32(buffer, at: offset - bufferOffset + 8)))
        guard length > 0, offset + 16 + length <= end else {
            throw PersistedQueueError("\(page.path): element at offset \(offset) has an invalid length \(length)")
        }
        try fill(page, offset, 16 + length, end)
        let s = offset - bufferOffset + 12
        return QueueElement(bytes: buffer, payload: s..<s + length, offset: offset, next: offset + 16 + length)
    }

    private mutating func fill(_ page: QueuePageFile, _ offset: Int, _ count: Int, _ end: Int) throws(PersistedQueueError) {
        if offset >= bufferOffset && offset + count <= bufferOffset + buffer.count { return }
        let want = min(max(count, 1 << 20), end - offset)
        guard want >= count, let bytes = page.read(at: offset, count: want) else {
            throw PersistedQueueError("\(page.path): cannot read \(count) bytes at offset \(offset)")
        }
        buffer = bytes
        bufferOffset = offset
    }
}

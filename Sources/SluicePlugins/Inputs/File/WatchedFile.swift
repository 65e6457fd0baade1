#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// One path the file input watches: the file now at that path (identity, descriptor, read offset), the partial
/// line after the last delimiter, and the path's own codec (Logstash's `IdentityMapCodec` keyed by path).
///
/// It also keeps where a restart must resume: past the last line whose event was pushed, but never past a line
/// the codec still holds (a multiline event in the making). Used only on the file input's thread.
final class WatchedFile {
    enum State {
        /// Read as it grows (tail mode) or until its end (read mode).
        case watching
        /// Read to the end in read mode, or skipped for good (an ignored or refused file).
        case done
    }

    let path: String
    let codec: any Codec
    /// Found by the first discovery: only then does `start_position => end` apply.
    let discoveredInitially: Bool
    /// The fields every event of this file gets, prepared by the input on first use.
    var eventFields: FileEventFields?
    var state = State.watching
    /// Whether the path was never attached to a file yet (`start_position` and `ignore_older` apply once).
    var firstContact = true
    /// Loop iterations the path has been missing (a deleted file is let go one iteration later).
    var missingLoops = 0
    /// The modification time in nanoseconds, for `file_sort_by => last_modified`.
    var modified = 0

    /// The file now read at this path.
    private(set) var key: FileKey?
    private(set) var entry: SinceDBEntry?
    private(set) var fd: Int32 = -1
    /// The next byte to read.
    private(set) var readOffset = 0
    /// Bytes after the last delimiter.
    private var pending: [UInt8] = []
    /// Where the delimiter search resumes in `pending`.
    private var scanFrom = 0
    /// When bytes were last read (monotonic nanoseconds), for `close_older`.
    private(set) var lastReadAt = Clock.nanoseconds()
    /// The end of the last line handed to the codec, and where a restart resumes.
    private(set) var fedEnd = 0
    private(set) var resume = 0
    /// The start of the oldest line the codec still holds.
    private var bufferStart = 0

    init(path: String, codec: any Codec, discoveredInitially: Bool) {
        self.path = path
        self.codec = codec
        self.discoveredInitially = discoveredInitially
    }

    var isOpen: Bool { fd >= 0 }

    /// Starts reading the file `key` at the entry's pushed position.
    func attach(_ key: FileKey, _ entry: SinceDBEntry) {
        self.key = key
        self.entry = entry
        entry.holder = self
        entry.path = path
        entry.released = false
        readOffset = entry.pushed
        fedEnd = readOffset
        resume = readOffset
        bufferStart = readOffset
        pending.removeAll()
        scanFrom = 0
        firstContact = false
    }

    /// Lets go of the file (rotated, deleted): another path may take its sincedb entry over.
    func detach() {
        closeFile()
        entry?.holder = nil
        entry?.released = true
        key = nil
        entry = nil
        pending.removeAll()
    }

    /// Opens the file for reading; false (and a rate-limited error) when it cannot be opened.
    func openFile(_ logger: Logger) -> Bool {
        if fd >= 0 { return true }
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            logger.rateLimited(.warn, key: "open:\(path)", "failed to open file \(path): \(String(cString: strerror(errno)))")
            return false
        }
        lastReadAt = Clock.nanoseconds()
        return true
    }

    func closeFile() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    /// The file shrank below what was read: start over at 0, dropping the partial line.
    func restartAtZero() {
        pending.removeAll()
        scanFrom = 0
        readOffset = 0
        fedEnd = 0
        resume = 0
        bufferStart = 0
        entry?.reset(to: 0)
    }

    /// Reads up to `budget` bytes at the read offset in `chunkSize` pieces, decoding each chunk's complete lines
    /// and handing the chunk's events to `deliver` (possibly none: the resume point may still have moved). Returns the bytes read; stops early at the end of the file or when `stopping` says so.
    func read(
        budget: Int, chunkSize: Int, delimiter: [UInt8], buffer: inout [UInt8], stopping: () -> Bool,
        finish: (Event) -> Void, deliver: ([Event]) -> Void
    ) -> Int {
        var total = 0
        while total < budget && !stopping() {
            let want = min(chunkSize, budget - total)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(readOffset)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            total += n
            readOffset += n
            lastReadAt = Clock.nanoseconds()
            pending.append(contentsOf: buffer[0..<n])
            var events: [Event] = []
            splitLines(delimiter) { line, start, end in feed(line, start: start, end: end, into: &events, finish) }
            deliver(events)
            if n < want { break }
        }
        return total
    }

    /// Hands every complete line in `pending` to `body` with its file offsets (the end includes the delimiter).
    private func splitLines(_ delimiter: [UInt8], _ body: (UnsafeBufferPointer<UInt8>, Int, Int) -> Void) {
        let base = readOffset - pending.count
        var lineStart = 0
        var i = scanFrom
        let d0 = delimiter[0], dn = delimiter.count
        pending.withUnsafeBufferPointer { bytes in
            while i + dn <= bytes.count, let found = bytes.firstIndex(of: d0, from: i) {
                i = found
                guard i + dn <= bytes.count else { break }
                if dn == 1 || delimiter.withUnsafeBufferPointer({ memcmp(bytes.baseAddress! + i, $0.baseAddress!, dn) == 0 }) {
                    body(UnsafeBufferPointer(rebasing: bytes[lineStart..<i]), base + lineStart, base + i + dn)
                    i += dn
                    lineStart = i
                } else {
                    i += 1
                }
            }
        }
        pending.removeFirst(lineStart)
        scanFrom = max(0, pending.count - dn + 1)
    }

    /// Decodes one line and moves the resume point: past the line when the codec holds nothing back, otherwise
    /// to the start of the oldest line it holds (only ever earlier than the truth, so a crash re-reads, never skips).
    private func feed(_ line: UnsafeBufferPointer<UInt8>, start: Int, end: Int, into events: inout [Event], _ finish: (Event) -> Void) {
        let before = codec.bufferedLineCount
        codec.decode(line) { event in
            finish(event)
            events.append(event)
        }
        let after = codec.bufferedLineCount
        fedEnd = end
        if after == 0 {
            resume = end
        } else if !(before > 0 && after >= before) {
            bufferStart = start
            resume = start
        } else {
            resume = bufferStart
        }
    }

    /// Read mode at the end of the file: the partial line is a line of its own.
    func feedRemainder(into events: inout [Event], _ finish: (Event) -> Void) {
        guard !pending.isEmpty else { return }
        let start = readOffset - pending.count
        let line = pending
        pending.removeAll()
        scanFrom = 0
        line.withUnsafeBufferPointer { feed($0, start: start, end: readOffset, into: &events, finish) }
    }

    /// A gzip file read in one go: everything up to `size` is in events.
    func markRead(upTo size: Int) {
        readOffset = size
        fedEnd = size
        resume = size
    }

    /// Emits what the codec holds (shutdown, eviction, rotation); every line fed is then in an event.
    func flushCodec(into events: inout [Event], _ finish: (Event) -> Void) {
        codec.flush { event in
            finish(event)
            events.append(event)
        }
        resume = fedEnd
    }

    /// Multiline's `auto_flush_interval`.
    func flushCodecIfIdle(now: Int, into events: inout [Event], _ finish: (Event) -> Void) {
        codec.flushIfIdle(now: now) { event in
            finish(event)
            events.append(event)
        }
        if codec.bufferedLineCount == 0 { resume = fedEnd }
    }
}

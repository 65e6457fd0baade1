#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// A file's identity as the file input keys it: inode and device numbers (filewatch's `InodeStruct`).
struct FileKey: Hashable, Sendable, CustomStringConvertible {
    let inode: String
    let major: Int
    let minor: Int

    /// The key of a `stat` result; the device is split with glibc's `major`/`minor` encoding.
    init(_ st: stat) {
        inode = String(st.st_ino)
        let dev = UInt64(st.st_dev)
        major = Int(((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF))
        minor = Int((dev & 0xFF) | ((dev >> 12) & ~0xFF))
    }

    init(inode: String, major: Int, minor: Int) {
        self.inode = inode
        self.major = major
        self.minor = minor
    }

    var description: String { "\(inode) \(major) \(minor)" }
}

/// One sincedb record and, while the file is read, the acknowledgements of what was pushed from it.
///
/// `pushed` is the furthest position whose lines were pushed (or are in no event at all); `committed` is the
/// furthest position whose events are all safe, and that is what the sincedb holds. Used on the input's thread
/// only; the tracker is completed from worker threads.
final class SinceDBEntry {
    var path: String?
    /// Wall-clock seconds of the last change (Logstash's `last_changed_at`).
    var lastActive: Double
    private(set) var pushed: Int
    private(set) var committed: Int
    private var tracker = AcknowledgementTracker<Int>()
    /// The watched path reading this file now, if any.
    weak var holder: WatchedFile?
    /// Let go of by a path in this run (renamed or rotated away): another path may take it over.
    var released = false

    init(position: Int, path: String?, lastActive: Double = SinceDBEntry.now()) {
        pushed = position
        committed = position
        self.path = path
        self.lastActive = lastActive
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec / 1000) / 1e6
    }

    /// Registers `events` pushed up to `position`.
    func acknowledgement(upTo position: Int, events: Int) -> InputAcknowledgement {
        tracker.register(position, events: events)
    }

    /// Records that everything before `position` was pushed.
    func advance(to position: Int) {
        if position != pushed { lastActive = SinceDBEntry.now() }
        pushed = position
    }

    /// Starts over at `position` (a truncated file): acknowledgements of earlier pushes no longer count.
    func reset(to position: Int) {
        tracker = AcknowledgementTracker<Int>()
        pushed = position
        committed = position
        lastActive = SinceDBEntry.now()
    }

    /// Whether pushed events still wait to be safe.
    var hasOutstanding: Bool { tracker.outstanding > 0 }

    /// Moves `committed` to the furthest safe position.
    func refresh() {
        let safe = tracker.outstanding == 0 ? pushed : (tracker.safe ?? committed)
        if safe != committed {
            committed = safe
            lastActive = SinceDBEntry.now()
        }
    }
}

/// The sincedb file: Logstash's format, one `inode dev_major dev_minor position last_active path` record per line
/// (4-column v1 records are read too), rewritten whole through a temporary file and a rename. Used on the input's
/// thread, and from `close` once the input's thread has ended.
struct FileSinceDB {
    let path: String
    /// Writes go straight to the file: a character or block device (`/dev/null`), or renames were refused.
    private var direct: Bool
    private let logger: Logger

    init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
        var st = stat()
        direct = stat(path, &st) == 0 && ((st.st_mode & S_IFMT) == S_IFCHR || (st.st_mode & S_IFMT) == S_IFBLK)
    }

    /// The records of the file; a missing file gives none.
    func load() -> [FileKey: SinceDBEntry] {
        guard !direct, let text = FileSystem.readText(path) else { return [:] }
        var entries: [FileKey: SinceDBEntry] = [:]
        for line in text.split(separator: "\n") {
            if let (key, entry) = FileSinceDB.parse(line) { entries[key] = entry }
        }
        return entries
    }

    /// One record: v2 with five or more fields (the path is the rest, joined by single spaces), else v1.
    static func parse(_ line: Substring) -> (FileKey, SinceDBEntry)? {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
        guard parts.count >= 4, let major = Int(parts[1]), let minor = Int(parts[2]), let position = Int(parts[3]) else {
            return nil
        }
        let key = FileKey(inode: parts[0], major: major, minor: minor)
        if parts.count >= 5, let lastActive = Double(parts[4]) {
            let path = parts.count > 5 ? parts[5...].joined(separator: " ") : nil
            return (key, SinceDBEntry(position: position, path: path, lastActive: lastActive))
        }
        return (key, SinceDBEntry(position: position, path: nil))
    }

    /// The record line of an entry (its committed position).
    static func record(_ key: FileKey, _ entry: SinceDBEntry) -> String {
        "\(key) \(entry.committed) \(entry.lastActive)" + (entry.path.map { " " + $0 } ?? "") + "\n"
    }

    /// Writes the whole table atomically; on EPERM/EACCES it falls back to direct writes for good.
    mutating func write(_ text: String) {
        if direct {
            writeDirect(text)
            return
        }
        let slash = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let temporary = "\(slash)/.\(path.split(separator: "/").last ?? "sincedb").\(getpid()).tmp"
        if writeFile(temporary, text) && rename(temporary, path) == 0 { return }
        let error = errno
        unlink(temporary)
        if error == EPERM || error == EACCES {
            logger.warn("sincedb: cannot replace \(path) atomically (\(String(cString: strerror(error)))); writing it in place from now on")
            direct = true
            writeDirect(text)
        } else {
            logger.rateLimited(.error, key: "sincedb", "sincedb: cannot write \(path): \(String(cString: strerror(error)))")
        }
    }

    private func writeDirect(_ text: String) {
        if !writeFile(path, text) {
            logger.rateLimited(.error, key: "sincedb", "sincedb: cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    private func writeFile(_ target: String, _ text: String) -> Bool {
        let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }
}

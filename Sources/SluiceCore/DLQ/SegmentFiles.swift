#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error from the DLQ storage layer; the message names the file or directory concerned.
public struct DeadLetterQueueError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// Another writer (this or another process) holds the queue's `.lock`.
        case locked
        /// A system call failed.
        case io
        /// A file's content is not what it must be.
        case format
    }

    public var kind: Kind
    public var path: String
    public var message: String
    public var description: String { message }

    static func io(_ operation: String, _ path: String, errno code: Int32 = errno) -> DeadLetterQueueError {
        DeadLetterQueueError(kind: .io, path: path, message: "\(operation) \(path): \(String(cString: strerror(code)))")
    }
}

/// Thin wrappers over POSIX file calls, retrying on `EINTR`; nothing here uses Foundation.
enum SegmentFiles {
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Creates `path` and its missing parents.
    static func makeDirectories(_ path: String) throws(DeadLetterQueueError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw .io("cannot create directory", prefix) }
            prefix += "/"
        }
        guard isDirectory(path) else { throw .io("cannot create directory", path, errno: ENOTDIR) }
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Size in bytes, nil when missing.
    static func size(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    /// Modification time in nanoseconds since the epoch, nil when missing.
    static func modificationTime(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }

    /// The names in a directory (without `.` and `..`), nil when it cannot be read.
    static func listDirectory(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The whole file, nil when it cannot be opened or read.
    static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        // Not zero-filled first: a segment is 10 MiB, and `read` overwrites what it returns.
        var ok = true
        let bytes = [UInt8](unsafeUninitializedCapacity: Int(st.st_size)) { buffer, initialized in
            var filled = 0
            while filled < buffer.count {
                let n = read(fd, buffer.baseAddress! + filled, buffer.count - filled)
                if n < 0 && errno == EINTR { continue }
                if n < 0 {
                    ok = false
                    break
                }
                if n == 0 { break }
                filled += n
            }
            initialized = filled
        }
        guard ok else { return nil }
        return bytes
    }

    /// Writes all of `bytes` at `offset`; false (with `errno` set) on failure.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    if n == 0 { errno = ENOSPC }
                    return false
                }
                done += n
            }
            return true
        }
    }

    /// Creates (or truncates) `path` holding exactly `bytes`, then closes it.
    static func createFile(_ path: String, _ bytes: [UInt8]) throws(DeadLetterQueueError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot create", path) }
        defer { close(fd) }
        guard writeAll(fd, bytes, at: 0) else { throw .io("cannot write", path) }
    }

    /// Writes `bytes` to `path.tmp` then renames it over `path`, so readers see the old or the new content.
    static func replaceFile(_ path: String, _ bytes: [UInt8]) throws(DeadLetterQueueError) {
        let temporary = path + ".tmp"
        try createFile(temporary, bytes)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .io("cannot rename \(temporary) to", path, errno: code)
        }
    }

    /// Appends `bytes` to `path`, creating it if absent.
    static func append(_ path: String, _ bytes: [UInt8]) throws(DeadLetterQueueError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot open", path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, writeAll(fd, bytes, at: Int(st.st_size)) else { throw .io("cannot append to", path) }
    }

    static func closeDescriptor(_ fd: Int32) { close(fd) }

    @discardableResult
    static func remove(_ path: String) -> Bool { unlink(path) == 0 }

    @discardableResult
    static func move(_ from: String, _ to: String) -> Bool { rename(from, to) == 0 }
}

/// An exclusive advisory lock on a file, held with `fcntl(F_SETLK, F_WRLCK)` on the whole file as the JVM does
/// (so it conflicts with a Logstash process), plus an in-process registry: POSIX record locks belong to the process,
/// so two owners inside one process would not see each other through `fcntl` alone.
final class FileLock: @unchecked Sendable {
    let path: String
    private let key: String
    private var fd: Int32

    private static let registryLock = Lock()
    nonisolated(unsafe) private static var lockedPaths: Set<String> = []

    private init(path: String, key: String, fd: Int32) {
        self.path = path
        self.key = key
        self.fd = fd
    }

    /// Locks `path` (created if absent) without waiting; throws `.locked` naming the path when someone holds it.
    static func acquire(_ path: String, owner: String) throws(DeadLetterQueueError) -> FileLock {
        let key = canonicalKey(path)
        let alreadyHeld = registryLock.withLock { !lockedPaths.insert(key).inserted }
        if alreadyHeld { throw locked(path, owner: owner) }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let code = errno
            registryLock.withLock { _ = lockedPaths.remove(key) }
            throw .io("cannot open lock file", path, errno: code)
        }
        var request = flock()
        request.l_type = Int16(F_WRLCK)
        request.l_whence = Int16(SEEK_SET)
        request.l_start = 0
        request.l_len = 0
        guard fcntl(fd, F_SETLK, &request) == 0 else {
            close(fd)
            registryLock.withLock { _ = lockedPaths.remove(key) }
            throw locked(path, owner: owner)
        }
        return FileLock(path: path, key: key, fd: fd)
    }

    private static func locked(_ path: String, owner: String) -> DeadLetterQueueError {
        DeadLetterQueueError(kind: .locked, path: path,
                             message: "\(owner) is locked by another writer: \(path) is held (another Sluice or Logstash process, or another pipeline using the same directory)")
    }

    /// The lock file's path with its directory resolved (the file itself may not exist yet).
    private static func canonicalKey(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        guard let resolved = realpath(directory, nil) else { return path }
        defer { free(resolved) }
        return SegmentFiles.join(String(cString: resolved), String(path[path.index(after: slash)...]))
    }

    /// Releases the lock; with `deleteFile` the lock file is removed first (clean close).
    func release(deleteFile: Bool) {
        guard fd >= 0 else { return }
        if deleteFile { unlink(path) }
        close(fd)
        fd = -1
        FileLock.registryLock.withLock { _ = FileLock.lockedPaths.remove(key) }
    }

    deinit { release(deleteFile: false) }
}

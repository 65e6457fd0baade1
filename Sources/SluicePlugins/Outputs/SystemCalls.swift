#if canImport(Glibc)
import Glibc
#endif

/// Thin wrappers over the system calls outputs use, so plugin files read without platform noise.
enum SystemCalls {
    static func write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { Glibc.write(fd, p, n) }
    static var lastErrorIsInterrupt: Bool { errno == EINTR }
    /// The last call failed for want of a descriptor: the process's limit (EMFILE) or the system's (ENFILE).
    static var lastErrorIsDescriptorShortage: Bool { errno == EMFILE || errno == ENFILE }
    static var lastError: String { String(cString: strerror(errno)) }

    /// Creates `path` and its parents (like `mkdir -p`).
    static func makeDirectories(_ path: String, mode: mode_t) -> Bool {
        var current = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            current += part
            if mkdir(current, mode) != 0 && errno != EEXIST { return false }
            current += "/"
        }
        return true
    }

    static func open(_ path: String, flags: Int32, mode: mode_t) -> Int32 { Glibc.open(path, flags, mode) }
    static func close(_ fd: Int32) { _ = Glibc.close(fd) }
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}

#if canImport(Glibc)
import Glibc
#endif

/// The few file-system operations the core needs, over Glibc (no Foundation on the hot paths).
public enum FileSystem {
    /// The whole file as bytes, or nil when it cannot be read.
    public static func readBytes(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// The whole file as UTF-8 text, or nil when it cannot be read.
    public static func readText(_ path: String) -> String? {
        readBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The file's length in bytes, nil when it does not exist.
    public static func size(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    /// The type of the file system holding `path` (`ext4`, `tmpfs`, …), from `/proc/self/mounts`.
    public static func storageType(_ path: String) -> String? {
        guard let mounts = readText("/proc/self/mounts") else { return nil }
        let target = absolute(path)
        var best: (length: Int, type: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let mount = String(fields[1])
            let inside = target == mount || target.hasPrefix(mount == "/" ? "/" : mount + "/")
            if inside && mount.count > (best?.length ?? -1) { best = (mount.count, String(fields[2])) }
        }
        return best?.type
    }

    /// Bytes free on the file system holding `path` (Java's `getUnallocatedSpace`), nil when unknown.
    public static func freeBytes(_ path: String) -> Int64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int64(info.f_bfree) * Int64(info.f_frsize)
    }

    /// The file's size and modification time as one string (changes when the file is rewritten), or nil.
    public static func modificationStamp(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return "\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    /// Names in a directory (no `.`/`..`), sorted byte-wise.
    public static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Paths matching a shell glob (`*`, `?`, `[..]`, `{a,b}`), sorted byte-wise.
    public static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, GLOB_BRACE | GLOB_TILDE, nil, &g) == 0 else { return [] }
        var out: [String] = []
        for i in 0..<Int(g.gl_pathc) {
            if let p = g.gl_pathv[i] { out.append(String(cString: p)) }
        }
        return out.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The current working directory.
    public static var currentDirectory: String {
        var buf = [CChar](repeating: 0, count: 4096)
        return getcwd(&buf, buf.count).map { String(cString: $0) } ?? "."
    }

    /// `path` made absolute against the current directory.
    public static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : currentDirectory + "/" + path
    }

    /// Creates a directory and its parents.
    @discardableResult
    public static func makeDirectories(_ path: String) -> Bool {
        var current = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            current += part
            if mkdir(current, 0o755) != 0 && errno != EEXIST { return false }
            current += "/"
        }
        return true
    }
}

#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Finds the files the `path` globs name (Ruby's `Dir.glob`: `*`, `?`, `[…]`, `{a,b}`, and `**/` for any number of
/// directories), keeps regular files whose basename no `exclude` pattern matches, and orders them
/// (`file_sort_by`, `file_sort_direction`). Called on the file input's thread.
struct FileDiscovery {
    let patterns: [String]
    let exclude: [String]

    /// The regular files matching the patterns now, each once, with their `stat`.
    func files() -> [(path: String, stat: stat)] {
        var seen = Set<String>()
        var out: [(String, stat)] = []
        for pattern in patterns {
            for path in FileDiscovery.glob(pattern) where !seen.contains(path) {
                seen.insert(path)
                var st = stat()
                guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, !excluded(path) else { continue }
                out.append((path, st))
            }
        }
        return out
    }

    /// Whether `exclude` matches the basename (`File.fnmatch`, where `*` does not match a leading dot).
    func excluded(_ path: String) -> Bool {
        let base = String(path.split(separator: "/").last ?? "")
        return exclude.contains { fnmatch($0, base, FNM_PERIOD) == 0 }
    }

    /// Paths matching one pattern; `**` components are walked with an explicit stack, the rest is left to glob(3).
    static func glob(_ pattern: String) -> [String] {
        guard pattern.contains("**") else { return FileSystem.glob(pattern) }
        var out: [String] = []
        for expanded in expandBraces(pattern) { out += walk(expanded) }
        return out
    }

    /// `a{b,c}d` → `abd`, `acd` (innermost first, iteratively).
    static func expandBraces(_ pattern: String) -> [String] {
        var done: [String] = []
        var work = [pattern]
        while let p = work.popLast() {
            let chars = Array(p)
            guard let close = chars.firstIndex(of: "}"), let open = chars[..<close].lastIndex(of: "{") else {
                done.append(p)
                continue
            }
            let head = String(chars[..<open]), tail = String(chars[(close + 1)...])
            for option in String(chars[(open + 1)..<close]).split(separator: ",", omittingEmptySubsequences: false) {
                work.append(head + option + tail)
            }
        }
        return done.sorted()
    }

    /// Matches an absolute pattern component by component: `**` stands for zero or more directories (hidden ones
    /// and symbolic links to directories are not descended, as in Ruby).
    static func walk(_ pattern: String) -> [String] {
        let parts = pattern.split(separator: "/").map(String.init)
        var out: [String] = []
        var stack: [(dir: String, index: Int)] = [("", 0)]
        while let (dir, index) = stack.popLast() {
            if index == parts.count {
                out.append(dir.isEmpty ? "/" : dir)
                continue
            }
            let part = parts[index]
            if part == "**" {
                stack.append((dir, index + 1))
                for name in FileSystem.list(dir.isEmpty ? "/" : dir) where !name.hasPrefix(".") {
                    let child = dir + "/" + name
                    var st = stat()
                    if lstat(child, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { stack.append((child, index)) }
                }
            } else if part.contains(where: { "*?[{".contains($0) }) {
                for name in FileSystem.list(dir.isEmpty ? "/" : dir) where fnmatch(part, name, FNM_PERIOD) == 0 {
                    stack.append((dir + "/" + name, index + 1))
                }
            } else if FileSystem.exists(dir + "/" + part) {
                stack.append((dir + "/" + part, index + 1))
            }
        }
        return Array(Set(out)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}

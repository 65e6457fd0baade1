#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Named grok patterns (`NAME regex` lines), as loaded at start-up. Later definitions replace earlier ones, the way
/// Logstash loads the built-in set, then `patterns_dir` files, then `pattern_definitions`.
struct GrokPatternLibrary: Sendable {
    /// The built-in pattern set to start from.
    enum Flavour: String, Sendable, CaseIterable {
        case legacy
        case ecsV1 = "ecs-v1"

        /// `ecs_compatibility => disabled` loads the legacy set; `v1` and `v8` load the ECS set.
        init(_ ecs: ECSCompatibility) { self = ecs.isEnabled ? .ecsV1 : .legacy }
    }

    private(set) var patterns: [String: String] = [:]

    init() {}

    subscript(name: String) -> String? { patterns[name] }

    mutating func add(_ name: String, _ pattern: String) { patterns[name] = pattern }

    /// Adds the definitions of a pattern file's text, as jls-grok reads them: comment lines (`^\s*#`) are skipped,
    /// leading whitespace is dropped, the name ends at the first whitespace run, the rest of the line (minus the
    /// line break) is the pattern, and a line without a pattern is ignored.
    mutating func addFile(text: String) {
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = Substring(rawLine)
            if line.last == "\r" { line = line.dropLast() }
            let trimmed = line.drop { $0 == " " || $0 == "\t" || $0 == "\u{0B}" || $0 == "\u{0C}" }
            if trimmed.first == "#" || trimmed.isEmpty { continue }
            guard let space = trimmed.firstIndex(where: { $0 == " " || $0 == "\t" }) else { continue }
            let name = String(trimmed[..<space])
            let pattern = trimmed[space...].drop { $0 == " " || $0 == "\t" }
            // Ruby's split(/\s+/, 2) leaves nil for a name followed only by whitespace.
            if pattern.isEmpty { continue }
            add(name, String(pattern))
        }
    }

    /// The names of the built-in pattern files (families) of a flavour, sorted.
    static func families(_ flavour: Flavour) -> [String] {
        FileSystem.list(builtinDirectory + "/" + flavour.rawValue).filter { !$0.hasPrefix(".") && $0 != "README.md" }
    }

    /// The built-in library of a flavour: every family file, in name order.
    static func builtin(_ flavour: Flavour) throws(GrokError) -> GrokPatternLibrary {
        if let cached = cache.withLock({ cachedLibraries[flavour] }) { return cached }
        var library = GrokPatternLibrary()
        let dir = builtinDirectory + "/" + flavour.rawValue
        let families = families(flavour)
        if families.isEmpty { throw GrokError.missingBuiltinPatterns(directory: dir) }
        for family in families {
            guard let text = FileSystem.readText(dir + "/" + family) else {
                throw GrokError.unreadablePatternFile(path: dir + "/" + family)
            }
            library.addFile(text: text)
        }
        cache.withLock { cachedLibraries[flavour] = library }
        return library
    }

    private static let cache = Lock()
    nonisolated(unsafe) private static var cachedLibraries: [Flavour: GrokPatternLibrary] = [:]

    /// Where the built-in `patterns/` resource folder is: `$SLUICE_GROK_PATTERNS` when set, else the SwiftPM resource
    /// bundle beside the running executable, else the source tree (development builds).
    static let builtinDirectory: String = {
        if let env = getenv("SLUICE_GROK_PATTERNS") { return String(cString: env) }
        var candidates: [String] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 {
            let exe = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            var dir = Substring(exe)
            if let slash = dir.lastIndex(of: "/") { dir = dir[..<slash] }
            // Tests run from <build>/SluicePackageTests.xctest/..., the binary from <build>/.
            for _ in 0..<4 {
                candidates.append(dir + "/Sluice_SluicePlugins.resources/patterns")
                guard let slash = dir.lastIndex(of: "/") else { break }
                dir = dir[..<slash]
            }
        }
        let source = String("\(#filePath)".dropLast("GrokPatternLibrary.swift".count)) + "patterns"
        candidates.append(source)
        return candidates.first { FileSystem.isDirectory($0) } ?? source
    }()

    /// The pattern files `patterns_dir` names, as Logstash finds them: a directory contributes the entries matching
    /// `glob` (subdirectories skipped); any other path is itself a glob.
    static func files(inPatternsDirs dirs: [String], glob: String) -> [String] {
        var out: [String] = []
        for path in dirs {
            let pattern = FileSystem.isDirectory(path) ? path + "/" + glob : path
            for file in FileSystem.glob(pattern) where !FileSystem.isDirectory(file) { out.append(file) }
        }
        return out
    }
}

/// Problems found while loading or compiling grok patterns: configuration errors raised at start-up.
enum GrokError: Error, CustomStringConvertible {
    case undefinedPattern(name: String, in: String)
    case recursivePattern(chain: [String])
    case invalidRegex(pattern: String, detail: String)
    case unreadablePatternFile(path: String)
    case missingBuiltinPatterns(directory: String)

    var code: String {
        switch self {
        case .undefinedPattern: return "grok_undefined_pattern"
        case .recursivePattern: return "grok_recursive_pattern"
        case .invalidRegex: return "grok_invalid_regex"
        case .unreadablePatternFile: return "grok_unreadable_pattern_file"
        case .missingBuiltinPatterns: return "grok_missing_builtin_patterns"
        }
    }

    var description: String {
        switch self {
        case .undefinedPattern(let name, let pattern):
            return "pattern %{\(name)} not defined (in \(pattern))"
        case .recursivePattern(let chain):
            return "pattern %{\(chain.last ?? "")} is recursive: " + chain.map { "%{\($0)}" }.joined(separator: " -> ")
        case .invalidRegex(let pattern, let detail):
            return "invalid grok pattern \(pattern): \(detail)"
        case .unreadablePatternFile(let path):
            return "Grok pattern file does not exist: \(path)"
        case .missingBuiltinPatterns(let directory):
            return "the built-in grok patterns are missing (looked in \(directory)); set SLUICE_GROK_PATTERNS to the patterns folder"
        }
    }
}

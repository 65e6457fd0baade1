/// One config source: a file's path (or `config_string`) and its text.
public struct ConfigSource: Sendable {
    public let name: String
    public let text: String
    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }
}

/// Where a node came from: source name, 1-based line and column, byte offset.
public struct SourceSpan: Sendable, Hashable, CustomStringConvertible {
    public let source: String
    public let line: Int
    public let column: Int
    public let offset: Int

    public init(source: String, line: Int, column: Int, offset: Int) {
        self.source = source
        self.line = line
        self.column = column
        self.offset = offset
    }

    /// A span for things that have no config position (command-line defaults).
    public static let none = SourceSpan(source: "", line: 0, column: 0, offset: 0)

    public var description: String { source.isEmpty ? "<settings>" : "\(source):\(line):\(column)" }
}

/// A problem found in a config, with its place and, when there is one, a suggested fix.
public struct Diagnostic: Error, Sendable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }

    public let severity: Severity
    public let span: SourceSpan
    public let message: String
    public let help: String?
    /// A bounded code for metrics and tests (`unknown_setting`, `parse_error`, …).
    public let code: String

    public init(_ severity: Severity = .error, code: String, span: SourceSpan, _ message: String, help: String? = nil) {
        self.severity = severity
        self.code = code
        self.span = span
        self.message = message
        self.help = help
    }

    public var description: String { "\(span): \(severity == .warning ? "warning: " : "")\(message)" }
}

/// Several diagnostics raised together (config checking collects them instead of stopping at the first).
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let diagnostics: [Diagnostic]
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public init(_ d: Diagnostic) { diagnostics = [d] }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// Renders diagnostics the way compilers do: `file:line:column: message`, the source line, a caret, and help.
public struct DiagnosticRenderer: Sendable {
    let sources: [String: String]

    public init(sources: [ConfigSource]) {
        var map: [String: String] = [:]
        for s in sources { map[s.name] = s.text }
        self.sources = map
    }

    public func render(_ d: Diagnostic) -> String {
        var out = "\(d.span): \(d.severity == .warning ? "warning" : "error"): \(d.message)\n"
        if let text = sources[d.span.source], d.span.line > 0 {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if d.span.line - 1 < lines.count {
                let line = String(lines[d.span.line - 1]).replacingTabs()
                let gutter = String(d.span.line)
                out += "\(gutter) | \(line)\n"
                out += String(repeating: " ", count: gutter.count) + " | "
                out += String(repeating: " ", count: max(0, d.span.column - 1)) + "^\n"
            }
        }
        if let help = d.help { out += "help: \(help)\n" }
        return out
    }

    public func render(_ e: ConfigError) -> String { e.diagnostics.map(render).joined() }
}

extension String {
    fileprivate func replacingTabs() -> String {
        String(self.map { $0 == "\t" ? " " : $0 }).trimmingTrailingCR()
    }
    fileprivate func trimmingTrailingCR() -> String { hasSuffix("\r") ? String(dropLast()) : self }
}

/// Edit-distance suggestions for unknown names ("did you mean …?").
public enum Suggest {
    /// Levenshtein distance.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                let substitution = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                let insertion = cur[j - 1] + 1
                let deletion = prev[j] + 1
                cur[j] = Swift.min(deletion, Swift.min(insertion, substitution))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }

    /// The candidates closest to `name`, best first (at most `limit`), within a distance that makes sense.
    public static func closest(to name: String, among candidates: [String], limit: Int = 3) -> [String] {
        let maxDistance = Swift.max(2, name.count / 3)
        let lowered = name.lowercased()
        var scored: [(name: String, score: Int)] = []
        for candidate in candidates {
            let score = distance(lowered, candidate.lowercased())
            let related = candidate.hasPrefix(name) || name.hasPrefix(candidate)
            if score <= maxDistance || related { scored.append((candidate, score)) }
        }
        scored.sort { a, b in a.score != b.score ? a.score < b.score : a.name < b.name }
        return scored.prefix(limit).map { $0.name }
    }

    /// "did you mean 'x'?" or nil.
    public static func didYouMean(_ name: String, among candidates: [String]) -> String? {
        let c = closest(to: name, among: candidates)
        guard !c.isEmpty else { return nil }
        return "did you mean " + c.map { "'\($0)'" }.joined(separator: " or ") + "?"
    }
}

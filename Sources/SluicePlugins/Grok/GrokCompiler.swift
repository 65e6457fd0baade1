import SluiceCore

/// One grok expression, expanded and compiled: the regex plus what each named group captures.
final class GrokPattern: @unchecked Sendable {
    /// How a captured string is stored (`%{NUMBER:n:int}` → `.int`).
    enum Coercion: Sendable {
        case none, int, float
    }

    /// One capture name of the pattern with every group carrying it, in Logstash's reporting order. The grok
    /// filter turns these into flat per-worker tables at start-up (`GrokFilter.PreparedPattern`).
    final class Capture: Sendable {
        /// The name as written (`NUMBER:num:int`, `foo`), compared with `overwrite`'s entries.
        let field: String
        /// The event path, nil when the name is not a valid field reference (every match then fails that field,
        /// as Logstash's `event.set` raising inside grok does).
        let reference: FieldReference?
        let coercion: Coercion
        let groups: [Int]

        init(field: String, reference: FieldReference?, coercion: Coercion, groups: [Int]) {
            self.field = field
            self.reference = reference
            self.coercion = coercion
            self.groups = groups
        }
    }

    /// The pattern as configured.
    let source: String
    /// The regex after `%{…}` expansion (for messages and tests).
    let expanded: String
    let regex: GrokRegex
    let captures: [Capture]

    init(source: String, expanded: String, regex: GrokRegex, captures: [Capture]) {
        self.source = source
        self.expanded = expanded
        self.regex = regex
        self.captures = captures
    }
}

/// Expands `%{SYNTAX:SEMANTIC:type}` references recursively, once, at start-up (jls-grok's `compile`), and compiles
/// the result with PCRE2.
///
/// jls-grok rewrites `%{NAME:sub}` to `(?<NAME:sub>…)` and leans on Oniguruma accepting such names and duplicates;
/// PCRE2 accepts neither, so every named group (generated or written inline as `(?<name>…)`) gets a unique PCRE2
/// name here and the real name is kept beside it. The captures are then reported the way jls-grok's
/// `named_captures.each` does: grouped by name, names in order of first appearance, groups left to right.
struct GrokCompiler {
    var library: GrokPatternLibrary
    let namedCapturesOnly: Bool
    /// PCRE2's match limit (`GrokTimeout`); nil for none.
    let matchLimit: UInt32?

    private var names: [(pcreName: String, field: String)] = []

    init(library: GrokPatternLibrary, namedCapturesOnly: Bool, matchLimit: UInt32?) {
        self.library = library
        self.namedCapturesOnly = namedCapturesOnly
        self.matchLimit = matchLimit
    }

    mutating func compile(_ pattern: String) throws(GrokError) -> GrokPattern {
        names = []
        var stack: [String] = []
        let expanded = try expand(pattern, stack: &stack, root: pattern)
        let regex: GrokRegex
        do {
            regex = try GrokRegex(expanded, matchLimit: matchLimit)
        } catch {
            throw .invalidRegex(pattern: pattern, detail: error.description)
        }
        var order: [String] = []
        var groupsByField: [String: [Int]] = [:]
        var numbered: [(Int, String)] = []
        for (pcreName, field) in names {
            if let g = regex.groupNumber(pcreName) { numbered.append((g, field)) }
        }
        numbered.sort { $0.0 < $1.0 }
        for (g, field) in numbered {
            if groupsByField[field] == nil { order.append(field) }
            groupsByField[field, default: []].append(g)
        }
        let captures = order.map { raw -> GrokPattern.Capture in
            // Ruby: `pattern, name, coerce = name.split(":")`; `name = pattern if name.nil?`.
            let parts = raw.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let field = parts.count > 1 ? parts[1] : parts[0]
            let coercion: GrokPattern.Coercion =
                parts.count > 2 ? (parts[2] == "int" ? .int : parts[2] == "float" ? .float : .none) : .none
            return GrokPattern.Capture(
                field: field, reference: try? FieldReference(parsing: field), coercion: coercion,
                groups: groupsByField[raw]!)
        }
        return GrokPattern(source: pattern, expanded: expanded, regex: regex, captures: captures)
    }

    private mutating func newGroup(_ field: String) -> String {
        let name = "g\(names.count)"
        names.append((name, field))
        return name
    }

    /// Expands the references in `text` depth first, which is the order jls-grok's leftmost-first rewriting
    /// produces. `stack` holds the patterns being expanded, to report recursion instead of looping.
    private mutating func expand(_ text: String, stack: inout [String], root: String) throws(GrokError) -> String {
        let b = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var literalStart = 0
        var i = 0
        while i + 1 < b.count {
            guard b[i] == UInt8(ascii: "%"), b[i + 1] == UInt8(ascii: "{"), let ref = GrokReference.parse(b, at: i)
            else {
                i += 1
                continue
            }
            out += rewriteNamedGroups(b[literalStart..<i])
            if let definition = ref.definition { library.add(ref.pattern, definition) }
            guard let body = library[ref.pattern] else {
                throw .undefinedPattern(name: ref.pattern, in: root)
            }
            if stack.contains(ref.pattern) { throw .recursivePattern(chain: stack + [ref.pattern]) }
            let captured = ref.subname != nil || !namedCapturesOnly
            let open = captured ? "(?<\(newGroup(ref.name))>" : "(?:"
            out += Array(open.utf8)
            stack.append(ref.pattern)
            out += Array(try expand(body, stack: &stack, root: root).utf8)
            stack.removeLast()
            out.append(UInt8(ascii: ")"))
            i = ref.end
            literalStart = i
        }
        out += rewriteNamedGroups(b[literalStart..<b.count])
        return String(decoding: out, as: UTF8.self)
    }

    /// Gives inline named groups (`(?<name>`, `(?'name'`, `(?P<name>`) unique PCRE2 names and rewrites `\k<name>`
    /// back-references to the first group of that name. Escapes and character classes are skipped.
    private mutating func rewriteNamedGroups(_ b: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = b.startIndex
        var inClass = false
        var local: [String: String] = [:]
        while i < b.endIndex {
            let c = b[i]
            if c == UInt8(ascii: "\\") {
                // \k<name> / \k'name' back-references
                if !inClass, i + 2 < b.endIndex, b[i + 1] == UInt8(ascii: "k"),
                    b[i + 2] == UInt8(ascii: "<") || b[i + 2] == UInt8(ascii: "'"),
                    let close = b[(i + 3)...].firstIndex(of: b[i + 2] == UInt8(ascii: "<") ? UInt8(ascii: ">") : UInt8(ascii: "'"))
                {
                    let name = String(decoding: b[(i + 3)..<close], as: UTF8.self)
                    if let pcre = local[name] ?? names.first(where: { $0.field == name })?.pcreName {
                        out += Array("\\k<\(pcre)>".utf8)
                        i = close + 1
                        continue
                    }
                }
                out.append(c)
                if i + 1 < b.endIndex { out.append(b[i + 1]) }
                i += 2
                continue
            }
            if inClass {
                if c == UInt8(ascii: "[") && i + 1 < b.endIndex && b[i + 1] == UInt8(ascii: ":") {
                    // POSIX class [:alpha:] inside a class
                    if let end = findPosixEnd(b, from: i + 2) {
                        out += b[i...end]
                        i = end + 1
                        continue
                    }
                }
                if c == UInt8(ascii: "]") { inClass = false }
                out.append(c)
                i += 1
                continue
            }
            if c == UInt8(ascii: "[") {
                inClass = true
                out.append(c)
                i += 1
                // A leading ] (or ^]) is literal.
                if i < b.endIndex && b[i] == UInt8(ascii: "^") {
                    out.append(b[i])
                    i += 1
                }
                if i < b.endIndex && b[i] == UInt8(ascii: "]") {
                    out.append(b[i])
                    i += 1
                }
                continue
            }
            if c == UInt8(ascii: "("), i + 2 < b.endIndex, b[i + 1] == UInt8(ascii: "?") {
                var nameStart = -1
                var closer: UInt8 = 0
                if b[i + 2] == UInt8(ascii: "<"), i + 3 < b.endIndex, b[i + 3] != UInt8(ascii: "="),
                    b[i + 3] != UInt8(ascii: "!")
                {
                    nameStart = i + 3
                    closer = UInt8(ascii: ">")
                } else if b[i + 2] == UInt8(ascii: "'") {
                    nameStart = i + 3
                    closer = UInt8(ascii: "'")
                } else if b[i + 2] == UInt8(ascii: "P"), i + 3 < b.endIndex, b[i + 3] == UInt8(ascii: "<") {
                    nameStart = i + 4
                    closer = UInt8(ascii: ">")
                }
                if nameStart >= 0, nameStart < b.endIndex, let close = b[nameStart...].firstIndex(of: closer),
                    close > nameStart
                {
                    let name = String(decoding: b[nameStart..<close], as: UTF8.self)
                    let pcre = newGroup(name)
                    if local[name] == nil { local[name] = pcre }
                    out += Array("(?<\(pcre)>".utf8)
                    i = close + 1
                    continue
                }
            }
            out.append(c)
            i += 1
        }
        return out
    }

    private func findPosixEnd(_ b: ArraySlice<UInt8>, from: Int) -> Int? {
        var j = from
        while j + 1 < b.endIndex {
            if b[j] == UInt8(ascii: ":") && b[j + 1] == UInt8(ascii: "]") { return j + 1 }
            if b[j] == UInt8(ascii: "]") { return nil }
            j += 1
        }
        return nil
    }
}

/// One `%{NAME}`, `%{NAME:sub}`, `%{NAME:sub:type}` or `%{NAME=definition}` reference, parsed as jls-grok's
/// `PATTERN_RE` reads it: the name is `[A-z0-9]+`, the sub-name `[@\[\]A-z0-9_:.-]+`, and anything else up to the
/// closing brace is ignored (`%{POSINT:code?}` names `code`).
struct GrokReference {
    let pattern: String
    let subname: String?
    let definition: String?
    /// Index just past the closing brace.
    let end: Int

    /// `PATTERN:subname`, the capture name jls-grok gives the group.
    var name: String { subname.map { pattern + ":" + $0 } ?? pattern }

    @inline(__always) static func isNameByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
    }

    @inline(__always) static func isSubnameByte(_ c: UInt8) -> Bool {
        isNameByte(c) || c == UInt8(ascii: "@") || c == UInt8(ascii: ":") || c == UInt8(ascii: ".")
            || c == UInt8(ascii: "-")
    }

    static func parse(_ b: [UInt8], at start: Int) -> GrokReference? {
        var i = start + 2
        let nameStart = i
        while i < b.count && isNameByte(b[i]) { i += 1 }
        guard i > nameStart else { return nil }
        let pattern = String(decoding: b[nameStart..<i], as: UTF8.self)
        var subname: String?
        if i < b.count && b[i] == UInt8(ascii: ":") {
            let subStart = i + 1
            var j = subStart
            while j < b.count && isSubnameByte(b[j]) { j += 1 }
            if j > subStart {
                subname = String(decoding: b[subStart..<j], as: UTF8.self)
                i = j
            }
        }
        var definition: String?
        if i < b.count && b[i] == UInt8(ascii: "=") {
            // The definition runs to the brace that closes the reference; nested {…} and \-escapes are kept.
            var j = i + 1
            var depth = 0
            while j < b.count {
                let c = b[j]
                if c == UInt8(ascii: "\\") {
                    j += 2
                    continue
                }
                if c == UInt8(ascii: "{") { depth += 1 }
                if c == UInt8(ascii: "}") {
                    if depth == 0 { break }
                    depth -= 1
                }
                j += 1
            }
            guard j < b.count, j > i + 1 else { return nil }
            definition = String(decoding: b[(i + 1)..<j], as: UTF8.self)
            i = j
        }
        while i < b.count && b[i] != UInt8(ascii: "}") { i += 1 }
        guard i < b.count else { return nil }
        return GrokReference(pattern: pattern, subname: subname, definition: definition, end: i + 1)
    }
}

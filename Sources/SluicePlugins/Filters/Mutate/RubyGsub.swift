import SluiceCore

/// A regular expression compiled with Ruby's anchor semantics (`^`/`$` match at every line), and its named groups.
final class RubyRegex: Sendable {
    let regex: Regex
    /// Group numbers by name (a name may be used by several groups).
    let groupsByName: [String: [Int]]

    /// Compiles a Ruby pattern. Ruby's `^` and `$` are always line anchors, so the PCRE2 pattern gets `(?m)`.
    init(_ pattern: String) throws(EventOperationError) {
        do {
            regex = try Regex("(?m)" + pattern)
        } catch {
            throw EventOperationError("invalid regular expression /\(pattern)/: \(error.message) at offset \(max(0, error.offset - 4))")
        }
        var names: [String: [Int]] = [:]
        for (number, name) in regex.groupNames { names[name, default: []].append(number) }
        groupsByName = names.mapValues { $0.sorted() }
    }

    /// Ruby's `String#gsub(regex, replacement)`: every match is replaced; in the replacement `\0`–`\9` and `\&` are
    /// groups, `\k<name>` a named group, `` \` `` and `\'` the text before and after the match, `\\` a backslash.
    func gsub(_ text: String, _ replacement: String) throws(EventOperationError) -> String {
        var text = text
        let template = Array(replacement.utf8)
        let result = text.withUTF8 { buf -> Result<String, EventOperationError> in
            var out: [UInt8] = []
            out.reserveCapacity(buf.count)
            var position = 0
            var searchFrom = 0
            while searchFrom <= buf.count {
                guard case .match(let groups) = regex.match(buf, from: searchFrom), let whole = groups[0] else { break }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[position..<whole.lowerBound]))
                do throws(EventOperationError) {
                    try expand(template, groups, buf, into: &out)
                } catch {
                    return .failure(error)
                }
                position = whole.upperBound
                if whole.isEmpty {
                    // An empty match: copy one character and search again after it, as Ruby does.
                    guard whole.upperBound < buf.count else { break }
                    var next = whole.upperBound + 1
                    while next < buf.count && (buf[next] & 0xC0) == 0x80 { next += 1 }
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[whole.upperBound..<next]))
                    position = next
                    searchFrom = next
                } else {
                    searchFrom = whole.upperBound
                }
            }
            if position < buf.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[position...])) }
            return .success(String(decoding: out, as: UTF8.self))
        }
        return try result.get()
    }

    private func expand(
        _ template: [UInt8], _ groups: [Range<Int>?], _ buf: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]
    ) throws(EventOperationError) {
        func append(_ range: Range<Int>?) {
            if let range { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[range])) }
        }
        let whole = groups[0]!
        var i = 0
        while i < template.count {
            let c = template[i]
            guard c == UInt8(ascii: "\\"), i + 1 < template.count else {
                out.append(c)
                i += 1
                continue
            }
            let n = template[i + 1]
            switch n {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                let g = Int(n - 48)
                if g < groups.count { append(groups[g]) }
            case UInt8(ascii: "&"):
                append(whole)
            case UInt8(ascii: "`"):
                append(0..<whole.lowerBound)
            case UInt8(ascii: "'"):
                append(whole.upperBound..<buf.count)
            case UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "k")
            where i + 2 < template.count && template[i + 2] == UInt8(ascii: "<")
                && template[(i + 3)...].contains(UInt8(ascii: ">")):
                let close = template[(i + 3)...].firstIndex(of: UInt8(ascii: ">"))!
                let name = String(decoding: template[(i + 3)..<close], as: UTF8.self)
                guard let numbers = groupsByName[name] else {
                    throw EventOperationError("undefined group name reference: \(name)")
                }
                // With a repeated name, the last group that took part in the match.
                append(numbers.reversed().lazy.compactMap { $0 < groups.count ? groups[$0] : nil }.first)
                i = close + 1
                continue
            default:
                out.append(c)
                out.append(n)
            }
            i += 2
        }
    }
}

/// One `gsub` triplet of mutate: field, pattern, replacement.
struct GsubRule: Sendable {
    enum Pattern: Sendable {
        /// Compiled once at start-up.
        case fixed(RubyRegex)
        /// The pattern contains `%{`: rendered and compiled per event (compilations are cached).
        case dynamic(Template)
    }

    let field: ConfiguredField
    let fieldText: String
    let pattern: Pattern
    let replacement: Template

    init(field: String, pattern: String, replacement: String) throws(EventOperationError) {
        self.field = ConfiguredField(field)
        fieldText = field
        self.pattern = pattern.contains("%{") ? .dynamic(Template(pattern)) : .fixed(try RubyRegex(pattern))
        self.replacement = Template(replacement)
    }

    /// Replaces every match in `text`, with the replacement (and a dynamic pattern) rendered against `event`.
    func apply(_ text: String, _ event: Event, _ cache: RegexCache) throws(EventOperationError) -> String {
        let regex: RubyRegex
        switch pattern {
        case .fixed(let r): regex = r
        case .dynamic(let template): regex = try cache.regex(template.render(event))
        }
        return try regex.gsub(text, replacement.render(event))
    }
}

/// Compiled patterns of dynamic `gsub` rules, shared by all workers (bounded; cleared when full).
final class RegexCache: @unchecked Sendable {
    private let lock = Lock()
    private var compiled: [String: RubyRegex] = [:]
    private let limit = 256

    func regex(_ pattern: String) throws(EventOperationError) -> RubyRegex {
        if let hit = lock.withLock({ compiled[pattern] }) { return hit }
        let regex = try RubyRegex(pattern)
        lock.withLock {
            if compiled.count >= limit { compiled.removeAll(keepingCapacity: true) }
            compiled[pattern] = regex
        }
        return regex
    }
}

import CPCRE2

/// A compiled PCRE2 regular expression (JIT-compiled when available), shared by conditions, mutate's gsub and grok.
///
/// Compiled once at start-up; matching is thread-safe (each call uses its own match data).
public final class Regex: @unchecked Sendable {
    /// A pattern that failed to compile, with PCRE2's message and offset.
    public struct CompileError: Error, Sendable, CustomStringConvertible {
        public let pattern: String
        public let message: String
        public let offset: Int
        public var description: String { "invalid regular expression /\(pattern)/: \(message) at offset \(offset)" }
    }

    public let pattern: String
    let code: OpaquePointer
    /// Capture group names by group number.
    public let groupNames: [Int: String]
    public let captureCount: Int
    let matchLimit: UInt32?
    let matchContext: OpaquePointer?

    /// Compiles `pattern` (UTF-8 mode). `matchLimit` bounds backtracking (grok's timeout).
    public init(_ pattern: String, caseInsensitive: Bool = false, matchLimit: UInt32? = nil) throws(CompileError) {
        self.pattern = pattern
        var errorCode: Int32 = 0
        var errorOffset: Int = 0
        var options = UInt32(PCRE2_UTF) | UInt32(PCRE2_MATCH_INVALID_UTF)
        if caseInsensitive { options |= UInt32(PCRE2_CASELESS) }
        let compiled = pattern.withCString { p in
            p.withMemoryRebound(to: UInt8.self, capacity: pattern.utf8.count) {
                pcre2_compile_8($0, pattern.utf8.count, options, &errorCode, &errorOffset, nil)
            }
        }
        guard let compiled else {
            var buffer = [UInt8](repeating: 0, count: 256)
            pcre2_get_error_message_8(errorCode, &buffer, buffer.count)
            let message = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
            throw CompileError(pattern: pattern, message: message, offset: errorOffset)
        }
        code = compiled
        pcre2_jit_compile_8(compiled, UInt32(PCRE2_JIT_COMPLETE))
        var count: UInt32 = 0
        pcre2_pattern_info_8(compiled, UInt32(PCRE2_INFO_CAPTURECOUNT), &count)
        captureCount = Int(count)
        groupNames = Regex.readGroupNames(compiled)
        self.matchLimit = matchLimit
        if let matchLimit {
            let ctx = pcre2_match_context_create_8(nil)
            pcre2_set_match_limit_8(ctx, matchLimit)
            matchContext = ctx
        } else {
            matchContext = nil
        }
    }

    deinit {
        pcre2_code_free_8(code)
        if let matchContext { pcre2_match_context_free_8(matchContext) }
    }

    private static func readGroupNames(_ code: OpaquePointer) -> [Int: String] {
        var count: UInt32 = 0
        var entrySize: UInt32 = 0
        var table: UnsafePointer<UInt8>? = nil
        pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_NAMECOUNT), &count)
        pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_NAMEENTRYSIZE), &entrySize)
        pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_NAMETABLE), &table)
        var names: [Int: String] = [:]
        guard let table, count > 0 else { return names }
        for i in 0..<Int(count) {
            let entry = table + i * Int(entrySize)
            let number = Int(entry[0]) << 8 | Int(entry[1])
            var end = 2
            while entry[end] != 0 { end += 1 }
            names[number] = String(decoding: UnsafeBufferPointer(start: entry + 2, count: end - 2), as: UTF8.self)
        }
        return names
    }

    /// The outcome of one match attempt.
    public enum MatchOutcome: Sendable {
        case noMatch
        /// Byte ranges of group 0 … captureCount (nil for groups that did not participate).
        case match([Range<Int>?])
        /// The match limit was hit (catastrophic backtracking).
        case limitExceeded
    }

    /// Searches `bytes` from `start`.
    public func match(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int = 0) -> MatchOutcome {
        let data = pcre2_match_data_create_from_pattern_8(code, nil)
        defer { pcre2_match_data_free_8(data) }
        let base = bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!
        let rc = pcre2_match_8(code, base, bytes.count, start, 0, data, matchContext)
        if rc == PCRE2_ERROR_NOMATCH { return .noMatch }
        if rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT
            || rc == PCRE2_ERROR_JIT_STACKLIMIT || rc == PCRE2_ERROR_NOMEMORY
        {
            return .limitExceeded  // PCRE2 gave up: not a "no match"
        }
        if rc < 0 { return .noMatch }
        let ovector = pcre2_get_ovector_pointer_8(data)!
        var ranges: [Range<Int>?] = []
        ranges.reserveCapacity(captureCount + 1)
        for g in 0...captureCount {
            let s = ovector[2 * g], e = ovector[2 * g + 1]
            // PCRE2_UNSET (all bits set) reads as -1 through `size_t`.
            if s < 0 || e < 0 || s > e { ranges.append(nil) } else { ranges.append(Int(s)..<Int(e)) }
        }
        return .match(ranges)
    }

    /// PCRE2's default match limit (`MATCH_LIMIT`), the default of `pipeline.regex.match_limit`.
    public static let defaultMatchLimit: UInt32 = 10_000_000

    /// The outcome of testing whether a pattern occurs in a text.
    public enum TestOutcome: Sendable, Equatable {
        case matched
        case notMatched
        /// PCRE2 gave up before deciding (match limit, depth limit, heap or JIT stack exhausted); the message is
        /// PCRE2's.
        case gaveUp(String)
    }

    /// Whether the pattern matches anywhere in `text`, telling a give-up apart from a non-match (conditions).
    public func test(_ text: String) -> TestOutcome {
        var text = text
        let rc = text.withUTF8 { buf in
            let data = pcre2_match_data_create_from_pattern_8(code, nil)
            defer { pcre2_match_data_free_8(data) }
            let base = buf.baseAddress ?? UnsafePointer(bitPattern: 1)!
            return pcre2_match_8(code, base, buf.count, 0, 0, data, matchContext)
        }
        if rc >= 0 { return .matched }
        if rc == PCRE2_ERROR_NOMATCH { return .notMatched }
        return .gaveUp(Regex.errorMessage(rc))
    }

    static func errorMessage(_ code: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        pcre2_get_error_message_8(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Whether the pattern matches anywhere in `text` (a give-up counts as no match).
    public func matches(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { buf in
            let data = pcre2_match_data_create_from_pattern_8(code, nil)
            defer { pcre2_match_data_free_8(data) }
            let base = buf.baseAddress ?? UnsafePointer(bitPattern: 1)!
            return pcre2_match_8(code, base, buf.count, 0, 0, data, matchContext) >= 0
        }
    }

    /// Replaces every match in `text` (Ruby `gsub`): `\1`…`\9` and `\0` in the replacement refer to groups.
    public func replaceAll(in text: String, with replacement: String) -> String {
        var text = text
        let template = Array(replacement.utf8)
        return text.withUTF8 { buf -> String in
            var out: [UInt8] = []
            out.reserveCapacity(buf.count)
            var position = 0
            var searchFrom = 0
            while searchFrom <= buf.count {
                guard case .match(let groups) = match(buf, from: searchFrom), let whole = groups[0] else { break }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[position..<whole.lowerBound]))
                Regex.expand(template, groups, buf, into: &out)
                position = whole.upperBound
                if whole.isEmpty {
                    if whole.upperBound < buf.count {
                        // Step over one UTF-8 character.
                        var next = whole.upperBound + 1
                        while next < buf.count && (buf[next] & 0xC0) == 0x80 { next += 1 }
                        out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[whole.upperBound..<next]))
                        position = next
                    }
                    searchFrom = whole.upperBound + 1
                } else {
                    searchFrom = whole.upperBound
                }
            }
            if position < buf.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[position...])) }
            return String(decoding: out, as: UTF8.self)
        }
    }

    static func expand(_ template: [UInt8], _ groups: [Range<Int>?], _ buf: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var i = 0
        while i < template.count {
            let c = template[i]
            if c == 92, i + 1 < template.count {
                let n = template[i + 1]
                if n >= 48 && n <= 57 {
                    let g = Int(n - 48)
                    if g < groups.count, let r = groups[g] { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[r])) }
                    i += 2
                    continue
                }
                if n == 92 {
                    out.append(92)
                    i += 2
                    continue
                }
            }
            out.append(c)
            i += 1
        }
    }
}

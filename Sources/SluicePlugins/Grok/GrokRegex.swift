import CPCRE2
import SluiceCore

/// A grok expression compiled by PCRE2 the way Logstash's Oniguruma (Joni) compiles it for grok.
///
/// Options mirror Ruby's `Regexp.new(expanded, Regexp::MULTILINE)`: `.` matches newlines (`DOTALL`), `^`/`$` are
/// line anchors as they always are in Ruby (`MULTILINE`), and unnamed groups do not capture once a pattern has
/// named groups (`NO_AUTO_CAPTURE`). The pattern is JIT-compiled once; matching is thread-safe as long as each
/// thread brings its own `GrokMatchScratch`.
final class GrokRegex: @unchecked Sendable {
    /// A PCRE2 compile error with its message and byte offset in the expanded pattern.
    struct CompileError: Error, CustomStringConvertible {
        let message: String
        let offset: Int
        var description: String { "\(message) at offset \(offset)" }
    }

    let code: OpaquePointer
    let captureCount: Int
    /// The match limit, PCRE2's unit of backtracking work (see `GrokTimeout`); nil when the timeout is disabled.
    let matchLimit: UInt32?

    init(_ pattern: String, matchLimit: UInt32?) throws(CompileError) {
        var errorCode: Int32 = 0
        var errorOffset = 0
        let options =
            UInt32(PCRE2_UTF) | UInt32(PCRE2_MATCH_INVALID_UTF) | UInt32(PCRE2_DOTALL) | UInt32(PCRE2_MULTILINE)
            | UInt32(PCRE2_NO_AUTO_CAPTURE)
        var bytes = Array(pattern.utf8)
        let compiled = bytes.withUnsafeMutableBufferPointer { buf in
            pcre2_compile_8(buf.baseAddress, buf.count, options, &errorCode, &errorOffset, nil)
        }
        guard let compiled else {
            var buffer = [UInt8](repeating: 0, count: 256)
            pcre2_get_error_message_8(errorCode, &buffer, buffer.count)
            throw CompileError(message: String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self), offset: errorOffset)
        }
        code = compiled
        pcre2_jit_compile_8(compiled, UInt32(PCRE2_JIT_COMPLETE))
        var count: UInt32 = 0
        pcre2_pattern_info_8(compiled, UInt32(PCRE2_INFO_CAPTURECOUNT), &count)
        captureCount = Int(count)
        self.matchLimit = matchLimit
    }

    deinit { pcre2_code_free_8(code) }

    /// The group number of a (unique) group name.
    func groupNumber(_ name: String) -> Int? {
        let n = name.withCString { p in
            p.withMemoryRebound(to: UInt8.self, capacity: name.utf8.count + 1) {
                pcre2_substring_number_from_name_8(code, $0)
            }
        }
        return n > 0 ? Int(n) : nil
    }

    enum Outcome {
        case noMatch
        case match
        /// PCRE2 gave up: the match limit or the JIT stack was exhausted (grok's timeout).
        case limitExceeded
    }

    /// Searches `subject`; on a match the group offsets are read with `scratch.range(_:)`.
    func match(_ subject: UnsafeBufferPointer<UInt8>, _ scratch: GrokMatchScratch) -> Outcome {
        let data = scratch.data(for: captureCount)
        scratch.limit(matchLimit)
        let base = subject.baseAddress ?? UnsafePointer(bitPattern: 1)!
        var rc = pcre2_match_8(code, base, subject.count, 0, 0, data, scratch.context)
        if matchLimit == nil && (rc == PCRE2_ERROR_JIT_STACKLIMIT || rc == PCRE2_ERROR_MATCHLIMIT) {
            // No timeout: the JIT's stack is bounded, the interpreter's backtracking frames live on the heap.
            rc = pcre2_match_8(code, base, subject.count, 0, UInt32(PCRE2_NO_JIT), data, scratch.context)
        }
        if rc >= 0 {
            scratch.ovector = pcre2_get_ovector_pointer_8(data)
            return .match
        }
        switch rc {
        case PCRE2_ERROR_NOMATCH, PCRE2_ERROR_PARTIAL: return .noMatch
        case PCRE2_ERROR_MATCHLIMIT, PCRE2_ERROR_DEPTHLIMIT, PCRE2_ERROR_HEAPLIMIT, PCRE2_ERROR_JIT_STACKLIMIT,
            PCRE2_ERROR_NOMEMORY:
            return .limitExceeded
        default: return .noMatch
        }
    }
}

/// Per-thread matching state: match data sized for the largest pattern, a match context and a JIT stack.
/// One is taken from `GrokScratchPool` for a batch and returned afterwards, so no allocation happens per event.
final class GrokMatchScratch {
    let context: OpaquePointer
    private let jitStack: OpaquePointer?
    private var matchData: OpaquePointer?
    private var pairs = 0
    fileprivate(set) var ovector: UnsafeMutablePointer<Int>?

    init() {
        context = pcre2_match_context_create_8(nil)!
        // The default 32 KiB JIT stack is too small for long lines against nested patterns; grow up to 4 MiB.
        jitStack = pcre2_jit_stack_create_8(64 * 1024, 4 * 1024 * 1024, nil)
        if let jitStack { pcre2_jit_stack_assign_8(context, nil, UnsafeMutableRawPointer(jitStack)) }
    }

    deinit {
        if let matchData { pcre2_match_data_free_8(matchData) }
        if let jitStack { pcre2_jit_stack_free_8(jitStack) }
        pcre2_match_context_free_8(context)
    }

    /// Sets the limits of the next match: the match limit, or none at all (match, depth and heap) for nil.
    fileprivate func limit(_ matchLimit: UInt32?) {
        pcre2_set_match_limit_8(context, matchLimit ?? UInt32.max)
        pcre2_set_depth_limit_8(context, matchLimit == nil ? UInt32.max : GrokMatchScratch.defaultDepthLimit)
        pcre2_set_heap_limit_8(context, matchLimit == nil ? UInt32.max : GrokMatchScratch.defaultHeapLimitKiB)
    }

    /// PCRE2's defaults (`DEPTH_LIMIT` follows `MATCH_LIMIT`; `HEAP_LIMIT` is in KiB).
    static let defaultDepthLimit: UInt32 = 10_000_000
    static let defaultHeapLimitKiB: UInt32 = 20_000_000

    fileprivate func data(for captureCount: Int) -> OpaquePointer {
        if let matchData, pairs > captureCount { return matchData }
        if let matchData { pcre2_match_data_free_8(matchData) }
        pairs = max(captureCount + 1, 16)
        let created = pcre2_match_data_create_8(UInt32(pairs), nil)!
        matchData = created
        return created
    }

    /// The byte range of group `g` after a match, or nil when the group did not participate.
    @inline(__always) func range(_ g: Int) -> Range<Int>? {
        guard let ovector else { return nil }
        let s = ovector[2 * g], e = ovector[2 * g + 1]
        // PCRE2_UNSET (all bits set) reads as -1.
        if s < 0 || s > e { return nil }
        return s..<e
    }
}

/// What one worker uses to run a grok filter: PCRE2 scratch space and a private copy of the compiled tables.
final class GrokWorkerState {
    let scratch = GrokMatchScratch()
    let fields: [GrokFilter.FieldPatterns]

    init(fields: [GrokFilter.FieldPatterns]) { self.fields = fields }
}

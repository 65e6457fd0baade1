#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Parses text into fields with grok patterns (Logstash's `grok` filter, version 4.4.x), on PCRE2 with JIT.
///
/// Patterns are expanded and compiled once at start-up. For each `match` field the patterns are tried in order;
/// with `break_on_match` the first success ends the filter. A list field is matched element by element, any other
/// value as its Ruby `to_s` (a missing field is matched as the empty string, as Logstash does). Captures go to the
/// field named by the semantic (a field reference, under `target` when set); a second value for a field makes a
/// list, unless the field is in `overwrite`.
///
/// `timeout_millis` becomes a PCRE2 match limit (see `GrokTimeout`): a runaway pattern ends with `tag_on_timeout`
/// instead of blocking the worker.
public final class GrokFilter: Filter {
    public static let name = "grok"
    public static let summary = "Parses unstructured text into fields with named regular-expression patterns."

    public enum TimeoutScope: String, SettingEnum, Sendable {
        case pattern, event
    }

    public struct Settings: PluginSettings {
        @Setting("match", doc: "A hash from field name to a pattern or list of patterns to match against that field.")
        var match = SettingHash<[String]>()
        @Setting("patterns_dir", doc: "Directories (or globs) of extra pattern files, `NAME regex` per line; they can redefine built-in patterns.")
        var patternsDir: [String] = []
        @Setting("patterns_files_glob", doc: "The glob selecting pattern files inside each `patterns_dir` directory.")
        var patternsFilesGlob = "*"
        @Setting("pattern_definitions", doc: "Patterns defined inline (name => regex), available to this filter only; they override files.")
        var patternDefinitions = SettingHash<String>()
        @Setting("break_on_match", doc: "Stop at the first successful match; false tries every pattern and field.")
        var breakOnMatch = true
        @Setting("named_captures_only", doc: "Keep only captures with a semantic name; false also stores `%{PATTERN}` captures under the pattern's name.")
        var namedCapturesOnly = true
        @Setting("keep_empty_captures", doc: "Store empty and non-participating captures too (as \"\" or null).")
        var keepEmptyCaptures = false
        @Setting("overwrite", doc: "Fields whose existing value a capture replaces instead of turning into a list.")
        var overwrite: [String] = []
        @Setting("target", doc: "The field under which captures are placed; by default they go to the top level.")
        var target: String? = nil
        @Setting("tag_on_failure", doc: "Tags added when no pattern matches.")
        var tagOnFailure = ["_grokparsefailure"]
        @Setting("tag_on_timeout", doc: "The tag added when a pattern exceeds `timeout_millis`.")
        var tagOnTimeout = "_groktimeout"
        @Setting("timeout_millis", doc: "Bound on a pattern's work, in milliseconds of PCRE2 matching; 0 disables it. Enforced as a PCRE2 match limit.")
        var timeoutMillis = 30000
        @Setting("timeout_scope", doc: "Whether `timeout_millis` applies to each pattern or to all patterns of an event together.")
        var timeoutScope = TimeoutScope.pattern
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if timeoutMillis < 0 {
                throw SettingsValidationError("timeout_millis must not be negative", setting: "timeout_millis")
            }
        }
    }

    /// One `match` entry: a field and its compiled patterns.
    struct FieldPatterns {
        let field: String
        let reference: FieldReference?
        let patterns: [PreparedPattern]
    }

    /// A compiled pattern with the place of each capture in the event, resolved once for this filter.
    ///
    /// The per-event loop reads plain `Slot`s (one per regex group, in Logstash's reporting order) and reaches the
    /// stores through a pointer, so storing a capture touches no reference count of the tables.
    final class PreparedPattern: @unchecked Sendable {
        let pattern: GrokPattern
        let slots: ContiguousArray<Slot>
        let stores: ContiguousArray<CaptureStore>

        init(_ pattern: GrokPattern, targetPath: [String]?, overwrite: Set<String>) {
            self.pattern = pattern
            stores = ContiguousArray(pattern.captures.map { CaptureStore($0, targetPath: targetPath, overwrite: overwrite) })
            var slots = ContiguousArray<Slot>()
            for (k, capture) in pattern.captures.enumerated() {
                for g in capture.groups { slots.append(Slot(group: g, coercion: capture.coercion, store: k)) }
            }
            self.slots = slots
        }
    }

    /// One regex group of a pattern: how its text is converted and which store it goes to.
    struct Slot {
        let group: Int
        let coercion: GrokPattern.Coercion
        let store: Int
    }

    /// Where one capture goes: its reference under `target`, whether `overwrite` names it, and whether the field
    /// is one Logstash guards (`@timestamp`, `tags`), which takes the checked `event.set` path.
    struct CaptureStore {
        /// The name as written, for messages.
        let field: String
        /// The event path; meaningless when `valid` is false (the name is not a field reference, so every match
        /// fails that field, as Logstash's `event.set` raising inside grok does).
        let reference: FieldReference
        let valid: Bool
        let overwrite: Bool
        let guarded: Bool

        init(_ capture: GrokPattern.Capture, targetPath: [String]?, overwrite: Set<String>) {
            field = capture.field
            let ref = capture.reference.map { reference in
                targetPath.map { FieldReference(path: $0 + reference.path, isMetadata: reference.isMetadata) } ?? reference
            }
            reference = ref ?? FieldReference(path: [])
            valid = ref != nil
            self.overwrite = overwrite.contains(capture.field)
            guarded = ref.map { !$0.isMetadata && ($0.path.first == "@timestamp" || $0.path.first == "tags") } ?? false
        }
    }

    let fields: [FieldPatterns]
    let breakOnMatch: Bool
    let keepEmptyCaptures: Bool
    let tagOnFailure: [String]
    let tagOnTimeout: String
    let timeout: GrokTimeout
    let eventScope: Bool
    let logger: Logger
    /// Per-worker scratch space and tables: workers sharing one set of objects would contend on their reference
    /// counts on every capture.
    let workerStates: WorkerStatePool<GrokWorkerState>

    public init(settings: Settings, context: PluginContext) throws {
        breakOnMatch = settings.breakOnMatch
        keepEmptyCaptures = settings.keepEmptyCaptures
        let overwrite = Set(settings.overwrite)
        tagOnFailure = settings.tagOnFailure
        tagOnTimeout = settings.tagOnTimeout
        timeout = GrokTimeout(millis: settings.timeoutMillis)
        eventScope = settings.timeoutScope == .event
        logger = context.logger
        let targetPath = settings.target.map(GrokFilter.targetPath)

        var library = try GrokPatternLibrary.builtin(GrokPatternLibrary.Flavour(context.ecsCompatibility))
        for file in GrokPatternLibrary.files(inPatternsDirs: settings.patternsDir, glob: settings.patternsFilesGlob) {
            guard let text = FileSystem.readText(file) else { throw GrokError.unreadablePatternFile(path: file) }
            library.addFile(text: text)
        }
        for (name, pattern) in settings.patternDefinitions {
            var p = Substring(pattern)
            if p.last == "\n" { p = p.dropLast() }  // Ruby chomp
            if p.last == "\r" { p = p.dropLast() }
            library.add(name, String(p))
        }
        let recipe = TableRecipe(
            library: library, match: Array(settings.match), namedCapturesOnly: settings.namedCapturesOnly,
            matchLimit: timeout.matchLimit, targetPath: targetPath, overwrite: overwrite)
        let built = try recipe.build()
        fields = built
        // The first worker uses the tables just built; each further one compiles its own.
        workerStates = WorkerStatePool { GrokWorkerState(fields: (try? recipe.build()) ?? built) }
        workerStates.give(GrokWorkerState(fields: built))
    }

    /// What the compiled tables are made from, kept so that each worker can build a private copy.
    struct TableRecipe: Sendable {
        let library: GrokPatternLibrary
        let match: [(String, [String])]
        let namedCapturesOnly: Bool
        let matchLimit: UInt32?
        let targetPath: [String]?
        let overwrite: Set<String>

        func build() throws(GrokError) -> [FieldPatterns] {
            try match.map { (field, patterns) throws(GrokError) in
                var compiled: [PreparedPattern] = []
                for pattern in patterns {
                    // Each pattern gets a fresh library copy: inline %{NAME=…} definitions stay local, as in jls-grok.
                    var compiler = GrokCompiler(library: library, namedCapturesOnly: namedCapturesOnly, matchLimit: matchLimit)
                    let grok = try compiler.compile(pattern)
                    compiled.append(PreparedPattern(grok, targetPath: targetPath, overwrite: overwrite))
                }
                return FieldPatterns(field: field, reference: try? FieldReference(parsing: field), patterns: compiled)
            }
        }
    }

    /// The path `target` names: grok.rb wraps a bare name in brackets; either way the captures nest under it.
    static func targetPath(_ target: String) -> [String] {
        let trimmed = String(target.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
        let ref = (try? FieldReference(parsing: trimmed)) ?? FieldReference(path: [trimmed])
        return ref.path
    }

    public static let canFail = true

    public func filter(_ batch: inout FilterBatch) {
        let state = workerStates.take()
        defer { workerStates.give(state) }
        for (i, event) in batch.events.enumerated() {
            var failure: String? = nil
            if process(event, state, failure: &failure) {
                batch.matched[i] = true
            } else if let failure {
                batch.failed(i, reason: failure)
            }
        }
    }

    /// The patterns of every `match` entry, for failure reasons.
    var patternSummary: String {
        fields.map { entry in "[\(entry.field)] against " + entry.patterns.map { "\"\($0.pattern.source)\"" }.joined(separator: ", ") }
            .joined(separator: "; ")
    }

    /// Raised inside one event's processing when a pattern runs out of its budget.
    struct TimedOut: Error {
        let pattern: GrokPattern
        let field: String
        let value: String
    }

    /// Applies the filter to one event; true when it matched (decorations apply). On failure `failure` says why.
    func process(_ event: Event, _ state: GrokWorkerState, failure: inout String?) -> Bool {
        var matched = false
        let deadline = eventScope ? timeout.deadline() : nil
        do throws(TimedOut) {
            for entry in state.fields {
                if try match(entry, event, state.scratch, deadline) {
                    matched = true
                    if breakOnMatch { break }
                }
            }
        } catch {
            logger.rateLimited(
                .warn, key: "timeout",
                "Timeout executing grok '\(error.pattern.source)' against field '\(error.field)' with value '\(GrokFilter.truncated(error.value))'!"
            )
            event.tag(tagOnTimeout)
            failure = "grok: timed out matching \"\(error.pattern.source)\" against field [\(error.field)]"
            return false
        }
        if !matched {
            for tag in tagOnFailure { event.tag(tag) }
            failure = "grok: no pattern matched: \(patternSummary)"
        }
        return matched
    }

    static func truncated(_ value: String) -> String {
        if value.count <= 255 { return value }
        return "Value too large to output (\(value.utf8.count) bytes)! First 255 chars are: \(value.prefix(256))"
    }

    /// grok.rb's `match`: a list is matched element by element (success if any matched); anything else as `to_s`.
    func match(_ entry: FieldPatterns, _ event: Event, _ scratch: GrokMatchScratch, _ deadline: UInt64?)
        throws(TimedOut) -> Bool
    {
        let input = entry.reference.flatMap { event.rubyGet($0) }
        if case .array(let elements)? = input {
            var success = false
            for element in elements {
                if try matchAgainstPatterns(entry, Ruby.toS(element), event, scratch, deadline) { success = true }
            }
            return success
        }
        return try matchAgainstPatterns(entry, input.map(Ruby.toS) ?? "", event, scratch, deadline)
    }

    struct CaptureFailed: Error {
        let message: String
    }

    func matchAgainstPatterns(
        _ entry: FieldPatterns, _ input: String, _ event: Event, _ scratch: GrokMatchScratch, _ deadline: UInt64?
    ) throws(TimedOut) -> Bool {
        var text = input
        var matched = false
        var timedOut: GrokPattern?
        let result: Result<Bool, CaptureFailed> = text.withUTF8 { buf in
            for prepared in entry.patterns {
                if let deadline, GrokTimeout.now() > deadline {
                    timedOut = prepared.pattern
                    return .success(false)
                }
                switch prepared.pattern.regex.match(buf, scratch) {
                case .noMatch:
                    matched = false
                case .limitExceeded:
                    timedOut = prepared.pattern
                    return .success(false)
                case .match:
                    matched = true
                    do throws(CaptureFailed) {
                        try capture(prepared, buf, scratch, event)
                    } catch {
                        return .failure(error)
                    }
                    if breakOnMatch { return .success(true) }
                }
            }
            return .success(matched)
        }
        if let timedOut { throw TimedOut(pattern: timedOut, field: entry.field, value: input) }
        switch result {
        case .success(let ok): return ok
        case .failure(let failure):
            logger.rateLimited(.warn, key: "exception", "Grok regexp threw exception {:exception=>\"\(failure.message)\"}")
            return false
        }
    }

    /// Stores the captures of a match (jls-grok's `capture` and grok.rb's `handle`).
    func capture(_ prepared: PreparedPattern, _ buf: UnsafeBufferPointer<UInt8>, _ scratch: GrokMatchScratch, _ event: Event)
        throws(CaptureFailed)
    {
        try prepared.stores.withUnsafeBufferPointer { stores throws(CaptureFailed) in
            for slot in prepared.slots {
                var value: Value
                if let r = scratch.range(slot.group) {
                    let bytes = UnsafeBufferPointer(rebasing: buf[r])
                    switch slot.coercion {
                    case .none:
                        if bytes.isEmpty && !keepEmptyCaptures { continue }
                        value = .string(String(decoding: bytes, as: UTF8.self))
                    case .int: value = .int(Ruby.toI(String(decoding: bytes, as: UTF8.self)))
                    case .float: value = .double(Ruby.toF(String(decoding: bytes, as: UTF8.self)))
                    }
                } else {
                    if !keepEmptyCaptures { continue }
                    value = .null
                }
                try handle(stores.baseAddress! + slot.store, value, event)
            }
        }
    }

    /// grok.rb's `handle`: the first value sets the field; later ones turn it into a list (strings) or join the list,
    /// unless the field is in `overwrite`; numbers, hashes and other values are left alone.
    func handle(_ store: UnsafePointer<CaptureStore>, _ value: Value, _ event: Event) throws(CaptureFailed) {
        guard store.pointee.valid else {
            throw CaptureFailed(message: "Invalid FieldReference: `\(store.pointee.field)`")
        }
        if store.pointee.guarded { return try guardedHandle(store.pointee, value, event) }
        let overwrite = store.pointee.overwrite
        let stored = event.update(store.pointee.reference) { existing in
            if overwrite {
                existing = value
                return
            }
            switch existing {
            case .null:
                existing = value
            case .array:
                var list = existing.takeArray()
                list.append(value)
                existing = .array(list)
            case .string(let s):
                existing = .array([.string(s), value])
            default:
                break
            }
        }
        if !stored {
            throw CaptureFailed(
                message: "Could not set field '\(store.pointee.reference.text)': a value on its path is neither a hash nor a list index")
        }
    }

    /// `handle` for `@timestamp` and `tags`, through `event.set`'s type checks.
    func guardedHandle(_ store: CaptureStore, _ value: Value, _ event: Event) throws(CaptureFailed) {
        let ref = store.reference
        do throws(EventOperationError) {
            if store.overwrite {
                try event.strictSet(ref, value)
                return
            }
            switch event.rubyGet(ref) {
            case nil:
                try event.strictSet(ref, value)
            case .array(var list)?:
                list.append(value)
                try event.strictSet(ref, .array(list))
            case .string(let s)?:
                try event.strictSet(ref, .array([.string(s), value]))
            default:
                break
            }
        } catch {
            throw CaptureFailed(message: error.description)
        }
    }
}

/// How `timeout_millis` is enforced without a timer thread: PCRE2's match limit bounds the backtracking work of a
/// single match, so a catastrophic pattern stops after roughly the configured time instead of blocking a worker.
///
/// The limit is `timeout_millis × GrokTimeout.unitsPerMillisecond`, where the constant is the number of PCRE2
/// match-limit units the JIT performs per millisecond on a current x86-64 core (measured with the `(.*a){30}`
/// pathological case; see `GrokFilterTests.timeoutTagsCatastrophicPattern`). `timeout_scope => event` additionally
/// checks a monotonic clock between the patterns of one event.
struct GrokTimeout: Sendable {
    static let unitsPerMillisecond: UInt64 = 1_000_000

    let millis: Int
    /// nil when `timeout_millis => 0` disables the timeout: PCRE2 then runs without any limit, as Logstash.
    let matchLimit: UInt32?

    init(millis: Int) {
        self.millis = millis
        if millis <= 0 {
            matchLimit = nil
        } else {
            matchLimit = UInt32(clamping: UInt64(millis) * GrokTimeout.unitsPerMillisecond)
        }
    }

    /// The monotonic deadline for an event-scoped timeout, or nil when timeouts are disabled.
    func deadline() -> UInt64? {
        millis > 0 ? GrokTimeout.now() + UInt64(millis) * 1_000_000 : nil
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

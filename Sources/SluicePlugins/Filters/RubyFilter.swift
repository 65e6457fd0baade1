import CSluiceRuby
import SluiceCore

/// Runs Ruby code on each event (Logstash's `ruby` filter, 3.1.x), on the process's embedded CRuby 3.1 interpreter
/// (`RubyInterpreter`). Either inline: `init` once at start-up, then `code` with `event` in scope (and
/// `new_event_block` to emit new events), `self` the same object for both, so instance variables set by `init` are
/// seen by every event. Or a script file (`path`): its `test` blocks run at start-up (a failing one stops the
/// start), `register(script_params)`, then `filter(event)` returns the events to pass on.
///
/// An exception (including `exit` and `abort`, which raise SystemExit, and a call that runs past `timeout`) never
/// escapes: the event is tagged `tag_on_exception` (and, with `tag_with_exception_message`, "tag: message" before
/// it) and goes on, or with `on_error => "dlq"` goes to the dead letter queue; without an exception the common
/// decorations apply, as Logstash's `filter_matched`. Events a snippet emits get no decorations, as in Logstash.
///
/// `filter` is called by the workers; each hands its batch to the interpreter thread and waits, so batches of
/// several workers run one after another.
public final class RubyFilter: Filter {
    public static let name = "ruby"
    public static let summary = "Runs Ruby code on each event, on an embedded CRuby 3.1 interpreter."
    public static let canFail = true

    public struct Settings: PluginSettings {
        @Setting("code", doc: "The Ruby code to run on each event, with the event as `event` and `new_event_block` to emit new events.")
        var code: String? = nil
        @Setting("init", doc: "Ruby code run once at start-up, on the same `self` as `code` (instance variables it sets are seen by `code`).")
        var initCode: String? = nil
        @Setting("path", doc: "A Ruby script file defining `filter(event)` (returning the events to pass on), optionally `register(params)` and `test` blocks, which run at start-up.")
        var path: String? = nil
        @Setting("script_params", doc: "The hash passed to the `path` script's `register`.")
        var scriptParams: Value? = nil
        @Setting("tag_on_exception", doc: "The tag added to an event the code raised an exception on.")
        var tagOnException = "_rubyexception"
        @Setting("tag_with_exception_message", doc: "Also add the tag \"<tag_on_exception>: <exception message>\".")
        var tagWithExceptionMessage = false
        @Setting("timeout", doc: "Sluice extension: the longest the code may run on one event; past it the call raises Sluice::TimeoutError (the event is tagged, or dead-lettered with on_error => dlq). 0 waits forever, as Logstash.")
        var timeout: FriendlyDuration<Seconds> = 10
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if (code == nil) == (path == nil) {
                throw SettingsValidationError(
                    "You must either use an inline script with the \"code\" option or a script file using \"path\".",
                    setting: code == nil ? "code" : "path")
            }
            if path != nil, initCode != nil {
                throw SettingsValidationError(
                    "init only runs with `code`; a `path` script sets itself up in its `register(params)`", setting: "init")
            }
            if let scriptParams {
                guard case .object = scriptParams else {
                    throw SettingsValidationError("script_params must be a hash", setting: "script_params")
                }
                if path == nil {
                    throw SettingsValidationError("script_params is passed to a `path` script's register; it has no effect with `code`", setting: "script_params")
                }
            }
        }
    }

    /// The Ruby code a `path` script runs on; the start-up error when it cannot be read.
    struct ScriptSource {
        let path: String
        let content: String
        let params: Object
    }

    let tagOnException: String
    let tagWithExceptionMessage: Bool
    let logger: Logger
    let interpreter: RubyInterpreter
    /// The Ruby object the code runs on: a `Sluice::Filter` (inline) or a `Sluice::Script`; kept alive by the glue.
    /// Touched only on the interpreter thread.
    let receiver: sluice_value
    /// The method called per event on `receiver` (`__sluice_run` or `__sluice_filter`), as a Ruby ID.
    let method: sluice_value
    /// Whether `receiver` is a script (its `filter` returns the events to pass on).
    let isScript: Bool
    /// The `timeout` in nanoseconds (0: none).
    let limitNanoseconds: Int64

    public init(settings: Settings, context: PluginContext) throws {
        tagOnException = settings.tagOnException
        tagWithExceptionMessage = settings.tagWithExceptionMessage
        logger = context.logger
        interpreter = RubyInterpreter.shared
        limitNanoseconds = Int64(settings.timeout.nanoseconds)
        let place = "pipeline '\(context.pipelineID)', ruby filter '\(context.pluginID)'"
        let logger = context.logger
        let prepared: Result<sluice_value, RubyStartError>
        do {
            if let path = settings.path {
                guard let content = FileSystem.readText(path) else {
                    throw RubyStartError(message: "\(place): cannot read the script file '\(path)'")
                }
                let params: Object
                if case .object(let object)? = settings.scriptParams { params = object } else { params = Object() }
                let source = ScriptSource(path: path, content: content, params: params)
                prepared = try interpreter.perform { RubyFilter.prepareScript(source, logger: logger, place: place) }
            } else {
                let code = settings.code ?? ""
                let initCode = settings.initCode
                prepared = try interpreter.perform {
                    RubyFilter.prepareInline(code: code, initCode: initCode, logger: logger, place: place)
                }
            }
        } catch let error as RubyStartError {
            throw error
        } catch {
            throw RubyStartError(message: "\(place): \(error)")
        }
        receiver = try prepared.get()
        isScript = settings.path != nil
        method = try interpreter.perform { [isScript] in sluice_ruby_intern(isScript ? "__sluice_filter" : "__sluice_run") }
    }

    /// Makes the filter's Ruby object, runs `init` on it and compiles `code` into its `filter_method` (as Logstash's
    /// `register`: a syntax error or an exception in `init` stops the start). Interpreter thread.
    static func prepareInline(code: String, initCode: String?, logger: Logger, place: String) -> Result<sluice_value, RubyStartError> {
        let receiver: sluice_value
        switch RubyInterpreter.eval("Sluice::Filter.new(\(RubyEventAPI.register(logger)))", file: "(sluice)") {
        case .success(let object): receiver = object
        case .failure(let error): return .failure(RubyStartError(message: "\(place): \(error)"))
        }
        sluice_ruby_keep(receiver)
        if let initCode, case .failure(let error) = RubyInterpreter.eval(initCode, receiver: receiver, file: "(ruby filter init)") {
            sluice_ruby_release(receiver)
            return .failure(RubyStartError(message: "\(place): init raised \(error)"))
        }
        // Line 0, so that the snippet's first line is line 1 in messages and backtraces.
        let method = "define_singleton_method(:filter_method) do |event, &new_event_block|\n\(code)\nend"
        if case .failure(let error) = RubyInterpreter.eval(method, receiver: receiver, file: "(ruby filter code)", line: 0) {
            sluice_ruby_release(receiver)
            return .failure(RubyStartError(message: "\(place): code does not compile: \(error)"))
        }
        return .success(receiver)
    }

    /// Loads a `path` script as Logstash does: evaluates it, runs its `test` blocks (any failure stops the start,
    /// naming each failed expectation), then calls its `register` with `script_params`. Interpreter thread.
    static func prepareScript(_ source: ScriptSource, logger: Logger, place: String) -> Result<sluice_value, RubyStartError> {
        var options = Object()
        options["path"] = .string(source.path)
        options["content"] = .string(source.content)
        options["params"] = .object(source.params)
        options["token"] = .int(RubyEventAPI.register(logger))
        var script: sluice_value = 0
        if sluice_ruby_call1(RubyInterpreter.shared.sluiceModule, "script", RubyValues.ruby(.object(options)), &script) != 0 {
            return .failure(RubyStartError(message: "\(place): \(RubyInterpreter.parts(of: script).message)"))
        }
        sluice_ruby_keep(script)
        var failures: sluice_value = 0
        if sluice_ruby_call1(script, "failures", sluice_rb_nil(), &failures) != 0 {
            sluice_ruby_release(script)
            return .failure(RubyStartError(
                message: "\(place): the tests of script '\(source.path)' raised \(RubyInterpreter.describe(failures))"))
        }
        if case .array(let lines)? = RubyValues.value(failures), !lines.isEmpty {
            sluice_ruby_release(script)
            let details = lines.compactMap { if case .string(let s) = $0 { s } else { nil } }.joined(separator: "\n  ")
            return .failure(RubyStartError(
                message: "\(place): Script '\(source.path)' had \(lines.count) failing tests!\n  \(details)"))
        }
        logger.info("Test run complete for script '\(source.path)'")
        var ignored: sluice_value = 0
        if sluice_ruby_call1(script, "register", sluice_rb_nil(), &ignored) != 0 {
            sluice_ruby_release(script)
            return .failure(RubyStartError(message: "\(place): \(RubyInterpreter.parts(of: ignored).message)"))
        }
        return .success(script)
    }

    public func filter(_ batch: inout FilterBatch) {
        let events = batch.events
        let outcome: RubyBatchOutcome
        do {
            outcome = try interpreter.perform { self.run(events) }
        } catch {
            // Not reached: the interpreter was running when the filter was built, and it never stops.
            logger.error("ruby filter: \(error); events passed on unchanged")
            return
        }
        for i in outcome.matched.indices where outcome.matched[i] { batch.matched[i] = true }
        for (event, parent) in outcome.created { batch.emit(event, from: parent, matched: false) }
        for (index, reason) in outcome.failures { batch.failed(index, reason: reason) }
    }

    /// Lets Ruby collect the filter's object (a reload builds a new filter). Called once after the last batch.
    public func close() {
        let receiver = self.receiver
        _ = try? interpreter.perform { sluice_ruby_release(receiver) }
    }

    /// Runs the code on each event. Interpreter thread.
    func run(_ events: [Event]) -> RubyBatchOutcome {
        var outcome = RubyBatchOutcome(count: events.count)
        for (i, event) in events.enumerated() where !event.cancelled {
            let handle = Unmanaged.passUnretained(event).toOpaque()
            var result: sluice_value = 0
            if sluice_ruby_call_event(receiver, method, handle, limitNanoseconds, &result) != 0 {
                failed(i, event, exception: result, &outcome)
                if !isScript { collect(takeCreated(), from: i, original: handle, &outcome) }
            } else if !isScript {
                outcome.matched[i] = true
                collect(result, from: i, original: handle, &outcome)
            } else {
                outcome.matched[i] = true
                passOn(result, from: i, event, &outcome)
            }
        }
        return outcome
    }

    /// A script's result: the events to pass on (the original is cancelled unless among them), or the reason it
    /// is not an Array of events (Logstash tags the event then, after `filter_matched`). Interpreter thread.
    private func passOn(_ result: sluice_value, from index: Int, _ event: Event, _ outcome: inout RubyBatchOutcome) {
        if sluice_rb_kind(result) == Int32(SLUICE_RB_STRING.rawValue) {
            let message = RubyValues.string(result)
            logger.rateLimited(.error, key: "result", "Could not process event: \(message)")
            tag(event, message: message)
            outcome.failures.append((index, "ruby script: \(message)"))
            return
        }
        let original = Unmanaged.passUnretained(event).toOpaque()
        if !collect(result, from: index, original: original, &outcome) { event.cancelled = true }
    }

    /// Adds the Ruby events in `list` (nil or an Array) to the events created from `events[index]`; an event the
    /// list shares with the filter call (the original) is not added. Whether the original was in the list.
    /// Interpreter thread.
    @discardableResult
    private func collect(
        _ list: sluice_value, from index: Int, original: UnsafeMutableRawPointer, _ outcome: inout RubyBatchOutcome
    ) -> Bool {
        guard sluice_rb_kind(list) == Int32(SLUICE_RB_ARRAY.rawValue) else { return false }
        var returnedOriginal = false
        for k in 0..<sluice_rb_array_length(list) {
            var owned: Int32 = 0
            guard let handle = sluice_rb_event_take(sluice_rb_array_at(list, k), &owned) else { continue }
            if owned != 0 {
                outcome.created.append((Unmanaged<Event>.fromOpaque(handle).takeRetainedValue(), index))
            } else if handle == original {
                if isScript {
                    returnedOriginal = true
                } else {
                    // `new_event_block.call(event)`: the original emitted again, as a copy (Swift events have one owner).
                    outcome.created.append((Event(copying: Unmanaged<Event>.fromOpaque(handle).takeUnretainedValue()), index))
                }
            }
        }
        return returnedOriginal
    }

    /// The events `new_event_block` emitted before an exception ended an inline call. Interpreter thread.
    private func takeCreated() -> sluice_value {
        var created: sluice_value = 0
        return sluice_ruby_call1(receiver, "__sluice_take_created", sluice_rb_nil(), &created) == 0 ? created : sluice_rb_nil()
    }

    /// An exception ended the call on `event`: logged (rate-limited), the event tagged, the failure reported for
    /// `on_error`. Interpreter thread.
    private func failed(_ index: Int, _ event: Event, exception: sluice_value, _ outcome: inout RubyBatchOutcome) {
        let (className, message) = RubyInterpreter.parts(of: exception)
        logger.rateLimited(.error, key: className, "Ruby exception occurred: \(className): \(message)")
        tag(event, message: message)
        outcome.failures.append((index, "ruby exception: \(className): \(message)"))
    }

    private func tag(_ event: Event, message: String) {
        if tagWithExceptionMessage { event.tag("\(tagOnException): \(message)") }
        event.tag(tagOnException)
    }
}

/// What the code did to one batch, handed back from the interpreter thread to the worker: which events it ran on
/// without an exception, the events it emitted (with the index of the event they came from) and its failures.
struct RubyBatchOutcome {
    var matched: [Bool]
    var created: [(event: Event, parent: Int)] = []
    var failures: [(index: Int, reason: String)] = []

    init(count: Int) { matched = [Bool](repeating: false, count: count) }
}

/// A ruby filter that cannot start: Ruby is unavailable, `init` raised, `code` does not compile, or a script
/// cannot be read, loaded, tested or registered; the message names the pipeline and the plugin.
struct RubyStartError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

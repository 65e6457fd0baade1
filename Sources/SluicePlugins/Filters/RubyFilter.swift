import CSluiceRuby
import SluiceCore

/// Runs Ruby code on each event (Logstash's `ruby` filter, 3.1.x), on the process's embedded CRuby 3.1 interpreter
/// (`RubyInterpreter`): `init` once at start-up, then `code` with `event` in scope, and `self` the same object for
/// both, so instance variables set by `init` are seen by every event.
///
/// An exception (including `exit` and `abort`, which raise SystemExit) never escapes: the event is tagged
/// `tag_on_exception` (and, with `tag_with_exception_message`, "tag: message" before it) and goes on; without an
/// exception the common decorations apply, as Logstash's `filter_matched`. `path`, `script_params` and
/// `new_event_block` are not supported yet and are refused at start-up rather than ignored.
///
/// `filter` is called by the workers; each hands its batch to the interpreter thread and waits, so batches of
/// several workers run one after another.
public final class RubyFilter: Filter {
    public static let name = "ruby"
    public static let summary = "Runs Ruby code on each event, on an embedded CRuby 3.1 interpreter."

    public struct Settings: PluginSettings {
        @Setting("code", doc: "The Ruby code to run on each event, with the event as `event`. Required (`path` is not supported yet).")
        var code: String? = nil
        @Setting("init", doc: "Ruby code run once at start-up, on the same `self` as `code` (instance variables it sets are seen by `code`).")
        var initCode: String? = nil
        @Setting("tag_on_exception", doc: "The tag added to an event the code raised an exception on.")
        var tagOnException = "_rubyexception"
        @Setting("tag_with_exception_message", doc: "Also add the tag \"<tag_on_exception>: <exception message>\".")
        var tagWithExceptionMessage = false
        @Setting("path", doc: "A Ruby script file with `register(params)` and `filter(event)`. Not supported yet: refused at start-up.")
        var path: String? = nil
        @Setting("script_params", doc: "Parameters passed to the `path` script's `register`. Not supported yet: refused at start-up.")
        var scriptParams: Value? = nil
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if path != nil {
                throw SettingsValidationError(
                    "path (script files) is not supported yet by Sluice's ruby filter; put the code in `code` (and `init`)",
                    setting: "path")
            }
            if scriptParams != nil {
                throw SettingsValidationError(
                    "script_params is not supported yet by Sluice's ruby filter (it only serves `path` scripts)", setting: "script_params")
            }
            guard let code else {
                throw SettingsValidationError("the ruby filter needs `code` (`path` is not supported yet)", setting: "code")
            }
            if code.contains("new_event_block") {
                throw SettingsValidationError(
                    "new_event_block (emitting new events from code) is not supported yet by Sluice's ruby filter", setting: "code")
            }
        }
    }

    let tagOnException: String
    let tagWithExceptionMessage: Bool
    let logger: Logger
    let interpreter: RubyInterpreter
    /// The Ruby object `init` and `code` run on (it has the compiled `filter_method`); kept alive by the glue.
    /// Touched only on the interpreter thread.
    let receiver: sluice_value

    public init(settings: Settings, context: PluginContext) throws {
        tagOnException = settings.tagOnException
        tagWithExceptionMessage = settings.tagWithExceptionMessage
        logger = context.logger
        interpreter = RubyInterpreter.shared
        let place = "pipeline '\(context.pipelineID)', ruby filter '\(context.pluginID)'"
        let code = settings.code ?? ""
        let initCode = settings.initCode
        let prepared: Result<sluice_value, RubyStartError>
        do {
            prepared = try interpreter.perform { () -> Result<sluice_value, RubyStartError> in
                RubyFilter.prepare(code: code, initCode: initCode, place: place)
            }
        } catch {
            throw RubyStartError(message: "\(place): \(error)")
        }
        receiver = try prepared.get()
    }

    /// Makes the filter's Ruby object, runs `init` on it and compiles `code` into its `filter_method` (as Logstash's
    /// `register`: a syntax error or an exception in `init` stops the start). Interpreter thread.
    static func prepare(code: String, initCode: String?, place: String) -> Result<sluice_value, RubyStartError> {
        let receiver: sluice_value
        switch RubyInterpreter.eval("Sluice::Filter.new", file: "(sluice)") {
        case .success(let object): receiver = object
        case .failure(let error): return .failure(RubyStartError(message: "\(place): \(error)"))
        }
        sluice_ruby_keep(receiver)
        if let initCode, case .failure(let error) = RubyInterpreter.eval(initCode, receiver: receiver, file: "(ruby filter init)") {
            return .failure(RubyStartError(message: "\(place): init raised \(error)"))
        }
        // Line 0, so that the snippet's first line is line 1 in messages and backtraces.
        let method = "define_singleton_method(:filter_method) do |event, &new_event_block|\n\(code)\nend"
        if case .failure(let error) = RubyInterpreter.eval(method, receiver: receiver, file: "(ruby filter code)", line: 0) {
            return .failure(RubyStartError(message: "\(place): code does not compile: \(error)"))
        }
        return .success(receiver)
    }

    public func filter(_ batch: inout FilterBatch) {
        let events = batch.events
        let matched: [Bool]
        do {
            matched = try interpreter.perform { self.run(events) }
        } catch {
            // Not reached: the interpreter was running when the filter was built, and it never stops.
            logger.error("ruby filter: \(error); events passed on unchanged")
            return
        }
        for i in matched.indices where matched[i] { batch.matched[i] = true }
    }

    /// Lets Ruby collect the filter's object (a reload builds a new filter). Called once after the last batch.
    public func close() {
        let receiver = self.receiver
        _ = try? interpreter.perform { sluice_ruby_release(receiver) }
    }

    /// Runs the code on each event; whether it ran without an exception (Logstash then calls `filter_matched`).
    /// Interpreter thread.
    func run(_ events: [Event]) -> [Bool] {
        var matched = [Bool](repeating: false, count: events.count)
        for (i, event) in events.enumerated() {
            var exception: sluice_value = 0
            let failed = sluice_ruby_call_filter(receiver, Unmanaged.passUnretained(event).toOpaque(), &exception)
            if failed == 0 {
                matched[i] = true
                continue
            }
            let (className, message) = RubyInterpreter.parts(of: exception)
            logger.rateLimited(.error, key: className, "Ruby exception occurred: \(className): \(message)")
            if tagWithExceptionMessage { event.tag("\(tagOnException): \(message)") }
            event.tag(tagOnException)
        }
        return matched
    }
}

/// A ruby filter that cannot start: Ruby is unavailable, `init` raised, or `code` does not compile; the message names
/// the pipeline and the plugin.
struct RubyStartError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

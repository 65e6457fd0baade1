import CSluiceRuby
import SluiceCore

/// The process's one embedded CRuby interpreter and the thread that owns it.
///
/// CRuby must be set up and called from one thread for its whole life, so `shared` starts a dedicated thread the
/// first time it is used (a pipeline without a `ruby` filter never starts it). Workers hand work to that thread with
/// `perform` and wait for it under a lock and a condition: Ruby runs one thing at a time anyway (its global lock),
/// so the batches of several workers are serialised here. Everything given to `perform` runs on the interpreter
/// thread, and only there may the C glue (`sluice_ruby_*`, `sluice_rb_*`) be called.
final class RubyInterpreter: @unchecked Sendable {
    /// The interpreter, started on first use; thread-safe.
    static let shared = RubyInterpreter()

    /// One piece of work handed to the interpreter thread; `done` is guarded by the interpreter's lock.
    private final class Job {
        let body: () -> Void
        var done = false
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Guards `jobs`, `ready`, `setupError` and every `Job.done`. Condition 0: a job was queued; 1: a job finished
    /// (or the interpreter became ready).
    private let lock = Lock(conditions: 2)
    private var jobs: [Job] = []
    private var ready = false
    private var setupError: String?
    /// The `Sluice` Ruby module (the interpreter thread only).
    private(set) var sluiceModule: sluice_value = 0

    private init() {
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = sluice_ruby_start(
            { context, error in
                let interpreter = Unmanaged<RubyInterpreter>.fromOpaque(context!).takeUnretainedValue()
                interpreter.serve(setupError: error.map { String(cString: $0) })
            }, context,
            { event, op, a, b, error in RubyEventAPI.handle(event, op, a, b, error!) },
            { event in Unmanaged<Event>.fromOpaque(event!).release() })
        if rc != 0 {
            lock.withLock {
                setupError = "the Ruby interpreter thread cannot be created (errno \(rc))"
                ready = true
            }
        }
    }

    /// Runs `body` on the interpreter thread and returns its result, waiting meanwhile. Throws when Ruby could not be
    /// set up. Called by workers and by the starting thread (a filter's `init`); never from the interpreter thread.
    func perform<R>(_ body: @escaping () -> R) throws(RubyUnavailableError) -> R {
        let box = ResultBox<R>()
        let job = Job { box.value = body() }
        lock.lock()
        while !ready { lock.wait(1) }
        if let setupError {
            lock.unlock()
            throw RubyUnavailableError(message: setupError)
        }
        jobs.append(job)
        lock.signal(0)
        while !job.done { lock.wait(1) }
        lock.unlock()
        return box.value!
    }

    /// The interpreter thread's loop, after the C glue set Ruby up: evaluates the prelude, then runs jobs forever.
    private func serve(setupError: String?) {
        var error = setupError
        if error == nil {
            switch RubyInterpreter.eval(RubyPrelude.source, file: "(sluice prelude)") {
            case .failure(let failure): error = "the Sluice prelude failed: \(failure)"
            case .success:
                if case .success(let module) = RubyInterpreter.eval("Sluice", file: "(sluice)") { sluiceModule = module }
            }
        }
        lock.withLock {
            self.setupError = error.map { "Ruby could not be started: \($0)" }
            ready = true
            lock.broadcast(1)
        }
        if error != nil { return }
        while true {
            lock.lock()
            while jobs.isEmpty { lock.wait(0) }
            let job = jobs.removeFirst()
            lock.unlock()
            job.body()
            lock.lock()
            job.done = true
            lock.broadcast(1)
            lock.unlock()
        }
    }

    // MARK: Helpers for the interpreter thread

    /// Evaluates `code` with `self` = `receiver` (nil: the top level). Returns the value, or the exception's
    /// "Class: message" as the error.
    static func eval(_ code: String, receiver: sluice_value = sluice_rb_nil(), file: String, line: Int32 = 1) -> Result<sluice_value, RubyCodeError> {
        var result: sluice_value = 0
        var code = code
        let failed = code.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                sluice_ruby_eval(receiver, chars.baseAddress, chars.count, file, line, &result)
            }
        }
        return failed == 0 ? .success(result) : .failure(RubyCodeError(exception: result))
    }

    /// "Class: message" of a Ruby exception.
    static func describe(_ exception: sluice_value) -> String {
        let (className, message) = parts(of: exception)
        return "\(className): \(message)"
    }

    /// A Ruby exception's class name and message.
    static func parts(of exception: sluice_value) -> (className: String, message: String) {
        var className: sluice_value = 0
        var message: sluice_value = 0
        sluice_ruby_describe(exception, &className, &message)
        return (RubyValues.string(className), RubyValues.string(message))
    }
}

/// Holds what a job computed until the waiting thread reads it (after the lock hand-over).
private final class ResultBox<R> {
    var value: R?
}

/// Ruby could not be set up in this process (the thread could not be created, or libruby failed to load its core).
struct RubyUnavailableError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A Ruby exception raised by code Sluice evaluated (a filter's `init` or `code` at start-up), described as
/// "Class: message" on the interpreter thread.
struct RubyCodeError: Error, CustomStringConvertible {
    let description: String
    init(exception: sluice_value) { description = RubyInterpreter.describe(exception) }
}

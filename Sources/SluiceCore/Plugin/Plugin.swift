/// A plugin type: registered under its Logstash name, with one declared settings struct.
public protocol Plugin: AnyObject, Sendable {
    associatedtype Settings: PluginSettings
    /// The Logstash name (`mutate`, `json_lines`); the only place the string appears in code.
    static var name: String { get }
    /// One sentence for the plugin reference.
    static var summary: String { get }
    /// Builds the plugin from validated settings. Called once per pipeline start, on the starting thread.
    init(settings: Settings, context: PluginContext) throws
    /// Releases resources; called once after the last batch.
    func close()
}

extension Plugin {
    public func close() {}
}

/// Receives events from an input: the pipeline's queue, with back-pressure.
public protocol EventSink: AnyObject, Sendable {
    /// Pushes one event; blocks while the queue is full.
    func push(_ event: Event)
    /// Pushes several events at once (cheaper than one at a time); blocks while the queue is full. With the
    /// persisted queue it may return once a feeder thread has them, before they are written.
    func push(contentsOf events: [Event])
    /// Pushes events and returns only once the queue has them (written, with the persisted queue), never through a
    /// feeder thread: for callers that count the events delivered when it returns (the `pipeline` input, whose
    /// upstream output then acknowledges its batch).
    func pushQueued(contentsOf events: [Event])
    /// Pushes events and completes `acknowledgement` once they are safe: written to the persisted queue, or
    /// delivered by every output with the memory queue. For inputs that acknowledge their source (a DLQ read
    /// offset, a file position, a beats ACK).
    func push(contentsOf events: [Event], acknowledgement: InputAcknowledgement)
    /// Hands events to the queue without blocking, for inputs on event loops (which must never wait). The events
    /// are always taken. Returns false when the input should stop reading from its source: the queue is full and
    /// the events wait in a bounded hand-off. `resume` then runs once, on another thread, when there is room again.
    /// `onQueued` runs once the events are in the queue (written to a page with the persisted queue): the moment a
    /// beats ACK or an http response may go out. `acknowledgement` is completed as in `push`.
    func offer(
        _ events: [Event], acknowledgement: InputAcknowledgement?, onQueued: (@Sendable () -> Void)?,
        resume: @escaping @Sendable () -> Void
    ) -> Bool
    /// The most lines an `Event(carrying: UndecodedLines)` pushed here may hold, or nil when this sink takes
    /// decoded events only (the input then decodes on its own thread). Such entries go through `push(contentsOf:)`
    /// without an acknowledgement.
    var undecodedLinesLimit: Int? { get }
}

extension EventSink {
    public var undecodedLinesLimit: Int? { nil }

    public func pushQueued(contentsOf events: [Event]) { push(contentsOf: events) }

    /// A blocking offer, for sinks that wrap another on the input's own thread.
    public func offer(
        _ events: [Event], acknowledgement: InputAcknowledgement?, onQueued: (@Sendable () -> Void)?,
        resume: @escaping @Sendable () -> Void
    ) -> Bool {
        if let acknowledgement { push(contentsOf: events, acknowledgement: acknowledgement) } else { push(contentsOf: events) }
        onQueued?()
        return true
    }
}

/// Produces events. Runs on its own thread.
public protocol Input: Plugin {
    /// The codec used when the config names none.
    static var defaultCodec: String { get }
    /// Whether the pipeline can be reloaded while this input runs (stdin cannot).
    static var isReloadable: Bool { get }
    /// Reads until the source ends or `context.shutdown` is requested, pushing events into `sink`.
    /// Inputs must decorate each event through `context.decorate(_:)` before pushing (type, tags, add_field).
    func run(_ sink: EventSink) throws
    /// Asks a running input to stop soon (called from another thread).
    func stop()
    /// How many offered events may wait for room in the queue before `offer` asks the input to stop reading
    /// (the udp input's `queue_size`); nil for the pipeline's default.
    var handOffCapacity: Int? { get }
}

extension Input {
    public static var defaultCodec: String { "plain" }
    public static var isReloadable: Bool { true }
    public func stop() {}
    public var handOffCapacity: Int? { nil }
}

/// A batch as a filter sees it: the live events of one branch, which events succeeded, and events it created.
public struct FilterBatch {
    /// The events to filter, in order. Cancel one with `event.cancelled = true`.
    public let events: [Event]
    /// Set `matched[i]` when the filter succeeded on `events[i]`; the runtime then applies
    /// `add_field`, `remove_field`, `add_tag`, `remove_tag` to it.
    public var matched: [Bool]
    /// New events (split, clone), added with `emit`; each continues through the rest of the pipeline right after
    /// the event it came from.
    public private(set) var created: [(event: Event, parent: Int, matched: Bool)] = []
    /// Events the filter failed on, with a reason naming what failed (field, pattern, value).
    public private(set) var failures: [(index: Int, reason: String)] = []

    public init(events: [Event]) {
        self.events = events
        matched = [Bool](repeating: false, count: events.count)
    }

    /// Adds a new event made from `events[parent]`. With `matched`, the runtime applies the filter's decorations
    /// (`add_field`, `add_tag`, …) to it, as Logstash's `filter_matched` on a clone or split piece.
    public mutating func emit(_ event: Event, from parent: Int, matched: Bool = true) {
        created.append((event, parent, matched))
    }

    /// Reports that the filter failed on `events[index]`. The filter still applies its usual failure behaviour
    /// (tags); with `on_error => "dlq"` the runtime then sends the event as it was before the filter to the DLQ.
    public mutating func failed(_ index: Int, reason: String) {
        failures.append((index, reason))
    }
}

/// What happens to an event a filter fails on (`on_error`, a Sluice extension: elastic/logstash#7207).
public enum OnError: String, SettingEnum, Sendable {
    /// Logstash's behaviour: the filter's failure tag, and the event goes on.
    case tag
    /// The event, as it was before the filter, goes to the dead letter queue and leaves the pipeline.
    case dlq
}

/// Transforms events. One instance serves all workers, so `filter` is called concurrently with different batches.
public protocol Filter: Plugin {
    /// Whether the filter can fail on an event (and so accepts `on_error`).
    static var canFail: Bool { get }
    /// Filters one batch in place.
    func filter(_ batch: inout FilterBatch)
}

extension Filter {
    public static var canFail: Bool { false }
}

/// Sends events somewhere. One instance serves all workers, so `receive` is called concurrently.
public protocol Output: Plugin {
    /// The codec used when the config names none.
    static var defaultCodec: String { get }
    /// Handles one batch of events (never empty) and reports what became of them: retries happen here, where
    /// they are cheapest; the engine does the accounting and acknowledges the batch once no event is left
    /// `retryLater`. Nothing is thrown back to the worker.
    @discardableResult
    func receive(_ events: [Event]) -> OutputOutcome
}

extension Output {
    public static var defaultCodec: String { "plain" }
}

/// An output whose sends complete later, as a Kafka producer's delivery reports do: `begin` hands a batch over and
/// returns at once, so the worker can go on with its next batches while the earlier ones are in flight (a few per
/// worker, finished in order); the batch is acknowledged only once its delivery has finished. `receive` stays the
/// one-batch form (`begin(events).finish()`). Called on worker threads, concurrently.
public protocol PipelinedOutput: Output {
    /// Hands one batch (never empty) over without waiting for its fate.
    func begin(_ events: [Event]) -> any OutputDelivery
}

/// One batch a `PipelinedOutput` has taken and not yet finished. Used by the worker that began it, only.
public protocol OutputDelivery: AnyObject {
    /// Whether `finish` would return without waiting (every report is in).
    var isSettled: Bool { get }
    /// Waits for the batch's fate, retries what is worth retrying and reports what became of each event, as
    /// `Output.receive` does.
    func finish() -> OutputOutcome
}

/// A delivery whose outcome was known when it began (the output could not even start sending).
public final class FinishedDelivery: OutputDelivery {
    private let outcome: OutputOutcome
    public init(_ outcome: OutputOutcome) { self.outcome = outcome }
    public var isSettled: Bool { true }
    public func finish() -> OutputOutcome { outcome }
}

/// Turns bytes into events and events into bytes.
///
/// Decoding keeps state (a partial line), so each input owns its codec instance; `encode` must be safe to call
/// concurrently.
public protocol Codec: Plugin {
    /// Decodes a chunk of bytes, calling `emit` for each complete event.
    func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void)
    /// Emits what remains buffered at the end of the stream.
    func flush(_ emit: (Event) -> Void)
    /// Appends the encoded form of `event` to `out`.
    func encode(_ event: Event, into out: inout [UInt8])
    /// Nanoseconds without a new line after which buffered lines are emitted on their own (multiline's
    /// `auto_flush_interval`); nil when the codec never flushes by itself. Inputs that poll call `flushIfIdle`.
    var autoFlushNanoseconds: Int? { get }
    /// Emits what is buffered when no line arrived for `autoFlushNanoseconds` before `now` (`Clock.nanoseconds()`).
    /// Called on the input's thread, between reads.
    func flushIfIdle(now: Int, _ emit: (Event) -> Void)
    /// Lines decoded but held back for an event still in the making (multiline). An input that commits source
    /// positions (the file input's sincedb) commits only up to the first of them, so a crash re-reads them.
    var bufferedLineCount: Int { get }
    /// Whether the codec joins lines into events; the beats input refuses such codecs, as Logstash does.
    static var joinsLines: Bool { get }
}

extension Codec {
    public func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {}
    public func flush(_ emit: (Event) -> Void) {}
    public func encode(_ event: Event, into out: inout [UInt8]) {}
    public var autoFlushNanoseconds: Int? { nil }
    public func flushIfIdle(now: Int, _ emit: (Event) -> Void) {}
    public var bufferedLineCount: Int { 0 }
    public static var joinsLines: Bool { false }

    /// Decodes a string (tests and generator messages).
    public func decode(_ text: String, _ emit: (Event) -> Void) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBufferPointer { decode(UnsafeBufferPointer($0), emit) }
    }
}

/// `pipeline.ecs_compatibility` / a plugin's `ecs_compatibility`.
public enum ECSCompatibility: String, SettingEnum, Sendable {
    case disabled, v1, v8

    /// Whether ECS field names are used (v1 and v8 behave alike in the core plugins).
    public var isEnabled: Bool { self != .disabled }
}

/// Where plugins and the runtime send events they cannot process: the pipeline's dead letter queue.
///
/// Every plugin receives its pipeline's writer through `PluginContext`; when the DLQ is disabled it is a
/// `DisabledDeadLetterQueue`, whose `isEnabled` is false so callers can fall back to logging.
/// Called concurrently from worker threads.
public protocol DeadLetterQueueWriter: AnyObject, Sendable {
    /// Whether entries are actually stored.
    var isEnabled: Bool { get }
    /// Writes one entry: the event as it is now, the plugin that failed and why.
    /// Events that came out of a DLQ (`Event.isFromDeadLetterQueue`) are never written again.
    /// - Returns: whether the entry was stored (false when disabled, refused by policy, or on I/O error).
    @discardableResult
    func write(_ event: Event, pluginType: String, pluginID: String, reason: String) -> Bool
}

/// The writer of a pipeline whose DLQ is disabled: stores nothing.
public final class DisabledDeadLetterQueue: DeadLetterQueueWriter {
    public init() {}
    public var isEnabled: Bool { false }
    public func write(_ event: Event, pluginType: String, pluginID: String, reason: String) -> Bool { false }
}

import SluiceCore

/// Discards every event (Logstash's `null` output, used for benchmarks).
public final class NullOutput: Output {
    public static let name = "null"
    public static let summary = "Discards events."

    public struct Settings: PluginSettings {
        public init() {}
    }

    public init(settings: Settings, context: PluginContext) throws {}

    public func receive(_ events: [Event]) -> OutputOutcome { .delivered }
}

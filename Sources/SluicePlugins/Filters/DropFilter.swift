import SluiceCore

/// Drops events (Logstash's `drop` filter): every event at `percentage => 100`, otherwise each with probability
/// `percentage / 100`. The common decorations never apply, not even to events it keeps.
public final class DropFilter: Filter {
    public static let name = "drop"
    public static let summary = "Drops events, all of them or a random percentage."

    public struct Settings: PluginSettings {
        @Setting("percentage", doc: "The percentage of events to drop (0–100); each event is dropped with this probability.")
        var percentage: Double = 100
        public init() {}
    }

    let percentage: Double
    /// Returns a uniform random number in [0, 1); safe to call from several workers at once.
    let random: @Sendable () -> Double

    public convenience init(settings: Settings, context: PluginContext) throws {
        self.init(percentage: settings.percentage, random: { Double.random(in: 0..<1) })
    }

    /// A drop filter with a chosen source of randomness (tests).
    init(percentage: Double, random: @escaping @Sendable () -> Double) {
        self.percentage = percentage
        self.random = random
    }

    public func filter(_ batch: inout FilterBatch) {
        // Ruby: `event.cancel if (@percentage == 100 || rand < (@percentage / 100.0))`; never `filter_matched`.
        let threshold = percentage / 100
        for event in batch.events where percentage == 100 || random() < threshold {
            event.cancelled = true
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Sends a deep copy of every event to the `pipeline` inputs at the given addresses (Logstash's `pipeline`
/// output). Delivery runs in the sending worker, so a full downstream queue holds this pipeline back.
public final class PipelineOutput: Output, @unchecked Sendable {
    public static let name = "pipeline"
    public static let summary = "Sends events to other pipelines' `pipeline` inputs."

    public struct Settings: PluginSettings {
        @Setting("send_to", doc: "The virtual addresses to send every event to.", required: true)
        var sendTo: [String] = []
        @Setting("ensure_delivery", doc: "Retry every second while an address has no running input; false discards instead.")
        var ensureDelivery = true
        public init() {}
    }

    let addresses: [String]
    let ensureDelivery: Bool
    let context: PluginContext
    let closed = ShutdownFlag()

    public init(settings: Settings, context: PluginContext) throws {
        addresses = settings.sendTo
        ensureDelivery = settings.ensureDelivery
        self.context = context
        context.bus.registerSender(addresses)
    }

    /// Events no downstream pipeline took (`ensure_delivery => false` and the address unbound) are dropped.
    public func receive(_ events: [Event]) -> OutputOutcome {
        var taken = false
        for address in addresses where deliver(events, to: address) { taken = true }
        return taken || addresses.isEmpty ? .delivered : OutputOutcome(events, .dropped)
    }

    private func deliver(_ events: [Event], to address: String) -> Bool {
        while !context.bus.send(events, to: address) {
            guard ensureDelivery else { return false }
            context.logger.rateLimited(
                .warn, key: address,
                "Attempted to send event to '\(address)' but that address was unavailable. Maybe the destination pipeline is down or stopping? Will Retry.")
            usleep(1_000_000)
        }
        return true
    }

    public func close() {
        guard !closed.isRequested else { return }
        closed.request()
        context.bus.senderFinished(addresses)
    }
}

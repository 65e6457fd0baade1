#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Receives events that other pipelines of this process send to its virtual address (Logstash's `pipeline` input).
///
/// It ends once every pipeline that sends to its address has ended, or, at shutdown, when no sender is left; so
/// downstream pipelines drain after upstream ones. Stopped for a reload it ends at once: the upstream `pipeline`
/// outputs retry (`ensure_delivery`) until the reloaded pipeline binds the address again.
public final class PipelineInput: Input, @unchecked Sendable {
    public static let name = "pipeline"
    public static let summary = "Receives events sent by `pipeline` outputs to a virtual address."

    public struct Settings: PluginSettings {
        @Setting("address", doc: "The virtual address to listen on; unique across the process.", required: true)
        var address = ""
        public init() {}
    }

    let address: String
    let context: PluginContext
    let stopRequested = ShutdownFlag()

    public init(settings: Settings, context: PluginContext) throws {
        address = settings.address
        self.context = context
    }

    public func run(_ sink: EventSink) throws {
        let decorating = DecoratingSink(sink, context)
        try context.bus.bind(address, to: decorating)
        defer { context.bus.unbind(address) }
        while !context.bus.allSendersFinished(address) {
            // Stopped by a reload (or a pipeline removed from the config), the input lets go of its address at once:
            // senders retry until the new pipeline binds it. At shutdown it waits for its senders to end.
            if stopRequested.isRequested && (!context.bus.isShuttingDown || !context.bus.hasLiveSenders(address)) { break }
            usleep(50_000)
        }
    }

    public func stop() { stopRequested.request() }
}

/// Applies the input's decorations (type, tags, add_field) to events other pipelines push.
final class DecoratingSink: EventSink, @unchecked Sendable {
    let sink: EventSink
    let context: PluginContext

    init(_ sink: EventSink, _ context: PluginContext) {
        self.sink = sink
        self.context = context
    }

    func push(_ event: Event) {
        context.decorate(event)
        sink.push(event)
    }

    func push(contentsOf events: [Event]) {
        for e in events { context.decorate(e) }
        sink.push(contentsOf: events)
    }

    func push(contentsOf events: [Event], acknowledgement: InputAcknowledgement) {
        for e in events { context.decorate(e) }
        sink.push(contentsOf: events, acknowledgement: acknowledgement)
    }

    func pushQueued(contentsOf events: [Event]) {
        for e in events { context.decorate(e) }
        sink.pushQueued(contentsOf: events)
    }
}

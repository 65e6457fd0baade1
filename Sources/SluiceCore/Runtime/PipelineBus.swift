#if canImport(Glibc)
import Glibc
#endif

/// Connects `pipeline` outputs to `pipeline` inputs across the pipelines of one process (Logstash's
/// pipeline-to-pipeline communication). Thread-safe.
///
/// Inputs bind an address to their pipeline's queue; outputs push deep copies into it, blocking while the
/// downstream queue is full (back-pressure across pipelines). Outputs register as senders when they are built and
/// finish when their pipeline closes them, so a downstream input can end once every upstream pipeline has ended.
public final class PipelineBus: @unchecked Sendable {
    /// The failure to bind an address twice; the message matches Logstash's.
    public struct AddressInUse: Error, CustomStringConvertible {
        public let address: String
        public var description: String {
            "Internal input at '\(address)' already bound! Addresses must be globally unique across pipelines."
        }
    }

    /// A bound input: its sink, and the sends into it under way.
    private final class Receiver {
        let sink: EventSink
        var sending = 0
        init(_ sink: EventSink) { self.sink = sink }
    }

    /// Guards what follows; its condition is "a send has ended".
    private let lock = Lock(conditions: 1)
    private var receivers: [String: Receiver] = [:]
    private var liveSenders: [String: Int] = [:]
    private var everSent: Set<String> = []
    private var shuttingDown = false

    public init() {}

    /// Binds `address` to a pipeline's queue.
    public func bind(_ address: String, to sink: EventSink) throws(AddressInUse) {
        let ok = lock.withLock { () -> Bool in
            if receivers[address] != nil { return false }
            receivers[address] = Receiver(sink)
            return true
        }
        if !ok { throw AddressInUse(address: address) }
    }

    /// Unbinds `address`, then waits for the sends into it that were under way: once this returns, nothing more
    /// reaches the sink, so its pipeline can close its queue without losing what was sent. Later sends find the
    /// address unbound (a `pipeline` output with `ensure_delivery` retries until an input binds it again).
    public func unbind(_ address: String) {
        lock.withLock {
            guard let receiver = receivers.removeValue(forKey: address) else { return }
            while receiver.sending > 0 { lock.wait() }
        }
    }

    /// The process is shutting down (not reloading): a stopping `pipeline` input then waits for its senders to
    /// end, so downstream pipelines drain after upstream ones, as in Logstash.
    public func beginShutdown() {
        lock.withLock { shuttingDown = true }
    }

    /// Whether `beginShutdown` was called.
    public var isShuttingDown: Bool { lock.withLock { shuttingDown } }

    /// Declares a sender to `addresses` (a `pipeline` output being built).
    public func registerSender(_ addresses: [String]) {
        lock.withLock {
            for a in addresses {
                liveSenders[a, default: 0] += 1
                everSent.insert(a)
            }
        }
    }

    /// A sender's pipeline has ended.
    public func senderFinished(_ addresses: [String]) {
        lock.withLock {
            for a in addresses { liveSenders[a, default: 1] -= 1 }
        }
    }

    /// Whether senders to `address` existed and all have ended (the input may then finish).
    public func allSendersFinished(_ address: String) -> Bool {
        lock.withLock { everSent.contains(address) && (liveSenders[address] ?? 0) <= 0 }
    }

    /// Whether some sender to `address` is still running.
    public func hasLiveSenders(_ address: String) -> Bool {
        lock.withLock { (liveSenders[address] ?? 0) > 0 }
    }

    /// Pushes copies of `events` to the input bound at `address`; false when nothing is bound there. The push may
    /// block while the downstream queue is full; `unbind` waits for it.
    public func send(_ events: [Event], to address: String) -> Bool {
        guard let receiver = lock.withLock({ () -> Receiver? in
            guard let r = receivers[address] else { return nil }
            r.sending += 1
            return r
        }) else { return false }
        receiver.sink.pushQueued(contentsOf: events.map(Event.init(copying:)))
        lock.withLock {
            receiver.sending -= 1
            if receiver.sending == 0 { lock.broadcast() }
        }
        return true
    }
}

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

    private let lock = Lock()
    private var receivers: [String: EventSink] = [:]
    private var liveSenders: [String: Int] = [:]
    private var everSent: Set<String> = []

    public init() {}

    /// Binds `address` to a pipeline's queue.
    public func bind(_ address: String, to sink: EventSink) throws(AddressInUse) {
        let ok = lock.withLock { () -> Bool in
            if receivers[address] != nil { return false }
            receivers[address] = sink
            return true
        }
        if !ok { throw AddressInUse(address: address) }
    }

    public func unbind(_ address: String) {
        lock.withLock { _ = receivers.removeValue(forKey: address) }
    }

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

    /// Pushes copies of `events` to the input bound at `address`; false when nothing is bound there.
    public func send(_ events: [Event], to address: String) -> Bool {
        guard let sink = lock.withLock({ receivers[address] }) else { return false }
        sink.push(contentsOf: events.map(Event.init(copying:)))
        return true
    }
}

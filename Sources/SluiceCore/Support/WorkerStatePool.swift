/// A free list of per-worker state for a plugin instance that all pipeline workers share.
///
/// A worker takes a state for a batch and gives it back afterwards, so at most one state exists per concurrent
/// worker, each is used by one thread at a time, and the hot loop touches only objects no other worker is
/// touching (shared objects would bounce their reference counts between cores). States are made on demand by
/// `make`, which therefore runs at most once per worker.
public final class WorkerStatePool<State: AnyObject>: @unchecked Sendable {
    private let lock = Lock()
    private var free: [State] = []
    private let make: @Sendable () -> State

    public init(make: @escaping @Sendable () -> State) {
        self.make = make
    }

    /// A state no other worker holds.
    public func take() -> State {
        lock.withLock { free.popLast() } ?? make()
    }

    /// Returns a state taken with `take`.
    public func give(_ state: State) {
        lock.withLock { free.append(state) }
    }
}

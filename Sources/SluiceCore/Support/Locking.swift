#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one lock of the runtime: a pthread mutex with, when asked for, condition variables on the monotonic clock.
///
/// The primitives are heap-allocated, so their addresses are stable: passing `&storedProperty` of a class to a
/// pthread call is undefined behaviour in Swift (the address may be of a temporary copy). Plain state guarded by a
/// lock and needing no condition can use the standard library's `Synchronization.Mutex` instead.
public final class Lock: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let conditions: UnsafeMutablePointer<pthread_cond_t>
    private let conditionCount: Int

    /// A lock with `conditions` condition variables (numbered from 0), all timed on `CLOCK_MONOTONIC`.
    public init(conditions: Int = 0) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        conditionCount = conditions
        self.conditions = .allocate(capacity: max(1, conditions))
        if conditions > 0 {
            var attr = pthread_condattr_t()
            pthread_condattr_init(&attr)
            #if canImport(Glibc)
            pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
            #endif
            for i in 0..<conditions {
                (self.conditions + i).initialize(to: pthread_cond_t())
                pthread_cond_init(self.conditions + i, &attr)
            }
            pthread_condattr_destroy(&attr)
        }
    }

    deinit {
        for i in 0..<conditionCount { pthread_cond_destroy(conditions + i) }
        conditions.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inlinable public func lock() { pthread_mutex_lock(mutex) }
    @inlinable public func unlock() { pthread_mutex_unlock(mutex) }

    @inlinable public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits on condition `condition`; call with the lock held. Wakes spuriously too: wait in a loop.
    public func wait(_ condition: Int = 0) {
        precondition(condition < conditionCount)
        pthread_cond_wait(conditions + condition, mutex)
    }

    /// Waits on condition `condition` until `deadline` (a `Clock.deadline`, monotonic); call with the lock held.
    /// Returns false once the deadline has passed.
    @discardableResult
    public func wait(_ condition: Int = 0, until deadline: timespec) -> Bool {
        precondition(condition < conditionCount)
        var deadline = deadline
        return pthread_cond_timedwait(conditions + condition, mutex, &deadline) != ETIMEDOUT
    }

    /// Waits on condition `condition` for at most `milliseconds`; call with the lock held.
    @discardableResult
    public func wait(_ condition: Int = 0, milliseconds: Int) -> Bool {
        wait(condition, until: Clock.deadline(afterMillis: milliseconds))
    }

    /// Wakes one waiter of `condition`.
    public func signal(_ condition: Int = 0) {
        precondition(condition < conditionCount)
        pthread_cond_signal(conditions + condition)
    }

    /// Wakes every waiter of `condition`.
    public func broadcast(_ condition: Int = 0) {
        precondition(condition < conditionCount)
        pthread_cond_broadcast(conditions + condition)
    }
}

/// The system refused to create a thread (`pthread_create` failed: usually too many threads or no memory).
public struct ThreadStartError: Error, CustomStringConvertible, Sendable {
    public let name: String
    public let code: Int32
    public var description: String { "cannot start thread '\(name)': \(String(cString: strerror(code)))" }
}

/// A joinable OS thread running a closure, with the 8 MiB stack the workers need for deep events.
public final class Thread: @unchecked Sendable {
    private let handle: pthread_t
    private let joinLock = Lock()
    private var joined = false

    /// Starts the thread; throws when the system cannot create it.
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(ThreadStartError) {
        let box = Unmanaged.passRetained(ThreadBody(body: body))
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setstacksize(&attr, 8 << 20)
        var handle = pthread_t()
        let result = pthread_create(&handle, &attr, { raw in
            let box = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box.toOpaque())
        guard result == 0 else {
            box.release()
            throw ThreadStartError(name: name, code: result)
        }
        self.handle = handle
    }

    /// Whether this is the calling thread.
    public var isCurrent: Bool { pthread_equal(handle, pthread_self()) != 0 }

    /// Waits for the thread to end (once; later calls return at once).
    public func join() {
        joinLock.withLock {
            if !joined {
                pthread_join(handle, nil)
                joined = true
            }
        }
    }

    /// Lets the thread end by itself, its resources freed when it does (a thread cannot join itself).
    public func detach() {
        joinLock.withLock {
            if !joined {
                pthread_detach(handle)
                joined = true
            }
        }
    }
}

private final class ThreadBody {
    let body: @Sendable () -> Void
    init(body: @escaping @Sendable () -> Void) { self.body = body }
}

/// A counting semaphore.
public final class Semaphore: @unchecked Sendable {
    private let lock = Lock(conditions: 1)
    private var count: Int

    public init(_ value: UInt32 = 0) { count = Int(value) }

    public func signal() {
        lock.withLock {
            count += 1
            lock.signal()
        }
    }

    public func wait() {
        lock.withLock {
            while count == 0 { lock.wait() }
            count -= 1
        }
    }

    /// Waits at most `timeoutMillis`; returns whether the semaphore was signalled.
    @discardableResult
    public func wait(timeoutMillis: Int) -> Bool {
        let deadline = Clock.deadline(afterMillis: timeoutMillis)
        return lock.withLock {
            while count == 0 {
                if !lock.wait(until: deadline) { break }
            }
            guard count > 0 else { return false }
            count -= 1
            return true
        }
    }
}

/// A background thread running `tick` every `intervalMilliseconds` until stopped (the DLQ writer's flush checker,
/// the agent's flow and alert pollers).
final class PeriodicThread: @unchecked Sendable {
    private let state = Lock(conditions: 1)
    // Guarded by `state`.
    private var stopped = false
    private var thread: Thread?
    private let intervalMilliseconds: Int
    private let tick: @Sendable () -> Void

    init(intervalMilliseconds: Int, tick: @escaping @Sendable () -> Void) {
        self.intervalMilliseconds = intervalMilliseconds
        self.tick = tick
    }

    /// Starts the thread; throws when the system refuses to create one.
    func start(name: String) throws(ThreadStartError) {
        let started = try Thread(name: name) { [self] in run() }
        state.withLock { thread = started }
    }

    private func run() {
        while true {
            let keepGoing = state.withLock { () -> Bool in
                if !stopped {
                    let deadline = Clock.deadline(afterMillis: intervalMilliseconds)
                    while !stopped && state.wait(until: deadline) {}
                }
                return !stopped
            }
            guard keepGoing else { return }
            tick()
        }
    }

    /// Stops the thread and waits for it to finish its current tick (unless called from the thread itself, when
    /// the thread is left to end by itself).
    func stop() {
        let running = state.withLock { () -> Thread? in
            stopped = true
            state.broadcast()
            defer { thread = nil }
            return thread
        }
        guard let running else { return }
        if running.isCurrent { running.detach() } else { running.join() }
    }
}

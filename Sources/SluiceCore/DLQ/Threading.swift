#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex with a condition variable, for the DLQ writer's state and its flush timer.
final class PThreadMutex: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits on the condition for at most `milliseconds`; call with the lock held (inside `withLock`).
    func wait(milliseconds: Int) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let totalNanoseconds = Int(now.tv_nsec) + (milliseconds % 1000) * 1_000_000
        var deadline = timespec()
        deadline.tv_sec = now.tv_sec + time_t(milliseconds / 1000 + totalNanoseconds / 1_000_000_000)
        deadline.tv_nsec = Int(totalNanoseconds % 1_000_000_000)
        pthread_cond_timedwait(condition, mutex, &deadline)
    }

    /// Wakes every waiter.
    func broadcast() { pthread_cond_broadcast(condition) }
}

/// A background thread running `tick` every `intervalMilliseconds` until stopped (the writer's flush checker).
final class PeriodicThread: @unchecked Sendable {
    private let state = PThreadMutex()
    private var stopped = false
    private var thread: pthread_t?
    private let intervalMilliseconds: Int
    private let tick: @Sendable () -> Void

    init(intervalMilliseconds: Int, tick: @escaping @Sendable () -> Void) {
        self.intervalMilliseconds = intervalMilliseconds
        self.tick = tick
    }

    /// Starts the thread; false when the system refuses to create one.
    func start() -> Bool {
        var handle = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&handle, nil, { raw in
            let me = Unmanaged<PeriodicThread>.fromOpaque(raw!).takeRetainedValue()
            me.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<PeriodicThread>.fromOpaque(context).release()
            return false
        }
        thread = handle
        return true
    }

    private func run() {
        while true {
            let keepGoing = state.withLock { () -> Bool in
                if !stopped { state.wait(milliseconds: intervalMilliseconds) }
                return !stopped
            }
            guard keepGoing else { return }
            tick()
        }
    }

    /// Stops the thread and waits for it to finish its current tick (unless called from the thread itself).
    func stop() {
        state.withLock {
            stopped = true
            state.broadcast()
        }
        guard let handle = thread else { return }
        thread = nil
        if pthread_equal(handle, pthread_self()) != 0 {
            pthread_detach(handle)
        } else {
            pthread_join(handle, nil)
        }
    }
}

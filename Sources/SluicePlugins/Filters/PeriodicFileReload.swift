import SluiceCore

/// A value loaded from a file and re-loaded every `refreshSeconds` (cidr's `network_path`, translate's
/// `dictionary_path`).
///
/// Workers read the current value under a short lock. When a reload is due, the first worker to notice performs it
/// outside the lock while the others keep using the previous value; the new value is then swapped in whole.
final class PeriodicFileReload<T: Sendable>: @unchecked Sendable {
    private let lock = Lock()
    private var value: T
    private var nextRefresh: Int
    private var reloading = false
    private let interval: Int?
    private let reload: @Sendable (T) -> T

    /// - Parameters:
    ///   - refreshSeconds: seconds between reloads; zero or less never reloads.
    ///   - reload: builds the next value from the previous one (return the previous one to keep it).
    init(initial: T, refreshSeconds: Int, reload: @escaping @Sendable (T) -> T) {
        value = initial
        interval = refreshSeconds > 0 ? refreshSeconds * 1_000_000_000 : nil
        nextRefresh = Clock.nanoseconds() + (interval ?? 0)
        self.reload = reload
    }

    /// The current value, reloading first when due (only one caller reloads at a time).
    func current() -> T {
        guard let interval else { return lock.withLock { value } }
        let now = Clock.nanoseconds()
        let (snapshot, mustReload) = lock.withLock { () -> (T, Bool) in
            if now < nextRefresh || reloading { return (value, false) }
            reloading = true
            return (value, true)
        }
        guard mustReload else { return snapshot }
        let next = reload(snapshot)
        return lock.withLock {
            value = next
            nextRefresh = Clock.nanoseconds() + interval
            reloading = false
            return value
        }
    }

    /// Makes the next `current()` reload (tests).
    func expire() {
        lock.withLock { nextRefresh = 0 }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Logstash's exponential back-off for the bulk loops: `retry_initial_interval`, doubled after each attempt up to
/// `retry_max_interval` (2, 4, 8, 16, 32, 64, 64, … with the defaults), restarted for each batch. Sleeps end early
/// when `shouldStop` turns true (pipeline shutdown or `close()`).
struct RetryPolicy: Sendable {
    let initialInterval: Double
    let maxInterval: Double

    /// The interval after `interval`.
    func next(after interval: Double) -> Double { min(interval * 2, maxInterval) }

    /// Sleeps `seconds` unless `shouldStop` becomes true first.
    /// - Returns: false when the sleep was cut short by a stop request.
    static func sleep(_ seconds: Double, shouldStop: () -> Bool) -> Bool {
        let end = Clock.nanoseconds() + Int(seconds * 1e9)
        while true {
            if shouldStop() { return false }
            let left = end - Clock.nanoseconds()
            if left <= 0 { return true }
            usleep(useconds_t(min(left / 1000, 20_000)))
        }
    }
}

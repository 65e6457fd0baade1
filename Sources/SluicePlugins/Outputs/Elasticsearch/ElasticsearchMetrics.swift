import Synchronization

/// The elasticsearch output's own counters, named as Logstash's plugin metrics:
/// `documents.{successes,non_retryable_failures,retryable_failures,dlq_routed}` and
/// `bulk_requests.{successes,with_errors,failures,responses.<code>}`.
public final class ElasticsearchMetrics: Sendable {
    let documentSuccesses = Atomic<Int>(0)
    let documentNonRetryableFailures = Atomic<Int>(0)
    let documentRetryableFailures = Atomic<Int>(0)
    let documentDLQRouted = Atomic<Int>(0)
    let bulkSuccesses = Atomic<Int>(0)
    let bulkWithErrors = Atomic<Int>(0)
    let bulkFailures = Atomic<Int>(0)
    private let responses = Mutex<[Int: Int]>([:])

    init() {}

    func countResponse(_ code: Int) { responses.withLock { $0[code, default: 0] += 1 } }

    /// A point-in-time copy of every counter.
    public struct Snapshot: Sendable, Equatable {
        public var documentSuccesses = 0
        public var documentNonRetryableFailures = 0
        public var documentRetryableFailures = 0
        public var documentDLQRouted = 0
        public var bulkSuccesses = 0
        public var bulkWithErrors = 0
        public var bulkFailures = 0
        /// `bulk_requests.responses.<code>`: bulk responses by HTTP status.
        public var bulkResponses: [Int: Int] = [:]

        /// The counters under Logstash's metric names (`documents.successes`, `bulk_requests.responses.200`, …).
        public var byLogstashName: [String: Int] {
            var out = [
                "documents.successes": documentSuccesses,
                "documents.non_retryable_failures": documentNonRetryableFailures,
                "documents.retryable_failures": documentRetryableFailures,
                "documents.dlq_routed": documentDLQRouted,
                "bulk_requests.successes": bulkSuccesses,
                "bulk_requests.with_errors": bulkWithErrors,
                "bulk_requests.failures": bulkFailures,
            ]
            for (code, n) in bulkResponses { out["bulk_requests.responses.\(code)"] = n }
            return out
        }
    }

    public var snapshot: Snapshot {
        Snapshot(
            documentSuccesses: documentSuccesses.load(ordering: .relaxed),
            documentNonRetryableFailures: documentNonRetryableFailures.load(ordering: .relaxed),
            documentRetryableFailures: documentRetryableFailures.load(ordering: .relaxed),
            documentDLQRouted: documentDLQRouted.load(ordering: .relaxed),
            bulkSuccesses: bulkSuccesses.load(ordering: .relaxed),
            bulkWithErrors: bulkWithErrors.load(ordering: .relaxed),
            bulkFailures: bulkFailures.load(ordering: .relaxed),
            bulkResponses: responses.withLock { $0 })
    }
}

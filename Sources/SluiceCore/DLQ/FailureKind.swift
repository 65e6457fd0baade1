/// Whether an entry's failure may pass on its own — a server that was overloaded, restarting or out of reach — or
/// will fail the same way every time (a mapping conflict, a condition error, a filter failure): the transient /
/// poison-pill split that decides what the automatic redrive takes. Read from the entry's plugin type and reason,
/// the texts Sluice's and Logstash's outputs write. Pure; called on any thread.
public enum FailureKind: String, Sendable {
    /// Worth trying again later: Elasticsearch 429/5xx and timeouts, HTTP 429/5xx, connection errors, events a
    /// shutdown interrupted.
    case transient
    /// Fails again until someone changes the event or the config.
    case permanent

    /// Classifies one entry.
    public init(_ entry: DeadLetterQueueEntry) {
        self = Self.classify(pluginType: entry.pluginType, reason: entry.reason)
    }

    public static func classify(pluginType: String, reason: String) -> FailureKind {
        if let status = status(after: "Could not index event to Elasticsearch. status: ", in: reason)
            ?? status(after: "HTTP output: non-2xx HTTP code ", in: reason)
        {
            return isTransient(status: status) ? .transient : .permanent
        }
        for marker in transientMarkers where reason.contains(marker) { return .transient }
        return .permanent
    }

    /// The kinds of a scan's entries, classified once per run of equal reasons (a queue holds long runs of them).
    public struct Cache {
        private var last: (pluginType: String, reason: String, kind: FailureKind)?

        public init() {}

        public mutating func kind(of entry: DeadLetterQueueEntry) -> FailureKind {
            if let last, last.reason == entry.reason, last.pluginType == entry.pluginType { return last.kind }
            let kind = FailureKind(entry)
            last = (entry.pluginType, entry.reason, kind)
            return kind
        }
    }

    /// 408 Request Timeout, 429 Too Many Requests and every 5xx.
    public static func isTransient(status: Int) -> Bool {
        status == 408 || status == 429 || (500...599).contains(status)
    }

    /// Reasons of failures that depend on the moment, not on the event: the output could not reach its server, or
    /// the pipeline stopped while it was still retrying.
    static let transientMarkers = [
        "the pipeline shut down before the event was accepted",  // elasticsearch output at shutdown
        "the pipeline shut down while the request was being retried",  // http output at shutdown
        "before shutdown",  // other outputs at shutdown ("Could not be sent to host:port before shutdown")
        "HTTP output: could not fetch ",  // connection refused, reset, timed out
        "timed out", "Connection refused", "connection refused",
    ]

    /// The three-digit status that follows `prefix` at the start of `reason`.
    static func status(after prefix: String, in reason: String) -> Int? {
        guard reason.hasPrefix(prefix) else { return nil }
        let digits = reason.utf8.dropFirst(prefix.utf8.count).prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        return Int(String(decoding: digits, as: UTF8.self))
    }
}

extension DeadLetterQueueEntry {
    /// How many times the entry's event was redriven before it failed this time (`[@metadata][dead_letter_queue_attempts]`,
    /// 0 for an event that failed on its first pass).
    public var attempts: Int { Self.attempts(of: event) }

    /// The metadata key that counts how many times an event was redriven.
    public static let attemptsKey = "dead_letter_queue_attempts"
}

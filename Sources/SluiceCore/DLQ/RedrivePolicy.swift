/// A pipeline's DLQ retry policy (`dead_letter_queue.redrive.*`, a Sluice extension): how often an entry's event is
/// sent back into its pipeline before it is archived, and how long to wait between attempts — exponential backoff
/// with full jitter, `uniform(0, min(max_delay, base_delay × 2^attempts))` after the entry's last failure. Only
/// transient failures are redriven automatically (`FailureKind`); manual redrive takes any entry. Pure values; the
/// redriver thread and the API read it.
public struct RedrivePolicy: Sendable, Equatable {
    /// `dead_letter_queue.redrive.automatic` (false): redrive transient failures on their own schedule.
    public var automatic: Bool
    /// `dead_letter_queue.redrive.max_attempts` (5): redrives an event gets; one that fails after this many goes
    /// to the archive.
    public var maxAttempts: Int
    /// `dead_letter_queue.redrive.base_delay` (60 s): the backoff ceiling after the first failure.
    public var baseDelayMilliseconds: Int
    /// `dead_letter_queue.redrive.max_delay` (1 h): the largest backoff ceiling.
    public var maxDelayMilliseconds: Int

    public init(automatic: Bool = false, maxAttempts: Int = 5, baseDelayMilliseconds: Int = 60_000,
                maxDelayMilliseconds: Int = 3_600_000) {
        self.automatic = automatic
        self.maxAttempts = maxAttempts
        self.baseDelayMilliseconds = baseDelayMilliseconds
        self.maxDelayMilliseconds = maxDelayMilliseconds
    }

    /// The backoff ceiling for an entry whose event was redriven `attempts` times: `base × 2^attempts`, capped.
    public func ceilingMilliseconds(attempts: Int) -> Int {
        let doublings = min(max(attempts, 0), 40)
        let (grown, overflow) = baseDelayMilliseconds.multipliedReportingOverflow(by: 1 << doublings)
        return overflow ? maxDelayMilliseconds : min(grown, maxDelayMilliseconds)
    }

    /// The wait after the entry's failure: `jitter` (in [0, 1)) of the ceiling.
    public func delayMilliseconds(attempts: Int, jitter: Double) -> Int {
        Int(Double(ceilingMilliseconds(attempts: attempts)) * min(max(jitter, 0), 1))
    }

    /// What the redriver does with an entry at `now`.
    public enum Decision: Equatable, Sendable {
        /// A permanent failure: it stays for an operator.
        case keep
        /// Transient, but its backoff has not passed: due at this time.
        case wait(until: Timestamp)
        /// Transient and due: send it back into the pipeline.
        case redrive
        /// Its attempts are used up: move it to the archive.
        case archive
    }

    /// The decision for `entry`; `jitter` is the entry's draw in [0, 1) (`RedrivePolicy.jitter(for:attempts:seed:)`).
    public func decide(_ entry: DeadLetterQueueEntry, kind: FailureKind, jitter: Double, now: Timestamp) -> Decision {
        if entry.attempts >= maxAttempts { return .archive }
        guard kind == .transient else { return .keep }
        let due = entry.entryTime.adding(milliseconds: delayMilliseconds(attempts: entry.attempts, jitter: jitter))
        return now < due ? .wait(until: due) : .redrive
    }

    /// A uniform draw in [0, 1) fixed for one entry and attempt within a process (SplitMix64 of its id), so that
    /// every scan agrees on when an entry is due, and entries that failed together spread out.
    public static func jitter(for id: DeadLetterQueueEntryID, attempts: Int, seed: UInt64) -> Double {
        var z = seed &+ UInt64(truncatingIfNeeded: id.segment) &* 0x9E37_79B9_7F4A_7C15
        z = z &+ UInt64(truncatingIfNeeded: id.offset) &* 0xBF58_476D_1CE4_E5B9 &+ UInt64(truncatingIfNeeded: attempts)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }
}

/// Where a pipeline's exhausted entries go (`dead_letter_queue.archive.*`, a Sluice extension): a second queue in
/// Logstash's format at `<path.dead_letter_queue>/<pipeline>/archive/`, so Logstash's `dead_letter_queue` input
/// reads it with `path => ".../<pipeline>"` and `pipeline_id => "archive"`. Oldest segments go first when it is full.
public struct DeadLetterQueueArchiveSettings: Sendable, Equatable {
    /// An event redriven this many times (`dead_letter_queue.redrive.max_attempts`) is archived when it fails.
    public var afterAttempts: Int
    /// `dead_letter_queue.archive.max_bytes` (1024mb).
    public var maxBytes: Int64
    /// `dead_letter_queue.archive.retain.age` (7d): archived segments older than this are deleted.
    public var retainAge: Duration?

    /// The archive's directory name inside the pipeline's DLQ directory.
    public static let directoryName = "archive"

    public init(afterAttempts: Int = 5, maxBytes: Int64 = 1_073_741_824, retainAge: Duration? = .seconds(7 * 86_400)) {
        self.afterAttempts = afterAttempts
        self.maxBytes = maxBytes
        self.retainAge = retainAge
    }

    /// The writer settings of the archive of the queue `queue`.
    func writerSettings(of queue: DeadLetterQueueSettings) -> DeadLetterQueueSettings {
        var s = DeadLetterQueueSettings(
            path: queue.queueDirectory, pipelineID: Self.directoryName, maxBytes: maxBytes, storagePolicy: .dropOlder,
            flushInterval: queue.flushInterval, flushCheckInterval: queue.flushCheckInterval, retainAge: retainAge,
            stringReferences: queue.stringReferences)
        s.maxSegmentSize = queue.maxSegmentSize
        return s
    }
}

extension DeadLetterQueueEntry {
    /// The entry's event as it re-enters a pipeline (redrive, replay): a copy not marked as read from a DLQ (so a
    /// new failure is written again), with its attempt count raised.
    public func eventForRedrive() -> Event {
        let copy = Event(copying: event)
        _ = copy.metadata.removeValue(forKey: "dead_letter_queue")
        copy.metadata[Self.attemptsKey] = .int(attempts + 1)
        return copy
    }

    /// How many times `event` was redriven (`[@metadata][dead_letter_queue_attempts]`).
    public static func attempts(of event: Event) -> Int {
        if case .int(let n)? = event.metadata[attemptsKey], n > 0 { return n }
        return 0
    }
}

/// What the writer does when the queue is full (`dead_letter_queue.storage_policy`).
public enum DeadLetterQueueStoragePolicy: String, Sendable, CaseIterable {
    /// Refuse new entries, counting them in `dropped_events` (Logstash's default).
    case dropNewer = "drop_newer"
    /// Delete the oldest sealed segments to make room.
    case dropOlder = "drop_older"
}

/// The settings of one pipeline's DLQ writer, as plain values (the `dead_letter_queue.*` settings of
/// `logstash.yml`/`pipelines.yml` are parsed elsewhere).
public struct DeadLetterQueueSettings: Sendable, Equatable {
    /// `path.dead_letter_queue`: the DLQ root; the queue lives in `<path>/<pipelineID>/`.
    public var path: String
    /// The pipeline id, appended to `path`.
    public var pipelineID: String
    /// `dead_letter_queue.max_bytes`: the queue size limit (default 1 GiB).
    public var maxBytes: Int64
    /// `dead_letter_queue.storage_policy`.
    public var storagePolicy: DeadLetterQueueStoragePolicy
    /// `dead_letter_queue.flush_interval`: a head segment idle this long is sealed (raised to at least 1 s).
    public var flushInterval: Duration
    /// `dead_letter_queue.flush_check_interval` (9.5+): how often staleness is checked; clamped to 1 s …
    /// `flushInterval`.
    public var flushCheckInterval: Duration
    /// `dead_letter_queue.retain.age`: sealed segments whose newest entry is older are deleted; nil keeps them.
    public var retainAge: Duration?
    /// Write events with CBOR string references as Logstash 9.2+ does; false writes the form Logstash 8.x reads.
    public var stringReferences: Bool

    /// Where entries of events redriven `afterAttempts` times go when they fail again; nil: they stay here.
    public var archive: DeadLetterQueueArchiveSettings?

    /// Logstash's segment size limit; fixed at 10 MiB there, lowered only by tests.
    var maxSegmentSize = DLQSegmentFormat.maxSegmentSize

    public init(
        path: String, pipelineID: String, maxBytes: Int64 = 1_073_741_824,
        storagePolicy: DeadLetterQueueStoragePolicy = .dropNewer, flushInterval: Duration = .milliseconds(5000),
        flushCheckInterval: Duration = .milliseconds(1000), retainAge: Duration? = nil, stringReferences: Bool = true
    ) {
        self.path = path
        self.pipelineID = pipelineID
        self.maxBytes = maxBytes
        self.storagePolicy = storagePolicy
        self.flushInterval = flushInterval
        self.flushCheckInterval = flushCheckInterval
        self.retainAge = retainAge
        self.stringReferences = stringReferences
    }

    /// `<path>/<pipelineID>`.
    public var queueDirectory: String { SegmentFiles.join(path, pipelineID) }

    /// The flush interval Logstash actually uses: at least 1000 ms.
    public var effectiveFlushIntervalMilliseconds: Int { max(1000, Self.milliseconds(flushInterval)) }

    /// The check interval Logstash actually uses: at least 1000 ms, at most the flush interval.
    public var effectiveFlushCheckIntervalMilliseconds: Int {
        min(max(1000, Self.milliseconds(flushCheckInterval)), effectiveFlushIntervalMilliseconds)
    }

    static func milliseconds(_ d: Duration) -> Int {
        let (seconds, attoseconds) = d.components
        let ms = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        return ms >= Double(Int.max) ? Int.max : ms <= 0 ? 0 : Int(ms)
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        let (seconds, attoseconds) = d.components
        let ns = Double(seconds) * 1e9 + Double(attoseconds) / 1e9
        return ns >= Double(Int64.max) ? Int64.max : ns <= 0 ? 0 : Int64(ns)
    }
}

/// The writer's metrics as Logstash reports them under `pipelines.<id>.dead_letter_queue` (§8).
public struct DeadLetterQueueStatistics: Sendable, Equatable {
    /// `queue_size_in_bytes`: sealed segments plus the head (§7.5).
    public var queueSizeInBytes: Int64
    /// `max_queue_size_in_bytes`: the `max_bytes` setting.
    public var maxQueueSizeInBytes: Int64
    /// `dropped_events`: entries refused since the writer opened.
    public var droppedEvents: Int
    /// `expired_events`: entries removed by `retain.age` since the writer opened.
    public var expiredEvents: Int
    /// `last_error`: the last refusal or I/O error message, `no errors` until the first.
    public var lastError: String
    /// `storage_policy`.
    public var storagePolicy: DeadLetterQueueStoragePolicy

    /// The statistics under Logstash's key names, in Logstash's order.
    public var object: Object {
        var o = Object(minimumCapacity: 6)
        o["queue_size_in_bytes"] = .int(Int(queueSizeInBytes))
        o["max_queue_size_in_bytes"] = .int(Int(maxQueueSizeInBytes))
        o["dropped_events"] = .int(droppedEvents)
        o["expired_events"] = .int(expiredEvents)
        o["last_error"] = .string(lastError)
        o["storage_policy"] = .string(storagePolicy.rawValue)
        return o
    }
}

/// How full a running DLQ is, beyond Logstash's statistics: for `/metrics` and the alert thresholds.
public struct DeadLetterQueueOccupancy: Sendable, Equatable {
    /// Readable entries on disk, sealed segments and the head.
    public var entries: Int
    /// The entry time of the oldest entry on disk; nil when the queue is empty.
    public var oldestEntryTime: Timestamp?
    /// Entries written since the writer opened.
    public var writes: Int

    public init(entries: Int, oldestEntryTime: Timestamp?, writes: Int) {
        self.entries = entries
        self.oldestEntryTime = oldestEntryTime
        self.writes = writes
    }
}

/// The alert level of a DLQ against `dead_letter_queue.warn_entries` / `critical_entries` (a Sluice extension).
public enum DeadLetterQueueAlert: String, Sendable, Comparable {
    case green, yellow, red

    /// The level for `entries`; a threshold that is nil never fires.
    public init(entries: Int, warnEntries: Int?, criticalEntries: Int?) {
        if let c = criticalEntries, entries >= c {
            self = .red
        } else if let w = warnEntries, entries >= w {
            self = .yellow
        } else {
            self = .green
        }
    }

    private var rank: Int { self == .green ? 0 : self == .yellow ? 1 : 2 }
    public static func < (a: Self, b: Self) -> Bool { a.rank < b.rank }
}

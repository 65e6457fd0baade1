import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A monotonic clock for durations.
public enum Clock {
    /// Nanoseconds from an arbitrary fixed point.
    @inline(__always) public static func nanoseconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }

    /// The `CLOCK_MONOTONIC` time `millis` from now, for `pthread_cond_timedwait` on a monotonic condition.
    public static func deadline(afterMillis millis: Int) -> timespec {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        deadline.tv_nsec += millis * 1_000_000
        deadline.tv_sec += deadline.tv_nsec / 1_000_000_000
        deadline.tv_nsec %= 1_000_000_000
        return deadline
    }
}

/// Event counters of one plugin (Logstash's `events.in/out/duration_in_millis`), updated lock-free by workers.
public final class PluginMetrics: Sendable {
    public let id: String
    public let name: String
    public let kind: PluginKind
    private let eventsIn = Atomic<Int>(0)
    private let eventsOut = Atomic<Int>(0)
    private let durationNanos = Atomic<Int>(0)

    public init(id: String, name: String, kind: PluginKind) {
        self.id = id
        self.name = name
        self.kind = kind
    }

    public func record(in inCount: Int, out outCount: Int, nanoseconds: Int) {
        eventsIn.add(inCount, ordering: .relaxed)
        eventsOut.add(outCount, ordering: .relaxed)
        durationNanos.add(nanoseconds, ordering: .relaxed)
    }

    /// An input pushed `count` events into the queue, blocked for `nanoseconds` (its `events.out` and
    /// `queue_push_duration_in_millis`).
    @inline(__always) public func recordPushed(_ count: Int, nanoseconds: Int) {
        eventsOut.add(count, ordering: .relaxed)
        durationNanos.add(nanoseconds, ordering: .relaxed)
    }

    public var inCount: Int { eventsIn.load(ordering: .relaxed) }
    public var outCount: Int { eventsOut.load(ordering: .relaxed) }
    public var durationMillis: Int { durationNanos.load(ordering: .relaxed) / 1_000_000 }
    /// Time spent, in nanoseconds: working for filters and outputs, blocked on the queue for inputs.
    public var durationNanoseconds: Int { durationNanos.load(ordering: .relaxed) }
}

/// Counters of one pipeline: events in (pushed by inputs), filtered, out, and per plugin.
public final class PipelineMetrics: Sendable {
    public let eventsIn = Atomic<Int>(0)
    public let eventsFiltered = Atomic<Int>(0)
    public let eventsOut = Atomic<Int>(0)
    public let durationNanos = Atomic<Int>(0)
    public let queuePushNanos = Atomic<Int>(0)
    public let plugins: [String: PluginMetrics]

    public init(plugins: [PluginMetrics]) {
        var map: [String: PluginMetrics] = [:]
        for p in plugins { map[p.id] = p }
        self.plugins = map
    }
}

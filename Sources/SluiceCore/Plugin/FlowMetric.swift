/// One sample of a flow metric: its numerator and denominator read at a monotonic time.
public struct FlowCapture: Sendable, Equatable {
    public var nanos: Int
    public var numerator: Double
    public var denominator: Double

    public init(nanos: Int, numerator: Double, denominator: Double) {
        self.nanos = nanos
        self.numerator = numerator
        self.denominator = denominator
    }
}

/// How far back a flow window looks and how finely it keeps captures (Logstash's built-in retention policies:
/// `current` is 10 s at 1 s resolution and reports early against the lifetime baseline; the others report only once
/// a capture at least their span old exists).
public struct FlowRetentionPolicy: Sendable, Equatable {
    public let name: String
    public let retentionNanos: Int
    public let resolutionNanos: Int
    /// Whether the window reports against the lifetime baseline before it has a capture old enough.
    public let reportsBeforeSatisfied: Bool

    init(_ name: String, seconds: Int, resolutionSeconds: Int, reportsBeforeSatisfied: Bool = false) {
        self.name = name
        retentionNanos = seconds * 1_000_000_000
        resolutionNanos = resolutionSeconds * 1_000_000_000
        self.reportsBeforeSatisfied = reportsBeforeSatisfied
    }

    public static let current = Self("current", seconds: 10, resolutionSeconds: 1, reportsBeforeSatisfied: true)
    public static let lastMinute = Self("last_1_minute", seconds: 60, resolutionSeconds: 3)
    public static let last5Minutes = Self("last_5_minutes", seconds: 300, resolutionSeconds: 15)
    public static let last15Minutes = Self("last_15_minutes", seconds: 900, resolutionSeconds: 30)
    public static let lastHour = Self("last_1_hour", seconds: 3600, resolutionSeconds: 60)
    public static let last24Hours = Self("last_24_hours", seconds: 86_400, resolutionSeconds: 900)

    /// The rolling windows in reporting order (`lifetime` is added after them).
    public static let all: [Self] = [.current, .lastMinute, .last5Minutes, .last15Minutes, .lastHour, .last24Hours]

    /// A bound on the committed captures a window keeps: commits two apart are more than a resolution step apart,
    /// so a span holds at most two per step, plus the baseline older than the span.
    var capacity: Int { 2 * (retentionNanos / resolutionNanos) + 3 }
}

/// The captures one window keeps, oldest first. A new capture is staged; the staged one is committed only when the
/// newest is more than a resolution step past the last committed one, so commits are spaced by the resolution.
/// Committed captures older than the span are dropped except the youngest of them, which is the window's baseline.
struct FlowWindow: Sendable {
    let policy: FlowRetentionPolicy
    private(set) var committed: [FlowCapture]
    private(set) var staged: FlowCapture?

    init(policy: FlowRetentionPolicy, first: FlowCapture) {
        self.policy = policy
        committed = [first]
    }

    mutating func append(_ capture: FlowCapture) {
        if let previous = staged, capture.nanos - committed[committed.count - 1].nanos > policy.resolutionNanos {
            committed.append(previous)
        }
        if staged == nil || staged!.nanos <= capture.nanos { staged = capture }
        compact(before: capture.nanos - policy.retentionNanos)
        if committed.count > policy.capacity { committed.removeFirst(committed.count - policy.capacity) }
    }

    /// Drops the committed captures older than `barrier` except the youngest of them.
    mutating func compact(before barrier: Int) {
        var drop = 0
        while drop + 1 < committed.count && committed[drop + 1].nanos < barrier { drop += 1 }
        if drop > 0 { committed.removeFirst(drop) }
    }

    /// The baseline for a rate at `nanos`: the youngest committed capture older than the window's span, if there is
    /// one (after compaction that is the oldest kept; it may sit exactly on the span's edge).
    mutating func baseline(at nanos: Int) -> FlowCapture? {
        let barrier = nanos - policy.retentionNanos
        compact(before: barrier)
        return committed[0].nanos <= barrier ? committed[0] : nil
    }
}

/// A rate of change of one counter against another (Logstash's extended flow metric): captured periodically, and
/// computed on request for every window of `FlowRetentionPolicy.all` plus `lifetime`. Never touched per event: a
/// capture reads counters that already exist. Thread-safe.
public final class FlowMetric: @unchecked Sendable {
    public let name: String
    private let sample: @Sendable (_ uptimeNanos: Int) -> (numerator: Double, denominator: Double)
    private let startNanos: Int
    private let lock = Lock()
    private var state = State()  // guarded by `lock`

    struct State {
        var lifetime: FlowCapture?
        var windows: [FlowWindow] = []
    }

    /// - Parameters:
    ///   - sample: reads the numerator and denominator; it is given the nanoseconds since `startNanos`, from which
    ///     uptime denominators are made.
    public init(name: String, startNanos: Int,
                sample: @escaping @Sendable (_ uptimeNanos: Int) -> (numerator: Double, denominator: Double)) {
        self.name = name
        self.startNanos = startNanos
        self.sample = sample
    }

    func read(at nanos: Int) -> FlowCapture {
        let (n, d) = sample(nanos - startNanos)
        return FlowCapture(nanos: nanos, numerator: n, denominator: d)
    }

    /// Takes a capture at `nanos` (monotonic) and files it into every window; the first one is the lifetime baseline.
    public func capture(at nanos: Int) {
        let c = read(at: nanos)
        lock.withLock {
            if state.lifetime == nil {
                state.lifetime = c
                state.windows = FlowRetentionPolicy.all.map { FlowWindow(policy: $0, first: c) }
            } else {
                for i in state.windows.indices { state.windows[i].append(c) }
            }
        }
    }

    /// The rates at `nanos`, from a fresh reading against each window's baseline, in window order then `lifetime`.
    /// A window is left out until it has a baseline, and any rate whose denominator did not move.
    public func rates(at nanos: Int) -> [(window: String, rate: Double)] {
        let now = read(at: nanos)
        return lock.withLock { () -> [(window: String, rate: Double)] in
            guard let lifetime = state.lifetime else { return [] }
            var out: [(window: String, rate: Double)] = []
            for i in state.windows.indices {
                let policy = state.windows[i].policy
                guard let base = state.windows[i].baseline(at: nanos) ?? (policy.reportsBeforeSatisfied ? lifetime : nil),
                      let rate = Self.rate(from: base, to: now)
                else { continue }
                out.append((policy.name, rate))
            }
            if let rate = Self.rate(from: lifetime, to: now) { out.append(("lifetime", rate)) }
            return out
        }
    }

    /// Committed captures per window, by window name (for tests of the retention bound).
    var retainedCaptures: [String: Int] {
        lock.withLock { Dictionary(uniqueKeysWithValues: state.windows.map { ($0.policy.name, $0.committed.count) }) }
    }

    /// Δnumerator / Δdenominator to 4 significant digits, half up (Logstash's `MathContext(4, HALF_UP)`); nil when
    /// the denominator did not move or the two captures are the same.
    static func rate(from base: FlowCapture, to now: FlowCapture) -> Double? {
        let dd = now.denominator - base.denominator
        guard base != now, dd != 0, dd.isFinite else { return nil }
        return significant((now.numerator - base.numerator) / dd, digits: 4)
    }

    static func significant(_ x: Double, digits: Int) -> Double {
        guard x != 0, x.isFinite else { return x }
        let exponent = Int((abs(x)).log10Floor)
        let shift = digits - 1 - exponent
        // Scale by an exact power of ten in whichever direction keeps the factor an integer.
        if shift >= 0 {
            let p = pow10(shift)
            return (x * p).rounded(.toNearestOrAwayFromZero) / p
        } else {
            let p = pow10(-shift)
            return (x / p).rounded(.toNearestOrAwayFromZero) * p
        }
    }

    private static func pow10(_ n: Int) -> Double {
        var p = 1.0
        for _ in 0..<n { p *= 10 }
        return p
    }
}

extension Double {
    /// ⌊log10(self)⌋ for a positive finite value, exact at powers of ten.
    fileprivate var log10Floor: Int {
        var e = 0
        var v = self
        while v >= 10 { v /= 10; e += 1 }
        while v < 1 { v *= 10; e -= 1 }
        return e
    }
}

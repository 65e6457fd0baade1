/// Entries per time bucket over a queue's span, counted during the statistics scan in bounded memory: buckets are
/// aligned to the epoch and start one second wide; whenever the entries seen span more than `maximumBuckets`, the
/// width grows to the next step of `intervals` (each a multiple of the one before, so buckets merge exactly) until
/// they fit. The order of the entries does not matter. Used by one scan at a time, on the caller's thread (the
/// CLI's or an API event loop).
public struct DeadLetterQueueTimeline: Sendable {
    /// The most buckets a timeline holds.
    public static let maximumBuckets = 60
    /// Bucket widths in seconds, each dividing the next: 1 s … 1 h … 1 d, then doubling.
    static let intervals: [Int64] = [1, 2, 10, 20, 60, 120, 600, 1_200, 3_600, 7_200, 21_600, 43_200, 86_400]

    /// Bucket width in seconds.
    public private(set) var intervalSeconds: Int64 = 1
    /// Entries per bucket, keyed by bucket number (`seconds / intervalSeconds`, rounded down).
    private var counts: [Int64: Int] = [:]
    private var lowest = Int64.max
    private var highest = Int64.min

    public init() {}

    /// Counts one entry made at `time`.
    public mutating func add(_ time: Timestamp) {
        var bucket = Self.floorDivide(time.seconds, intervalSeconds)
        while max(highest, bucket) - min(lowest, bucket) >= Int64(Self.maximumBuckets) {
            widen()
            bucket = Self.floorDivide(time.seconds, intervalSeconds)
        }
        counts[bucket, default: 0] += 1
        lowest = min(lowest, bucket)
        highest = max(highest, bucket)
    }

    /// The start of the first bucket (nil when nothing was counted).
    public var start: Timestamp? {
        counts.isEmpty ? nil : Timestamp(seconds: lowest * intervalSeconds)
    }

    /// Entries per bucket from the first bucket to the last, empty buckets included.
    public var buckets: [Int] {
        counts.isEmpty ? [] : (lowest...highest).map { counts[$0] ?? 0 }
    }

    /// `{"interval_seconds": 60, "start": "…", "counts": [3, 0, 5]}`: bucket `i` holds the entries made in
    /// `[start + i × interval, start + (i + 1) × interval)`.
    public var json: Object {
        var o = Object()
        o["interval_seconds"] = .int(Int(intervalSeconds))
        o["start"] = start.map(Value.timestamp) ?? .null
        o["counts"] = .array(buckets.map { .int($0) })
        return o
    }

    /// The next bucket width; the counts merge into the wider buckets.
    private mutating func widen() {
        let next = Self.intervals.first { $0 > intervalSeconds } ?? intervalSeconds * 2
        var merged: [Int64: Int] = [:]
        for (bucket, n) in counts { merged[Self.floorDivide(bucket * intervalSeconds, next), default: 0] += n }
        intervalSeconds = next
        counts = merged
        lowest = merged.keys.min() ?? .max
        highest = merged.keys.max() ?? .min
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}

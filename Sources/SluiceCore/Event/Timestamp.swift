#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A point in time with nanosecond precision, as Logstash's `Timestamp`: printed ISO-8601 in UTC.
public struct Timestamp: Sendable, Hashable, Comparable {
    /// Seconds since the Unix epoch.
    public var seconds: Int64
    /// Nanoseconds within the second, 0 ..< 1_000_000_000.
    public var nanoseconds: Int32

    @inlinable public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// From milliseconds since the epoch.
    public init(epochMilliseconds ms: Int64) {
        let (q, r) = ms.quotientAndRemainder(dividingBy: 1000)
        if r < 0 {
            self.init(seconds: q - 1, nanoseconds: Int32((r + 1000) * 1_000_000))
        } else {
            self.init(seconds: q, nanoseconds: Int32(r * 1_000_000))
        }
    }

    /// The current time with microsecond precision, as Logstash's live timestamps on Linux.
    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(seconds: Int64(ts.tv_sec), nanoseconds: Int32(ts.tv_nsec / 1000 * 1000))
    }

    /// Milliseconds since the epoch (floor).
    public var epochMilliseconds: Int64 { seconds * 1000 + Int64(nanoseconds / 1_000_000) }

    /// Seconds since the epoch as a floating-point number.
    public var epochSecondsDouble: Double { Double(seconds) + Double(nanoseconds) / 1e9 }

    public static func < (a: Timestamp, b: Timestamp) -> Bool {
        a.seconds != b.seconds ? a.seconds < b.seconds : a.nanoseconds < b.nanoseconds
    }

    /// Adds a number of seconds (may be negative).
    public func adding(seconds delta: Int64) -> Timestamp { Timestamp(seconds: seconds + delta, nanoseconds: nanoseconds) }

    /// This time plus `delta` milliseconds (negative: earlier).
    public func adding(milliseconds delta: Int) -> Timestamp {
        let nanos = Int64(nanoseconds) + Int64(delta % 1000) * 1_000_000
        let carry = nanos < 0 ? -1 : nanos >= 1_000_000_000 ? 1 : 0
        return Timestamp(seconds: seconds + Int64(delta / 1000) + Int64(carry),
                         nanoseconds: Int32(nanos - Int64(carry) * 1_000_000_000))
    }

    // MARK: Calendar arithmetic (proleptic Gregorian, UTC)

    /// Broken-down UTC fields of this instant.
    public struct Fields: Sendable, Equatable {
        public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, nanosecond: Int
        /// ISO day of week, 1 = Monday … 7 = Sunday.
        public var weekday: Int
        /// Day of the year, 1-based.
        public var dayOfYear: Int
    }

    /// UTC calendar fields, shifted by `offsetSeconds` (for formatting in another zone).
    public func fields(offsetSeconds: Int = 0) -> Fields {
        let total = seconds + Int64(offsetSeconds)
        var days = total / 86_400
        var secs = total % 86_400
        if secs < 0 {
            secs += 86_400
            days -= 1
        }
        let (y, m, d) = Timestamp.civil(fromDays: days)
        let weekday = Int(((days % 7) + 7 + 3) % 7) + 1  // 1970-01-01 was a Thursday (4)
        let doy = Int(days - Timestamp.days(fromCivil: y, 1, 1)) + 1
        return Fields(
            year: y, month: m, day: d, hour: Int(secs / 3600), minute: Int(secs % 3600 / 60), second: Int(secs % 60),
            nanosecond: Int(nanoseconds), weekday: weekday, dayOfYear: doy)
    }

    /// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    public static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Civil date of a count of days since 1970-01-01.
    public static func civil(fromDays z0: Int64) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(m <= 2 ? y + 1 : y), Int(m), Int(d))
    }

    /// Builds a timestamp from UTC calendar fields.
    public static func from(
        year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, nanosecond: Int = 0,
        offsetSeconds: Int = 0
    ) -> Timestamp {
        let days = days(fromCivil: year, month, day)
        let secs = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        return Timestamp(seconds: secs, nanoseconds: Int32(nanosecond))
    }

    // MARK: ISO-8601

    /// ISO-8601 in UTC with `Z`, at least millisecond precision, more digits in groups of three when present.
    public var iso8601: String {
        var out = [UInt8]()
        out.reserveCapacity(30)
        appendISO8601(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the ISO-8601 form to a byte buffer (the JSON writer's fast path).
    public func appendISO8601(to out: inout [UInt8]) {
        let f = fields()
        // Written into 32 bytes on the stack, then appended at once: no array, and one capacity check, per timestamp.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer in
            var n = 0
            func put(_ byte: UInt8) {
                buffer[n] = byte
                n += 1
            }
            // The low `width` digits of `v`, zero-padded.
            func pad(_ v: Int, _ width: Int) {
                var x = v
                for i in stride(from: n + width - 1, through: n, by: -1) {
                    buffer[i] = UInt8(48 + x % 10)
                    x /= 10
                }
                n += width
            }
            if f.year < 0 { put(UInt8(ascii: "-")) }
            pad(abs(f.year), 4)
            put(UInt8(ascii: "-"))
            pad(f.month, 2)
            put(UInt8(ascii: "-"))
            pad(f.day, 2)
            put(UInt8(ascii: "T"))
            pad(f.hour, 2)
            put(UInt8(ascii: ":"))
            pad(f.minute, 2)
            put(UInt8(ascii: ":"))
            pad(f.second, 2)
            put(UInt8(ascii: "."))
            let ns = Int(nanoseconds)
            if ns % 1_000_000 == 0 {
                pad(ns / 1_000_000, 3)
            } else if ns % 1000 == 0 {
                pad(ns / 1000, 6)
            } else {
                pad(ns, 9)
            }
            put(UInt8(ascii: "Z"))
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    /// Lenient ISO-8601 parse as Logstash's: date required, time and zone optional (no zone = UTC here, since Sluice
    /// runs with the system zone in UTC), `T` or space between date and time, fractions up to nanoseconds.
    public static func parseISO8601(_ text: String) -> Timestamp? {
        var p = ByteScanner(Array(text.utf8))
        return p.parse()
    }

    /// `parseISO8601` of UTF-8 bytes, without making a `String` of them first. For bytes that are not valid UTF-8 it
    /// gives what the `String` (with its repairs) gives: nil, since the grammar takes ASCII only, to the last byte.
    public static func parseISO8601(utf8 bytes: [UInt8]) -> Timestamp? {
        var p = ByteScanner(bytes)
        return p.parse()
    }
}

extension ByteScanner {
    /// The lenient ISO-8601 grammar of `Timestamp.parseISO8601`.
    mutating func parse() -> Timestamp? {
        while i < b.count && b[i] == 32 { i += 1 }
        guard let year = digits(4), eat("-"), let month = digits(2), (1...12).contains(month) else { return nil }
        var day = 1
        if eat("-") {
            guard let d = digits(2), (1...31).contains(d) else { return nil }
            day = d
        }
        var hour = 0, minute = 0, second = 0, nano = 0
        if eat("T") || eat(" ") {
            guard let h = digits(2), h < 24 else { return nil }
            hour = h
            if eat(":") {
                guard let m = digits(2), m < 60 else { return nil }
                minute = m
                if eat(":") {
                    guard let s = digits(2), s < 61 else { return nil }
                    second = s
                    if eat(".") || eat(",") {
                        var scale = 100_000_000
                        var count = 0
                        while i < b.count, b[i] >= 48, b[i] <= 57 {
                            if count < 9 { nano += Int(b[i] - 48) * scale }
                            scale /= 10
                            count += 1
                            i += 1
                        }
                        if count == 0 { return nil }
                    }
                }
            }
        }
        var offset = 0
        if i < b.count {
            if eat("Z") || eat("z") {
            } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                guard let oh = digits(2) else { return nil }
                var om = 0
                _ = eat(":")
                if let m = digits(2) { om = m }
                offset = sign * (oh * 3600 + om * 60)
            } else {
                return nil
            }
        }
        guard i == b.count else { return nil }
        return Timestamp.from(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: nano,
            offsetSeconds: offset)
    }
}

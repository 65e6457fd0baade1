import SluiceCore

/// One entry of the date filter's format list, compiled at start-up.
enum DateFormat: Sendable {
    case iso8601
    case unix
    case unixMillis
    case tai64n
    case joda(JodaDateParser)

    init(_ format: String, names: DateNames = .english) throws(JodaDateParser.PatternError) {
        switch format {
        case "ISO8601": self = .iso8601
        case "UNIX": self = .unix
        case "UNIX_MS": self = .unixMillis
        case "TAI64N": self = .tai64n
        default: self = .joda(try JodaDateParser(format, names: names))
        }
    }

    /// Parses one source value; nil when this format does not apply to it.
    func parse(_ value: Value, zone: TimeZoneRules, now: () -> Timestamp) -> Timestamp? {
        switch self {
        case .iso8601:
            guard case .string(let s) = value else { return nil }
            return ISO8601DateParser.parse(s, zone: zone)
        case .joda(let parser):
            guard case .string(let s) = value, let fields = parser.parseFields(s) else { return nil }
            return DateResolver.instant(fields, hasYear: parser.hasYear, zone: zone, now: now)
        case .unix:
            switch value {
            // Above Logstash's maximum epoch seconds UNIX fails, so that a following UNIX_MS can match.
            case .int(let i):
                guard Int64(i) <= DateFormat.maxEpochSeconds else { return nil }
                return Timestamp(epochMilliseconds: Int64(i) * 1000)
            case .double(let d):
                guard d.isFinite, abs(d) < 9.2e15, Int64(d) <= DateFormat.maxEpochSeconds else { return nil }
                return Timestamp(epochMilliseconds: Int64(d * 1000))
            case .string(let s): return DateFormat.parseUnixSeconds(s)
            default: return nil
            }
        case .unixMillis:
            switch value {
            case .int(let i): return Timestamp(epochMilliseconds: Int64(i))
            case .double(let d):
                guard d.isFinite, abs(d) < 9.2e18 else { return nil }
                return Timestamp(epochMilliseconds: Int64(d))
            case .string(let s):
                var b = Array(s.utf8)[...]
                let negative = b.first == UInt8(ascii: "-")
                if negative { b = b.dropFirst() }
                guard !b.isEmpty, b.count <= 18, b.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
                let v = b.reduce(Int64(0)) { $0 * 10 + Int64($1 - 48) }
                return Timestamp(epochMilliseconds: negative ? -v : v)
            default: return nil
            }
        case .tai64n:
            guard case .string(let s) = value else { return nil }
            return DateFormat.parseTAI64N(s)
        }
    }

    /// Logstash's `UnixEpochParser.MAX_EPOCH_SECONDS` (`Integer.MAX_VALUE`): `UNIX` refuses larger values.
    static let maxEpochSeconds = Int64(Int32.max)

    /// `UNIX`: whole or fractional epoch seconds as text (`1478207457`, `1478207457.456`); milliseconds kept.
    static func parseUnixSeconds(_ s: String) -> Timestamp? {
        var b = Array(s.utf8)[...]
        let negative = b.first == UInt8(ascii: "-")
        if negative { b = b.dropFirst() }
        var seconds: Int64 = 0
        var n = 0
        while let c = b.first, c >= 48, c <= 57 {
            seconds = seconds * 10 + Int64(c - 48)
            n += 1
            b = b.dropFirst()
            if n > 15 { return nil }
        }
        guard n > 0, negative || seconds <= maxEpochSeconds else { return nil }
        var millis: Int64 = 0
        if b.first == UInt8(ascii: ".") {
            b = b.dropFirst()
            var k = 0
            guard !b.isEmpty else { return nil }
            while let c = b.first, c >= 48, c <= 57 {
                if k < 3 { millis = millis * 10 + Int64(c - 48) }
                k += 1
                b = b.dropFirst()
            }
            while k < 3 {
                millis *= 10
                k += 1
            }
        }
        guard b.isEmpty else { return nil }
        let total = seconds * 1000 + millis
        return Timestamp(epochMilliseconds: negative ? -total : total)
    }

    /// `TAI64N`: `@` (optional), 16 hex digits of TAI64 label, 8 of nanoseconds. Like Logstash, the label's first
    /// digit (the 2^62 bias) is dropped and 10 seconds of TAI−UTC offset are subtracted; milliseconds are kept.
    static func parseTAI64N(_ s: String) -> Timestamp? {
        var b = Array(s.utf8)[...]
        if b.first == UInt8(ascii: "@") { b = b.dropFirst() }
        guard b.count >= 24 else { return nil }
        func hex(_ r: ArraySlice<UInt8>) -> Int64? {
            var v: Int64 = 0
            for c in r {
                let d: UInt8
                switch c {
                case 48...57: d = c - 48
                case 65...70: d = c - 55
                case 97...102: d = c - 87
                default: return nil
                }
                v = v << 4 | Int64(d)
            }
            return v
        }
        let start = b.startIndex
        guard let secs = hex(b[(start + 1)..<(start + 16)]), let nanos = hex(b[(start + 16)..<(start + 24)]) else {
            return nil
        }
        return Timestamp(epochMilliseconds: secs * 1000 - 10_000 + nanos / 1_000_000)
    }
}

/// Logstash's `ISO8601` format: Joda's `ISODateTimeFormat.dateTimeParser()` (extended format: `yyyy`, `yyyy-MM`,
/// `yyyy-MM-dd`, `yyyy-DDD`, then optionally `T` and `HH[:mm[:ss[.fraction]]]`, then `Z` or `±HH[:mm]`), falling
/// back to `yyyy-MM-dd HH:mm:ss.SSS` and `yyyy-MM-dd HH:mm:ss,SSS` with an optional `Z` offset. Without an offset the
/// configured zone applies. Joda keeps milliseconds.
enum ISO8601DateParser {
    static func parse(_ s: String, zone: TimeZoneRules) -> Timestamp? {
        let b = Array(s.utf8)
        return parseJodaISO(b, zone: zone) ?? parseSpaceSeparated(b, zone: zone)
    }


    private static func resolve(
        year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, ms: Int, offset: Int?,
        zone: TimeZoneRules
    ) -> Timestamp? {
        let monthLength = Int(
            Timestamp.days(fromCivil: month == 12 ? year + 1 : year, month == 12 ? 1 : month + 1, 1)
                - Timestamp.days(fromCivil: year, month, 1))
        guard day <= monthLength else { return nil }
        let local = Timestamp.days(fromCivil: year, month, day) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        let seconds: Int64
        if let offset {
            seconds = local - Int64(offset)
        } else {
            guard let utc = zone.utc(fromLocal: local) else { return nil }
            seconds = utc
        }
        return Timestamp(seconds: seconds, nanoseconds: Int32(ms * 1_000_000))
    }

    private static func parseJodaISO(_ b: [UInt8], zone: TimeZoneRules) -> Timestamp? {
        var p = ByteScanner(b: b)
        var sign = 1
        if p.eat(UInt8(ascii: "-")) { sign = -1 } else { _ = p.eat(UInt8(ascii: "+")) }
        guard let y = p.digits(4) else { return nil }
        var year = y
        // More year digits are allowed.
        while let c = p.peek, c >= 48, c <= 57, year < 100_000_000 {
            year = year * 10 + Int(c - 48)
            p.i += 1
        }
        year *= sign
        var month = 1, day = 1
        if p.eat(UInt8(ascii: "-")) {
            // yyyy-DDD (ordinal) or yyyy-MM[-dd]
            let save = p.i
            if let doy = p.digits(3), p.atEnd || p.peek == UInt8(ascii: "T") {
                guard (1...366).contains(doy) else { return nil }
                let (_, m, d) = Timestamp.civil(fromDays: Timestamp.days(fromCivil: year, 1, 1) + Int64(doy - 1))
                month = m
                day = d
            } else {
                p.i = save
                guard let m = p.digits(2), (1...12).contains(m) else { return nil }
                month = m
                if p.eat(UInt8(ascii: "-")) {
                    guard let d = p.digits(2), (1...31).contains(d) else { return nil }
                    day = d
                }
            }
        }
        var hour = 0, minute = 0, second = 0, ms = 0
        var offset: Int?
        if p.eat(UInt8(ascii: "T")) {
            guard let h = p.digits(2), h < 24 else { return nil }
            hour = h
            if p.eat(UInt8(ascii: ":")) {
                guard let m = p.digits(2), m < 60 else { return nil }
                minute = m
                if p.eat(UInt8(ascii: ":")) {
                    guard let s = p.digits(2), s < 60 else { return nil }
                    second = s
                    if p.eat(UInt8(ascii: ".")) || p.eat(UInt8(ascii: ",")) {
                        guard let f = p.fractionMillis() else { return nil }
                        ms = f
                    }
                }
            }
            guard let o = p.offset() else { return nil }
            offset = o
        }
        guard p.atEnd else { return nil }
        return resolve(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, ms: ms, offset: offset,
            zone: zone)
    }

    /// `yyyy-MM-dd HH:mm:ss.SSS[Z]` / `yyyy-MM-dd HH:mm:ss,SSS[Z]`.
    private static func parseSpaceSeparated(_ b: [UInt8], zone: TimeZoneRules) -> Timestamp? {
        var p = ByteScanner(b: b)
        guard let year = p.digits(4), p.eat(UInt8(ascii: "-")), let month = p.digits(2), (1...12).contains(month),
            p.eat(UInt8(ascii: "-")), let day = p.digits(2), (1...31).contains(day), p.eat(UInt8(ascii: " ")),
            let hour = p.digits(2), hour < 24, p.eat(UInt8(ascii: ":")), let minute = p.digits(2), minute < 60,
            p.eat(UInt8(ascii: ":")), let second = p.digits(2), second < 60,
            p.eat(UInt8(ascii: ".")) || p.eat(UInt8(ascii: ",")), let ms = p.fractionMillis()
        else { return nil }
        guard let o = p.offset(), p.atEnd else { return nil }
        return resolve(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, ms: ms, offset: o,
            zone: zone)
    }
}

/// Date-format pieces of the ISO8601 format.
extension ByteScanner {
    /// Fraction digits after `.` or `,`: milliseconds (first three digits).
    mutating func fractionMillis() -> Int? {
        var ms = 0, k = 0
        while let c = peek, c >= 48, c <= 57 {
            if k < 3 { ms = ms * 10 + Int(c - 48) }
            k += 1
            i += 1
        }
        guard k > 0 else { return nil }
        while k < 3 {
            ms *= 10
            k += 1
        }
        return ms
    }

    /// `Z`, `±HH`, `±HHmm`, `±HH:mm` → seconds east; nil offset when none present, `.none` on error.
    mutating func offset() -> Int?? {
        guard let c = peek else { return .some(nil) }
        if c == UInt8(ascii: "Z") {
            i += 1
            return .some(0)
        }
        guard c == UInt8(ascii: "+") || c == UInt8(ascii: "-") else { return .none }
        i += 1
        let sign = c == UInt8(ascii: "-") ? -1 : 1
        guard let h = digits(2), h < 24 else { return .none }
        var m = 0
        if eat(UInt8(ascii: ":")) {
            guard let v = digits(2) else { return .none }
            m = v
        } else if let v = digits(2) {
            m = v
        }
        guard m < 60 else { return .none }
        return .some(sign * (h * 3600 + m * 60))
    }
}

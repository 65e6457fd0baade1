#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// A time zone as Joda's `DateTimeZone.forID` accepts it: `UTC`, a fixed offset (`+01:00`, `-0800`), or an IANA id
/// whose rules are read from the system's TZif files (`/usr/share/zoneinfo`, the `tzdata` package).
final class TimeZoneRules: @unchecked Sendable {
    let id: String
    private let transitions: [Int64]
    private let offsetsAfter: [Int32]
    private let initialOffset: Int32
    private let footer: PosixTimeZone?

    private init(id: String, transitions: [Int64], offsetsAfter: [Int32], initialOffset: Int32, footer: PosixTimeZone?) {
        self.id = id
        self.transitions = transitions
        self.offsetsAfter = offsetsAfter
        self.initialOffset = initialOffset
        self.footer = footer
    }

    static let utc = TimeZoneRules(id: "UTC", transitions: [], offsetsAfter: [], initialOffset: 0, footer: nil)

    static func fixed(_ seconds: Int, id: String) -> TimeZoneRules {
        TimeZoneRules(id: id, transitions: [], offsetsAfter: [], initialOffset: Int32(seconds), footer: nil)
    }

    /// The directory holding TZif files; `$TZDIR` overrides it as in the C library.
    static var zoneInfoDirectory: String {
        if let dir = getenv("TZDIR") { return String(cString: dir) }
        return "/usr/share/zoneinfo"
    }

    private static let lock = Lock()
    nonisolated(unsafe) private static var cache: [String: TimeZoneRules] = [:]

    /// The zone for an id, or nil when Joda would reject it ("The datetime zone id '…' is not recognised").
    static func named(_ id: String) -> TimeZoneRules? {
        if let hit = lock.withLock({ cache[id] }) { return hit }
        guard let rules = load(id) else { return nil }
        lock.withLock { cache[id] = rules }
        return rules
    }

    private static func load(_ id: String) -> TimeZoneRules? {
        if id == "UTC" || id == "GMT" || id == "Z" || id == "UCT" { return .utc }
        if let first = id.utf8.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            return parseOffset(id).map { fixed($0, id: id) }
        }
        // Reject path tricks: ids are names like Area/City.
        if id.isEmpty || id.hasPrefix("/") || id.contains("..") { return nil }
        guard let bytes = FileSystem.readBytes(zoneInfoDirectory + "/" + id) else { return nil }
        return parseTZif(bytes, id: id)
    }

    /// `±hh`, `±hhmm`, `±hh:mm`, `±hh:mm:ss` as seconds east of UTC.
    static func parseOffset(_ s: String) -> Int? {
        let b = Array(s.utf8)
        guard b.count >= 3, b[0] == UInt8(ascii: "+") || b[0] == UInt8(ascii: "-") else { return nil }
        let sign = b[0] == UInt8(ascii: "-") ? -1 : 1
        var digits: [Int] = []
        for c in b.dropFirst() {
            if c == UInt8(ascii: ":") { continue }
            guard c >= 48 && c <= 57 else { return nil }
            digits.append(Int(c - 48))
        }
        guard digits.count == 2 || digits.count == 4 || digits.count == 6 else { return nil }
        let h = digits[0] * 10 + digits[1]
        let m = digits.count >= 4 ? digits[2] * 10 + digits[3] : 0
        let sec = digits.count == 6 ? digits[4] * 10 + digits[5] : 0
        guard h < 24, m < 60, sec < 60 else { return nil }
        return sign * (h * 3600 + m * 60 + sec)
    }

    // MARK: TZif (RFC 8536)

    static func parseTZif(_ b: [UInt8], id: String) -> TimeZoneRules? {
        func be32(_ i: Int) -> Int32 {
            Int32(bitPattern: UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]))
        }
        func be64(_ i: Int) -> Int64 { Int64(be32(i)) << 32 | Int64(UInt32(bitPattern: be32(i + 4))) }
        guard b.count >= 44, b[0] == 0x54, b[1] == 0x5A, b[2] == 0x69, b[3] == 0x66 else { return nil }
        let version = b[4]
        func counts(_ at: Int) -> (isut: Int, isstd: Int, leap: Int, time: Int, type: Int, char: Int) {
            (Int(be32(at + 20)), Int(be32(at + 24)), Int(be32(at + 28)), Int(be32(at + 32)), Int(be32(at + 36)),
             Int(be32(at + 40)))
        }
        var header = 0
        var c = counts(0)
        var timeSize = 4
        if version >= 0x32 {
            // Skip the 32-bit block and use the 64-bit one.
            let v1Size = c.time * 4 + c.time + c.type * 6 + c.char + c.leap * 8 + c.isstd + c.isut
            header = 44 + v1Size
            guard b.count >= header + 44 else { return nil }
            c = counts(header)
            timeSize = 8
        }
        var p = header + 44
        guard b.count >= p + c.time * timeSize + c.time + c.type * 6 else { return nil }
        var times: [Int64] = []
        for i in 0..<c.time { times.append(timeSize == 8 ? be64(p + 8 * i) : Int64(be32(p + 4 * i))) }
        p += c.time * timeSize
        let indices = Array(b[p..<(p + c.time)])
        p += c.time
        var typeOffsets: [Int32] = []
        var typeIsDST: [Bool] = []
        for i in 0..<c.type {
            typeOffsets.append(be32(p + 6 * i))
            typeIsDST.append(b[p + 6 * i + 4] != 0)
        }
        p += c.type * 6 + c.char + c.leap * (timeSize + 4) + c.isstd + c.isut
        var footer: PosixTimeZone?
        if timeSize == 8, p < b.count, b[p] == 0x0A, let end = b[(p + 1)...].firstIndex(of: 0x0A), end > p + 1 {
            footer = PosixTimeZone(String(decoding: b[(p + 1)..<end], as: UTF8.self))
        }
        guard !typeOffsets.isEmpty else { return nil }
        let initial = typeOffsets[typeIsDST.firstIndex(of: false) ?? 0]
        return TimeZoneRules(
            id: id, transitions: times, offsetsAfter: indices.map { typeOffsets[Int($0) < typeOffsets.count ? Int($0) : 0] },
            initialOffset: initial, footer: footer)
    }

    // MARK: Offsets

    /// Seconds east of UTC in effect at `utc` (epoch seconds).
    func offset(atUTC utc: Int64) -> Int {
        if transitions.isEmpty || utc >= transitions[transitions.count - 1] {
            if let footer { return footer.offset(atUTC: utc) }
            return Int(offsetsAfter.last ?? initialOffset)
        }
        if utc < transitions[0] { return Int(initialOffset) }
        var lo = 0, hi = transitions.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if transitions[mid] <= utc { lo = mid } else { hi = mid - 1 }
        }
        return Int(offsetsAfter[lo])
    }

    /// The UTC epoch seconds of a local wall-clock time (given as epoch seconds of the same fields in UTC), as Joda
    /// resolves it: in an overlap the earlier instant; in a gap nil (Joda's "Illegal instant due to time zone offset
    /// transition").
    func utc(fromLocal local: Int64) -> Int64? {
        var best: Int64?
        for probe in [local - 86_400, local, local + 86_400] {
            let o = Int64(offset(atUTC: probe - 43_200))
            for candidate in [o, Int64(offset(atUTC: probe))] {
                let instant = local - candidate
                if Int64(offset(atUTC: instant)) == candidate, best.map({ instant < $0 }) ?? true { best = instant }
            }
        }
        return best
    }
}

/// A POSIX TZ rule string (the TZif footer), e.g. `CET-1CEST,M3.5.0,M10.5.0/3`, for instants past the table.
struct PosixTimeZone: Sendable {
    let standard: Int
    let daylight: Int?
    let start: Rule?
    let end: Rule?

    /// A transition date rule: `Mm.w.d`, `Jn` (1-365, no leap day) or `n` (0-365), plus a local time of day.
    struct Rule: Sendable {
        enum Kind: Sendable { case monthWeekDay(Int, Int, Int), julianNoLeap(Int), julian(Int) }
        let kind: Kind
        let time: Int

        /// Local epoch seconds of the transition in `year`.
        func localSeconds(year: Int) -> Int64 {
            let days: Int64
            switch kind {
            case .julianNoLeap(let n):
                let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
                days = Timestamp.days(fromCivil: year, 1, 1) + Int64(n - 1) + (leap && n >= 60 ? 1 : 0)
            case .julian(let n):
                days = Timestamp.days(fromCivil: year, 1, 1) + Int64(n)
            case .monthWeekDay(let m, let w, let d):
                let first = Timestamp.days(fromCivil: year, m, 1)
                let firstWeekday = Int((first + 4) % 7 + 7) % 7  // 1970-01-01 was a Thursday (4)
                var day = 1 + (d - firstWeekday + 7) % 7 + (w - 1) * 7
                let monthLength = Int(Timestamp.days(fromCivil: m == 12 ? year + 1 : year, m == 12 ? 1 : m + 1, 1) - first)
                while day > monthLength { day -= 7 }
                days = first + Int64(day - 1)
            }
            return days * 86_400 + Int64(time)
        }
    }

    init?(_ s: String) {
        var b = Array(s.utf8)[...]
        func name() -> Bool {
            if b.first == UInt8(ascii: "<") {
                guard let close = b.firstIndex(of: UInt8(ascii: ">")) else { return false }
                b = b[(close + 1)...]
                return true
            }
            let start = b.startIndex
            while let c = b.first, (c >= 65 && c <= 90) || (c >= 97 && c <= 122) { b = b.dropFirst() }
            return b.startIndex > start
        }
        func number() -> Int? {
            var v = 0
            var any = false
            while let c = b.first, c >= 48, c <= 57 {
                v = v * 10 + Int(c - 48)
                any = true
                b = b.dropFirst()
            }
            return any ? v : nil
        }
        func time() -> Int? {
            var sign = 1
            if b.first == UInt8(ascii: "+") { b = b.dropFirst() } else if b.first == UInt8(ascii: "-") {
                sign = -1
                b = b.dropFirst()
            }
            var parts: [Int] = []
            repeat {
                if !parts.isEmpty { b = b.dropFirst() }
                guard let v = number() else { return nil }
                parts.append(v)
            } while b.first == UInt8(ascii: ":") && parts.count < 3
            let secs = parts[0] * 3600 + (parts.count > 1 ? parts[1] * 60 : 0) + (parts.count > 2 ? parts[2] : 0)
            return sign * secs
        }
        func rule() -> Rule? {
            let kind: Rule.Kind
            if b.first == UInt8(ascii: "M") {
                b = b.dropFirst()
                guard let m = number(), b.popFirst() == UInt8(ascii: "."), let w = number(),
                    b.popFirst() == UInt8(ascii: "."), let d = number()
                else { return nil }
                kind = .monthWeekDay(m, w, d)
            } else if b.first == UInt8(ascii: "J") {
                b = b.dropFirst()
                guard let n = number() else { return nil }
                kind = .julianNoLeap(n)
            } else {
                guard let n = number() else { return nil }
                kind = .julian(n)
            }
            var t = 7200
            if b.first == UInt8(ascii: "/") {
                b = b.dropFirst()
                guard let v = time() else { return nil }
                t = v
            }
            return Rule(kind: kind, time: t)
        }
        guard name(), let std = time() else { return nil }
        standard = -std  // POSIX offsets are positive west of Greenwich
        if b.isEmpty {
            daylight = nil
            start = nil
            end = nil
            return
        }
        guard name() else { return nil }
        var dst = standard + 3600
        if let c = b.first, c != UInt8(ascii: ",") {
            guard let v = time() else { return nil }
            dst = -v
        }
        daylight = dst
        guard b.popFirst() == UInt8(ascii: ","), let r1 = rule(), b.popFirst() == UInt8(ascii: ","), let r2 = rule()
        else { return nil }
        start = r1
        end = r2
    }

    func offset(atUTC utc: Int64) -> Int {
        guard let daylight, let start, let end else { return standard }
        let year = Timestamp(seconds: utc).fields(offsetSeconds: standard).year
        // Start is given in standard local time, end in daylight local time.
        let startUTC = start.localSeconds(year: year) - Int64(standard)
        let endUTC = end.localSeconds(year: year) - Int64(daylight)
        if startUTC < endUTC {
            return utc >= startUTC && utc < endUTC ? daylight : standard
        }
        // Southern hemisphere: daylight time spans the new year.
        return utc >= endUTC && utc < startUTC ? standard : daylight
    }
}

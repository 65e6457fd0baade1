import SluiceCore

/// The fields a date pattern read from text, before they become an instant.
struct ParsedDateFields {
    var year: Int?
    var twoDigitYear = false
    var month = 1
    var day = 1
    var hour = 0
    var hourOfHalfDay: Int?
    var pm: Bool?
    var minute = 0
    var second = 0
    var millisecond = 0
    var weekday: Int?
    var dayOfYear: Int?
    var offset: Int?
    var zone: TimeZoneRules?
}

/// A Joda-Time `DateTimeFormat.forPattern` pattern compiled once into a parser (parsing only).
///
/// Supported letters: `y`/`Y`/`x` (year), `M` (number, `MMM`+ text), `d`, `D`, `H`, `k`, `h`, `K`, `m`, `s`, `S`
/// (any count; Joda keeps milliseconds), `a`, `E` (text), `e`, `Z`/`ZZ` (offset), `ZZZ` (zone id), quoted literals.
/// Numbers take up to their maximum width, or exactly the pattern width when the next element is numeric too
/// (Joda's adjacent-field rule). The whole text must be consumed.
struct JodaDateParser: Sendable {
    enum Element: Sendable {
        case literal([UInt8])
        case year(minDigits: Int, fixed: Bool)
        case monthNumber(Int, fixed: Bool)
        case monthText
        case number(Field, width: Int, maxDigits: Int, fixed: Bool)
        case fraction(fixed: Int?)
        case halfDay
        case weekdayText
        case offset
        case zoneID
    }

    enum Field: Sendable {
        case day, dayOfYear, hour, clockHour, hourOfHalfDay, clockHourOfHalfDay, minute, second, weekdayNumber
    }

    struct PatternError: Error, CustomStringConvertible {
        let description: String
    }

    let pattern: String
    let elements: [Element]
    /// Logstash's test: the pattern text contains `y` or `Y` anywhere.
    let hasYear: Bool
    /// Logstash's test: the pattern text contains `Z`.
    let hasZone: Bool

    /// The month, weekday and AM/PM texts of the filter's `locale`.
    let names: DateNames

    init(_ pattern: String, names: DateNames = .english) throws(PatternError) {
        self.pattern = pattern
        self.names = names
        hasYear = pattern.contains("y") || pattern.contains("Y")
        hasZone = pattern.contains("Z")
        // Tokenise: runs of one letter, quoted literals, other characters.
        var tokens: [(letter: UInt8?, count: Int, literal: [UInt8])] = []
        let b = Array(pattern.utf8)
        var i = 0
        while i < b.count {
            let c = b[i]
            if (c >= 65 && c <= 90) || (c >= 97 && c <= 122) {
                var j = i
                while j < b.count && b[j] == c { j += 1 }
                tokens.append((c, j - i, []))
                i = j
            } else if c == UInt8(ascii: "'") {
                var lit: [UInt8] = []
                var j = i + 1
                if j < b.count && b[j] == UInt8(ascii: "'") {
                    tokens.append((nil, 0, [UInt8(ascii: "'")]))
                    i = j + 1
                    continue
                }
                while j < b.count {
                    if b[j] == UInt8(ascii: "'") {
                        if j + 1 < b.count && b[j + 1] == UInt8(ascii: "'") {
                            lit.append(UInt8(ascii: "'"))
                            j += 2
                            continue
                        }
                        break
                    }
                    lit.append(b[j])
                    j += 1
                }
                tokens.append((nil, 0, lit))
                i = j + 1
            } else {
                tokens.append((nil, 0, [c]))
                i += 1
            }
        }
        func isNumeric(_ k: Int) -> Bool {
            guard k < tokens.count, let l = tokens[k].letter else { return false }
            switch l {
            case UInt8(ascii: "M"): return tokens[k].count <= 2
            case UInt8(ascii: "y"), UInt8(ascii: "Y"), UInt8(ascii: "x"), UInt8(ascii: "d"), UInt8(ascii: "D"),
                UInt8(ascii: "H"), UInt8(ascii: "k"), UInt8(ascii: "h"), UInt8(ascii: "K"), UInt8(ascii: "m"),
                UInt8(ascii: "s"), UInt8(ascii: "S"), UInt8(ascii: "e"):
                return true
            default: return false
            }
        }
        var out: [Element] = []
        for (k, t) in tokens.enumerated() {
            guard let letter = t.letter else {
                out.append(.literal(t.literal))
                continue
            }
            let fixed = isNumeric(k + 1)
            let n = t.count
            switch letter {
            case UInt8(ascii: "y"), UInt8(ascii: "Y"), UInt8(ascii: "x"): out.append(.year(minDigits: n, fixed: fixed))
            case UInt8(ascii: "M"): out.append(n >= 3 ? .monthText : .monthNumber(n, fixed: fixed))
            case UInt8(ascii: "d"): out.append(.number(.day, width: n, maxDigits: 2, fixed: fixed))
            case UInt8(ascii: "D"): out.append(.number(.dayOfYear, width: n, maxDigits: 3, fixed: fixed))
            case UInt8(ascii: "H"): out.append(.number(.hour, width: n, maxDigits: 2, fixed: fixed))
            case UInt8(ascii: "k"): out.append(.number(.clockHour, width: n, maxDigits: 2, fixed: fixed))
            case UInt8(ascii: "h"): out.append(.number(.clockHourOfHalfDay, width: n, maxDigits: 2, fixed: fixed))
            case UInt8(ascii: "K"): out.append(.number(.hourOfHalfDay, width: n, maxDigits: 2, fixed: fixed))
            case UInt8(ascii: "m"): out.append(.number(.minute, width: n, maxDigits: 2, fixed: fixed))
            case UInt8(ascii: "s"): out.append(.number(.second, width: n, maxDigits: 2, fixed: fixed))
            case UInt8(ascii: "e"): out.append(.number(.weekdayNumber, width: n, maxDigits: 1, fixed: fixed))
            case UInt8(ascii: "S"): out.append(.fraction(fixed: fixed ? n : nil))
            case UInt8(ascii: "a"): out.append(.halfDay)
            case UInt8(ascii: "E"): out.append(.weekdayText)
            case UInt8(ascii: "Z"): out.append(n >= 3 ? .zoneID : .offset)
            case UInt8(ascii: "z"):
                throw PatternError(description: "time zone names ('z') cannot be parsed; use Z, ZZ or ZZZ")
            default:
                throw PatternError(description: "Illegal pattern component: \(String(repeating: Character(UnicodeScalar(letter)), count: n))")
            }
        }
        elements = out
    }

    /// Reads `text` into fields, or nil when it does not match the whole pattern.
    func parseFields(_ text: String) -> ParsedDateFields? {
        var text = text
        return text.withUTF8 { parseFields(bytes: $0) }
    }

    /// `parseFields` over the text's UTF-8 bytes, without copying them.
    private func parseFields(bytes b: UnsafeBufferPointer<UInt8>) -> ParsedDateFields? {
        var i = 0
        var f = ParsedDateFields()
        func digits(_ maxCount: Int, exact: Int?) -> (value: Int, count: Int)? {
            var v = 0
            var n = 0
            let limit = exact ?? maxCount
            while n < limit, i < b.count, b[i] >= 48, b[i] <= 57 {
                v = v * 10 + Int(b[i] - 48)
                n += 1
                i += 1
            }
            if n == 0 { return nil }
            if let exact, n != exact { return nil }
            return (v, n)
        }
        for element in elements {
            switch element {
            case .literal(let lit):
                guard i + lit.count <= b.count else { return nil }
                for j in 0..<lit.count where DateNames.lower(b[i + j]) != DateNames.lower(lit[j]) { return nil }
                i += lit.count
            case .year(let minDigits, let fixed):
                var sign = 1
                if !fixed, i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") {
                    sign = b[i] == UInt8(ascii: "-") ? -1 : 1
                    i += 1
                }
                guard let (v, n) = digits(9, exact: fixed ? minDigits : nil) else { return nil }
                f.year = sign * v
                // Joda's two-digit year: exactly two digits for a `yy` pattern pivot around 2000.
                f.twoDigitYear = minDigits == 2 && n == 2 && sign == 1
            case .monthNumber(let width, let fixed):
                guard let (v, _) = digits(2, exact: fixed ? width : nil), (1...12).contains(v) else { return nil }
                f.month = v
            case .monthText:
                guard let m = DateNames.match(names.months, numerals: 12, b, &i) else { return nil }
                f.month = m
            case .number(let field, let width, let maxDigits, let fixed):
                guard let (v, _) = digits(maxDigits, exact: fixed ? width : nil) else { return nil }
                switch field {
                case .day:
                    guard (1...31).contains(v) else { return nil }
                    f.day = v
                case .dayOfYear:
                    guard (1...366).contains(v) else { return nil }
                    f.dayOfYear = v
                case .hour:
                    guard v < 24 else { return nil }
                    f.hour = v
                case .clockHour:
                    guard (1...24).contains(v) else { return nil }
                    f.hour = v % 24
                case .hourOfHalfDay:
                    guard v < 12 else { return nil }
                    f.hourOfHalfDay = v
                case .clockHourOfHalfDay:
                    guard (1...12).contains(v) else { return nil }
                    f.hourOfHalfDay = v % 12
                case .minute:
                    guard v < 60 else { return nil }
                    f.minute = v
                case .second:
                    guard v < 60 else { return nil }
                    f.second = v
                case .weekdayNumber:
                    guard (1...7).contains(v) else { return nil }
                    f.weekday = v
                }
            case .fraction(let fixed):
                let start = i
                guard digits(9, exact: fixed) != nil else { return nil }
                // Joda keeps milliseconds: the first three digits, right-padded.
                var ms = 0
                for k in 0..<3 { ms = ms * 10 + (start + k < i ? Int(b[start + k] - 48) : 0) }
                f.millisecond = ms
            case .halfDay:
                guard let half = DateNames.match(names.halfDays, numerals: 0, b, &i) else { return nil }
                f.pm = half == 2
            case .weekdayText:
                guard let d = DateNames.match(names.weekdays, numerals: 7, b, &i) else { return nil }
                f.weekday = d
            case .offset:
                guard i < b.count else { return nil }
                if b[i] == UInt8(ascii: "Z") {
                    f.offset = 0
                    i += 1
                    continue
                }
                guard b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") else { return nil }
                let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
                i += 1
                guard let (h, _) = digits(2, exact: 2), h < 24 else { return nil }
                var m = 0
                if i < b.count && b[i] == UInt8(ascii: ":") {
                    i += 1
                    guard let (v, _) = digits(2, exact: 2) else { return nil }
                    m = v
                } else if i + 1 < b.count, b[i] >= 48, b[i] <= 57 {
                    guard let (v, _) = digits(2, exact: 2) else { return nil }
                    m = v
                }
                guard m < 60 else { return nil }
                f.offset = sign * (h * 3600 + m * 60)
            case .zoneID:
                // The longest run of id characters that names a zone.
                var j = i
                while j < b.count,
                    (b[j] >= 65 && b[j] <= 90) || (b[j] >= 97 && b[j] <= 122) || (b[j] >= 48 && b[j] <= 57)
                        || b[j] == UInt8(ascii: "/") || b[j] == UInt8(ascii: "_") || b[j] == UInt8(ascii: "-")
                        || b[j] == UInt8(ascii: "+")
                {
                    j += 1
                }
                var found: TimeZoneRules?
                var end = j
                while end > i {
                    if let z = TimeZoneRules.named(String(decoding: b[i..<end], as: UTF8.self)) {
                        found = z
                        break
                    }
                    end -= 1
                }
                guard let found else { return nil }
                f.zone = found
                i = end
            }
        }
        guard i == b.count else { return nil }
        if let h = f.hourOfHalfDay { f.hour = h + (f.pm == true ? 12 : 0) } else if f.pm == true, f.hour < 12 {
            f.hour += 12
        }
        return f
    }
}

/// Turns parsed fields into an instant the way Joda's `parseMillis` does: default year 1970 (2000 for patterns
/// without a year, which Logstash then replaces by a guessed year), local time resolved in the parsed offset or
/// zone, else in the configured zone.
enum DateResolver {
    /// Logstash's year guess for patterns without a year: the current year, except a December event seen in
    /// January (last year) and a January event seen in December (next year). See JodaParser.parseAndGuessYear.
    static func guessYear(eventMonth: Int, now: Timestamp) -> Int {
        let current = now.fields()
        if eventMonth == 12 && current.month == 1 { return current.year - 1 }
        if eventMonth == 1 && current.month == 12 { return current.year + 1 }
        return current.year
    }

    static func instant(
        _ f: ParsedDateFields, hasYear: Bool, zone: TimeZoneRules, now: () -> Timestamp
    ) -> Timestamp? {
        var year: Int
        if let y = f.year {
            year = y
            if f.twoDigitYear {
                // Joda's pivot: 2000 ± 50 → 1950…2049.
                year = y < 50 ? 2000 + y : 1900 + y
            }
        } else {
            year = hasYear ? 1970 : 2000
        }
        var month = f.month
        var day = f.day
        if let doy = f.dayOfYear {
            let (_, m, d) = Timestamp.civil(fromDays: Timestamp.days(fromCivil: year, 1, 1) + Int64(doy - 1))
            month = m
            day = d
        }
        if !hasYear {
            year = guessYear(eventMonth: month, now: now())
        }
        // Joda's withYear/field setting keeps the day within the month (Feb 29 → Feb 28).
        let monthLength = Int(
            Timestamp.days(fromCivil: month == 12 ? year + 1 : year, month == 12 ? 1 : month + 1, 1)
                - Timestamp.days(fromCivil: year, month, 1))
        if day > monthLength {
            // A day past the month's end is an invalid date for Joda when the year was parsed.
            if hasYear { return nil }
            day = monthLength
        }
        var days = Timestamp.days(fromCivil: year, month, day)
        if let wd = f.weekday {
            // Joda sets day-of-week within the ISO week (Monday first) of the parsed date.
            let current = Int(((days + 3) % 7 + 7) % 7) + 1  // 1970-01-01 was a Thursday (ISO 4)
            days += Int64(wd - current)
        }
        let local = days * 86_400 + Int64(f.hour * 3600 + f.minute * 60 + f.second)
        let seconds: Int64
        if let offset = f.offset {
            seconds = local - Int64(offset)
        } else {
            guard let utc = (f.zone ?? zone).utc(fromLocal: local) else { return nil }
            seconds = utc
        }
        return Timestamp(seconds: seconds, nanoseconds: Int32(f.millisecond * 1_000_000))
    }
}

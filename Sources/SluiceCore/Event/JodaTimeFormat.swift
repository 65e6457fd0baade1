/// A compiled Joda-Time (or java.time) date pattern, used by sprintf's `%{+FORMAT}` and `%{{FORMAT}}`.
///
/// Compiled once into tokens; formatting an instant walks the tokens with no parsing.
public struct JodaTimeFormat: Sendable {
    /// One element of a compiled pattern.
    public enum Token: Sendable, Equatable {
        case literal(String)
        case field(Character, count: Int)
    }

    public let tokens: [Token]
    /// java.time patterns (`%{{…}}`) keep full fraction precision and read `u` as the year.
    public let javaTime: Bool

    public init(_ pattern: String, javaTime: Bool = false) {
        self.javaTime = javaTime
        var tokens: [Token] = []
        let chars = Array(pattern)
        var i = 0
        var literal = ""
        func flush() {
            if !literal.isEmpty {
                tokens.append(.literal(literal))
                literal = ""
            }
        }
        while i < chars.count {
            let c = chars[i]
            if c == "'" {
                // Quoted literal; '' is a single quote.
                if i + 1 < chars.count && chars[i + 1] == "'" {
                    literal.append("'")
                    i += 2
                    continue
                }
                i += 1
                while i < chars.count {
                    if chars[i] == "'" {
                        if i + 1 < chars.count && chars[i + 1] == "'" {
                            literal.append("'")
                            i += 2
                            continue
                        }
                        break
                    }
                    literal.append(chars[i])
                    i += 1
                }
                i += 1
            } else if c.isASCII && c.isLetter {
                var n = 1
                while i + n < chars.count && chars[i + n] == c { n += 1 }
                flush()
                tokens.append(.field(c, count: n))
                i += n
            } else {
                literal.append(c)
                i += 1
            }
        }
        flush()
        self.tokens = tokens
    }

    static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December",
    ]
    static let dayNames = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

    /// Formats `t` in UTC shifted by `offsetSeconds`.
    public func format(_ t: Timestamp, offsetSeconds: Int = 0) -> String {
        let f = t.fields(offsetSeconds: offsetSeconds)
        var out = ""
        for token in tokens {
            switch token {
            case .literal(let s): out += s
            case .field(let c, let n): out += render(c, n, f, offsetSeconds)
            }
        }
        return out
    }

    private func pad(_ v: Int, _ n: Int) -> String {
        let s = String(abs(v))
        let padded = s.count >= n ? s : String(repeating: "0", count: n - s.count) + s
        return v < 0 ? "-" + padded : padded
    }

    private func year(_ y: Int, _ n: Int) -> String {
        n == 2 ? pad(((y % 100) + 100) % 100, 2) : pad(y, n)
    }

    private func isoWeek(_ f: Timestamp.Fields) -> (weekYear: Int, week: Int) {
        // ISO-8601 week: the week with the year's first Thursday is week 1.
        let thursdayOrdinal = f.dayOfYear - f.weekday + 4
        var weekYear = f.year
        var ordinal = thursdayOrdinal
        if ordinal < 1 {
            weekYear -= 1
            ordinal += JodaTimeFormat.daysInYear(weekYear)
        } else if ordinal > JodaTimeFormat.daysInYear(f.year) {
            ordinal -= JodaTimeFormat.daysInYear(f.year)
            weekYear += 1
        }
        return (weekYear, (ordinal - 1) / 7 + 1)
    }

    static func daysInYear(_ y: Int) -> Int { (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 366 : 365 }

    private func render(_ c: Character, _ n: Int, _ f: Timestamp.Fields, _ offset: Int) -> String {
        switch c {
        case "y", "u": return year(f.year, n)
        case "Y": return javaTime ? year(isoWeek(f).weekYear, n) : year(f.year, n)
        case "x": return year(isoWeek(f).weekYear, n)
        case "w": return pad(isoWeek(f).week, n)
        case "C": return pad(f.year / 100, n)
        case "G": return "AD"
        case "M", "L":
            if n >= 4 { return JodaTimeFormat.monthNames[f.month - 1] }
            if n == 3 { return String(JodaTimeFormat.monthNames[f.month - 1].prefix(3)) }
            return pad(f.month, n)
        case "d": return pad(f.day, n)
        case "D": return pad(f.dayOfYear, n)
        case "e": return pad(f.weekday, n)
        case "E":
            let name = JodaTimeFormat.dayNames[f.weekday - 1]
            return n >= 4 ? name : String(name.prefix(3))
        case "a": return f.hour < 12 ? "AM" : "PM"
        case "H": return pad(f.hour, n)
        case "k": return pad(f.hour == 0 ? 24 : f.hour, n)
        case "K": return pad(f.hour % 12, n)
        case "h": return pad(f.hour % 12 == 0 ? 12 : f.hour % 12, n)
        case "m": return pad(f.minute, n)
        case "s": return pad(f.second, n)
        case "S", "n":
            let precision = javaTime ? 9 : 3  // Joda keeps milliseconds only
            var digits = pad(f.nanosecond, 9)
            digits = String(digits.prefix(precision))
            if n <= digits.count { return String(digits.prefix(n)) }
            return digits + String(repeating: "0", count: n - digits.count)
        case "Z", "X":
            if offset == 0 && (c == "X") { return "Z" }
            let sign = offset < 0 ? "-" : "+"
            let h = pad(abs(offset) / 3600, 2)
            let m = pad(abs(offset) % 3600 / 60, 2)
            if n == 1 { return sign + h + m }
            if n == 2 { return sign + h + ":" + m }
            return offset == 0 ? "UTC" : sign + h + ":" + m
        case "z": return offset == 0 ? "UTC" : "GMT"
        default: return String(repeating: c, count: n)
        }
    }
}

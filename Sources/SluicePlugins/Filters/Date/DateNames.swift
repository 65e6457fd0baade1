import Foundation

/// The month, weekday and AM/PM texts a date pattern's `MMM`, `EEE` and `a` read, for one locale: the texts Joda
/// parses, case-insensitively, the longest match winning (full or short form, or the number itself).
///
/// English is built in. Other locales take CLDR's names, the data Java (and so Logstash) uses, from Foundation's
/// ICU once at start-up; matching is on prepared bytes, never through a formatter per event.
struct DateNames: Sendable {
    /// One value's full and short text, each lowercase and uppercase (ASCII letters compare case-insensitively
    /// byte by byte; the uppercase bytes let `DÉC.` match `déc.`).
    struct Forms: Sendable {
        let full: Text
        let short: Text

        init(full: String, short: String) {
            self.full = Text(full)
            self.short = Text(short)
        }
    }

    /// A name as lowercase bytes, and as uppercase bytes when those have the same length (else empty).
    struct Text: Sendable {
        let lower: [UInt8]
        let upper: [UInt8]

        init(_ name: String) {
            lower = Array(name.lowercased().utf8)
            let upper = Array(name.uppercased().utf8)
            self.upper = upper.count == lower.count ? upper : []
        }

        var count: Int { lower.count }
    }

    /// January first.
    let months: [Forms]
    /// Monday first (Joda's day-of-week 1).
    let weekdays: [Forms]
    /// AM, then PM.
    let halfDays: [Forms]

    static let english: DateNames = {
        let months = [
            "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
            "November", "December",
        ]
        let days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        return DateNames(
            months: months.map { Forms(full: $0, short: String($0.prefix(3))) },
            weekdays: days.map { Forms(full: $0, short: String($0.prefix(3))) },
            halfDays: [Forms(full: "AM", short: "AM"), Forms(full: "PM", short: "PM")])
    }()

    /// The names of a BCP 47 locale (`fr`, `de-CH`, `pt-BR`); English for English and for the root locale.
    static func forLocale(_ identifier: String) -> DateNames {
        let language = identifier.split(whereSeparator: { $0 == "-" || $0 == "_" }).first.map { $0.lowercased() } ?? ""
        if language.isEmpty || language == "en" || language == "und" { return .english }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: identifier.replacingOccurrences(of: "_", with: "-"))
        let months = zip(formatter.monthSymbols, formatter.shortMonthSymbols).map { Forms(full: $0, short: $1) }
        // Foundation lists Sunday first.
        let sundayFirst = zip(formatter.weekdaySymbols, formatter.shortWeekdaySymbols).map { Forms(full: $0, short: $1) }
        guard months.count == 12, sundayFirst.count == 7 else { return .english }
        return DateNames(
            months: months, weekdays: Array(sundayFirst[1...]) + [sundayFirst[0]],
            halfDays: [Forms(full: formatter.amSymbol, short: formatter.amSymbol),
                       Forms(full: formatter.pmSymbol, short: formatter.pmSymbol)])
    }

    /// Matches the longest full or short name at `i`, or else a number from 1 to `numerals` (Joda accepts both);
    /// returns the 1-based value.
    static func match(_ names: [Forms], numerals: Int, _ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Int? {
        var best = 0, bestLength = 0
        for k in names.indices {
            let forms = names[k]
            if forms.full.count > bestLength, matches(forms.full, b, at: i) {
                best = k + 1
                bestLength = forms.full.count
            }
            if forms.short.count > bestLength, matches(forms.short, b, at: i) {
                best = k + 1
                bestLength = forms.short.count
            }
        }
        if best == 0 { return number(upTo: numerals, b, &i) }
        i += bestLength
        return best
    }

    /// One or two digits naming a value from 1 to `limit`.
    static func number(upTo limit: Int, _ b: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Int? {
        var value = 0, n = 0
        while n < 2, i + n < b.count, b[i + n] >= 48, b[i + n] <= 57 {
            value = value * 10 + Int(b[i + n] - 48)
            n += 1
        }
        guard n > 0, value >= 1, value <= limit else { return nil }
        i += n
        return value
    }

    /// Whether `name` appears at `i` in `b`, ignoring case.
    @inline(__always) static func matches(_ name: Text, _ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        let count = name.lower.count
        guard count > 0, i + count <= b.count else { return false }
        for j in 0..<count {
            let c = b[i + j]
            if lower(c) == name.lower[j] { continue }
            if c >= 0x80, !name.upper.isEmpty, c == name.upper[j] { continue }
            return false
        }
        return true
    }

    @inline(__always) static func lower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }
}

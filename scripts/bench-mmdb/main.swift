// Throwaway (run.sh): Sluice's MMDB reader (copies of MaxMindDB.swift and MMDBRecord.swift) on the same addresses as
// libmaxminddb.c.
#if canImport(Glibc)
import Glibc
#endif

func now() -> Double { var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t); return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9 }

enum Out { case s(String), d(Double), i(Int) }

/// The City fields the geoip filter writes (GeoipDatabaseKind.extract, .city, legacy defaults).
func extract(_ record: MMDBValue) -> [Out] {
    var out: [Out] = []
    func name(_ v: MMDBValue?) -> MMDBValue? { v?["names"]?["en"] }
    func string(_ v: MMDBValue?) { if let s = v?.string { out.append(.s(s)) } }
    let subdivision = record["subdivisions"]?.array?.last
    if record["location"]?["latitude"] == nil && record["location"]?["longitude"] == nil { return [] }
    string(name(record["city"])); string(name(record["country"])); string(record["continent"]?["code"])
    string(name(record["continent"])); string(record["country"]?["iso_code"]); string(record["country"]?["iso_code"])
    string(record["postal"]?["code"])
    if let n = record["location"]?["metro_code"]?.integer { out.append(.i(n)) }
    string(name(subdivision)); string(subdivision?["iso_code"]); string(record["location"]?["time_zone"])
    if let lat = record["location"]?["latitude"]?.double, let lon = record["location"]?["longitude"]?.double {
        out.append(.d(lat)); out.append(.d(lon)); out.append(.d(lat)); out.append(.d(lon))
    }
    return out
}

/// The same fields read in place, as the geoip filter reads them (GeoipDatabaseKind.extract over MMDBRecord).
func inPlaceExtract(_ record: MMDBRecord) throws -> [Out] {
    var out: [Out] = []
    func string(_ v: MMDBRecord?) throws { if let s = try v?.string { out.append(.s(s)) } }
    func name(_ v: MMDBRecord?) throws -> MMDBRecord? { try v?.path("names", "en") }
    let top = try record.members("city", "continent", "country", "location", "postal", "subdivisions")
    let (city, continent, country, location, postal) = (top[0], top[1], top[2], top[3], top[4])
    let subdivision = try top[5]?.lastElement()
    let latitude = try location?.member("latitude"), longitude = try location?.member("longitude")
    if latitude == nil && longitude == nil { return [] }
    try string(name(city)); try string(name(country)); try string(continent?.member("code"))
    try string(name(continent)); try string(country?.member("iso_code")); try string(country?.member("iso_code"))
    try string(postal?.member("code"))
    if let n = try location?.member("metro_code")?.integer { out.append(.i(n)) }
    try string(name(subdivision)); try string(subdivision?.member("iso_code")); try string(location?.member("time_zone"))
    if let lat = try latitude?.double, let lon = try longitude?.double {
        out.append(.d(lat)); out.append(.d(lon)); out.append(.d(lat)); out.append(.d(lon))
    }
    return out
}

let db = try MaxMindDB(path: CommandLine.arguments[1])
var addresses: [[UInt8]] = []
let f = fopen(CommandLine.arguments[2], "r")!
var buffer = [CChar](repeating: 0, count: 64)
while fgets(&buffer, 64, f) != nil {
    let line = String(decoding: buffer.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    if line.contains(":") {
        var a = in6_addr(); inet_pton(AF_INET6, line, &a); addresses.append(withUnsafeBytes(of: a) { Array($0) })
    } else {
        var a = in_addr(); inet_pton(AF_INET, line, &a); addresses.append(withUnsafeBytes(of: a) { Array($0) })
    }
}
let names = ["lookup only (locate)", "locate + value(at:) (whole record into MMDBValue)", "locate + value(at:) + the filter's City fields", "locate + record(at:) + the filter's City fields read in place (what the filter does)"]
var mismatches = 0
for mode in 0..<4 {
    var best = 1e9, found = 0, sum = 0
    for _ in 0..<3 {
        let t0 = now(); found = 0
        for address in addresses {
            guard let offset = try db.locate(address).offset else { continue }
            found += 1
            if mode == 0 { sum &+= offset; continue }
            if mode == 3 { sum &+= try inPlaceExtract(db.record(at: offset)).count; continue }
            let record = try db.value(at: offset)
            if mode == 1 { if case .map(let m) = record { sum &+= m.count } } else { sum &+= extract(record).count }
        }
        best = min(best, now() - t0)
    }
    if mode == 3 { for a in addresses.prefix(100_000) { if let o = try db.locate(a).offset { let x = extract(try db.value(at: o)).map { "\($0)" }, y = try inPlaceExtract(db.record(at: o)).map { "\($0)" }; if x != y { mismatches += 1 } } }; print("in-place vs tree mismatches on 100k:", mismatches) }
    print("Sluice \(names[mode]) \(Int(Double(addresses.count) / best)) lookups/s (\(found) found, best of 3) [\(sum % 10)]")
}

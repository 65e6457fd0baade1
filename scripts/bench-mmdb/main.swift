// Throwaway (run.sh): Sluice's MMDB reader (a copy of MaxMindDB.swift) on the same addresses as libmaxminddb.c.
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
let names = ["lookup only (locate)", "locate + value(at:) (whole record into MMDBValue)", "locate + value(at:) + the filter's City fields", "PROTOTYPE locate + lazy field lookups on the bytes"]
let section = UnsafeRawBufferPointer(rebasing: db.bytes[db.dataStart..<(db.dataStart + db.dataSize)])
let decoder = MMDBDecoder(section: section)
var mismatches = 0
for mode in 0..<4 {
    var best = 1e9, found = 0, sum = 0
    for _ in 0..<3 {
        let t0 = now(); found = 0
        for address in addresses {
            guard let offset = try db.locate(address).offset else { continue }
            found += 1
            if mode == 0 { sum &+= offset; continue }
            if mode == 3 { sum &+= try lazyExtract(decoder, offset).count; continue }
            let record = try db.value(at: offset)
            if mode == 1 { if case .map(let m) = record { sum &+= m.count } } else { sum &+= extract(record).count }
        }
        best = min(best, now() - t0)
    }
    if mode == 3 { for a in addresses.prefix(100_000) { if let o = try db.locate(a).offset { let x = extract(try db.value(at: o)).map { "\($0)" }, y = try lazyExtract(decoder, o).map { "\($0)" }; if x != y { mismatches += 1 } } }; print("lazy vs tree mismatches on 100k:", mismatches) }
    print("Sluice \(names[mode]) \(Int(Double(addresses.count) / best)) lookups/s (\(found) found, best of 3) [\(sum % 10)]")
}

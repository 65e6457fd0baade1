#if canImport(Glibc)
import Glibc
#endif
// Throwaway prototype, not in Sluice: field lookups on the record's bytes (as libmaxminddb's MMDB_aget_value), no MMDBValue tree.
extension MMDBDecoder {
    /// Type, size (a pointer's target for type 1) and where the payload starts.
    @inline(__always)
    func control(_ start: Int) throws(MMDBError) -> (type: Int, size: Int, at: Int) {
        var at = start
        let c = try byte(at); at += 1
        var type = c >> 5
        if type == 1 {
            let sizeBits = (c >> 3) & 3, high = UInt64(c & 7)
            let target: UInt64
            switch sizeBits {
            case 0: target = high << 8 | (try bigEndian(at, 1))
            case 1: target = (high << 16 | (try bigEndian(at, 2))) + 2048
            case 2: target = (high << 24 | (try bigEndian(at, 3))) + 526_336
            default: target = try bigEndian(at, 4)
            }
            return (1, Int(target), at + sizeBits + 1)
        }
        if type == 0 { type = 7 + (try byte(at)); at += 1 }
        var size = c & 0x1F
        switch size {
        case 29: size = 29 + (try byte(at)); at += 1
        case 30: size = 285 + Int(try bigEndian(at, 2)); at += 2
        case 31: size = 65_821 + Int(try bigEndian(at, 3)); at += 3
        default: break
        }
        return (type, size, at)
    }

    /// The value at `start`, through a pointer.
    @inline(__always)
    func resolved(_ start: Int) throws(MMDBError) -> (type: Int, size: Int, at: Int) {
        let c = try control(start)
        return c.type == 1 ? try control(c.size) : c
    }

    func skip(_ start: Int) throws(MMDBError) -> Int {
        let (type, size, at) = try control(start)
        switch type {
        case 1, 14: return at
        case 3: return at + 8
        case 15: return at + 4
        case 7:
            var k = at
            for _ in 0..<size { k = try skip(try skip(k)) }
            return k
        case 11:
            var k = at
            for _ in 0..<size { k = try skip(k) }
            return k
        default: return at + size
        }
    }

    /// The offset of `key`'s value in the map at `start`.
    func find(_ start: Int, _ key: StaticString) throws(MMDBError) -> Int? {
        let map = try resolved(start)
        guard map.type == 7 else { return nil }
        var k = map.at
        for _ in 0..<map.size {
            let name = try resolved(k)
            let valueAt = try skip(k)
            if name.type == 2 && name.size == key.utf8CodeUnitCount
                && memcmp(section.baseAddress! + name.at, key.utf8Start, name.size) == 0
            {
                return valueAt
            }
            k = try skip(valueAt)
        }
        return nil
    }

    func get(_ start: Int, _ keys: StaticString...) throws(MMDBError) -> Int? {
        var at = start
        for key in keys { guard let next = try find(at, key) else { return nil }; at = next }
        return at
    }

    func lastElement(_ start: Int) throws(MMDBError) -> Int? {
        let list = try resolved(start)
        guard list.type == 11, list.size > 0 else { return nil }
        var k = list.at
        for _ in 0..<(list.size - 1) { k = try skip(k) }
        return k
    }

    func string(_ at: Int?) throws(MMDBError) -> String? {
        guard let at else { return nil }
        let v = try resolved(at)
        guard v.type == 2 else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: section[v.at..<(v.at + v.size)]), as: UTF8.self)
    }

    func double(_ at: Int?) throws(MMDBError) -> Double? {
        guard let at else { return nil }
        let v = try resolved(at)
        guard v.type == 3 else { return nil }
        return Double(bitPattern: try bigEndian(v.at, 8))
    }

    func integer(_ at: Int?) throws(MMDBError) -> Int? {
        guard let at else { return nil }
        let v = try resolved(at)
        guard v.type == 5 || v.type == 6 else { return nil }
        return Int(try bigEndian(v.at, v.size))
    }
}

func lazyExtract(_ d: MMDBDecoder, _ r: Int) throws -> [Out] {
    var out: [Out] = []
    guard let location = try d.find(r, "location") else { return [] }
    let lat = try d.double(try d.find(location, "latitude")), lon = try d.double(try d.find(location, "longitude"))
    guard lat != nil || lon != nil else { return [] }
    func add(_ s: String?) { if let s { out.append(.s(s)) } }
    add(try d.string(try d.get(r, "city", "names", "en")))
    add(try d.string(try d.get(r, "country", "names", "en")))
    add(try d.string(try d.get(r, "continent", "code")))
    add(try d.string(try d.get(r, "continent", "names", "en")))
    let iso = try d.string(try d.get(r, "country", "iso_code")); add(iso); add(iso)
    add(try d.string(try d.get(r, "postal", "code")))
    if let n = try d.integer(try d.find(location, "metro_code")) { out.append(.i(n)) }
    if let subs = try d.find(r, "subdivisions"), let last = try d.lastElement(subs) {
        add(try d.string(try d.get(last, "names", "en"))); add(try d.string(try d.find(last, "iso_code")))
    }
    add(try d.string(try d.find(location, "time_zone")))
    if let lat, let lon { out.append(.d(lat)); out.append(.d(lon)); out.append(.d(lat)); out.append(.d(lon)) }
    return out
}

#if canImport(Glibc)
import Glibc
#endif

/// A value of a MaxMind DB data section read where it lies, as libmaxminddb's `MMDB_aget_value` reads it: a map's
/// member or an array's element is found by skipping over the bytes of the others, never decoding them, so a
/// lookup costs only the fields the geoip filter writes (the whole record, every language of every name, is
/// several times that).
///
/// Pointers are followed once (a pointer to a pointer is corruption, as in `MMDBDecoder`); every read is
/// bounds-checked and skipping is depth-limited, so a corrupt record is an `MMDBError`, never a crash. A value
/// type over the memory-mapped section: safe to use from any worker thread.
struct MMDBRecord {
    let section: UnsafeRawBufferPointer
    /// The control byte of the value (a pointer's target when the value was reached through a pointer).
    let offset: Int
    /// The value's control byte, decoded once.
    let header: Header

    /// The value's type number (the spec's: 2 string, 3 double, 5/6/9/10 unsigned, 7 map, 8 int32, 11 array,
    /// 14 boolean, 15 float), its size field and where its payload starts.
    struct Header {
        let type: Int
        let size: Int
        let payload: Int
    }

    /// The value at `offset`, a pointer there followed.
    init(section: UnsafeRawBufferPointer, offset: Int) throws(MMDBError) {
        self.section = section
        let header = try MMDBRecord.header(section, at: offset)
        if header.type == 1 {
            let target = try MMDBRecord.header(section, at: header.size)
            guard target.type != 1 else { throw MMDBError("a pointer points at another pointer") }
            self.offset = header.size
            self.header = target
        } else {
            self.offset = offset
            self.header = header
        }
    }

    /// The member `key` of a map; nil when the value is not a map or has no such key.
    func member(_ key: StaticString) throws(MMDBError) -> MMDBRecord? {
        guard header.type == 7 else { return nil }
        var at = header.payload
        for _ in 0..<header.size {
            let (name, valueAt) = try MMDBRecord.key(section, at)
            if MMDBRecord.equal(name, key) { return try MMDBRecord(section: section, offset: valueAt) }
            at = try MMDBRecord.skip(section, valueAt, depth: 0)
        }
        return nil
    }

    /// Several members of a map in one pass over it (nil for each one it lacks, all nil when it is not a map).
    func members(_ keys: StaticString...) throws(MMDBError) -> [MMDBRecord?] {
        var found = [MMDBRecord?](repeating: nil, count: keys.count)
        guard header.type == 7 else { return found }
        var remaining = keys.count
        var at = header.payload
        for _ in 0..<header.size where remaining > 0 {
            let (name, valueAt) = try MMDBRecord.key(section, at)
            for (i, key) in keys.enumerated() where found[i] == nil {
                if MMDBRecord.equal(name, key) {
                    found[i] = try MMDBRecord(section: section, offset: valueAt)
                    remaining -= 1
                    break
                }
            }
            at = try MMDBRecord.skip(section, valueAt, depth: 0)
        }
        return found
    }

    /// A nested member: `record.path("country", "names", "en")`.
    func path(_ keys: StaticString...) throws(MMDBError) -> MMDBRecord? {
        var value = self
        for key in keys {
            guard let next = try value.member(key) else { return nil }
            value = next
        }
        return value
    }

    /// The last element of an array; nil when the value is not an array or is empty.
    func lastElement() throws(MMDBError) -> MMDBRecord? {
        guard header.type == 11, header.size > 0 else { return nil }
        var at = header.payload
        for _ in 0..<(header.size - 1) { at = try MMDBRecord.skip(section, at, depth: 0) }
        return try MMDBRecord(section: section, offset: at)
    }

    /// The value as a string, nil for another type.
    var string: String? {
        get throws(MMDBError) {
            guard header.type == 2 else { return nil }
            return String(decoding: try bytes(header), as: UTF8.self)
        }
    }

    /// Any numeric type as a Double (coordinates are doubles; a float or integer is accepted too).
    var double: Double? {
        get throws(MMDBError) {
            let h = header
            switch h.type {
            case 3:
                guard h.size == 8 else { throw MMDBError("a double of \(h.size) bytes") }
                return Double(bitPattern: try bigEndian(h.payload, 8))
            case 15:
                guard h.size == 4 else { throw MMDBError("a float of \(h.size) bytes") }
                return Double(Float(bitPattern: UInt32(try bigEndian(h.payload, 4))))
            case 5, 6, 8, 9, 10: return try integer.map(Double.init)
            default: return nil
            }
        }
    }

    /// Any integer type whose value fits an Int.
    var integer: Int? {
        get throws(MMDBError) {
            let h = header
            switch h.type {
            case 5, 6, 9:
                guard h.size <= (h.type == 5 ? 2 : h.type == 6 ? 4 : 8) else { throw MMDBError("an unsigned integer of \(h.size) bytes") }
                let u = try bigEndian(h.payload, h.size)
                return u <= UInt64(Int.max) ? Int(u) : nil
            case 10:
                guard h.size <= 16 else { throw MMDBError("a uint128 of \(h.size) bytes") }
                let highCount = max(0, h.size - 8)
                guard try bigEndian(h.payload, highCount) == 0 else { return nil }
                let low = try bigEndian(h.payload + highCount, h.size - highCount)
                return low <= UInt64(Int.max) ? Int(low) : nil
            case 8:
                guard h.size <= 4 else { throw MMDBError("an int32 of \(h.size) bytes") }
                return Int(Int32(bitPattern: UInt32(try bigEndian(h.payload, h.size))))
            default: return nil
            }
        }
    }

    var bool: Bool? {
        get throws(MMDBError) {
            let h = header
            guard h.type == 14 else { return nil }
            guard h.size <= 1 else { throw MMDBError("a boolean of size \(h.size)") }
            return h.size == 1
        }
    }

    // MARK: Reading bytes

    /// The text of the map key at `at` (through a pointer) and where its value starts.
    private static func key(_ section: UnsafeRawBufferPointer, _ at: Int) throws(MMDBError) -> (UnsafeRawBufferPointer, Int) {
        let h = try header(section, at: at)
        var text = h
        if h.type == 1 {
            text = try header(section, at: h.size)
        }
        guard text.type == 2 else { throw MMDBError(text.type == 1 ? "a pointer points at another pointer" : "a map key that is not a string") }
        guard text.payload + text.size <= section.count else { throw MMDBError("a value runs past the end of its section") }
        let next = h.type == 1 ? h.payload : h.payload + h.size
        return (UnsafeRawBufferPointer(rebasing: section[text.payload..<(text.payload + text.size)]), next)
    }

    private static func equal(_ text: UnsafeRawBufferPointer, _ key: StaticString) -> Bool {
        text.count == key.utf8CodeUnitCount && (text.count == 0 || memcmp(text.baseAddress!, key.utf8Start, text.count) == 0)
    }

    private func bytes(_ h: Header) throws(MMDBError) -> UnsafeRawBufferPointer {
        guard h.payload + h.size <= section.count else { throw MMDBError("a value runs past the end of its section") }
        return UnsafeRawBufferPointer(rebasing: section[h.payload..<(h.payload + h.size)])
    }

    private func bigEndian(_ at: Int, _ count: Int) throws(MMDBError) -> UInt64 {
        try MMDBRecord.bigEndian(section, at, count)
    }

    static func byte(_ section: UnsafeRawBufferPointer, _ at: Int) throws(MMDBError) -> Int {
        guard at >= 0, at < section.count else { throw MMDBError("a value runs past the end of its section") }
        return Int(section[at])
    }

    static func bigEndian(_ section: UnsafeRawBufferPointer, _ at: Int, _ count: Int) throws(MMDBError) -> UInt64 {
        guard at >= 0, count >= 0, at + count <= section.count else { throw MMDBError("a value runs past the end of its section") }
        var v: UInt64 = 0
        for k in 0..<count { v = v << 8 | UInt64(section[at + k]) }
        return v
    }

    /// The control byte at `at`: type, size (for a pointer, its target) and where the payload starts. The whole-record
    /// decoder (`MMDBDecoder`) reads control bytes with it too.
    static func header(_ section: UnsafeRawBufferPointer, at start: Int) throws(MMDBError) -> Header {
        var at = start
        let control = try byte(section, at)
        at += 1
        var type = control >> 5
        if type == 1 {
            let sizeBits = (control >> 3) & 0x3
            let high = UInt64(control & 0x7)
            let target: UInt64
            switch sizeBits {
            case 0: target = high << 8 | (try bigEndian(section, at, 1))
            case 1: target = (high << 16 | (try bigEndian(section, at, 2))) + 2048
            case 2: target = (high << 24 | (try bigEndian(section, at, 3))) + 526_336
            default: target = try bigEndian(section, at, 4)
            }
            guard target < UInt64(section.count) else { throw MMDBError("a pointer points outside its section") }
            return Header(type: 1, size: Int(target), payload: at + sizeBits + 1)
        }
        if type == 0 {
            type = 7 + (try byte(section, at))
            at += 1
            guard type >= 8 else { throw MMDBError("an invalid extended type") }
        }
        var size = control & 0x1F
        switch size {
        case 29: size = 29 + (try byte(section, at)); at += 1
        case 30: size = 285 + Int(try bigEndian(section, at, 2)); at += 2
        case 31: size = 65_821 + Int(try bigEndian(section, at, 3)); at += 3
        default: break
        }
        return Header(type: type, size: size, payload: at)
    }

    /// Where the value after the one at `at` starts (a pointer is skipped, not followed).
    static func skip(_ section: UnsafeRawBufferPointer, _ at: Int, depth: Int) throws(MMDBError) -> Int {
        guard depth <= MMDBDecoder.maximumDepth else { throw MMDBError("values nested deeper than \(MMDBDecoder.maximumDepth) levels") }
        let h = try header(section, at: at)
        switch h.type {
        case 1, 14: return h.payload
        case 7:
            var k = h.payload
            for _ in 0..<h.size { k = try skip(section, try skip(section, k, depth: depth + 1), depth: depth + 1) }
            return k
        case 11:
            var k = h.payload
            for _ in 0..<h.size { k = try skip(section, k, depth: depth + 1) }
            return k
        case 2, 3, 4, 5, 6, 8, 9, 10, 15:
            guard h.payload + h.size <= section.count else { throw MMDBError("a value runs past the end of its section") }
            return h.payload + h.size
        default:
            throw MMDBError("an unexpected data type \(h.type)")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// A value of a MaxMind DB data section.
enum MMDBValue: Sendable, Equatable {
    case string(String)
    case double(Double)
    case float(Float)
    case bytes([UInt8])
    /// uint16, uint32 and uint64.
    case unsigned(UInt64)
    case uint128(high: UInt64, low: UInt64)
    case int32(Int32)
    case bool(Bool)
    case map([String: MMDBValue])
    case array([MMDBValue])

    subscript(_ key: String) -> MMDBValue? {
        if case .map(let m) = self { return m[key] }
        return nil
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var array: [MMDBValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// Any numeric type as a Double (coordinates are doubles; a float or integer is accepted too).
    var double: Double? {
        switch self {
        case .double(let d): return d
        case .float(let f): return Double(f)
        case .unsigned(let u): return Double(u)
        case .int32(let i): return Double(i)
        default: return nil
        }
    }

    /// Any integer type that fits an Int.
    var integer: Int? {
        switch self {
        case .unsigned(let u): return u <= UInt64(Int.max) ? Int(u) : nil
        case .int32(let i): return Int(i)
        case .uint128(let high, let low): return high == 0 && low <= UInt64(Int.max) ? Int(low) : nil
        default: return nil
        }
    }

    var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
}

/// A problem with a MaxMind DB file: unreadable, not MMDB, or corrupt. The message says which.
struct MMDBError: Error, Sendable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A MaxMind DB (MMDB 2.x) file, memory-mapped read-only: GeoIP2/GeoLite2 City, Country, ASN, …, DB-IP lite.
///
/// The format (MaxMind's public spec): a binary search tree with one level per address bit, 16 zero bytes, a data
/// section of typed values, and a metadata map after the last `\xAB\xCD\xEFMaxMind.com`. Every read is bounds-checked,
/// so a corrupt or truncated file is an error (at open when its structure is wrong, at lookup when a record is),
/// never a crash. Lookups are thread-safe.
final class MaxMindDB: @unchecked Sendable {
    struct Metadata: Sendable {
        let nodeCount: Int
        let recordSize: Int
        let ipVersion: Int
        let databaseType: String
        let languages: [String]
        let majorVersion: Int
        let buildEpoch: Int?
    }

    let path: String
    let metadata: Metadata
    private let base: UnsafeRawPointer
    private let length: Int
    private let treeSize: Int
    private let dataStart: Int
    private let dataSize: Int
    /// The node reached after 96 zero bits in an IPv6 tree: where IPv4 addresses start.
    private let ipv4Start: Int
    private let ipv4StartDepth: Int

    static let metadataMarker: [UInt8] = [0xAB, 0xCD, 0xEF] + Array("MaxMind.com".utf8)

    /// Maps the file and checks its structure.
    init(path: String) throws(MMDBError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MMDBError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw MMDBError("cannot read \(path): \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw MMDBError("\(path) is not a regular file") }
        let size = Int(st.st_size)
        guard size > 0 else { throw MMDBError("\(path) is empty, not a MaxMind DB file") }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw MMDBError("cannot map \(path): \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(mapped)
        length = size
        do {
            (metadata, treeSize, dataStart, dataSize, ipv4Start, ipv4StartDepth) = try MaxMindDB.layout(
                UnsafeRawBufferPointer(start: base, count: length), path)
        } catch {
            munmap(mapped, size)
            throw error
        }
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), length)
    }

    private var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: length) }

    private static func layout(_ bytes: UnsafeRawBufferPointer, _ path: String) throws(MMDBError) -> (
        Metadata, Int, Int, Int, Int, Int
    ) {
        // The metadata starts after the last marker, within the last 128 KiB.
        let marker = metadataMarker
        let floor = max(0, bytes.count - 128 * 1024 - marker.count)
        var markerAt = -1
        var i = bytes.count - marker.count
        while i >= floor {
            if bytes[i] == marker[0] {
                var same = true
                for k in 1..<marker.count where bytes[i + k] != marker[k] {
                    same = false
                    break
                }
                if same {
                    markerAt = i
                    break
                }
            }
            i -= 1
        }
        guard markerAt >= 0 else {
            throw MMDBError("\(path) is not a MaxMind DB file (no metadata section; the file may be truncated)")
        }
        let metaStart = markerAt + marker.count
        let metaDecoder = MMDBDecoder(section: UnsafeRawBufferPointer(rebasing: bytes[metaStart...]))
        let meta: MMDBValue
        do {
            meta = try metaDecoder.decode(at: 0).value
        } catch {
            throw MMDBError("\(path): the metadata section is corrupt (\(error.description))")
        }
        func int(_ key: String) throws(MMDBError) -> Int {
            guard let v = meta[key]?.integer else { throw MMDBError("\(path): the metadata lacks \(key)") }
            return v
        }
        let metadata = Metadata(
            nodeCount: try int("node_count"), recordSize: try int("record_size"), ipVersion: try int("ip_version"),
            databaseType: meta["database_type"]?.string ?? "", languages: meta["languages"]?.array?.compactMap(\.string) ?? [],
            majorVersion: try int("binary_format_major_version"), buildEpoch: meta["build_epoch"]?.integer)
        guard metadata.majorVersion == 2 else {
            throw MMDBError("\(path): unsupported MaxMind DB format version \(metadata.majorVersion) (2 is supported)")
        }
        guard [24, 28, 32].contains(metadata.recordSize) else {
            throw MMDBError("\(path): unsupported record size \(metadata.recordSize)")
        }
        guard metadata.ipVersion == 4 || metadata.ipVersion == 6 else {
            throw MMDBError("\(path): unsupported ip_version \(metadata.ipVersion)")
        }
        let (treeSize, overflow) = metadata.nodeCount.multipliedReportingOverflow(by: metadata.recordSize / 4)
        guard !overflow, metadata.nodeCount > 0, treeSize + 16 <= markerAt else {
            throw MMDBError("\(path) is corrupt: the search tree (\(metadata.nodeCount) nodes) does not fit in the file")
        }
        for k in treeSize..<(treeSize + 16) where bytes[k] != 0 {
            throw MMDBError("\(path) is corrupt: no data section separator after the search tree")
        }
        let dataStart = treeSize + 16
        let dataSize = markerAt - dataStart
        // IPv4 addresses of an IPv6 tree live under ::/96.
        var node = 0
        var depth = 0
        if metadata.ipVersion == 6 {
            while depth < 96 && node < metadata.nodeCount {
                node = readRecord(bytes, node: node, right: false, recordSize: metadata.recordSize)
                depth += 1
            }
        }
        return (metadata, treeSize, dataStart, dataSize, node, depth)
    }

    /// Record `right` (or left) of `node`; `node` must be below node_count (the tree was checked to fit).
    private static func readRecord(_ bytes: UnsafeRawBufferPointer, node: Int, right: Bool, recordSize: Int) -> Int {
        let at = node * recordSize / 4
        func b(_ k: Int) -> Int { Int(bytes[at + k]) }
        switch recordSize {
        case 24:
            return right ? (b(3) << 16 | b(4) << 8 | b(5)) : (b(0) << 16 | b(1) << 8 | b(2))
        case 28:
            return right
                ? ((b(3) & 0x0F) << 24 | b(4) << 16 | b(5) << 8 | b(6))
                : ((b(3) & 0xF0) << 20 | b(0) << 16 | b(1) << 8 | b(2))
        default:
            return right
                ? (b(4) << 24 | b(5) << 16 | b(6) << 8 | b(7))
                : (b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3))
        }
    }

    /// Where an address's record is: its offset in the data section (nil when the address has no data) and the
    /// prefix length of the network it is in (as the address family counts bits).
    struct Location: Sendable, Equatable {
        let offset: Int?
        let prefixLength: Int
    }

    /// Finds the record of a 4- or 16-byte address. An IPv6 address in an IPv4-only database has no record.
    func locate(_ address: [UInt8]) throws(MMDBError) -> Location {
        let nodeCount = metadata.nodeCount
        var node: Int
        var depth: Int
        let bitCount = address.count * 8
        if address.count == 4 && metadata.ipVersion == 6 {
            node = ipv4Start
            depth = 0
            if ipv4StartDepth < 96 {
                // The tree ends above ::/96: every IPv4 address shares that outcome.
                return try outcome(node, prefixLength: 0)
            }
        } else if address.count == 16 && metadata.ipVersion == 4 {
            return Location(offset: nil, prefixLength: 0)
        } else {
            node = 0
            depth = 0
        }
        while depth < bitCount && node < nodeCount {
            let bit = (address[depth >> 3] >> (7 - UInt8(depth & 7))) & 1
            node = MaxMindDB.readRecord(bytes, node: node, right: bit == 1, recordSize: metadata.recordSize)
            depth += 1
        }
        return try outcome(node, prefixLength: depth)
    }

    private func outcome(_ node: Int, prefixLength: Int) throws(MMDBError) -> Location {
        let nodeCount = metadata.nodeCount
        if node == nodeCount { return Location(offset: nil, prefixLength: prefixLength) }
        if node < nodeCount { throw MMDBError("\(path) is corrupt: the search tree is deeper than an address") }
        let offset = node - nodeCount - 16
        guard offset >= 0, offset < dataSize else {
            throw MMDBError("\(path) is corrupt: a search tree record points outside the data section")
        }
        return Location(offset: offset, prefixLength: prefixLength)
    }

    /// The value at `offset` of the data section, read in place (the geoip filter reads records this way).
    func record(at offset: Int) throws(MMDBError) -> MMDBRecord {
        try MMDBRecord(section: UnsafeRawBufferPointer(rebasing: bytes[dataStart..<(dataStart + dataSize)]), offset: offset)
    }

    /// Decodes the whole value at `offset` of the data section (the tests compare it with `mmdblookup` and with
    /// the in-place reads of `record(at:)`).
    func value(at offset: Int) throws(MMDBError) -> MMDBValue {
        try MMDBDecoder(section: UnsafeRawBufferPointer(rebasing: bytes[dataStart..<(dataStart + dataSize)])).decode(at: offset).value
    }

    /// The record of an address, or nil when the database has none for it.
    func lookup(_ address: [UInt8]) throws(MMDBError) -> MMDBValue? {
        guard let offset = try locate(address).offset else { return nil }
        return try value(at: offset)
    }
}

/// Decodes typed values of one section (the data section or the metadata); pointers are offsets into it.
struct MMDBDecoder {
    let section: UnsafeRawBufferPointer
    /// Deeper nesting than this is treated as corruption (bounds recursion on hostile files).
    static let maximumDepth = 64

    func decode(at offset: Int) throws(MMDBError) -> (value: MMDBValue, next: Int) {
        try decode(at: offset, depth: 0)
    }

    private func bigEndian(_ at: Int, _ count: Int) throws(MMDBError) -> UInt64 {
        try MMDBRecord.bigEndian(section, at, count)
    }

    private func decode(at start: Int, depth: Int) throws(MMDBError) -> (value: MMDBValue, next: Int) {
        guard depth <= MMDBDecoder.maximumDepth else { throw MMDBError("values nested deeper than \(MMDBDecoder.maximumDepth) levels") }
        let header = try MMDBRecord.header(section, at: start)
        if header.type == 1 {
            // A pointer: its target is decoded, and decoding goes on after the pointer itself.
            if try MMDBRecord.header(section, at: header.size).type == 1 { throw MMDBError("a pointer points at another pointer") }
            let (value, _) = try decode(at: header.size, depth: depth + 1)
            return (value, header.payload)
        }
        let type = header.type, size = header.size
        var at = header.payload
        func payload() throws(MMDBError) -> UnsafeRawBufferPointer {
            guard at + size <= section.count else { throw MMDBError("a value runs past the end of its section") }
            return UnsafeRawBufferPointer(rebasing: section[at..<(at + size)])
        }
        switch type {
        case 2:
            let raw = try payload()
            return (.string(String(decoding: raw, as: UTF8.self)), at + size)
        case 3:
            guard size == 8 else { throw MMDBError("a double of \(size) bytes") }
            return (.double(Double(bitPattern: try bigEndian(at, 8))), at + 8)
        case 4:
            return (.bytes(Array(try payload())), at + size)
        case 5, 6, 9:
            let limit = type == 5 ? 2 : type == 6 ? 4 : 8
            guard size <= limit else { throw MMDBError("an unsigned integer of \(size) bytes") }
            return (.unsigned(try bigEndian(at, size)), at + size)
        case 10:
            guard size <= 16 else { throw MMDBError("a uint128 of \(size) bytes") }
            let highCount = max(0, size - 8)
            let high = try bigEndian(at, highCount)
            let low = try bigEndian(at + highCount, size - highCount)
            return (.uint128(high: high, low: low), at + size)
        case 8:
            guard size <= 4 else { throw MMDBError("an int32 of \(size) bytes") }
            return (.int32(Int32(bitPattern: UInt32(try bigEndian(at, size)))), at + size)
        case 7:
            var map: [String: MMDBValue] = [:]
            map.reserveCapacity(min(size, 64))
            for _ in 0..<size {
                let (key, afterKey) = try decode(at: at, depth: depth + 1)
                guard case .string(let name) = key else { throw MMDBError("a map key that is not a string") }
                let (value, afterValue) = try decode(at: afterKey, depth: depth + 1)
                map[name] = value
                at = afterValue
            }
            return (.map(map), at)
        case 11:
            var list: [MMDBValue] = []
            list.reserveCapacity(min(size, 1024))
            for _ in 0..<size {
                let (value, after) = try decode(at: at, depth: depth + 1)
                list.append(value)
                at = after
            }
            return (.array(list), at)
        case 14:
            guard size <= 1 else { throw MMDBError("a boolean of size \(size)") }
            return (.bool(size == 1), at)
        case 15:
            guard size == 4 else { throw MMDBError("a float of \(size) bytes") }
            return (.float(Float(bitPattern: UInt32(try bigEndian(at, 4)))), at + 4)
        default:
            throw MMDBError("an unexpected data type \(type)")
        }
    }
}

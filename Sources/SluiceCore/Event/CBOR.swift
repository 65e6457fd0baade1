/// Generic CBOR (RFC 8949) building blocks: a byte writer that behaves like Jackson's `CBORGenerator` as Logstash
/// configures it, and a decoder into a generic item tree that never traps on malformed input.
///
/// The Logstash-specific layer (class-name wrappers, `DATA`/`META`) lives in `CBOREventCodec.swift`.

/// A decoded CBOR data item, before any Logstash interpretation. String references (tags 256/25) are already
/// resolved and tag 55799 (self-described CBOR) is dropped.
public indirect enum CBORItem: Sendable, Equatable {
    /// Major type 0.
    case unsigned(UInt64)
    /// Major type 1: the value is `-1 - n`.
    case negative(UInt64)
    /// Major type 2, chunks joined.
    case bytes([UInt8])
    /// Major type 3, chunks joined.
    case text(String)
    /// Major type 4.
    case array([CBORItem])
    /// Major type 5, in document order.
    case map([CBORPair])
    /// Major type 6, other than 25, 256 and 55799.
    case tagged(UInt64, CBORItem)
    /// `false` / `true`.
    case bool(Bool)
    /// `null` and `undefined`.
    case null
    /// Half, single or double precision float.
    case float(Double)
}

/// One key/value pair of a decoded CBOR map.
public struct CBORPair: Sendable, Equatable {
    public var key: CBORItem
    public var value: CBORItem
}

/// Why CBOR bytes could not be decoded.
public struct CBORDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset (relative to the decoded range) where the problem was found.
    public var offset: Int
    public var message: String
    public var description: String { "invalid CBOR at byte \(offset): \(message)" }
}

// MARK: - Writer

/// A growable byte buffer written through a pointer: appending a byte is a capacity check and a store, without an
/// array's uniqueness check and call per byte (the CBOR writer appends a byte or a few at a time, tens of times per
/// event). Owned by one writer on one thread; freed with it.
struct CBORBytes: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(64, capacity)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    @inline(__always) mutating func append(_ byte: UInt8) {
        if count == capacity { grow(to: count + 1) }
        base[count] = byte
        count += 1
    }

    mutating func append(contentsOf buffer: UnsafeRawBufferPointer) {
        guard let source = buffer.baseAddress, buffer.count > 0 else { return }
        if count + buffer.count > capacity { grow(to: count + buffer.count) }
        UnsafeMutableRawPointer(base + count).copyMemory(from: source, byteCount: buffer.count)
        count += buffer.count
    }

    mutating func append(contentsOf buffer: UnsafeBufferPointer<UInt8>) { append(contentsOf: UnsafeRawBufferPointer(buffer)) }

    mutating func append(contentsOf array: [UInt8]) { array.withUnsafeBytes { append(contentsOf: $0) } }

    mutating func appendZeros(_ n: Int) {
        if count + n > capacity { grow(to: count + n) }
        (base + count).initialize(repeating: 0, count: n)
        count += n
    }

    /// Overwrites four bytes at `offset` (a length written once what it measures is known).
    mutating func store(_ v: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset + 4 <= count)
        for i in 0..<4 { base[offset + i] = UInt8(truncatingIfNeeded: v >> (24 - 8 * i)) }
    }

    /// The CRC-32 of the bytes in `range`.
    func checksum(_ range: Range<Int>) -> UInt32 {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return CRC32.checksum(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// The bytes written, as an array, leaving the buffer empty (its memory kept for reuse).
    mutating func take() -> [UInt8] {
        let bytes = Array(UnsafeBufferPointer(start: base, count: count))
        count = 0
        return bytes
    }

    private mutating func grow(to minimum: Int) {
        let larger = max(minimum, capacity * 2)
        let moved = UnsafeMutablePointer<UInt8>.allocate(capacity: larger)
        moved.moveInitialize(from: base, count: count)
        base.deallocate()
        base = moved
        capacity = larger
    }
}

/// Appends CBOR to a byte buffer the way Jackson's `CBORGenerator` does with Logstash's settings: minimal headers for
/// lengths, indefinite-length containers written by the caller, long text chunked, optional string references.
struct CBORWriter: ~Copyable {
    /// Jackson's `MAX_LONG_STRING_CHARS`: text longer than this many UTF-16 units is written in chunks.
    static let maxChunkUTF16Units = 3996

    var bytes: CBORBytes
    /// The string-reference table of the current namespace (nil: stringref disabled).
    private var references: StringReferenceTable?
    /// Where a timestamp's text is formatted before it is written.
    private var scratch: [UInt8] = []

    /// An empty writer with room for `capacity` bytes.
    init(capacity: Int, stringReferences: Bool) {
        bytes = CBORBytes(capacity: capacity)
        references = stringReferences ? StringReferenceTable() : nil
    }

    /// A writer appending to a copy of `buffer`.
    init(reusing buffer: [UInt8], stringReferences: Bool) {
        self.init(capacity: buffer.count + 512, stringReferences: stringReferences)
        bytes.append(contentsOf: buffer)
    }

    /// Hands the written bytes back, leaving the writer empty.
    mutating func takeBytes() -> [UInt8] { bytes.take() }

    /// A timestamp's Logstash text, formatted without a `String` in between (no string reference can be involved:
    /// callers with references on write the text through `text`).
    mutating func timestampText(_ t: Timestamp) {
        scratch.removeAll(keepingCapacity: true)
        LogstashTimestampText.append(t, to: &scratch)
        head(3, UInt64(scratch.count))
        bytes.append(contentsOf: scratch)
    }

    /// Starts a stringref namespace (tag 256) when string references are on.
    mutating func beginNamespaceIfEnabled() {
        guard references != nil else { return }
        bytes.append(0xD9)
        bytes.append(0x01)
        bytes.append(0x00)
        references!.removeAll()
    }

    /// A header with a minimal-length argument.
    mutating func head(_ major: UInt8, _ value: UInt64) {
        let m = major << 5
        switch value {
        case 0..<24: bytes.append(m | UInt8(value))
        case 24...0xFF:
            bytes.append(m | 24)
            bytes.append(UInt8(value))
        case 0x100...0xFFFF:
            bytes.append(m | 25)
            bytes.append(UInt8(value >> 8))
            bytes.append(UInt8(value & 0xFF))
        case 0x1_0000...0xFFFF_FFFF:
            bytes.append(m | 26)
            appendBigEndian(UInt32(value))
        default:
            bytes.append(m | 27)
            appendBigEndian(value)
        }
    }

    // Byte by byte: an array literal here would be a heap allocation per call.
    mutating func appendBigEndian(_ v: UInt32) {
        bytes.append(UInt8(v >> 24))
        bytes.append(UInt8((v >> 16) & 0xFF))
        bytes.append(UInt8((v >> 8) & 0xFF))
        bytes.append(UInt8(v & 0xFF))
    }

    mutating func appendBigEndian(_ v: UInt64) {
        appendBigEndian(UInt32(v >> 32))
        appendBigEndian(UInt32(v & 0xFFFF_FFFF))
    }

    mutating func beginIndefiniteArray() { bytes.append(0x9F) }
    mutating func beginIndefiniteMap() { bytes.append(0xBF) }
    mutating func end() { bytes.append(0xFF) }

    /// An integer as Jackson writes a `long` with `WRITE_MINIMAL_INTS` off: always 9 bytes.
    mutating func fixedWidthInteger(_ v: Int) {
        if v >= 0 {
            bytes.append(0x1B)
            appendBigEndian(UInt64(v))
        } else {
            bytes.append(0x3B)
            appendBigEndian(UInt64(-1 - v))
        }
    }

    /// A float64 (`fb`).
    mutating func double(_ d: Double) {
        bytes.append(0xFB)
        appendBigEndian(d.bitPattern)
    }

    mutating func bool(_ b: Bool) { bytes.append(b ? 0xF5 : 0xF4) }
    mutating func null() { bytes.append(0xF6) }

    var usesReferences: Bool { references != nil }

    /// A text string known when the program starts: its encoded bytes copied in one step when string references
    /// are off (a reference needs the table, so it goes through `text`).
    mutating func text(_ constant: CBORConstantText) {
        if references != nil { return text(constant.string) }
        bytes.append(contentsOf: constant.encoded)
    }

    /// A text string: a reference when already in the table, chunked when over 3 996 UTF-16 units.
    mutating func text(_ s: String) {
        let utf8Count = s.utf8.count
        if utf8Count > CBORWriter.maxChunkUTF16Units && s.utf16.count > CBORWriter.maxChunkUTF16Units {
            chunkedText(s)
            return
        }
        if references != nil && utf8Count >= 3 {
            if let index = references!.index(of: s, utf8Count: utf8Count) {
                bytes.append(0xD8)
                bytes.append(0x19)
                head(0, UInt64(index))
                return
            }
            let n = references!.count
            if utf8Count >= CBORWriter.minimumReferencedLength(tableCount: n) { references!.append(s, utf8Count: utf8Count) }
        }
        head(3, UInt64(utf8Count))
        var s = s
        s.withUTF8 { bytes.append(contentsOf: $0) }  // contiguous UTF-8: one copy, not a byte-by-byte walk
    }

    /// The shortest string worth a table entry once the table holds `tableCount` strings (stringref spec).
    static func minimumReferencedLength(tableCount: Int) -> Int {
        if tableCount < 24 { return 3 }
        if tableCount < 256 { return 4 }
        if tableCount < 65_536 { return 5 }
        return 7
    }

    /// Jackson's `_writeChunkedString`: `7f`, chunks of 3 996 UTF-16 units (one less when that would split a
    /// surrogate pair) each with a 2-byte length, a last chunk with a minimal header, `ff`. Never referenced.
    private mutating func chunkedText(_ s: String) {
        bytes.append(0x7F)
        let units = Array(s.utf16)
        var start = 0
        var remaining = units.count
        while remaining > CBORWriter.maxChunkUTF16Units {
            var amount = CBORWriter.maxChunkUTF16Units
            if UTF16.isLeadSurrogate(units[start + amount - 1]) { amount -= 1 }
            let chunk = Array(String(decoding: units[start..<(start + amount)], as: UTF16.self).utf8)
            bytes.append(0x79)
            bytes.append(contentsOf: [UInt8(chunk.count >> 8), UInt8(chunk.count & 0xFF)])
            bytes.append(contentsOf: chunk)
            start += amount
            remaining -= amount
        }
        if remaining > 0 {
            let chunk = Array(String(decoding: units[start...], as: UTF16.self).utf8)
            head(3, UInt64(chunk.count))
            bytes.append(contentsOf: chunk)
        }
        bytes.append(0xFF)
    }
}

/// A short text string with its CBOR encoding (head and UTF-8) built once: the class names and keys every
/// encoded event repeats. The encoding lives in memory that is never freed (these are program-wide constants), so
/// copying it in costs no reference count.
struct CBORConstantText: @unchecked Sendable {
    let string: String
    let encoded: UnsafeBufferPointer<UInt8>

    init(_ string: String) {
        self.string = string
        var w = CBORWriter(reusing: [], stringReferences: false)
        w.text(string)
        let bytes = w.takeBytes()
        let storage = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
        _ = storage.initialize(from: bytes)
        encoded = UnsafeBufferPointer(storage)
    }
}

/// The strings of one stringref namespace in the order they were numbered. An event numbers a dozen or so strings,
/// mostly the same few class names: a scan that compares lengths first beats hashing each one, so the hash index
/// is built only for namespaces that grow large.
struct StringReferenceTable {
    private var strings: [(text: String, utf8Count: Int)] = []
    private var index: [String: Int]?
    private static let indexThreshold = 32

    var count: Int { strings.count }

    func index(of s: String, utf8Count: Int) -> Int? {
        if let index { return index[s] }
        for i in strings.indices where strings[i].utf8Count == utf8Count && strings[i].text == s { return i }
        return nil
    }

    mutating func append(_ s: String, utf8Count: Int) {
        strings.append((s, utf8Count))
        if index != nil {
            index![s] = strings.count - 1
        } else if strings.count > Self.indexThreshold {
            index = Dictionary(strings.enumerated().map { ($1.text, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    mutating func removeAll() {
        strings.removeAll(keepingCapacity: true)
        index = nil
    }
}

// MARK: - Decoder

/// Decodes one CBOR data item from a byte range into a `CBORItem`, resolving string references.
///
/// Every length is checked against the bytes left before anything is allocated, nesting is limited, and any
/// malformation throws `CBORDecodingError`: garbage never traps.
/// The byte-level reading the two CBOR decoders share (the item decoder below and `CBOREventDecoder`): one byte,
/// a big-endian unsigned integer, the argument of an item's head. Mutating, so a debug build passes the decoder by
/// reference rather than copying it per call (1,000 nested levels must fit the stack).
protocol CBORByteReading {
    associatedtype Bytes: RandomAccessCollection<UInt8> where Bytes.Index == Int
    var bytes: Bytes { get }
    var end: Int { get }
    var position: Int { get set }
    mutating func failure(_ message: String) -> CBORDecodingError
}

extension CBORByteReading {
    mutating func readByte() throws(CBORDecodingError) -> UInt8 {
        guard position < end else { throw failure("unexpected end of data") }
        let b = bytes[position]
        position += 1
        return b
    }

    mutating func readUInt(byteCount: Int) throws(CBORDecodingError) -> UInt64 {
        guard end - position >= byteCount else { throw failure("unexpected end of data") }
        var v: UInt64 = 0
        for i in 0..<byteCount { v = v << 8 | UInt64(bytes[position + i]) }
        position += byteCount
        return v
    }

    /// The floating-point number of a major-type-7 header whose low five bits are `info` (25 half, 26 single, 27
    /// double precision); nil for another simple value.
    mutating func readFloat(_ info: UInt8) throws(CBORDecodingError) -> Double? {
        switch info {
        case 25: return CBORDecoder.halfToDouble(UInt16(try readUInt(byteCount: 2)))
        case 26: return Double(Float(bitPattern: UInt32(try readUInt(byteCount: 4))))
        case 27: return Double(bitPattern: try readUInt(byteCount: 8))
        default: return nil
        }
    }

    /// The argument of a header whose low five bits are `info`; nil for indefinite length (31).
    mutating func readArgument(_ info: UInt8) throws(CBORDecodingError) -> UInt64? {
        switch info {
        case 0..<24: return UInt64(info)
        case 24: return try readUInt(byteCount: 1)
        case 25: return try readUInt(byteCount: 2)
        case 26: return try readUInt(byteCount: 4)
        case 27: return try readUInt(byteCount: 8)
        case 31: return nil
        default: throw failure("reserved additional information \(info)")
        }
    }
}

struct CBORDecoder: CBORByteReading {
    /// Logstash's nesting limit (`StreamReadConstraints`).
    static let maximumDepth = 1000

    let bytes: [UInt8]
    private let start: Int
    let end: Int
    var position: Int
    private var depth = 0
    /// One string table per open stringref namespace, innermost last.
    private var namespaces: [[CBORItem]] = []

    init(_ bytes: [UInt8], range: Range<Int>? = nil) {
        self.bytes = bytes
        let r = range ?? 0..<bytes.count
        start = r.lowerBound
        end = r.upperBound
        position = r.lowerBound
    }

    /// Decodes the whole range as exactly one item.
    static func decodeSingleItem(_ bytes: [UInt8], range: Range<Int>? = nil) throws(CBORDecodingError) -> CBORItem {
        var decoder = CBORDecoder(bytes, range: range)
        let item = try decoder.decodeItem()
        guard decoder.position == decoder.end else { throw decoder.failure("\(decoder.end - decoder.position) trailing bytes") }
        return item
    }

    func failure(_ message: String) -> CBORDecodingError {
        CBORDecodingError(offset: position - start, message: message)
    }


    private func peekIsBreak() -> Bool { position < end && bytes[position] == 0xFF }

    /// A definite length that must fit in the remaining bytes (each element needing at least `minimumItemSize`).
    private func checkedCount(_ n: UInt64, minimumItemSize: Int) throws(CBORDecodingError) -> Int {
        let left = UInt64(end - position)
        guard n <= left / UInt64(minimumItemSize) else { throw failure("length \(n) exceeds the remaining \(left) bytes") }
        return Int(n)
    }

    mutating func decodeItem() throws(CBORDecodingError) -> CBORItem {
        let initial = try readByte()
        let major = initial >> 5
        let info = initial & 0x1F
        switch major {
        case 0:
            guard let v = try readArgument(info) else { throw failure("indefinite integer") }
            return .unsigned(v)
        case 1:
            guard let v = try readArgument(info) else { throw failure("indefinite integer") }
            return .negative(v)
        case 2, 3:
            return try decodeString(major: major, info: info)
        case 4:
            try enterNesting()
            defer { depth -= 1 }
            return try decodeArray(info)
        case 5:
            try enterNesting()
            defer { depth -= 1 }
            return try decodeMap(info)
        case 6:
            guard let tag = try readArgument(info) else { throw failure("indefinite tag") }
            try enterNesting()
            defer { depth -= 1 }
            return try decodeTag(tag)
        default:
            return try decodeSimple(info)
        }
    }

    private mutating func enterNesting() throws(CBORDecodingError) {
        guard depth < CBORDecoder.maximumDepth else { throw failure("nesting deeper than \(CBORDecoder.maximumDepth)") }
        depth += 1
    }

    private mutating func decodeString(major: UInt8, info: UInt8) throws(CBORDecodingError) -> CBORItem {
        guard let n = try readArgument(info) else { return try decodeChunkedString(major: major) }
        let count = try checkedCount(n, minimumItemSize: 1)
        let slice = bytes[position..<(position + count)]
        position += count
        let item: CBORItem = major == 3 ? .text(String(decoding: slice, as: UTF8.self)) : .bytes(Array(slice))
        rememberReference(item, byteCount: count)
        return item
    }

    /// Appends a fully written string to the innermost namespace's table when long enough (stringref rule).
    private mutating func rememberReference(_ item: CBORItem, byteCount: Int) {
        guard !namespaces.isEmpty else { return }
        let n = namespaces[namespaces.count - 1].count
        if byteCount >= CBORWriter.minimumReferencedLength(tableCount: n) {
            namespaces[namespaces.count - 1].append(item)
        }
    }

    private mutating func decodeChunkedString(major: UInt8) throws(CBORDecodingError) -> CBORItem {
        var joined: [UInt8] = []
        while true {
            let b = try readByte()
            if b == 0xFF { break }
            guard b >> 5 == major, let n = try readArgument(b & 0x1F) else {
                throw failure("invalid chunk in an indefinite-length string")
            }
            let count = try checkedCount(n, minimumItemSize: 1)
            joined.append(contentsOf: bytes[position..<(position + count)])
            position += count
        }
        return major == 3 ? .text(String(decoding: joined, as: UTF8.self)) : .bytes(joined)
    }

    private mutating func decodeArray(_ info: UInt8) throws(CBORDecodingError) -> CBORItem {
        var items: [CBORItem] = []
        if let n = try readArgument(info) {
            let count = try checkedCount(n, minimumItemSize: 1)
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try decodeItem()) }
        } else {
            while true {
                guard position < end else { throw failure("unterminated array") }
                if peekIsBreak() {
                    position += 1
                    break
                }
                items.append(try decodeItem())
            }
        }
        return .array(items)
    }

    private mutating func decodeMap(_ info: UInt8) throws(CBORDecodingError) -> CBORItem {
        var pairs: [CBORPair] = []
        if let n = try readArgument(info) {
            let count = try checkedCount(n, minimumItemSize: 2)
            pairs.reserveCapacity(count)
            for _ in 0..<count { pairs.append(CBORPair(key: try decodeItem(), value: try decodeItem())) }
        } else {
            while true {
                guard position < end else { throw failure("unterminated map") }
                if peekIsBreak() {
                    position += 1
                    break
                }
                let key = try decodeItem()
                pairs.append(CBORPair(key: key, value: try decodeItem()))
            }
        }
        return .map(pairs)
    }

    private mutating func decodeTag(_ tag: UInt64) throws(CBORDecodingError) -> CBORItem {
        switch tag {
        case 256:
            namespaces.append([])
            defer { namespaces.removeLast() }
            return try decodeItem()
        case 25:
            let indexItem = try decodeItem()
            guard case .unsigned(let index) = indexItem else { throw failure("string reference index is not an integer") }
            guard let table = namespaces.last else { throw failure("string reference outside a stringref namespace") }
            guard index < UInt64(table.count) else { throw failure("string reference \(index) not in the table") }
            return table[Int(index)]
        case 55799:
            return try decodeItem()
        default:
            return .tagged(tag, try decodeItem())
        }
    }

    private mutating func decodeSimple(_ info: UInt8) throws(CBORDecodingError) -> CBORItem {
        if let number = try readFloat(info) { return .float(number) }
        switch info {
        case 20: return .bool(false)
        case 21: return .bool(true)
        case 22, 23: return .null
        case 31: throw failure("unexpected break")
        default: throw failure("unsupported simple value \(info)")
        }
    }

    static func halfToDouble(_ h: UInt16) -> Double {
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = Double(h & 0x3FF)
        let magnitude: Double
        if exponent == 0 {
            magnitude = mantissa * 0x1p-24
        } else if exponent == 31 {
            magnitude = mantissa == 0 ? .infinity : .nan
        } else {
            magnitude = (1 + mantissa / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
        }
        return h & 0x8000 != 0 ? -magnitude : magnitude
    }
}

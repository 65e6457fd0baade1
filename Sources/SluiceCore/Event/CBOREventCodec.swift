/// Encodes and decodes events in the CBOR form Logstash's `CBOR_MAPPER` uses for dead letter queue entries
/// (`DLQ-FORMAT.md` §5): a `java.util.HashMap` wrapper around `DATA` (the fields) and `META` (`@metadata`), every
/// value wrapped in its Java class name as Jackson's default typing does, optionally with string references.
public enum CBOREventCodec {
    /// Class names Logstash writes.
    enum ClassName {
        static let hashMap = "java.util.HashMap"
        static let convertedMap = "org.logstash.ConvertedMap"
        static let convertedList = "org.logstash.ConvertedList"
        static let rubyString = "org.jruby.RubyString"
        static let rubyNil = "org.jruby.RubyNil"
        static let timestamp = "org.logstash.Timestamp"
    }

    /// The same names and the two root keys, encoded once for the writer.
    private enum Encoded {
        static let hashMap = CBORConstantText(ClassName.hashMap)
        static let convertedMap = CBORConstantText(ClassName.convertedMap)
        static let convertedList = CBORConstantText(ClassName.convertedList)
        static let rubyString = CBORConstantText(ClassName.rubyString)
        static let rubyNil = CBORConstantText(ClassName.rubyNil)
        static let timestamp = CBORConstantText(ClassName.timestamp)
        static let data = CBORConstantText("DATA")
        static let meta = CBORConstantText("META")
    }

    /// How an event is written.
    public struct EncodingOptions: Sendable, Equatable {
        /// Use CBOR string references (tags 256/25), as Logstash 9.2+ does; off gives the form every Logstash 8.x
        /// reads.
        public var stringReferences: Bool
        /// Write a top-level `@version` string bare, as Logstash does for the Java string its `Event` constructor
        /// sets; off wraps it as `org.jruby.RubyString` like every other string.
        public var versionAsJavaString: Bool

        public init(stringReferences: Bool = true, versionAsJavaString: Bool = true) {
            self.stringReferences = stringReferences
            self.versionAsJavaString = versionAsJavaString
        }
    }

    // MARK: Encoding

    /// The CBOR bytes of `event` (fields and metadata) exactly as Logstash writes them.
    public static func encode(_ event: Event, options: EncodingOptions = EncodingOptions()) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        encode(event, options: options, appendingTo: &out)
        return out
    }

    /// Appends the CBOR bytes of `event` to `buffer` (lets the DLQ writer build an entry in one buffer).
    public static func encode(_ event: Event, options: EncodingOptions, appendingTo buffer: inout [UInt8]) {
        var writer = CBORWriter(reusing: buffer, stringReferences: options.stringReferences)
        encode(event, versionAsJavaString: options.versionAsJavaString, to: &writer)
        buffer = writer.takeBytes()
    }

    /// Appends `event` to `writer` (string references as the writer was made), for callers that encode many events
    /// into one buffer (the persisted queue's pushes).
    static func encode(_ event: Event, versionAsJavaString: Bool, to writer: inout CBORWriter) {
        writer.beginNamespaceIfEnabled()
        writer.beginIndefiniteArray()
        writer.text(Encoded.hashMap)
        writer.beginIndefiniteMap()
        writer.text(Encoded.data)
        writeConvertedMap(event.fields, topLevel: versionAsJavaString, skipping: "@metadata", &writer)
        writer.text(Encoded.meta)
        writeConvertedMap(event.metadata, topLevel: false, skipping: nil, &writer)
        writer.end()
        writer.end()
    }

    private static func writeConvertedMap(_ object: Object, topLevel: Bool, skipping: String?, _ w: inout CBORWriter) {
        w.beginIndefiniteArray()
        w.text(Encoded.convertedMap)
        w.beginIndefiniteMap()
        for (key, value) in object where key != skipping {
            w.text(key)
            if topLevel, key == "@version", case .string(let s) = value {
                w.text(s)
            } else {
                writeValue(value, &w)
            }
        }
        w.end()
        w.end()
    }

    private static func writeValue(_ value: Value, _ w: inout CBORWriter) {
        switch value {
        case .null: writeWrapped(Encoded.rubyNil, &w) { $0.null() }
        case .bool(let b): w.bool(b)
        case .int(let i): w.fixedWidthInteger(i)
        case .double(let d): w.double(d)
        case .bigNumber(let n): writeBigNumber(n, &w)
        case .string(let s): writeWrapped(Encoded.rubyString, &w) { $0.text(s) }
        case .timestamp(let t): writeWrapped(Encoded.timestamp, &w) { writeTimestamp(t, &$0) }
        case .object(let o): writeConvertedMap(o, topLevel: false, skipping: nil, &w)
        case .array(let a):
            writeWrapped(Encoded.convertedList, &w) { w in
                w.beginIndefiniteArray()
                for element in a { writeValue(element, &w) }
                w.end()
            }
        }
    }

    /// A timestamp's text, formatted straight into the output when no string reference can be involved.
    private static func writeTimestamp(_ t: Timestamp, _ w: inout CBORWriter) {
        if w.usesReferences { return w.text(LogstashTimestampText.string(t)) }
        w.timestampText(t)
    }

    /// A big integer as Jackson writes a `BigInteger` (tag 2, or tag 3 for a negative one, around the magnitude's
    /// `toByteArray()`), anything else as a `BigDecimal`: tag 4 around `[exponent, mantissa]`.
    private static func writeBigNumber(_ n: BigNumber, _ w: inout CBORWriter) {
        let (negative, digits, exponent) = n.decimalParts
        if exponent == 0 { return writeBigInteger(negative: negative, digits: digits, &w) }
        w.head(6, 4)
        w.head(4, 2)
        w.fixedWidthInteger(exponent)
        if digits.count <= 18 {
            let mantissa = digits.reduce(0) { $0 * 10 + Int($1) }
            w.fixedWidthInteger(negative ? -mantissa : mantissa)
        } else {
            writeBigInteger(negative: negative, digits: digits, &w)
        }
    }

    private static func writeBigInteger(negative: Bool, digits: [UInt8], _ w: inout CBORWriter) {
        var magnitude = BigNumber.magnitude(ofDecimalDigits: digits)
        // Java's `toByteArray()` is two's complement: a positive number whose top bit is set gets a zero byte.
        if magnitude.isEmpty || magnitude[0] & 0x80 != 0 { magnitude.insert(0, at: 0) }
        w.head(6, negative ? 3 : 2)
        w.head(2, UInt64(magnitude.count))
        w.bytes.append(contentsOf: magnitude)
    }

    private static func writeWrapped(
        _ className: CBORConstantText, _ w: inout CBORWriter, _ payload: (inout CBORWriter) -> Void
    ) {
        w.beginIndefiniteArray()
        w.text(className)
        payload(&w)
        w.end()
    }

    // MARK: Decoding

    /// Decodes an event written by Logstash (either stringref form) or by `encode`: the plain form Sluice's queue
    /// writes by `CBORPlainEventDecoder`, anything else by `CBOREventDecoder`. Throws on anything malformed; never
    /// traps. An empty range gives a new empty event, as Logstash reads a zero-length event field.
    public static func decode(_ bytes: [UInt8], range: Range<Int>? = nil) throws(CBORDecodingError) -> Event {
        let r = range ?? 0..<bytes.count
        if r.isEmpty { return Event() }
        if let (data, meta) = CBORPlainEventDecoder.rootObjects(bytes, range: r) { return event(data: data, meta: meta) }
        let (data, meta) = try CBOREventDecoder.rootObjects(bytes, range: r)
        return event(data: data, meta: meta)
    }

    /// The event of decoded `DATA` and `META` maps, as Logstash builds it.
    static func event(data: Object, meta: Object) -> Event {
        let event = Event(fromMap: data)
        for (k, v) in meta { event.metadata[k] = v }
        return event
    }

    /// `DATA` and `META` by the two-pass reference: the whole `CBORItem` tree first, then its interpretation. The
    /// one-pass `CBOREventDecoder` must give exactly this (tests compare them); kept for those tests and for
    /// `decodeItem`'s diagnostics.
    static func referenceRootObjects(_ bytes: [UInt8], range: Range<Int>) throws(CBORDecodingError) -> (data: Object, meta: Object) {
        try rootObjects(of: CBORDecoder.decodeSingleItem(bytes, range: range))
    }

    /// Decodes only the CBOR structure, for diagnostics (`sluice dlq` dumps, tests).
    public static func decodeItem(_ bytes: [UInt8], range: Range<Int>? = nil) throws(CBORDecodingError) -> CBORItem {
        try CBORDecoder.decodeSingleItem(bytes, range: range)
    }

    static func structureError(_ message: String) -> CBORDecodingError {
        CBORDecodingError(offset: 0, message: message)
    }

    /// The root is a `[class, {DATA, META}]` wrapper or a bare `{DATA, META}` map; a missing `META` is empty.
    static func rootObjects(of root: CBORItem) throws(CBORDecodingError) -> (data: Object, meta: Object) {
        var rootMap = root
        if case .array(let items) = root, items.count == 2, case .text = items[0] { rootMap = items[1] }
        guard case .map(let pairs) = rootMap else { throw structureError("the event root is not a map") }
        var data: Object?
        var meta = Object()
        for pair in pairs {
            guard case .text(let key) = pair.key else { continue }
            if key == "DATA" {
                data = try objectValue(pair.value, what: "DATA")
            } else if key == "META" {
                meta = try objectValue(pair.value, what: "META")
            }
        }
        guard let data else { throw structureError("the event has no DATA map") }
        return (data, meta)
    }

    private static func objectValue(_ item: CBORItem, what: String) throws(CBORDecodingError) -> Object {
        guard case .object(let o) = try value(of: item) else { throw structureError("\(what) is not a map") }
        return o
    }

    /// Interprets one CBOR item as a Logstash value (§5.7): wrappers unwrapped by class name, bare values accepted.
    static func value(of item: CBORItem) throws(CBORDecodingError) -> Value {
        switch item {
        case .unsigned(let u): return u <= UInt64(Int.max) ? .int(Int(u)) : .double(Double(u))
        case .negative(let n): return n <= UInt64(Int.max) ? .int(-1 - Int(n)) : .double(-1 - Double(n))
        case .bytes(let b): return .string(String(decoding: b, as: UTF8.self))
        case .text(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .null: return .null
        case .float(let d): return .double(d)
        case .map(let pairs): return .object(try object(of: pairs))
        case .tagged(let tag, let content): return try taggedValue(tag, content)
        case .array(let items):
            if items.count == 2, case .text(let className) = items[0] {
                return try wrappedValue(className: className, payload: items[1])
            }
            return .array(try values(of: items))
        }
    }

    private static func values(of items: [CBORItem]) throws(CBORDecodingError) -> [Value] {
        var out: [Value] = []
        out.reserveCapacity(items.count)
        for item in items { out.append(try value(of: item)) }
        return out
    }

    private static func object(of pairs: [CBORPair]) throws(CBORDecodingError) -> Object {
        var o = Object(minimumCapacity: pairs.count)
        for pair in pairs {
            guard case .text(let key) = pair.key else { throw structureError("a map key is not text") }
            o[key] = try value(of: pair.value)
        }
        return o
    }

    /// `[className, payload]`: list payloads hold values directly, map payloads are maps of values, scalars are
    /// converted by class (timestamps parsed). Unknown class names are unwrapped generically.
    private static func wrappedValue(className: String, payload: CBORItem) throws(CBORDecodingError) -> Value {
        switch payload {
        case .array(let items): return .array(try values(of: items))
        case .map(let pairs): return .object(try object(of: pairs))
        default: break
        }
        let v = try value(of: payload)
        switch className {
        case ClassName.timestamp:
            if case .string(let s) = v, let t = Timestamp.parseISO8601(s) { return .timestamp(t) }
            return v
        case ClassName.rubyNil:
            return .null
        case "java.lang.Float", "java.lang.Double", "org.jruby.RubyFloat", "java.math.BigDecimal":
            if case .int(let i) = v { return .double(Double(i)) }
            return v
        default:
            return v
        }
    }

    /// Tags 2/3 (bignums in Jackson's two's-complement form) and 4 (decimal fractions); others are unwrapped.
    private static func taggedValue(_ tag: UInt64, _ content: CBORItem) throws(CBORDecodingError) -> Value {
        switch (tag, content) {
        case (2, .bytes(let b)): return bigInteger(twosComplement: b, negate: false)
        case (3, .bytes(let b)): return bigInteger(twosComplement: b, negate: true)
        case (4, .array(let parts)) where parts.count == 2:
            guard case .int(let exponent) = try value(of: parts[0]), isDecimalExponent(exponent) else {
                throw structureError("invalid decimal fraction exponent")
            }
            guard let v = decimalFraction(exponent: exponent, mantissa: try value(of: parts[1])) else {
                throw structureError("invalid decimal fraction mantissa")
            }
            return v
        default:
            return try value(of: content)
        }
    }

    /// A decimal fraction's exponent Sluice reads (`Int.min` included in the refusal: its magnitude is no `Int`).
    static func isDecimalExponent(_ e: Int) -> Bool { e > -100_000 && e < 100_000 }

    /// `mantissa × 10^exponent`: a double when the mantissa is an `int` and the product is a finite double, else kept
    /// exact; nil when the mantissa is not a number.
    static func decimalFraction(exponent: Int, mantissa mantissaValue: Value) -> Value? {
        guard let mantissa = mantissaValue.numberValue else { return nil }
        let scale = power(ofTen: abs(exponent))
        let approximation = exponent < 0 ? mantissa / scale : mantissa * scale
        if approximation.isFinite, approximation != 0 || mantissa == 0, case .int = mantissaValue {
            return .double(approximation)
        }
        // Beyond a double (1E+400) or with a big mantissa: kept exact, as Logstash's BigDecimal.
        return .bigNumber(BigNumber(text: "\(mantissaValue.interpolated)E\(exponent)"))
    }

    private static func power(ofTen exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<min(exponent, 400) { result *= 10 }
        return result
    }

    /// A signed big-endian two's-complement integer (Java's `BigInteger(byte[])`), negated for tag 3; an `int` when it
    /// fits, else a `double`.
    static func bigInteger(twosComplement bytes: [UInt8], negate: Bool) -> Value {
        guard let first = bytes.first else { return .int(0) }
        let negative = first & 0x80 != 0
        var magnitude = 0.0
        var exact: UInt64 = 0
        var fits = true
        for b in bytes {
            let byte = negative ? ~b : b
            magnitude = magnitude * 256 + Double(byte)
            if exact > UInt64.max >> 8 { fits = false }
            exact = exact &<< 8 | UInt64(byte)
        }
        // For a negative two's-complement value, the magnitude is (~bits) + 1.
        if negative {
            magnitude += 1
            if exact == UInt64.max { fits = false } else { exact += 1 }
        }
        let isNegative = negative != negate
        if fits {
            if !isNegative, exact <= UInt64(Int.max) { return .int(Int(exact)) }
            if isNegative, exact <= UInt64(Int.max) + 1 { return .int(exact == UInt64(Int.max) + 1 ? Int.min : -Int(exact)) }
        }
        // Beyond 64 bits: kept exact, as Logstash's BigInteger.
        var bits = bytes.map { negative ? ~$0 : $0 }
        if negative {
            // (~bits) + 1, carried from the last byte.
            var k = bits.count - 1
            while k >= 0 {
                let (sum, overflow) = bits[k].addingReportingOverflow(1)
                bits[k] = sum
                if !overflow { break }
                k -= 1
            }
            if k < 0 { bits.insert(1, at: 0) }
        }
        _ = magnitude
        let digits = BigNumber.decimalText(ofMagnitude: bits)
        return .bigNumber(BigNumber(text: isNegative ? "-" + digits : digits))
    }
}

/// Timestamp text as Logstash prints it (`org.logstash.Timestamp#toString`): UTC, `Z`, 3, 6 or 9 fraction digits,
/// the fewest that are exact. Used for `entry_time` and for wrapped timestamps; allocation-free on the byte path.
enum LogstashTimestampText {
    static func string(_ t: Timestamp) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(30)
        append(t, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The length `append` will write.
    static func byteCount(_ t: Timestamp) -> Int {
        let f = t.fields()
        guard (0...9999).contains(f.year) else { return t.iso8601.utf8.count }
        let ns = Int(t.nanoseconds)
        return 21 + (ns % 1_000_000 == 0 ? 3 : ns % 1000 == 0 ? 6 : 9)
    }

    static func append(_ t: Timestamp, to out: inout [UInt8]) {
        let f = t.fields()
        guard (0...9999).contains(f.year) else {
            t.appendISO8601(to: &out)
            return
        }
        appendDigits(f.year, 4, &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(f.month, 2, &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(f.day, 2, &out)
        out.append(UInt8(ascii: "T"))
        appendDigits(f.hour, 2, &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(f.minute, 2, &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(f.second, 2, &out)
        out.append(UInt8(ascii: "."))
        let ns = Int(t.nanoseconds)
        if ns % 1_000_000 == 0 {
            appendDigits(ns / 1_000_000, 3, &out)
        } else if ns % 1000 == 0 {
            appendDigits(ns / 1000, 6, &out)
        } else {
            appendDigits(ns, 9, &out)
        }
        out.append(UInt8(ascii: "Z"))
    }

    /// `value` in `width` digits, zero-padded; written from the right, dividing by the constant 10 (a multiply).
    private static func appendDigits(_ value: Int, _ width: Int, _ out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width))
        out.withUnsafeMutableBufferPointer { digits in
            var v = value, i = start + width - 1
            while v > 0 && i >= start {
                digits[i] = UInt8(truncatingIfNeeded: 48 + v % 10)
                v /= 10
                i -= 1
            }
        }
    }
}

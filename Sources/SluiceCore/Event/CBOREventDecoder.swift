/// Decodes Logstash's CBOR event form (`DLQ-FORMAT.md` §5) straight into field maps in one pass over the bytes, with
/// no intermediate `CBORItem` tree: the hot path of `sluice dlq list`, the `dead_letter_queue` input, redrive and the
/// persisted queue.
///
/// It gives exactly what the two-pass reference gives (`CBORDecoder` for the structure, then
/// `CBOREventCodec.rootObjects` for the meaning): the same values, and for malformed input the same error. Structural
/// errors are thrown where they are met, in the reference's order of checks. Errors of interpretation (a map key
/// that is not text, a bad decimal fraction, a root that is not a map) are held in `pending` and thrown only once the
/// whole item has been read, because the reference interprets only after a complete structural pass — a structural
/// error later in the bytes wins over them. Nesting is bounded at `CBORDecoder.maximumDepth`, like the reference.
struct CBOREventDecoder: CBORByteReading {
    /// What a caller may need to know about a decoded item besides its value: the reference's interpretation looks
    /// at an item's CBOR shape (is it text, bytes, an unsigned integer, an array or a map) before its value.
    enum Decoded {
        /// A definite-length string at `start..<start + count` of the input, met directly or through a string
        /// reference (tag 25): not materialised until someone needs it, so that class names cost a byte compare.
        case string(start: Int, count: Int, isText: Bool)
        /// An indefinite-length string, chunks joined.
        case joined([UInt8], isText: Bool)
        /// Major type 0: a string reference's index must be one.
        case unsigned(UInt64)
        /// An array or a map, interpreted (a `[class, payload]` array already unwrapped).
        case container(Value)
        /// A two-item array `[text, x]` decoded as a possible wrapper payload: its value as a wrapper; its value as
        /// a plain list (a wrapper's array payload is taken as a list, never unwrapped) is in `candidateList`.
        case wrapperCandidate(Value)
        /// A two-item array decoded as a tag-4 decimal fraction's content: the items are in `decimalParts`.
        case pair
        /// The event root: its maps are in `root`.
        case root
        /// Anything else, interpreted.
        case scalar(Value)
    }
    // The rarely used results live beside the decoder rather than in `Decoded`: every recursion level holds
    // `Decoded` temporaries, and a small one keeps 1,000 levels within a thread's stack in a debug build too.

    /// How the item about to be read is looked at by its container.
    enum Mode {
        /// As a value.
        case value
        /// As the second item of an array whose first is text: it may be a wrapper's payload.
        case payload
        /// As a tag-4 decimal fraction's content.
        case decimal
        /// As the event root: a `[class, {DATA, META}]` wrapper or a bare map.
        case root
        /// As the map inside a root wrapper.
        case rootMap
    }

    /// A definite string in the input, as a stringref namespace numbers it.
    struct Reference {
        var start: Int
        var count: Int
        var isText: Bool
    }

    let bytes: UnsafeBufferPointer<UInt8>
    private let start: Int
    let end: Int
    var position: Int
    private var depth = 0
    /// One string table per open stringref namespace, innermost last.
    private var namespaces: [[Reference]] = []
    /// The first interpretation error met, thrown once the structure has been read to the end.
    private var pending: CBORDecodingError?
    /// The list value of the `wrapperCandidate` just returned.
    private var candidateList = Value.null
    /// The items of the `pair` just returned, each with the first interpretation error met inside it (the reference
    /// checks the exponent between the two).
    private var decimalParts: (exponent: Value, exponentError: CBORDecodingError?, mantissa: Value, mantissaError: CBORDecodingError?)?
    /// The `DATA` (nil when absent) and `META` maps of the `root` just returned.
    private var root: (data: Object?, meta: Object)?

    init(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        self.bytes = bytes
        start = range.lowerBound
        end = range.upperBound
        position = range.lowerBound
    }

    /// The `DATA` and `META` maps of the event in `range` of `bytes` (a non-empty range).
    static func rootObjects(_ bytes: [UInt8], range: Range<Int>) throws(CBORDecodingError) -> (data: Object, meta: Object) {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count)
        // `withUnsafeBufferPointer` rethrows untyped; carry the typed error out through a Result.
        let result: Result<(data: Object, meta: Object), CBORDecodingError> = bytes.withUnsafeBufferPointer { buffer in
            var decoder = CBOREventDecoder(buffer, range: range)
            do throws(CBORDecodingError) {
                return .success(try decoder.decodeEvent())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private mutating func decodeEvent() throws(CBORDecodingError) -> (data: Object, meta: Object) {
        let decoded = try decode(.root)
        guard position == end else { throw failure("\(end - position) trailing bytes") }
        guard case .root = decoded, let (data, meta) = root else {
            throw CBOREventCodec.structureError("the event root is not a map")
        }
        if let pending { throw pending }
        guard let data else { throw CBOREventCodec.structureError("the event has no DATA map") }
        return (data, meta)
    }

    // MARK: Bytes

    // The helpers below are `mutating` or static although most only read: a debug build copies the whole decoder
    // into a new stack slot for every call of a non-mutating method, and 1,000 nested levels must fit a stack.

    mutating func failure(_ message: String) -> CBORDecodingError {
        CBORDecodingError(offset: position - start, message: message)
    }

    /// Keeps the first interpretation error.
    private mutating func hold(_ error: CBORDecodingError) {
        if pending == nil { pending = error }
    }


    /// A definite length that must fit in the remaining bytes (each element needing at least `minimumItemSize`).
    private mutating func checkedCount(_ n: UInt64, minimumItemSize: Int) throws(CBORDecodingError) -> Int {
        let left = UInt64(end - position)
        guard n <= left / UInt64(minimumItemSize) else { throw failure("length \(n) exceeds the remaining \(left) bytes") }
        return Int(n)
    }

    /// Whether the container has an element at `index`: below `count`, or (indefinite length) no break byte next,
    /// which is consumed.
    private mutating func hasElement(_ count: Int?, _ index: Int, unterminated: String) throws(CBORDecodingError) -> Bool {
        if let count { return index < count }
        guard position < end else { throw failure(unterminated) }
        if bytes[position] == 0xFF {
            position += 1
            return false
        }
        return true
    }

    private mutating func enterNesting() throws(CBORDecodingError) {
        guard depth < CBORDecoder.maximumDepth else { throw failure("nesting deeper than \(CBORDecoder.maximumDepth)") }
        depth += 1
    }

    // MARK: Items

    private mutating func decode(_ mode: Mode) throws(CBORDecodingError) -> Decoded {
        let initial = try readByte()
        let info = initial & 0x1F
        switch initial >> 5 {
        case 0:
            guard let v = try readArgument(info) else { throw failure("indefinite integer") }
            return .unsigned(v)
        case 1:
            guard let n = try readArgument(info) else { throw failure("indefinite integer") }
            return .scalar(n <= UInt64(Int.max) ? .int(-1 - Int(n)) : .double(-1 - Double(n)))
        case 2:
            return try decodeString(isText: false, info: info)
        case 3:
            return try decodeString(isText: true, info: info)
        case 4:
            try enterNesting()
            defer { depth -= 1 }
            switch mode {
            case .root: return try decodeRootArray(info)
            case .decimal: return try decodeDecimalContent(info)
            case .payload: return try decodeArray(info, payload: true)
            case .value, .rootMap: return try decodeArray(info, payload: false)
            }
        case 5:
            try enterNesting()
            defer { depth -= 1 }
            if mode == .root || mode == .rootMap { return try decodeRootMap(info) }
            return .container(.object(try decodeMap(info)))
        case 6:
            guard let tag = try readArgument(info) else { throw failure("indefinite tag") }
            try enterNesting()
            defer { depth -= 1 }
            return try decodeTag(tag, mode)
        default:
            return .scalar(try decodeSimple(info))
        }
    }

    /// The reference's interpretation of an item as a Logstash value.
    private mutating func value(_ d: Decoded) -> Value {
        switch d {
        case .string(let s, let n, _): return .string(String(decoding: UnsafeBufferPointer(rebasing: bytes[s..<(s + n)]), as: UTF8.self))
        case .joined(let b, _): return .string(String(decoding: b, as: UTF8.self))
        case .unsigned(let u): return u <= UInt64(Int.max) ? .int(Int(u)) : .double(Double(u))
        case .container(let v), .scalar(let v), .wrapperCandidate(let v): return v
        case .pair, .root: return .null  // only returned to the callers that asked for them
        }
    }

    /// The text of an item that is a CBOR text string, nil otherwise.
    private mutating func text(_ d: Decoded) -> String? {
        switch d {
        case .string(let s, let n, true): return String(decoding: UnsafeBufferPointer(rebasing: bytes[s..<(s + n)]), as: UTF8.self)
        case .joined(let b, true): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }

    private static func isText(_ d: Decoded) -> Bool {
        switch d {
        case .string(_, _, true), .joined(_, true): return true
        default: return false
        }
    }

    /// Whether a text item's bytes are `literal`'s.
    private mutating func textEquals(_ d: Decoded, _ literal: StaticString) -> Bool {
        let l = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        switch d {
        case .string(let s, let n, true): return n == l.count && UnsafeBufferPointer(rebasing: bytes[s..<(s + n)]).elementsEqual(l)
        case .joined(let b, true): return b.count == l.count && b.elementsEqual(l)
        default: return false
        }
    }

    private mutating func decodeString(isText: Bool, info: UInt8) throws(CBORDecodingError) -> Decoded {
        guard let n = try readArgument(info) else { return try decodeChunkedString(isText: isText) }
        let count = try checkedCount(n, minimumItemSize: 1)
        let s = position
        position += count
        if !namespaces.isEmpty {
            let last = namespaces.count - 1
            if count >= CBORWriter.minimumReferencedLength(tableCount: namespaces[last].count) {
                namespaces[last].append(Reference(start: s, count: count, isText: isText))
            }
        }
        return .string(start: s, count: count, isText: isText)
    }

    /// Chunks are joined; an indefinite-length string is never numbered in a stringref namespace.
    private mutating func decodeChunkedString(isText: Bool) throws(CBORDecodingError) -> Decoded {
        let major: UInt8 = isText ? 3 : 2
        var joined: [UInt8] = []
        while true {
            let b = try readByte()
            if b == 0xFF { break }
            guard b >> 5 == major, let n = try readArgument(b & 0x1F) else {
                throw failure("invalid chunk in an indefinite-length string")
            }
            let count = try checkedCount(n, minimumItemSize: 1)
            joined.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[position..<(position + count)]))
            position += count
        }
        return .joined(joined, isText: isText)
    }

    private mutating func definiteCount(_ info: UInt8, minimumItemSize: Int) throws(CBORDecodingError) -> Int? {
        guard let n = try readArgument(info) else { return nil }
        return try checkedCount(n, minimumItemSize: minimumItemSize)
    }

    /// An array: `[text, x]` is a wrapper (Jackson's default typing), anything else a list. With `payload`, a
    /// wrapper also reports its value as a list, for a parent wrapper whose payload it turns out to be.
    private mutating func decodeArray(_ info: UInt8, payload: Bool) throws(CBORDecodingError) -> Decoded {
        let count = try definiteCount(info, minimumItemSize: 1)
        guard try hasElement(count, 0, unterminated: "unterminated array") else { return .container(.array([])) }
        let first = try decode(.value)
        guard Self.isText(first) else {
            var items: [Value] = []
            items.reserveCapacity(count ?? 4)
            items.append(value(first))
            var i = 1
            while try hasElement(count, i, unterminated: "unterminated array") {
                items.append(value(try decode(.value)))
                i += 1
            }
            return .container(.array(items))
        }
        guard try hasElement(count, 1, unterminated: "unterminated array") else { return .container(.array([value(first)])) }
        let second = try decode(.payload)
        guard try hasElement(count, 2, unterminated: "unterminated array") else {
            let wrapped = wrap(className: first, payload: second)
            guard payload else { return .container(wrapped) }
            candidateList = .array([value(first), value(second)])
            return .wrapperCandidate(wrapped)
        }
        var items: [Value] = [value(first), value(second)]
        var i = 2
        repeat {
            items.append(value(try decode(.value)))
            i += 1
        } while try hasElement(count, i, unterminated: "unterminated array")
        return .container(.array(items))
    }

    /// `[className, payload]` (the reference's `wrappedValue`): an array payload is a list, a map payload an
    /// object, anything else a value converted by class.
    private mutating func wrap(className: Decoded, payload: Decoded) -> Value {
        switch payload {
        case .container(let v): return v
        case .wrapperCandidate: return candidateList  // set by the payload, the last item decoded
        default: break
        }
        // Byte compares give what the reference's `String` compares give: none of these ASCII names has a
        // canonically equivalent non-ASCII spelling.
        if textEquals(className, "org.logstash.Timestamp") {
            // Parsed from the bytes: the same result as from the text (see `parseISO8601(utf8:)`), no `String`.
            if case .string(let s, let n, _) = payload,
               let t = Timestamp.parseISO8601(utf8: Array(UnsafeBufferPointer(rebasing: bytes[s..<(s + n)]))) {
                return .timestamp(t)
            }
            let v = value(payload)
            if case .string(let s) = v, let t = Timestamp.parseISO8601(s) { return .timestamp(t) }
            return v
        }
        if textEquals(className, "org.jruby.RubyNil") { return .null }
        let v = value(payload)
        if case .int(let i) = v,
           textEquals(className, "java.lang.Float") || textEquals(className, "java.lang.Double")
            || textEquals(className, "org.jruby.RubyFloat") || textEquals(className, "java.math.BigDecimal") {
            return .double(Double(i))
        }
        return v
    }

    /// A tag-4 content that is an array: two items give a `pair` with each item's own first interpretation error,
    /// any other count a list.
    private mutating func decodeDecimalContent(_ info: UInt8) throws(CBORDecodingError) -> Decoded {
        let count = try definiteCount(info, minimumItemSize: 1)
        let held = pending
        var errors: (CBORDecodingError?, CBORDecodingError?) = (nil, nil)
        var items: [Value] = []
        var i = 0
        while try hasElement(count, i, unterminated: "unterminated array") {
            if i < 2 { pending = nil }
            items.append(value(try decode(.value)))
            if i == 0 { errors.0 = pending }
            if i == 1 {
                errors.1 = pending
                pending = held ?? errors.0 ?? errors.1
            }
            i += 1
        }
        if i == 2 {
            pending = held
            decimalParts = (items[0], errors.0, items[1], errors.1)
            return .pair
        }
        if i < 2 { pending = held ?? errors.0 }
        return .container(.array(items))
    }

    private mutating func decodeMap(_ info: UInt8) throws(CBORDecodingError) -> Object {
        let count = try definiteCount(info, minimumItemSize: 2)
        var o = Object(minimumCapacity: count ?? 8)
        var i = 0
        while try hasElement(count, i, unterminated: "unterminated map") {
            // A key is only looked at for being text: what is wrong inside one that is not is never reported.
            let held = pending
            let key = text(try decode(.value))
            pending = held
            if key == nil { hold(CBOREventCodec.structureError("a map key is not text")) }
            let v = value(try decode(.value))
            if let key { o[key] = v }
            i += 1
        }
        return o
    }

    private mutating func decodeTag(_ tag: UInt64, _ mode: Mode) throws(CBORDecodingError) -> Decoded {
        switch tag {
        case 256:
            namespaces.append([])
            defer { namespaces.removeLast() }
            return try decode(mode)
        case 25:
            let index = try decode(.value)
            guard case .unsigned(let i) = index else { throw failure("string reference index is not an integer") }
            guard let table = namespaces.last else { throw failure("string reference outside a stringref namespace") }
            guard i < UInt64(table.count) else { throw failure("string reference \(i) not in the table") }
            let r = table[Int(i)]
            return .string(start: r.start, count: r.count, isText: r.isText)
        case 55799:
            return try decode(mode)
        case 2, 3:
            let content = try decode(.value)
            switch content {
            case .string(let s, let n, false):
                return .scalar(CBOREventCodec.bigInteger(twosComplement: Array(bytes[s..<(s + n)]), negate: tag == 3))
            case .joined(let b, false):
                return .scalar(CBOREventCodec.bigInteger(twosComplement: b, negate: tag == 3))
            default:
                return .scalar(value(content))
            }
        case 4:
            let content = try decode(.decimal)
            guard case .pair = content, let (exponent, exponentError, mantissa, mantissaError) = decimalParts else {
                return .scalar(value(content))
            }
            // The reference's order: the exponent's own errors, the exponent check, the mantissa's, its check.
            if let exponentError {
                hold(exponentError)
                return .scalar(.null)
            }
            guard case .int(let e) = exponent, CBOREventCodec.isDecimalExponent(e) else {
                hold(CBOREventCodec.structureError("invalid decimal fraction exponent"))
                return .scalar(.null)
            }
            if let mantissaError {
                hold(mantissaError)
                return .scalar(.null)
            }
            guard let v = CBOREventCodec.decimalFraction(exponent: e, mantissa: mantissa) else {
                hold(CBOREventCodec.structureError("invalid decimal fraction mantissa"))
                return .scalar(.null)
            }
            return .scalar(v)
        default:
            return .scalar(value(try decode(.value)))
        }
    }

    private mutating func decodeSimple(_ info: UInt8) throws(CBORDecodingError) -> Value {
        if let number = try readFloat(info) { return .double(number) }
        switch info {
        case 20: return .bool(false)
        case 21: return .bool(true)
        case 22, 23: return .null
        case 31: throw failure("unexpected break")
        default: throw failure("unsupported simple value \(info)")
        }
    }

    // MARK: The root

    /// `[class, map]` with exactly two items and a text class is a wrapped root; anything else is not a map.
    private mutating func decodeRootArray(_ info: UInt8) throws(CBORDecodingError) -> Decoded {
        let count = try definiteCount(info, minimumItemSize: 1)
        var i = 0
        var second: Decoded?
        var wrapper = false
        while try hasElement(count, i, unterminated: "unterminated array") {
            switch i {
            case 0: wrapper = Self.isText(try decode(.value))
            case 1: second = try decode(wrapper ? .rootMap : .value)
            default: _ = try decode(.value)
            }
            i += 1
        }
        if i == 2, wrapper, let second, case .root = second { return .root }
        return .scalar(.null)
    }

    /// The root map: `DATA` and `META` are interpreted (the last of each wins), other keys are read but not looked at.
    private mutating func decodeRootMap(_ info: UInt8) throws(CBORDecodingError) -> Decoded {
        let count = try definiteCount(info, minimumItemSize: 2)
        var data: Object?
        var meta = Object()
        var i = 0
        while try hasElement(count, i, unterminated: "unterminated map") {
            let held = pending
            let key = try decode(.value)
            pending = held
            let isData = textEquals(key, "DATA")
            if isData || textEquals(key, "META") {
                let v = value(try decode(.value))
                guard case .object(let o) = v else {
                    hold(CBOREventCodec.structureError(isData ? "DATA is not a map" : "META is not a map"))
                    i += 1
                    continue
                }
                if isData { data = o } else { meta = o }
            } else {
                _ = try decode(.value)
                pending = held
            }
            i += 1
        }
        root = (data, meta)
        return .root
    }
}

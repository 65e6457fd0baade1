/// Decodes the plain form `CBOREventCodec.encode` writes without string references — what Sluice's persisted
/// queue holds — in one pass over the bytes, building each value directly (no intermediate `Decoded` per item).
///
/// It accepts only that form: `[java.util.HashMap, {DATA: map, META: map}]`, maps and lists as
/// `org.logstash.ConvertedMap` / `ConvertedList` wrappers, strings as `org.jruby.RubyString`, timestamps as
/// `org.logstash.Timestamp`, nil as `org.jruby.RubyNil`, bare text (the top-level `@version`), integers, doubles
/// and booleans. At the first byte outside it (string references, big numbers, chunked strings, other classes,
/// anything malformed) it gives up and returns nil, and the caller decodes with `CBOREventDecoder`, so what it
/// returns is always what the general decoder returns for the same bytes (tests compare them). Called on the
/// worker that takes a batch.
struct CBORPlainEventDecoder: CBORByteReading {
    let bytes: UnsafeBufferPointer<UInt8>
    var position: Int
    let end: Int
    private var depth = 0
    /// Deeper than this the general decoder takes over (and applies its own bound).
    private static let maximumDepth = 64

    private init(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        self.bytes = bytes
        position = range.lowerBound
        end = range.upperBound
    }

    /// The `DATA` and `META` maps of the event in `range` of `bytes`, or nil when the bytes are not in the plain form.
    static func rootObjects(_ bytes: [UInt8], range: Range<Int>) -> (data: Object, meta: Object)? {
        guard range.lowerBound >= 0, range.upperBound <= bytes.count else { return nil }
        return bytes.withUnsafeBufferPointer { buffer in
            var decoder = CBORPlainEventDecoder(buffer, range: range)
            return decoder.root()
        }
    }

    // MARK: The form

    private mutating func root() -> (data: Object, meta: Object)? {
        guard take(0x9F), takeText("java.util.HashMap"), take(0xBF), takeText("DATA"), case .object(let data)? = value(),
              takeText("META"), case .object(let meta)? = value(), take(0xFF), take(0xFF), position == end
        else { return nil }
        return (data, meta)
    }

    /// One value; nil when it is outside the plain form.
    private mutating func value() -> Value? {
        guard position < end else { return nil }
        let initial = bytes[position]
        switch initial {
        case 0x9F:
            position += 1
            return wrapped()
        case 0xF4, 0xF5:
            position += 1
            return .bool(initial == 0xF5)
        case 0xFB:
            position += 1
            guard let bits = try? readUInt(byteCount: 8) else { return nil }
            return .double(Double(bitPattern: bits))
        case 0x00...0x1B:
            position += 1
            guard let u = argument(initial & 0x1F) else { return nil }
            return u <= UInt64(Int.max) ? .int(Int(u)) : .double(Double(u))
        case 0x20...0x3B:
            position += 1
            guard let n = argument(initial & 0x1F) else { return nil }
            return n <= UInt64(Int.max) ? .int(-1 - Int(n)) : .double(-1 - Double(n))
        case 0x60...0x7B:
            return text().map(stringValue)
        default:
            return nil
        }
    }

    /// The rest of `[className, payload]` after its `9F`, for the classes the encoder writes.
    private mutating func wrapped() -> Value? {
        guard let name = text() else { return nil }
        let result: Value?
        switch name.count {
        case 20 where matches(name, "org.jruby.RubyString"):
            result = text().map(stringValue)
        case 17 where matches(name, "org.jruby.RubyNil"):
            result = take(0xF6) ? .null : nil
        case 22 where matches(name, "org.logstash.Timestamp"):
            result = text().map(timestamp)
        case 25 where matches(name, "org.logstash.ConvertedMap"):
            result = map().map(Value.object)
        case 26 where matches(name, "org.logstash.ConvertedList"):
            result = list().map(Value.array)
        default:
            result = nil
        }
        guard let result, take(0xFF) else { return nil }
        return result
    }

    /// An indefinite map with text keys; a repeated key keeps its last value, as in the general decoder.
    private mutating func map() -> Object? {
        guard take(0xBF), enter() else { return nil }
        defer { depth -= 1 }
        var o = Object(minimumCapacity: 8)
        while position < end && bytes[position] != 0xFF {
            guard let key = text(), let v = value() else { return nil }
            o[string(key)] = v
        }
        guard take(0xFF) else { return nil }
        return o
    }

    /// An indefinite list whose items are not bare text: a list starting with text could be read as a wrapper
    /// (`[text, x]`), which is the general decoder's call.
    private mutating func list() -> [Value]? {
        guard take(0x9F), enter() else { return nil }
        defer { depth -= 1 }
        var items: [Value] = []
        if position < end, (0x60...0x7F).contains(bytes[position]) { return nil }
        while position < end && bytes[position] != 0xFF {
            guard let v = value() else { return nil }
            items.append(v)
        }
        guard take(0xFF) else { return nil }
        return items
    }

    // MARK: Bytes

    private mutating func enter() -> Bool {
        depth += 1
        return depth <= Self.maximumDepth
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard position < end, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// A definite text string's bytes.
    private mutating func text() -> UnsafeBufferPointer<UInt8>? {
        guard position < end, bytes[position] >> 5 == 3 else { return nil }
        let info = bytes[position] & 0x1F
        position += 1
        guard let n = argument(info), n <= UInt64(end - position) else { return nil }
        let s = UnsafeBufferPointer(rebasing: bytes[position..<(position + Int(n))])
        position += Int(n)
        return s
    }

    private mutating func takeText(_ literal: StaticString) -> Bool {
        guard let t = text() else { return false }
        return matches(t, literal)
    }

    /// A header's definite argument for additional information `info`; nil for indefinite, reserved or truncated.
    private mutating func argument(_ info: UInt8) -> UInt64? { (try? readArgument(info)) ?? nil }

    /// Only thrown inside `readArgument` and `readUInt`, whose errors mean "give up" here.
    mutating func failure(_ message: String) -> CBORDecodingError { CBORDecodingError(offset: position, message: message) }

    private func matches(_ t: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        let l = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        return t.count == l.count && t.elementsEqual(l)
    }

    private func string(_ t: UnsafeBufferPointer<UInt8>) -> String { String(decoding: t, as: UTF8.self) }

    private func stringValue(_ t: UnsafeBufferPointer<UInt8>) -> Value { .string(String(decoding: t, as: UTF8.self)) }

    /// A timestamp's text parsed as the general decoder does; text that is not one stays a string.
    private func timestamp(_ t: UnsafeBufferPointer<UInt8>) -> Value {
        if let parsed = Timestamp.parseISO8601(utf8: Array(t)) { return .timestamp(parsed) }
        return stringValue(t)
    }
}

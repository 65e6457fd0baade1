import CSluiceRuby
import SluiceCore

/// Converts between Sluice's `Value` and Ruby values, exactly: strings by their UTF-8 bytes, integers of any size
/// (`.int`, or `.bigNumber` beyond 64 bits), floats, booleans, nil, arrays, hashes (insertion order kept),
/// timestamps as `LogStash::Timestamp`, and big non-integers as `BigDecimal`. Every Ruby value built is new, so a
/// snippet that changes a hash it got from `event.get` changes nothing until it calls `event.set`, as in Logstash.
///
/// Interpreter thread only. Values being built are held in Swift locals, which sit on the interpreter thread's
/// stack (or registers), where Ruby's conservative garbage collector finds them.
enum RubyValues {
    /// A Ruby value for `value`.
    static func ruby(_ value: Value) -> sluice_value {
        switch value {
        case .null: return sluice_rb_nil()
        case .bool(let b): return sluice_rb_bool(b ? 1 : 0)
        case .int(let i): return sluice_rb_int64(Int64(i))
        case .double(let d): return sluice_rb_float(d)
        case .bigNumber(let n):
            if n.isInteger { return n.text.withCString { sluice_rb_integer_text($0) } }
            var decimal: sluice_value = 0
            if sluice_ruby_call1(RubyInterpreter.shared.sluiceModule, "big_decimal", string(n.text), &decimal) == 0 { return decimal }
            return sluice_rb_float(n.doubleValue)
        case .string(let s): return string(s)
        case .timestamp(let t): return sluice_rb_timestamp(t.seconds, t.nanoseconds)
        case .array(let elements):
            let array = sluice_rb_array(elements.count)
            for element in elements { sluice_rb_array_push(array, ruby(element)) }
            return array
        case .object(let object):
            let hash = sluice_rb_hash()
            for (key, element) in object {
                let converted = ruby(element)
                sluice_rb_hash_set(hash, string(key), converted)
            }
            return hash
        }
    }

    /// A Ruby UTF-8 String with the bytes of `text`.
    static func string(_ text: String) -> sluice_value {
        var text = text
        return text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { sluice_rb_utf8($0.baseAddress, $0.count) }
        }
    }

    /// The Swift string of a Ruby String (invalid UTF-8 is repaired, as everywhere in Sluice).
    static func string(_ value: sluice_value) -> String {
        let length = sluice_rb_string_length(value)
        guard length > 0, let bytes = sluice_rb_string_bytes(value) else { return "" }
        return bytes.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    /// The `Value` of a normalised Ruby value (see `Sluice.normalize` in the prelude), or nil for a kind an event
    /// cannot hold.
    static func value(_ value: sluice_value) -> Value? {
        switch Int(sluice_rb_kind(value)) {
        case Int(SLUICE_RB_NIL.rawValue): return .null
        case Int(SLUICE_RB_TRUE.rawValue): return .bool(true)
        case Int(SLUICE_RB_FALSE.rawValue): return .bool(false)
        case Int(SLUICE_RB_INTEGER.rawValue):
            var small: Int64 = 0
            if sluice_rb_integer_int64(value, &small) != 0 { return .int(Int(small)) }
            let text = string(sluice_rb_number_text(value))
            if let fits = Int(text) { return .int(fits) }
            return .bigNumber(BigNumber(text: text))
        case Int(SLUICE_RB_FLOAT.rawValue): return .double(sluice_rb_float_value(value))
        case Int(SLUICE_RB_STRING.rawValue): return .string(string(value))
        case Int(SLUICE_RB_ARRAY.rawValue):
            let count = sluice_rb_array_length(value)
            var elements: [Value] = []
            elements.reserveCapacity(count)
            for i in 0..<count {
                guard let element = self.value(sluice_rb_array_at(value, i)) else { return nil }
                elements.append(element)
            }
            return .array(elements)
        case Int(SLUICE_RB_HASH.rawValue):
            let pairs = sluice_rb_hash_pairs(value)
            let count = sluice_rb_array_length(pairs) / 2
            var object = Object(minimumCapacity: count)
            for i in 0..<count {
                let key = sluice_rb_array_at(pairs, 2 * i)
                guard sluice_rb_kind(key) == Int32(SLUICE_RB_STRING.rawValue),
                    let element = self.value(sluice_rb_array_at(pairs, 2 * i + 1))
                else { return nil }
                object[string(key)] = element
            }
            return .object(object)
        case Int(SLUICE_RB_TIMESTAMP.rawValue):
            var seconds: Int64 = 0
            var nanoseconds: Int32 = 0
            sluice_rb_timestamp_parts(value, &seconds, &nanoseconds)
            return .timestamp(Timestamp(seconds: seconds, nanoseconds: nanoseconds))
        case Int(SLUICE_RB_BIGDECIMAL.rawValue):
            let text = string(sluice_rb_number_text(value))
            return .bigNumber(BigNumber(text: text))
        default:
            return nil
        }
    }
}

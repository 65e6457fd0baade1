import SluiceCore

/// Decodes URL-encoded (percent-encoded) strings (Logstash's `urldecode` filter, 3.0.x).
///
/// Decoding follows Ruby's `CGI.unescape`: `+` is a space, `%XX` a byte, a malformed `%` stays as it is. The bytes are
/// then read in `charset`; invalid UTF-8 becomes Ruby-style `\xNN` escapes, as Logstash's charset converter does.
/// Lists and hashes are decoded element by element. A missing field is set to null, as in Logstash.
public final class UrldecodeFilter: Filter {
    public static let name = "urldecode"
    public static let summary = "Decodes URL-encoded fields."

    public struct Settings: PluginSettings {
        @Setting("field", doc: "The field to decode.")
        var field = "message"
        @Setting("all_fields", doc: "Decodes every top-level field instead of `field`.")
        var allFields = false
        @Setting("charset", doc: "The character set of the decoded bytes; they are converted to UTF-8.")
        var charset = TextCharset.utf8
        @Setting("tag_on_failure", doc: "Tags added when decoding fails.")
        var tagOnFailure = ["_urldecodefailure"]
        public init() {}
    }

    let field: ConfiguredField
    let allFields: Bool
    let charset: TextCharset
    let tagOnFailure: [String]
    let logger: Logger

    public static let canFail = true

    public init(settings: Settings, context: PluginContext) throws {
        field = ConfiguredField(settings.field)
        allFields = settings.allFields
        charset = settings.charset
        tagOnFailure = settings.tagOnFailure
        logger = context.logger
    }

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            do throws(EventOperationError) {
                if allFields {
                    for (key, value) in event.fields {
                        try event.strictSet(FieldReference(path: [key]), decode(value))
                    }
                } else {
                    let ref = try field.reference()
                    try event.strictSet(ref, decode(event.get(ref) ?? .null))
                }
                batch.matched[i] = true
            } catch {
                for tag in tagOnFailure { event.tag(tag) }
                logger.rateLimited(.warn, key: "urldecode", "Error urldecoding {:field=>\(Ruby.inspect(string: field.text)), :exception=>\(Ruby.inspect(string: error.description))}")
                batch.failed(i, reason: "urldecode: cannot decode field [\(field.text)]: \(error.description)")
            }
        }
    }

    func decode(_ value: Value) -> Value {
        switch value {
        case .string(let s): return .string(convert(UrldecodeFilter.unescape(s)))
        case .array(let a): return .array(a.map(decode))
        case .object(let o):
            var out = Object(minimumCapacity: o.count)
            for (k, v) in o { out[k] = decode(v) }
            return .object(out)
        default: return value
        }
    }

    /// Logstash's urldecode (`URI.unescape`): `%XX` → the byte, anything else — `+` included — as is.
    static func unescape(_ s: String) -> [UInt8] {
        let b = Array(s.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "%"), i + 2 < b.count, let h = hex(b[i + 1]), let l = hex(b[i + 2])
            {
                out.append(h << 4 | l)
                i += 3
                continue
            } else {
                out.append(c)
            }
            i += 1
        }
        return out
    }

    static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 65...70: return c - 55
        case 97...102: return c - 87
        default: return nil
        }
    }

    /// Logstash's `Charset#convert`: other charsets are transcoded (undefined bytes become U+FFFD); invalid UTF-8 is
    /// shown as Ruby escapes.
    func convert(_ bytes: [UInt8]) -> String {
        if charset.isUTF8 {
            if let s = String(validating: bytes, as: UTF8.self) { return s }
            return UrldecodeFilter.escapeInvalidUTF8(bytes)
        }
        var s = ""
        s.unicodeScalars.append(contentsOf: bytes.map(charset.scalar))
        return s
    }

    /// `data.inspect[1..-2]` for a string with invalid UTF-8: valid characters as Ruby's inspect writes them,
    /// invalid bytes as `\xNN`.
    static func escapeInvalidUTF8(_ bytes: [UInt8]) -> String {
        var out = ""
        var i = 0
        while i < bytes.count {
            let lead = bytes[i]
            let length = lead < 0x80 ? 1 : lead >= 0xC2 && lead < 0xE0 ? 2 : lead >= 0xE0 && lead < 0xF0 ? 3 : lead >= 0xF0 && lead < 0xF5 ? 4 : 0
            if length > 0, i + length <= bytes.count, let s = String(validating: bytes[i..<(i + length)], as: UTF8.self) {
                out += String(Ruby.inspect(string: s).dropFirst().dropLast())
                i += length
            } else {
                let hex = String(lead, radix: 16, uppercase: true)
                out += "\\x" + (hex.count == 1 ? "0" : "") + hex
                i += 1
            }
        }
        return out
    }
}

extension ConfiguredField {
    /// The field name as configured.
    var text: String {
        switch self {
        case .valid(let ref): return ref.text
        case .invalid(let text): return text
        }
    }
}

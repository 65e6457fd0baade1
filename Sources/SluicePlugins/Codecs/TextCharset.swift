import SluiceCore

/// The `charset` setting of the text codecs (`plain`, `line`, `json`, `json_lines`) and the `urldecode` filter:
/// what the input bytes are read as before they become UTF-8 text, as Logstash's `Charset#convert` does. The
/// single-byte character sets of log sources are transcoded; any other name is refused at start-up.
enum TextCharset: String, SettingEnum {
    case utf8 = "UTF-8"
    case iso88591 = "ISO-8859-1"
    case windows1252 = "Windows-1252"
    case cp1252 = "CP1252"
    case usASCII = "US-ASCII"
    case ascii8bit = "ASCII-8BIT"
    case binary = "BINARY"

    var isUTF8: Bool { self == .utf8 }

    /// The Unicode scalar of one byte in this (single-byte) character set; U+FFFD where it defines none.
    func scalar(_ byte: UInt8) -> Unicode.Scalar {
        if byte < 0x80 { return Unicode.Scalar(byte) }
        switch self {
        case .iso88591: return Unicode.Scalar(byte)
        case .windows1252, .cp1252:
            if byte >= 0xA0 { return Unicode.Scalar(byte) }
            return Unicode.Scalar(TextCharset.windows1252High[Int(byte - 0x80)]) ?? "\u{FFFD}"
        case .utf8, .usASCII, .ascii8bit, .binary: return "\u{FFFD}"
        }
    }

    /// Windows-1252's characters for 0x80…0x9F (0xFFFD where it has none).
    private static let windows1252High: [UInt32] = [
        0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD,
        0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A,
        0x0153, 0xFFFD, 0x017E, 0x0178,
    ]

    /// `bytes` read in this character set, as UTF-8 bytes.
    func transcodedToUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 4)
        for b in bytes {
            if b < 0x80 {
                out.append(b)
            } else {
                out.append(contentsOf: String(Character(scalar(b))).utf8)
            }
        }
        return out
    }

    /// Runs `body` over the input as UTF-8: the bytes themselves for UTF-8, a transcoded copy otherwise.
    func withUTF8<R>(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if isUTF8 { return body(bytes) }
        return transcodedToUTF8(bytes).withUnsafeBufferPointer(body)
    }
}

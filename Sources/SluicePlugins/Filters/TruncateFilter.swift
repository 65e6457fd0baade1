import SluiceCore

/// Truncates string fields to a number of bytes without splitting a UTF-8 character (Logstash's `truncate`
/// filter, 1.0.x).
///
/// Lists have each string element truncated; hashes are walked recursively. Without `fields` every top-level
/// field is treated. Numbers, booleans and timestamps are left alone.
public final class TruncateFilter: Filter {
    public static let name = "truncate"
    public static let summary = "Truncates string fields to a maximum number of bytes."

    public struct Settings: PluginSettings {
        @Setting("fields", doc: "The fields to truncate (lists: each string element; hashes: every value, recursively). When unset, every top-level field is tried.")
        var fields: [FieldReference]? = nil
        @Setting("length_bytes", doc: "The maximum length in bytes; a multi-byte character that would be cut is dropped whole.", required: true)
        var lengthBytes = 0
        public init() {}
    }

    let fields: [FieldReference]?
    let length: Int

    public init(settings: Settings, context: PluginContext) throws {
        fields = settings.fields
        length = settings.lengthBytes
    }

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            var truncated = false
            if let fields {
                for field in fields where truncate(event, field) { truncated = true }
            } else {
                for key in event.fields.orderedKeys where truncate(event, FieldReference(path: [key])) { truncated = true }
            }
            // The decorations (add_tag, …) apply only when something was cut, as in Logstash.
            if truncated { batch.matched[i] = true }
        }
    }

    /// Truncates the value at `ref`; whether anything was cut.
    func truncate(_ event: Event, _ ref: FieldReference) -> Bool {
        guard let value = event.get(ref) else { return false }
        switch value {
        case .string(let s):
            guard s.utf8.count > length else { return false }
            event.set(ref, .string(TruncateFilter.trim(s, length)))
            return true
        case .array(let a):
            var cut = false
            let trimmed = a.map { element -> Value in
                guard case .string(let s) = element, s.utf8.count > length else { return element }
                cut = true
                return .string(TruncateFilter.trim(s, length))
            }
            if cut { event.set(ref, .array(trimmed)) }
            return cut
        case .object(let o):
            var cut = false
            for key in o.orderedKeys where truncate(event, FieldReference(path: ref.path + [key], isMetadata: ref.isMetadata)) {
                cut = true
            }
            return cut
        default:
            return false
        }
    }

    /// The longest prefix of at most `length` bytes that ends on a character boundary ("" for length ≤ 0).
    static func trim(_ s: String, _ length: Int) -> String {
        let bytes = Array(s.utf8)
        if bytes.count <= length { return s }
        if length <= 0 { return "" }
        var end = length
        // Back up over continuation bytes so that the cut falls before a character's lead byte.
        while end > 0 && (bytes[end] & 0xC0) == 0x80 { end -= 1 }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}

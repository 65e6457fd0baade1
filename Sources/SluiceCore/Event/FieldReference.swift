/// A parsed field reference (`message`, `[a][b]`, `[@metadata][x]`), compiled once at start-up.
///
/// Syntax as Logstash's strict `FieldReference`: a bare name is one top-level key (dots are literal); bracketed parts
/// address nested keys; `@metadata` as the first part addresses the event's metadata. Mixing bare and bracketed parts,
/// unbalanced brackets and empty `[]` are invalid. Embedded references (`[[a][b]][c]`) are flattened.
/// A reference deeper than `maximumDepth` keys is invalid too (a Sluice limit, see `maximumDepth`).
public struct FieldReference: Sendable, Hashable, CustomStringConvertible {
    /// The most keys a reference may have: 1,000, the nesting depth Jackson (and so Logstash 8) accepts in JSON
    /// input. Field paths are walked recursively and values are freed recursively, so a path built from event
    /// data (`add_field => { "%{message}" => … }`, `de_dot { nested => true }`) must not be arbitrarily deep.
    public static let maximumDepth = 1000

    /// The keys from the root (of the fields or of the metadata), outermost first.
    public let path: [String]
    /// Whether the reference addresses `@metadata`.
    public let isMetadata: Bool
    /// The text it was parsed from, for messages.
    public let text: String

    /// The error raised for an invalid reference; the message matches Logstash's.
    public struct InvalidError: Error, Sendable, CustomStringConvertible {
        public let text: String
        /// Whether the text is well formed but has more than `maximumDepth` keys.
        public var isTooDeep = false
        public var description: String {
            // A reference built from event data can be megabytes long: quote only its start.
            let shown = text.utf8.count > 200 ? String(text.prefix(200)) + "…" : text
            if isTooDeep { return "Invalid FieldReference: `\(shown)` is nested deeper than \(FieldReference.maximumDepth) levels" }
            return "Invalid FieldReference: `\(shown)`"
        }
    }

    /// Parses `text`, throwing `InvalidError` when it is not a valid reference.
    public init(parsing text: String) throws(InvalidError) {
        guard let parts = FieldReference.split(text) else { throw InvalidError(text: text) }
        guard parts.count <= FieldReference.maximumDepth + (parts.first == "@metadata" ? 1 : 0) else {
            throw InvalidError(text: text, isTooDeep: true)
        }
        self.text = text
        if parts.first == "@metadata" {
            isMetadata = true
            path = Array(parts.dropFirst())
        } else {
            isMetadata = false
            path = parts
        }
    }

    /// A reference known to be valid (used for fixed names such as `@timestamp`, `tags`, `message`).
    public init(_ text: String) {
        do {
            try self.init(parsing: text)
        } catch {
            self.init(path: [text], isMetadata: false, text: text)
        }
    }

    public init(path: [String], isMetadata: Bool = false, text: String? = nil) {
        self.path = path
        self.isMetadata = isMetadata
        self.text = text ?? ((isMetadata ? ["@metadata"] : []) + path).map { "[\($0)]" }.joined()
    }

    public var description: String { text }

    /// True when this is a single top-level key.
    public var isTopLevel: Bool { path.count == 1 && !isMetadata }

    /// The last key, e.g. `b` for `[a][b]`.
    public var leaf: String? { path.last }

    /// Splits reference text into keys, or nil when invalid.
    static func split(_ text: String) -> [String]? {
        if text.isEmpty { return nil }
        if !text.contains("[") && !text.contains("]") { return [text] }
        var parts: [String] = []
        let chars = Array(text)
        var i = 0
        var depth = 0
        var current = ""
        var sawBracket = false
        while i < chars.count {
            let c = chars[i]
            if c == "[" {
                if !current.isEmpty && depth == 0 { return nil }  // bare text before '['
                depth += 1
                sawBracket = true
                if !current.isEmpty {
                    parts.append(current)
                    current = ""
                }
            } else if c == "]" {
                guard depth > 0 else { return nil }
                depth -= 1
                if current.isEmpty {
                    // `[]` is empty unless it closed an embedded reference like `[[a]]`.
                    if i == 0 || chars[i - 1] == "[" { return nil }
                } else {
                    parts.append(current)
                    current = ""
                }
            } else {
                if depth == 0 && sawBracket { return nil }  // bare text after brackets
                current.append(c)
            }
            i += 1
        }
        guard depth == 0, current.isEmpty, !parts.isEmpty else { return nil }
        return parts
    }
}

/// Well-known references, parsed once.
extension FieldReference {
    public static let timestamp = FieldReference("@timestamp")
    public static let version = FieldReference("@version")
    public static let tags = FieldReference("tags")
    public static let message = FieldReference("message")
    public static let type = FieldReference("type")
    public static let eventOriginal = FieldReference("[event][original]")
}

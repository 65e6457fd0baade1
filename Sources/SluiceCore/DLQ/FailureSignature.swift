/// What kind of failure a DLQ entry records, independent of the event it quotes: the failing plugin plus its reason
/// with the variable parts masked — numbers, ids, quoted values and document bodies — so that ten thousand mapping
/// errors on different documents are one line of triage ("what is failing, and since when"). Computed by whoever
/// reads the queue (`sluice dlq`, the admin API); pure.
public struct FailureSignature: Sendable, Hashable {
    public let pluginType: String
    public let pluginID: String
    /// The reason with its variable parts masked.
    public let pattern: String
    /// A short stable name for the signature (12 hex digits of a SHA-256), for `--signature` and the API.
    public let id: String

    public init(pluginType: String, pluginID: String, reason: String) {
        self.pluginType = pluginType
        self.pluginID = pluginID
        pattern = FailureSignature.normalize(reason)
        id = String(SHA256.hex(of: "\(pluginType)\u{0}\(pluginID)\u{0}\(pattern)").prefix(12))
    }

    public init(_ entry: DeadLetterQueueEntry) {
        self.init(pluginType: entry.pluginType, pluginID: entry.pluginID, reason: entry.reason)
    }

    /// Signature ids of entries read in a row, computed once per distinct (plugin, reason): a listing of a million
    /// entries of a few kinds normalises a few reasons, not a million. Bounded (emptied when full). One per scan.
    public struct Cache {
        private var signatures: [String: FailureSignature] = [:]
        /// The last entry's fields and signature: a scan meets runs of one failure, and comparing three strings is
        /// cheaper than building and hashing the key.
        private var last: (pluginType: String, pluginID: String, reason: String, signature: FailureSignature)?
        static let capacity = 10_000

        public init() {}

        public mutating func signature(of entry: DeadLetterQueueEntry) -> FailureSignature {
            if let last, last.reason == entry.reason, last.pluginID == entry.pluginID, last.pluginType == entry.pluginType {
                return last.signature
            }
            let key = "\(entry.pluginType)\u{0}\(entry.pluginID)\u{0}\(entry.reason)"
            let signature: FailureSignature
            if let known = signatures[key] {
                signature = known
            } else {
                if signatures.count >= Self.capacity { signatures.removeAll(keepingCapacity: true) }
                signature = FailureSignature(entry)
                signatures[key] = signature
            }
            last = (entry.pluginType, entry.pluginID, entry.reason, signature)
            return signature
        }

        public mutating func id(of entry: DeadLetterQueueEntry) -> String { signature(of: entry).id }
    }

    /// The longest pattern kept; longer reasons are cut (the rest rarely tells failures apart).
    static let maximumLength = 240

    /// Masks a reason. Elasticsearch's `action: [...]` (the document) becomes `action: [...]`; the error `type` of
    /// its `response` is kept, the rest of the response is masked like any text: quoted values become `"?"` / `'?'`,
    /// numbers `N` (an HTTP `status: NNN` is kept: 400 and 429 are different failures), hexadecimal ids and UUIDs
    /// `ID`, runs of spaces one space.
    public static func normalize(_ reason: String) -> String {
        var text = Array(reason.utf8)
        if let action = find("action: ", in: text) {
            text = maskBalanced(text, from: action + 8, replacement: Array("[...]".utf8))
        }
        var out: [UInt8] = []
        out.reserveCapacity(min(text.count, maximumLength + 16))
        var i = 0
        while i < text.count && out.count < maximumLength {
            let c = text[i]
            if c == UInt8(ascii: "\"") || (c == UInt8(ascii: "'") && !isWordByte(i > 0 ? text[i - 1] : nil)) {
                i = appendQuoted(text, at: i, to: &out)
            } else if isDigit(c) || isHexLetter(c), !isWordByte(out.last), let end = tokenEnd(text, from: i) {
                appendToken(text, i..<end, to: &out)
                i = end
            } else if c == UInt8(ascii: " ") || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\t") {
                if out.last != UInt8(ascii: " ") { out.append(UInt8(ascii: " ")) }
                i += 1
            } else {
                out.append(c)
                i += 1
            }
        }
        if out.count >= maximumLength && i < text.count { out += Array("…".utf8) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A quoted value: kept when it is the name of an error type (`"type"=>"mapper_parsing_exception"`: a word
    /// with an underscore and no digit) or a hash key (followed by `=>` or `:`); a double-quoted sentence (an error
    /// message such as Elasticsearch's `reason`) is masked inside; any other value becomes `?`.
    private static func appendQuoted(_ text: [UInt8], at start: Int, to out: inout [UInt8]) -> Int {
        let quote = text[start]
        var end = start + 1
        while end < text.count && text[end] != quote {
            end += text[end] == UInt8(ascii: "\\") ? 2 : 1
        }
        let close = min(end, text.count)
        let inner = text[(start + 1)..<close]
        let after = close + 1 < text.count ? text[(close + 1)...].prefix(2) : []
        let isKey = after.starts(with: Array("=>".utf8)) || after.first == UInt8(ascii: ":")
        let isErrorType = inner.contains(UInt8(ascii: "_")) && inner.allSatisfy { isLowerLetter($0) || $0 == UInt8(ascii: "_") }
        let isSentence = quote == UInt8(ascii: "\"") && inner.contains(UInt8(ascii: " "))
        out.append(quote)
        if isKey || isErrorType {
            out += inner
        } else if isSentence {
            out += normalize(String(decoding: inner, as: UTF8.self)).utf8
        } else {
            out.append(UInt8(ascii: "?"))
        }
        out.append(quote)
        return close + 1
    }

    /// The end of a number or id token starting at `i`, or nil when the token is a word (kept as written).
    private static func tokenEnd(_ text: [UInt8], from i: Int) -> Int? {
        var end = i
        var digits = 0, letters = 0
        while end < text.count, isHexDigit(text[end]) || text[end] == UInt8(ascii: "-") || text[end] == UInt8(ascii: ".") {
            if isDigit(text[end]) { digits += 1 } else if isHexLetter(text[end]) { letters += 1 }
            end += 1
        }
        while end > i, text[end - 1] == UInt8(ascii: ".") || text[end - 1] == UInt8(ascii: "-") { end -= 1 }
        if end < text.count && isWordByte(text[end]) { return nil }  // part of a longer word
        if digits == 0 { return nil }
        if letters > 0 && end - i < 8 { return nil }  // a short mix such as "v8": a word
        return end
    }

    private static func appendToken(_ text: [UInt8], _ range: Range<Int>, to out: inout [UInt8]) {
        let token = text[range]
        let isNumber = token.allSatisfy { isDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
        let keepsStatus = token.count == 3 && out.count >= 8 && out.suffix(8).elementsEqual("status: ".utf8)
        if keepsStatus { out += token } else { out += Array((isNumber && token.count < 8 ? "N" : "ID").utf8) }
    }

    /// Replaces the balanced `[...]`/`{...}` that starts at `start` (after spaces) with `replacement`.
    private static func maskBalanced(_ text: [UInt8], from start: Int, replacement: [UInt8]) -> [UInt8] {
        var i = start
        while i < text.count && text[i] == UInt8(ascii: " ") { i += 1 }
        guard i < text.count, text[i] == UInt8(ascii: "[") || text[i] == UInt8(ascii: "{") else { return text }
        var depth = 0
        var j = i
        var quote: UInt8? = nil
        while j < text.count {
            let c = text[j]
            if let q = quote {
                if c == UInt8(ascii: "\\") { j += 1 } else if c == q { quote = nil }
            } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                quote = c
            } else if c == UInt8(ascii: "[") || c == UInt8(ascii: "{") {
                depth += 1
            } else if c == UInt8(ascii: "]") || c == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 { break }
            }
            j += 1
        }
        return Array(text[..<i]) + replacement + (j + 1 < text.count ? Array(text[(j + 1)...]) : [])
    }

    private static func find(_ needle: String, in text: [UInt8]) -> Int? {
        let n = Array(needle.utf8)
        guard text.count >= n.count else { return nil }
        for i in 0...(text.count - n.count) where text[i] == n[0] && text[i..<(i + n.count)].elementsEqual(n) { return i }
        return nil
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
    private static func isHexLetter(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
    }
    private static func isHexDigit(_ c: UInt8) -> Bool { isDigit(c) || isHexLetter(c) }
    private static func isLowerLetter(_ c: UInt8) -> Bool { c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") }
    private static func isWordByte(_ c: UInt8?) -> Bool {
        guard let c else { return false }
        return isDigit(c) || isLowerLetter(c) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || c == UInt8(ascii: "_")
    }
}

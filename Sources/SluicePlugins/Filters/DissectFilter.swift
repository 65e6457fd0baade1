import SluiceCore

/// Splits strings into fields by delimiters (Logstash's `dissect` filter, 1.2.5).
///
/// A pattern such as `%{ts} %{+ts} %{?skip} %{&key}` is compiled once into fields and the delimiters between them.
/// Modifiers: `->` after a name skips repeated occurrences of the following delimiter (padding); `+` appends to a
/// field (joined with the delimiter before it, `/n` orders the appends); `?` and `%{}` skip; `&` names the field by
/// another field's value. Every delimiter must be found in order, otherwise the event is tagged and left unchanged
/// by that mapping. `convert_datatype` (`int`, `float`) runs after all mappings.
public final class DissectFilter: Filter {
    public static let name = "dissect"
    public static let summary = "Extracts fields from strings by delimiters, without regular expressions."

    public struct Settings: PluginSettings {
        @Setting("mapping", doc: "Source field => dissect pattern, e.g. `\"message\" => \"%{ts} %{+ts} %{level} %{msg}\"`.")
        var mapping = SettingHash<String>()
        @Setting("convert_datatype", doc: "Field => `int` or `float`: converts dissected (or existing) fields after all mappings.")
        var convertDatatype = SettingHash<String>()
        @Setting("tag_on_failure", doc: "Tags added when a pattern does not match.")
        var tagOnFailure = ["_dissectfailure"]
        public init() {}
    }

    let dissectors: [(source: FieldReference, dissector: Dissector)]
    let conversions: [(field: String, ref: FieldReference?, type: String)]
    let tagOnFailure: [String]
    let logger: Logger

    public static let canFail = true

    public init(settings: Settings, context: PluginContext) throws {
        var dissectors: [(FieldReference, Dissector)] = []
        for (source, pattern) in settings.mapping where !pattern.isEmpty {
            let ref: FieldReference
            do {
                ref = try FieldReference(parsing: source)
            } catch {
                throw SettingsValidationError("dissect: mapping key \(error.description)", setting: "mapping")
            }
            do {
                dissectors.append((ref, try Dissector(pattern)))
            } catch {
                throw SettingsValidationError("dissect: invalid pattern \(Ruby.inspect(string: pattern)): \(error.message)", setting: "mapping")
            }
        }
        self.dissectors = dissectors
        conversions = settings.convertDatatype.map { ($0.key, try? FieldReference(parsing: $0.key), $0.value) }
        tagOnFailure = settings.tagOnFailure
        logger = context.logger
        for (field, _, type) in conversions where type != "int" && type != "float" {
            logger.warn("Dissector datatype conversion, datatype not supported: \(type) (field \(field); supported: int, float)")
        }
    }

    public func filter(_ batch: inout FilterBatch) {
        eventLoop: for (i, event) in batch.events.enumerated() {
            for (source, dissector) in dissectors {
                guard let value = event.get(source) else {
                    logger.rateLimited(.warn, key: "missing", "Dissector mapping, key not found in event {:key=>\(Ruby.inspect(string: source.text))}")
                    continue
                }
                // Logstash dissects the value's `to_s` (a null reads as the empty string, which never matches).
                let text = Ruby.toS(value)
                guard let values = dissector.dissect(Array(text.utf8), event) else {
                    for tag in tagOnFailure { event.tag(tag) }
                    logger.rateLimited(.warn, key: "nomatch", "Dissector mapping, pattern not found {:field=>\(Ruby.inspect(string: source.text)), :pattern=>\(Ruby.inspect(string: dissector.pattern))}")
                    batch.failed(i, reason: "dissect: pattern \(Ruby.inspect(string: dissector.pattern)) does not match field [\(source.text)]: \(Ruby.inspect(string: text))")
                    continue eventLoop
                }
                for (name, value) in values {
                    guard let ref = try? FieldReference(parsing: name) else {
                        for tag in tagOnFailure { event.tag(tag) }
                        batch.failed(i, reason: "dissect: invalid field name \(Ruby.inspect(string: name)) from pattern \(Ruby.inspect(string: dissector.pattern))")
                        continue eventLoop
                    }
                    event.set(ref, .string(value))
                }
            }
            convert(event)
            batch.matched[i] = true
        }
    }

    /// `convert_datatype`: failures tag the event (`_dataconversion…_<field>_<type>`) but do not fail it.
    func convert(_ event: Event) {
        for (field, ref, type) in conversions {
            let value = ref.flatMap { event.get($0) }
            guard type == "int" || type == "float" else {
                event.tag("_dataconversionmissing_\(field)_\(type)")
                continue
            }
            guard let ref, let value, !value.isNull else {
                event.tag("_dataconversionnullvalue_\(field)_\(type)")
                continue
            }
            let text = Ruby.toS(value)
            let converted: Value? = type == "int" ? DissectFilter.javaLong(text).map(Value.int) : DissectFilter.javaDouble(text).map(Value.double)
            if let converted {
                event.set(ref, converted)
            } else {
                event.tag("_dataconversionuncoercible_\(field)_\(type)")
                logger.rateLimited(.warn, key: "convert", "Dissector datatype conversion, value cannot be coerced, key: \(field), value: \(text)")
            }
        }
    }

    /// Java's `Long.parseLong`: an optional sign and decimal digits, nothing else.
    static func javaLong(_ s: String) -> Int? {
        guard !s.isEmpty, !s.hasPrefix("+") || s.count > 1 else { return nil }
        return Int(s.hasPrefix("+") ? String(s.dropFirst()) : s)
    }

    /// Java's `Double.parseDouble`: surrounding whitespace is ignored; NaN and Infinity are accepted.
    static func javaDouble(_ s: String) -> Double? {
        let t = s.trimmingSpacesAndControls()
        switch t {
        case "NaN", "+NaN", "-NaN": return .nan
        case "Infinity", "+Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: break
        }
        var body = Substring(t)
        if let last = body.last, "fFdD".contains(last) { body = body.dropLast() }
        guard !body.isEmpty, body.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }) else { return nil }
        return Double(body)
    }
}

extension String {
    /// Trims characters ≤ U+0020 at both ends (Java's `String.trim`).
    func trimmingSpacesAndControls() -> String {
        var s = Substring(self)
        while let f = s.unicodeScalars.first, f.value <= 0x20 { s = s.dropFirst() }
        while let l = s.unicodeScalars.last, l.value <= 0x20 { s = s.dropLast() }
        return String(s)
    }
}

/// One compiled dissect pattern.
struct Dissector: Sendable {
    struct PatternError: Error {
        let message: String
    }

    enum Kind: Sendable, Equatable {
        case normal, skip, append, indirect
    }

    struct Field: Sendable {
        let id: Int
        let kind: Kind
        let name: String
        /// Append order: declared order unless `/n` is given.
        let ordinal: Int
        /// The delimiter before the field (nil for the first), and whether its repeats are skipped (`->` on the field
        /// before it).
        let previous: [UInt8]?
        let previousGreedy: Bool
        let next: [UInt8]?
    }

    let pattern: String
    let fields: [Field]
    /// Bytes before the first field, which must start the text.
    let leading: [UInt8]

    init(_ pattern: String) throws(PatternError) {
        self.pattern = pattern
        // `(.*?)%\{([^}]*?)}` over the pattern, then any text after the last field.
        var raw: [(delimiter: [UInt8], name: String)] = []
        let bytes = Array(pattern.utf8)
        var i = 0
        var literalStart = 0
        var trailing: [UInt8] = []
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "{"),
                let close = bytes[(i + 2)...].firstIndex(of: UInt8(ascii: "}"))
            {
                raw.append((Array(bytes[literalStart..<i]), String(decoding: bytes[(i + 2)..<close], as: UTF8.self)))
                i = close + 1
                literalStart = i
            } else {
                i += 1
            }
        }
        trailing = Array(bytes[literalStart...])
        guard !raw.isEmpty else { throw PatternError(message: "the pattern has no %{} field") }
        // A final delimiter becomes an automatic skip field (1.2.0), so that it must be found too.
        if !trailing.isEmpty { raw.append((trailing, "?auto_added_skip")) }
        leading = raw[0].delimiter
        var fields: [Field] = []
        var greedyNext = false
        for (index, item) in raw.enumerated() {
            var name = item.name
            var greedy = false
            if name.hasSuffix("->") {
                name.removeLast(2)
                greedy = true
            }
            let kind: Kind
            if name.isEmpty || name.hasPrefix("?") {
                kind = .skip
                if !name.isEmpty { name.removeFirst() }
            } else if name.hasPrefix("+&") || name.hasPrefix("&+") {
                throw PatternError(message: "Field cannot prefix with both Append and Indirect Prefix (\(name.prefix(2))): \(name)")
            } else if name.hasPrefix("+") {
                kind = .append
                name.removeFirst()
            } else if name.hasPrefix("&") {
                kind = .indirect
                name.removeFirst()
            } else {
                kind = .normal
            }
            if (kind == .append || kind == .indirect) && name.isEmpty {
                throw PatternError(message: "Field cannot be a prefix on its own without further text")
            }
            var ordinal = index
            if kind == .append, let slash = name.lastIndex(of: "/"), let n = Int(name[name.index(after: slash)...]) {
                ordinal = n
                name = String(name[..<slash])
            }
            fields.append(
                Field(
                    id: index, kind: kind, name: name, ordinal: ordinal, previous: index == 0 ? nil : item.delimiter,
                    previousGreedy: greedyNext, next: index + 1 < raw.count ? raw[index + 1].delimiter : nil))
            greedyNext = greedy
        }
        self.fields = fields
    }

    /// The field values of `text` in saving order (normal, then appends in order, then indirect), or nil when a
    /// delimiter is missing. Append and indirect fields may read existing event fields, as in Logstash.
    func dissect(_ text: [UInt8], _ event: Event) -> [(String, String)]? {
        guard !text.isEmpty, let ranges = locate(text) else { return nil }
        func value(_ f: Field) -> String { String(decoding: text[ranges[f.id]], as: UTF8.self) }
        var out: [(String, String)] = []
        var found: [String: String] = [:]
        for f in fields where f.kind == .normal || f.kind == .skip { found[f.name] = value(f) }
        for f in fields where f.kind == .normal { out.append((f.name, value(f))) }
        var appended: [String: String] = [:]
        var appendOrder: [String] = []
        for f in fields.filter({ $0.kind == .append }).sorted(by: { $0.ordinal < $1.ordinal }) {
            let v = value(f)
            if let old = appended[f.name] {
                appended[f.name] = old + f.joinString + v
            } else if let existing = out.last(where: { $0.0 == f.name })?.1
                ?? (try? FieldReference(parsing: f.name)).flatMap({ event.get($0) }).map(Ruby.toS)
            {
                appended[f.name] = existing + f.joinString + v
                appendOrder.append(f.name)
            } else {
                appended[f.name] = v
                appendOrder.append(f.name)
            }
        }
        for name in appendOrder {
            out.removeAll { $0.0 == name }
            out.append((name, appended[name]!))
        }
        for f in fields where f.kind == .indirect {
            let keyName = found[f.name] ?? out.last(where: { $0.0 == f.name })?.1
                ?? (try? FieldReference(parsing: f.name)).flatMap({ event.get($0) }).map(Ruby.toS)
            if let keyName, !keyName.isEmpty { out.append((keyName, value(f))) }
        }
        return out
    }

    /// Byte ranges of each field's value, or nil when a delimiter is not found in order.
    func locate(_ text: [UInt8]) -> [Range<Int>]? {
        var ranges = [Range<Int>](repeating: 0..<0, count: fields.count)
        var left = 0
        if !leading.isEmpty {
            guard Dissector.index(of: leading, in: text, from: 0) == 0 else { return nil }
            left = leading.count
        }
        for f in fields {
            // Padding (`->` on the field before): skip further copies of the delimiter.
            if f.previousGreedy, let previous = f.previous, !previous.isEmpty {
                while Dissector.index(of: previous, in: text, from: left) == left { left += previous.count }
            }
            let start = left
            guard let next = f.next else {
                ranges[f.id] = start..<text.count
                break
            }
            if next.isEmpty {
                // Two adjacent fields: the first one is empty.
                ranges[f.id] = start..<start
                continue
            }
            guard let pos = Dissector.index(of: next, in: text, from: left) else { return nil }
            if pos > 0 {
                ranges[f.id] = start..<pos
                left = pos + next.count
            } else {
                ranges[f.id] = start..<start
            }
        }
        return ranges
    }

    static func index(of needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty else { return start }
        var i = start
        let first = needle[0]
        while i + needle.count <= haystack.count {
            if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}

extension Dissector.Field {
    /// What an append field is joined with: the delimiter before it, or a space for the first field.
    var joinString: String { previous.map { String(decoding: $0, as: UTF8.self) } ?? " " }
}

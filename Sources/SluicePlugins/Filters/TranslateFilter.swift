import SluiceCore
import Yams

/// Replaces field values using a dictionary (Logstash's `translate` filter, 3.4.x).
///
/// The dictionary comes from the config or from a YAML, JSON or CSV file that is re-read every `refresh_interval`
/// seconds (merged into or replacing the previous one) while workers keep using the dictionary they have. The
/// source value is looked up as a string (the first element of a list). With `exact => false` every occurrence of a
/// key inside the value is replaced; with `regex => true` keys are regular expressions. `iterate_on` translates each
/// element of a list, or a field of each object in a list.
public final class TranslateFilter: Filter {
    public static let name = "translate"
    public static let summary = "Replaces field values using a dictionary or a dictionary file."

    enum RefreshBehaviour: String, SettingEnum {
        case merge, replace
    }

    enum YAMLLoadStrategy: String, SettingEnum {
        case one_shot, streaming
    }

    public struct Settings: PluginSettings {
        @Setting("source", doc: "The field whose value is looked up (the first element when it is a list).")
        var source: String? = nil
        @Setting("field", doc: "Deprecated alias of `source`.")
        var field: String? = nil
        @Setting("target", doc: "The field that receives the translation; defaults to `translation`, or to `source` (in-place) with ECS compatibility.")
        var target: String? = nil
        @Setting("destination", doc: "Deprecated alias of `target`.")
        var destination: String? = nil
        @Setting("dictionary", doc: "The translations, key => value; excludes `dictionary_path`.")
        var dictionary = SettingHash<Value>()
        @Setting("dictionary_path", doc: "A YAML (.yml, .yaml), JSON (.json) or CSV (.csv, key and value columns) dictionary file.")
        var dictionaryPath: String? = nil
        @Setting("refresh_interval", doc: "Seconds between re-reads of `dictionary_path`; 0 or less never re-reads.")
        var refreshInterval = 300
        @Setting("refresh_behaviour", doc: "`merge` adds and updates entries on re-read; `replace` swaps the whole dictionary.")
        var refreshBehaviour = RefreshBehaviour.merge
        @Setting("exact", doc: "When false, each occurrence of a key inside the value is replaced instead of matching the whole value.")
        var exact = true
        @Setting("regex", doc: "Treats dictionary keys as regular expressions.")
        var regex = false
        @Setting("fallback", doc: "The value (sprintf template) written when nothing matches.")
        var fallback: String? = nil
        @Setting("override", doc: "Overwrites an existing target; defaults to true only for in-place translation.")
        var override: Bool? = nil
        @Setting("iterate_on", doc: "A list field to translate element by element (when equal to `source`) or whose objects hold `source` and receive `target`.")
        var iterateOn: String? = nil
        @Setting("yaml_dictionary_code_point_limit", doc: "The largest YAML dictionary file accepted, in characters.")
        var yamlDictionaryCodePointLimit = 134_217_728
        @Setting("yaml_load_strategy", doc: "How YAML files are read; both strategies build the same dictionary in Sluice.")
        var yamlLoadStrategy = YAMLLoadStrategy.one_shot
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if source != nil && field != nil {
                throw SettingsValidationError("Please remove the deprecated setting `field` and use only `source`", setting: "field")
            }
            if source == nil && field == nil {
                throw SettingsValidationError("Missing a required setting for the translate plugin: 'source'", setting: "source")
            }
            if target != nil && destination != nil {
                throw SettingsValidationError("Please remove the deprecated setting `destination` and use only `target`", setting: "destination")
            }
            if !dictionary.isEmpty && dictionaryPath != nil {
                throw SettingsValidationError("The configuration options 'dictionary' and 'dictionary_path' are mutually exclusive", setting: "dictionary_path")
            }
        }
    }

    /// How the source is found and the translation written.
    enum Mode {
        case single(source: FieldReference, target: FieldReference)
        /// `iterate_on` equal to `source`: a list of values gives a list of translations.
        case values(list: FieldReference, target: FieldReference)
        /// `iterate_on` a list of objects: `source` and `target` are fields inside each object.
        case objects(list: FieldReference, source: FieldReference, target: FieldReference)
    }

    let mode: Mode
    let inPlace: Bool
    let override: Bool
    let fallback: Template?
    let exact: Bool
    let regex: Bool
    let fixed: TranslationDictionary?
    let file: PeriodicFileReload<TranslationDictionary>?
    let logger: Logger

    public init(settings: Settings, context: PluginContext) throws {
        logger = context.logger
        let sourceText = settings.source ?? settings.field!
        let targetText = settings.target ?? settings.destination ?? (context.ecsCompatibility.isEnabled ? sourceText : "translation")
        if settings.field != nil { logger.warn("The setting `field` in plugin `translate` is deprecated; use `source`") }
        if settings.destination != nil { logger.warn("The setting `destination` in plugin `translate` is deprecated; use `target`") }
        func reference(_ text: String, _ setting: String) throws -> FieldReference {
            do {
                return try FieldReference(parsing: text)
            } catch {
                throw SettingsValidationError("translate: \(setting): \(error.description)", setting: setting)
            }
        }
        let source = try reference(sourceText, "source")
        let target = try reference(targetText, "target")
        inPlace = source == target
        override = settings.override ?? inPlace
        if let iterate = settings.iterateOn {
            let list = try reference(iterate, "iterate_on")
            mode = list == source ? .values(list: list, target: target) : .objects(list: list, source: source, target: target)
        } else {
            mode = .single(source: source, target: target)
        }
        fallback = settings.fallback.map(Template.init)
        exact = settings.exact
        regex = settings.regex
        let regex = settings.regex
        if let path = settings.dictionaryPath {
            let limit = settings.yamlDictionaryCodePointLimit
            let initial: TranslationDictionary
            do {
                initial = try TranslationDictionary(entries: TranslateFilter.loadFile(path, yamlLimit: limit), regex: regex)
            } catch {
                throw SettingsValidationError("Translate: \(error) when loading dictionary file at \(path)", setting: "dictionary_path")
            }
            fixed = nil
            let behaviour = settings.refreshBehaviour
            let logger = context.logger
            file = PeriodicFileReload(initial: initial, refreshSeconds: settings.refreshInterval) { previous in
                do {
                    let loaded = try TranslateFilter.loadFile(path, yamlLimit: limit)
                    let entries = behaviour == .merge ? TranslationDictionary.merge(previous.entries, loaded) : loaded
                    return try TranslationDictionary(entries: entries, regex: regex)
                } catch {
                    logger.warn("Translate: \(error) when loading dictionary file at \(path), continuing with old dictionary")
                    return previous
                }
            }
        } else {
            do {
                fixed = try TranslationDictionary(entries: settings.dictionary.entries, regex: regex)
            } catch {
                throw SettingsValidationError("translate: dictionary: \(error)", setting: "dictionary")
            }
            file = nil
        }
    }

    public func filter(_ batch: inout FilterBatch) {
        guard let dictionary = fixed ?? file?.current() else { return }
        for (i, event) in batch.events.enumerated() {
            switch mode {
            case .single(let source, let target):
                if !override && event.includes(target) { continue }
                guard let value = event.get(source) else { continue }
                let text: String
                if case .array(let a) = value { text = a.first.map(Ruby.toS) ?? "" } else { text = Ruby.toS(value) }
                let translation = translateOrFallback(text, dictionary, event)
                if let translation { event.set(target, translation) }
                if translation != nil || inPlace { batch.matched[i] = true }
            case .values(let list, let target):
                guard let value = event.get(list) else { continue }
                let items = Ruby.array(value)
                let fallbackValue: Value = fallback.map { .string($0.render(event)) } ?? .null
                let translations = items.map { lookup(Ruby.toS($0), dictionary) ?? fallbackValue }
                event.set(target, .array(translations))
                if translations.contains(where: { $0 != .null }) || inPlace { batch.matched[i] = true }
            case .objects(let list, let source, let target):
                guard let value = event.get(list) else { continue }
                var any = false
                for index in Ruby.array(value).indices {
                    let base = list.path + [String(index)]
                    let inner = event.get(FieldReference(path: base + source.path, isMetadata: list.isMetadata))
                    let destination = FieldReference(path: base + target.path, isMetadata: list.isMetadata)
                    if let translation = translateOrFallback(inner.map(Ruby.toS), dictionary, event) {
                        event.set(destination, translation)
                        any = true
                    }
                }
                if any || inPlace { batch.matched[i] = true }
            }
        }
    }

    /// The translation of `text` (nil: no value), else the rendered `fallback`, else nil.
    func translateOrFallback(_ text: String?, _ dictionary: TranslationDictionary, _ event: Event) -> Value? {
        if let text, let translation = lookup(text, dictionary) { return translation }
        return fallback.map { .string($0.render(event)) }
    }

    /// The translation of `text`, or nil when nothing matches.
    func lookup(_ text: String, _ dictionary: TranslationDictionary) -> Value? {
        if exact {
            if !regex { return dictionary.index[text].map { dictionary.entries[$0].value } }
            for (k, pattern) in dictionary.patterns.enumerated() where pattern.matches(text) {
                return dictionary.entries[k].value
            }
            return nil
        }
        // `source.gsub(Regexp.union(keys), dictionary)`: each match is replaced by the value of the matched text.
        guard let union = dictionary.union else { return nil }
        var result = ""
        var changed = false
        var text = text
        text.withUTF8 { buf in
            var position = 0
            var from = 0
            while from <= buf.count {
                guard case .match(let groups) = union.match(buf, from: from), let whole = groups[0] else { break }
                result += String(decoding: UnsafeBufferPointer(rebasing: buf[position..<whole.lowerBound]), as: UTF8.self)
                let matched = String(decoding: UnsafeBufferPointer(rebasing: buf[whole]), as: UTF8.self)
                result += dictionary.index[matched].map { Ruby.toS(dictionary.entries[$0].value) } ?? ""
                changed = true
                position = whole.upperBound
                from = whole.isEmpty ? whole.upperBound + 1 : whole.upperBound
            }
            result += String(decoding: UnsafeBufferPointer(rebasing: buf[min(position, buf.count)...]), as: UTF8.self)
        }
        return changed && result != text ? .string(result) : nil
    }

    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads a dictionary file; the format comes from the extension, as in Logstash.
    static func loadFile(_ path: String, yamlLimit: Int) throws(LoadError) -> [(key: String, value: Value)] {
        guard let bytes = FileSystem.readBytes(path) else { throw LoadError(description: "cannot read the file") }
        let text = String(decoding: bytes, as: UTF8.self)
        if path.hasSuffix(".yml") || path.hasSuffix(".yaml") {
            if text.unicodeScalars.count > yamlLimit {
                throw LoadError(description: "The incoming YAML document exceeds the limit: \(yamlLimit) code points.")
            }
            let node: Node?
            do {
                node = try Yams.compose(yaml: text)
            } catch {
                throw LoadError(description: "\(error)")
            }
            guard let node else { return [] }
            guard let mapping = node.mapping else { throw LoadError(description: "the YAML document is not a mapping") }
            var out: [(key: String, value: Value)] = []
            for (k, v) in mapping {
                // Keys must be YAML strings: an unquoted 100 is an integer and never matches, as in Logstash.
                guard let key = k.scalar, k.tag.rawValue == Tag.Name.str.rawValue else { continue }
                out.append((key.string, Value(yaml: v)))
            }
            return out
        }
        if path.hasSuffix(".json") {
            let parsed: Value
            do {
                parsed = try JSONParser.parse(bytes)
            } catch {
                throw LoadError(description: error.description)
            }
            guard case .object(let o) = parsed else { throw LoadError(description: "the JSON document is not an object") }
            return o.map { (key: $0.0, value: $0.1) }
        }
        if path.hasSuffix(".csv") {
            var out: [(key: String, value: Value)] = []
            for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
                let row: [String?]?
                do throws(CsvFilter.CSVParseError) {
                    row = try CsvFilter.parseLine(Array(line.utf8), separator: [44], quote: [34])
                } catch {
                    throw LoadError(description: error.message)
                }
                guard let row, let key = row.first, let key else { continue }
                out.append((key, row.count > 1 ? row[1].map(Value.string) ?? .null : .null))
            }
            return out
        }
        throw LoadError(description: "Dictionary \(path) has a non valid format")
    }
}

/// An immutable dictionary: entries in order, an index by key, and for `regex` the compiled keys.
struct TranslationDictionary: Sendable {
    let entries: [(key: String, value: Value)]
    let index: [String: Int]
    let patterns: [Regex]
    /// `Regexp.union` of the keys (escaped unless `regex`), for `exact => false`.
    let union: Regex?

    struct InvalidKey: Error, CustomStringConvertible {
        let description: String
    }

    init(entries: [(key: String, value: Value)], regex: Bool) throws(InvalidKey) {
        var index: [String: Int] = [:]
        var unique: [(key: String, value: Value)] = []
        for entry in entries {
            if let k = index[entry.key] {
                unique[k].value = entry.value
            } else {
                index[entry.key] = unique.count
                unique.append(entry)
            }
        }
        self.entries = unique
        self.index = index
        var patterns: [Regex] = []
        if regex {
            for entry in unique {
                do {
                    patterns.append(try Regex(entry.key))
                } catch {
                    throw InvalidKey(description: error.description)
                }
            }
        }
        self.patterns = patterns
        if unique.isEmpty {
            union = nil
        } else {
            let alternatives = unique.map { regex ? "(?:\($0.key))" : TranslationDictionary.quote($0.key) }
            do {
                union = try Regex(alternatives.joined(separator: "|"))
            } catch {
                throw InvalidKey(description: error.description)
            }
        }
    }

    /// `Hash#merge`: previous entries updated in place, new ones appended.
    static func merge(_ old: [(key: String, value: Value)], _ new: [(key: String, value: Value)]) -> [(key: String, value: Value)] {
        old + new
    }

    /// `Regexp.quote`.
    static func quote(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "\\", "^", "$", ".", "|", "?", "*", "+", "(", ")", "[", "]", "{", "}", "-", "#", " ":
                out.append("\\")
                out.append(ch)
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default: out.append(ch)
            }
        }
        return out
    }
}

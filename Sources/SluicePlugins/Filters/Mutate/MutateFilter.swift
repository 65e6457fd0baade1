import SluiceCore

/// Renames, replaces, converts and edits fields (Logstash's `mutate` filter, version 3.5.8).
///
/// The operations always run in Logstash's fixed order, whatever the order in the config: coerce, rename, update,
/// replace, convert, gsub, uppercase, capitalize, lowercase, strip, split, join, merge, copy. The first failing
/// operation stops the rest: changes made so far stay, the event gets `tag_on_failure`, and the common decorations
/// (`add_field`, `add_tag`, …) are skipped.
public final class MutateFilter: Filter {
    public static let name = "mutate"
    public static let summary = "Renames, replaces, converts and edits fields, in a fixed order."

    public struct Settings: PluginSettings {
        @Setting("coerce", doc: "Sets a field that exists but is null to a default value (sprintf).")
        var coerce = SettingHash<Template>()
        @Setting("rename", doc: "Renames fields, old name => new name; both may use sprintf. Missing fields are skipped.")
        var rename = SettingHash<Template>()
        @Setting("update", doc: "Sets existing fields to a new string value (sprintf); missing fields are skipped.")
        var update = SettingHash<Template>()
        @Setting("replace", doc: "Sets fields to a new string value (sprintf), creating them when missing.")
        var replace = SettingHash<Template>()
        @Setting("convert", doc: "Converts field values (each element of a list) to another type.")
        var convert = SettingHash<MutateConversion>()
        @Setting("gsub", doc: "Regex replacements as a flat list of triplets: field, pattern, replacement (`\\1` refers to groups).")
        var gsub: [String] = []
        @Setting("uppercase", doc: "Fields whose strings (or string elements) are upper-cased.")
        var uppercase: [String] = []
        @Setting("capitalize", doc: "Fields whose strings get an upper-case first letter and lower-case rest.")
        var capitalize: [String] = []
        @Setting("lowercase", doc: "Fields whose strings (or string elements) are lower-cased.")
        var lowercase: [String] = []
        @Setting("strip", doc: "Fields whose strings lose leading and trailing whitespace.")
        var strip: [String] = []
        @Setting("split", doc: "Splits string fields into lists at a separator (\" \" splits on whitespace runs).")
        var split = SettingHash<String>()
        @Setting("join", doc: "Joins list fields into a string with a separator.")
        var join = SettingHash<String>()
        @Setting("merge", doc: "Merges fields into a destination, dest => source(s): hashes are merged, anything else appended as a list.")
        var merge = SettingHash<[String]>()
        @Setting("copy", doc: "Copies fields, source => destination, overwriting the destination.")
        var copy = SettingHash<String>()
        @Setting("tag_on_failure", doc: "Tag added when an operation fails.")
        var tagOnFailure = "_mutate_error"

        public init() {}

        public func validate() throws(SettingsValidationError) {
            if gsub.count % 3 != 0 {
                throw SettingsValidationError(
                    "Invalid gsub configuration \(gsub). gsub requires 3 non-nil elements per config entry: field, pattern, replacement",
                    setting: "gsub")
            }
            var k = 0
            while k + 2 < gsub.count {
                if !gsub[k + 1].contains("%{") {
                    do {
                        _ = try RubyRegex(gsub[k + 1])
                    } catch {
                        throw SettingsValidationError("Invalid gsub pattern for field '\(gsub[k])': \(error)", setting: "gsub")
                    }
                }
                k += 3
            }
        }
    }

    let coerce: [(field: ConfiguredField, value: Template)]
    let rename: [(old: ConfiguredFieldTemplate, new: ConfiguredFieldTemplate)]
    let update: [(field: ConfiguredField, value: Template)]
    let replace: [(field: ConfiguredField, value: Template)]
    let convert: [(field: ConfiguredField, name: String, to: MutateConversion)]
    let gsub: [GsubRule]
    let uppercase: [ConfiguredField]
    let capitalize: [ConfiguredField]
    let lowercase: [ConfiguredField]
    let strip: [ConfiguredField]
    let split: [(field: ConfiguredField, separator: String)]
    let join: [(field: ConfiguredField, separator: String)]
    let merge: [(dest: ConfiguredField, destName: String, sources: [(field: ConfiguredField, name: String)])]
    let copy: [(source: ConfiguredField, dest: ConfiguredField)]
    let tagOnFailure: String
    let logger: Logger
    let dynamicPatterns = RegexCache()

    public init(settings: Settings, context: PluginContext) throws {
        coerce = MutateFilter.lastWins(settings.coerce).map { (ConfiguredField($0.key), $0.value) }
        rename = MutateFilter.lastWins(settings.rename).map { (ConfiguredFieldTemplate($0.key), ConfiguredFieldTemplate($0.value.source)) }
        update = MutateFilter.lastWins(settings.update).map { (ConfiguredField($0.key), $0.value) }
        replace = MutateFilter.lastWins(settings.replace).map { (ConfiguredField($0.key), $0.value) }
        convert = MutateFilter.lastWins(settings.convert).map { (ConfiguredField($0.key), $0.key, $0.value) }
        var rules: [GsubRule] = []
        var k = 0
        while k + 2 < settings.gsub.count {
            do {
                rules.append(try GsubRule(field: settings.gsub[k], pattern: settings.gsub[k + 1], replacement: settings.gsub[k + 2]))
            } catch {
                // Settings.validate() compiled the same patterns, so this is not expected.
                throw Diagnostic(code: "invalid_settings", span: .none, "mutate: invalid gsub pattern: \(error)")
            }
            k += 3
        }
        gsub = rules
        uppercase = settings.uppercase.map(ConfiguredField.init)
        capitalize = settings.capitalize.map(ConfiguredField.init)
        lowercase = settings.lowercase.map(ConfiguredField.init)
        strip = settings.strip.map(ConfiguredField.init)
        split = MutateFilter.lastWins(settings.split).map { (ConfiguredField($0.key), $0.value) }
        join = MutateFilter.lastWins(settings.join).map { (ConfiguredField($0.key), $0.value) }
        merge = MutateFilter.lastWins(settings.merge).map { entry in
            (ConfiguredField(entry.key), entry.key, entry.value.map { (ConfiguredField($0), $0) })
        }
        copy = MutateFilter.lastWins(settings.copy).map { (ConfiguredField($0.key), ConfiguredField($0.value)) }
        tagOnFailure = settings.tagOnFailure
        logger = context.logger
    }

    /// Ruby hash semantics for a hash setting given twice (`convert => {…} convert => {…}` merges like `Hash#merge`):
    /// a repeated key keeps its first position and takes its last value.
    static func lastWins<V>(_ hash: SettingHash<V>) -> [(key: String, value: V)] {
        var out: [(key: String, value: V)] = []
        for entry in hash {
            if let i = out.firstIndex(where: { $0.key == entry.key }) { out[i].value = entry.value } else { out.append(entry) }
        }
        return out
    }

    public static let canFail = true

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            do {
                try mutate(event)
                batch.matched[i] = true
            } catch {
                logger.rateLimited(
                    .warn, key: "exception",
                    "Exception caught while applying mutate filter {:exception=>\(Ruby.inspect(string: error.description))}")
                event.tag(tagOnFailure)
                batch.failed(i, reason: "mutate: \(error.description)")
            }
        }
    }

    /// Applies every operation to one event, in Logstash's order; throws at the first failure.
    func mutate(_ event: Event) throws(EventOperationError) {
        if !coerce.isEmpty { try applyCoerce(event) }
        if !rename.isEmpty { try applyRename(event) }
        if !update.isEmpty { try applyUpdate(event) }
        if !replace.isEmpty { try applyReplace(event) }
        if !convert.isEmpty { try applyConvert(event) }
        if !gsub.isEmpty { try applyGsub(event) }
        if !uppercase.isEmpty { try applyCase(event, uppercase, "uppercase") { $0.uppercased() } }
        if !capitalize.isEmpty { try applyCase(event, capitalize, "capitalize", Ruby.capitalize) }
        if !lowercase.isEmpty { try applyCase(event, lowercase, "lowercase") { $0.lowercased() } }
        if !strip.isEmpty { try applyStrip(event) }
        if !split.isEmpty { try applySplit(event) }
        if !join.isEmpty { try applyJoin(event) }
        if !merge.isEmpty { try applyMerge(event) }
        if !copy.isEmpty { try applyCopy(event) }
    }

    // MARK: Operations

    func applyCoerce(_ event: Event) throws(EventOperationError) {
        for (field, value) in coerce {
            let ref = try field.reference()
            guard let current = event.get(ref), current.isNull else { continue }
            try event.strictSet(ref, .string(value.render(event)))
        }
    }

    func applyRename(_ event: Event) throws(EventOperationError) {
        for (old, new) in rename {
            let oldRef = try old.reference(for: event)
            guard event.includes(oldRef) else { continue }
            let value = event.remove(oldRef) ?? .null
            try event.strictSet(try new.reference(for: event), value)
        }
    }

    func applyUpdate(_ event: Event) throws(EventOperationError) {
        for (field, value) in update {
            let ref = try field.reference()
            guard event.includes(ref) else { continue }
            try event.strictSet(ref, .string(value.render(event)))
        }
    }

    func applyReplace(_ event: Event) throws(EventOperationError) {
        for (field, value) in replace {
            try event.strictSet(try field.reference(), .string(value.render(event)))
        }
    }

    func applyConvert(_ event: Event) throws(EventOperationError) {
        for (field, name, conversion) in convert {
            let ref = try field.reference()
            guard let original = event.get(ref) else { continue }
            switch original {
            case .null:
                continue
            case .object:
                logger.debug("I don't know how to type convert a hash, skipping {:field=>\"\(name)\"}")
            case .array(let elements):
                var converted: [Value] = []
                converted.reserveCapacity(elements.count)
                for element in elements {
                    converted.append(element.isNull ? element : try conversion.convert(element) { warnConversion($0) })
                }
                try event.strictSet(ref, .array(converted))
            default:
                try event.strictSet(ref, try conversion.convert(original) { warnConversion($0) })
            }
        }
    }

    private func warnConversion(_ message: String) { logger.rateLimited(.warn, key: "convert", message) }

    func applyGsub(_ event: Event) throws(EventOperationError) {
        for rule in gsub {
            let ref = try rule.field.reference()
            switch event.get(ref) {
            case .string(let s)?:
                try event.strictSet(ref, .string(try rule.apply(s, event, dynamicPatterns)))
            case .array(let elements)?:
                var result: [Value] = []
                result.reserveCapacity(elements.count)
                for element in elements {
                    if case .string(let s) = element {
                        result.append(.string(try rule.apply(s, event, dynamicPatterns)))
                    } else {
                        logger.rateLimited(
                            .warn, key: "gsub",
                            "gsub mutation is only applicable for strings and arrays of strings, skipping {:field=>\"\(rule.fieldText)\", :value=>\(Ruby.inspect(element))}")
                        result.append(element)
                    }
                }
                try event.strictSet(ref, .array(result))
            default:
                logger.debug("gsub mutation is only applicable for strings and arrays of strings, skipping {:field=>\"\(rule.fieldText)\"}")
            }
        }
    }

    /// uppercase, capitalize, lowercase: strings and the string elements of lists; other values are written back
    /// unchanged (as Logstash does, so a write that Logstash rejects fails here too).
    func applyCase(
        _ event: Event, _ fields: [ConfiguredField], _ operation: String, _ transform: (String) -> String
    ) throws(EventOperationError) {
        for field in fields {
            let ref = try field.reference()
            guard let original = event.rubyGet(ref) else { continue }
            let result: Value
            switch original {
            case .string(let s): result = .string(transform(s))
            case .array(let elements):
                result = .array(elements.map { if case .string(let s) = $0 { .string(transform(s)) } else { $0 } })
            default:
                logger.debug("Can't \(operation) something that isn't a string {:value=>\(Ruby.inspect(original))}")
                result = original
            }
            try event.strictSet(ref, result)
        }
    }

    func applyStrip(_ event: Event) throws(EventOperationError) {
        for field in strip {
            let ref = try field.reference()
            switch event.get(ref) {
            case .string(let s)?:
                try event.strictSet(ref, .string(Ruby.strip(s)))
            case .array(let elements)?:
                var result: [Value] = []
                result.reserveCapacity(elements.count)
                for element in elements {
                    guard case .string(let s) = element else { throw EventOperationError.noMethod("strip", element) }
                    result.append(.string(Ruby.strip(s)))
                }
                try event.strictSet(ref, .array(result))
            default:
                continue
            }
        }
    }

    func applySplit(_ event: Event) throws(EventOperationError) {
        for (field, separator) in split {
            let ref = try field.reference()
            guard case .string(let s)? = event.get(ref) else {
                logger.debug("Can't split something that isn't a string")
                continue
            }
            try event.strictSet(ref, .array(Ruby.split(s, separator).map { .string($0) }))
        }
    }

    func applyJoin(_ event: Event) throws(EventOperationError) {
        for (field, separator) in join {
            let ref = try field.reference()
            guard case .array(let elements)? = event.get(ref) else { continue }
            try event.strictSet(ref, .string(Ruby.join(elements, separator)))
        }
    }

    /// Logstash reads the destination once, then for each source: hash + hash updates the hash; otherwise the
    /// destination becomes `Array(dest) + Array(source)`. A list destination accumulates across sources (Ruby's
    /// `Array(list)` is the list itself), any other destination is rebuilt from its original value each time.
    func applyMerge(_ event: Event) throws(EventOperationError) {
        for (dest, destName, sources) in merge {
            let destRef = try dest.reference()
            var destValue = event.rubyGet(destRef)
            for (source, sourceName) in sources {
                let added = event.rubyGet(try source.reference())
                let destIsHash = destValue?.objectValue != nil
                let addedIsHash = added?.objectValue != nil
                if destIsHash != addedIsHash {
                    logger.rateLimited(
                        .error, key: "merge",
                        "Not possible to merge an array and a hash:  {:dest_field=>\"\(destName)\", :added_field=>\"\(sourceName)\"}")
                    continue
                }
                if case .object(var target)? = destValue, case .object(let extra)? = added {
                    for (k, v) in extra { target[k] = v }
                    destValue = .object(target)
                    try event.strictSet(destRef, .object(target))
                } else if case .array(let list)? = destValue {
                    destValue = .array(list + Ruby.array(added))
                    try event.strictSet(destRef, destValue!)
                } else {
                    try event.strictSet(destRef, .array(Ruby.array(destValue) + Ruby.array(added)))
                }
            }
        }
    }

    func applyCopy(_ event: Event) throws(EventOperationError) {
        for (source, dest) in copy {
            guard let value = event.rubyGet(try source.reference()) else { continue }
            try event.strictSet(try dest.reference(), value)
        }
    }
}

import SluiceCore

/// Removes top-level fields by name or value (Logstash's `prune` filter, 3.0.x).
///
/// Names and values are matched with unanchored regular expressions. A list value loses the elements that fail a
/// value rule (the whole field goes when every element fails). Fields to remove are collected first, then removed.
/// Only top-level fields are considered, as in Logstash.
public final class PruneFilter: Filter {
    public static let name = "prune"
    public static let summary = "Keeps or removes top-level fields by name or value patterns."

    public struct Settings: PluginSettings {
        @Setting("interpolate", doc: "Expands `%{field}` references in the names and patterns below for each event (slower).")
        var interpolate = false
        @Setting("whitelist_names", doc: "Keeps only fields whose names match one of these regular expressions (empty: keep all).")
        var whitelistNames: [String] = []
        @Setting("blacklist_names", doc: "Removes fields whose names match one of these regular expressions; by default names holding an unresolved `%{field}`.")
        var blacklistNames = ["%\\{[^}]+\\}"]
        @Setting("whitelist_values", doc: "Field name => regular expression: removes the field (or list elements) whose value does not match.")
        var whitelistValues = SettingHash<String>()
        @Setting("blacklist_values", doc: "Field name => regular expression: removes the field (or list elements) whose value matches.")
        var blacklistValues = SettingHash<String>()
        public init() {}
    }

    /// A pattern compiled at start-up, or a template compiled per event with `interpolate`.
    enum Pattern {
        case fixed(Regex)
        case interpolated(Template)
    }

    let interpolate: Bool
    let whitelistNames: [Pattern]
    let blacklistNames: [Pattern]
    let whitelistValues: [(key: Template, pattern: Pattern)]
    let blacklistValues: [(key: Template, pattern: Pattern)]
    let logger: Logger

    public init(settings: Settings, context: PluginContext) throws {
        interpolate = settings.interpolate
        let interpolate = settings.interpolate
        func compile(_ text: String, _ setting: String) throws -> Pattern {
            if interpolate { return .interpolated(Template(text)) }
            do {
                return .fixed(try Regex(text))
            } catch {
                throw SettingsValidationError("prune: \(setting): \(error)", setting: setting)
            }
        }
        whitelistNames = try settings.whitelistNames.map { try compile($0, "whitelist_names") }
        blacklistNames = try settings.blacklistNames.map { try compile($0, "blacklist_names") }
        whitelistValues = try settings.whitelistValues.map { (Template($0.key), try compile($0.value, "whitelist_values")) }
        blacklistValues = try settings.blacklistValues.map { (Template($0.key), try compile($0.value, "blacklist_values")) }
        logger = context.logger
    }

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            prune(event)
            batch.matched[i] = true
        }
    }

    /// What to remove: a whole field, or some elements of a list field.
    enum Removal {
        case field(String)
        case elements(String, [Value])
    }

    func prune(_ event: Event) {
        let hash = event.fields
        var removals: [Removal] = []
        if !whitelistNames.isEmpty {
            let patterns = resolve(whitelistNames, event)
            for key in hash.orderedKeys where !patterns.contains(where: { $0.matches(key) }) { removals.append(.field(key)) }
        }
        if !blacklistNames.isEmpty {
            let patterns = resolve(blacklistNames, event)
            for key in hash.orderedKeys where patterns.contains(where: { $0.matches(key) }) { removals.append(.field(key)) }
        }
        for (keep, rules) in [(true, whitelistValues), (false, blacklistValues)] {
            for rule in rules {
                let key = rule.key.render(event)
                guard let pattern = resolve([rule.pattern], event).first else { continue }
                // Ruby's `if hash[key]`: missing, nil and false values are skipped.
                guard let value = hash[key], value != .null, value != .bool(false) else { continue }
                if case .array(let elements) = value {
                    let failing = elements.filter { pattern.matches(PruneFilter.text($0)) != keep }
                    if failing.isEmpty { continue }
                    removals.append(failing.count == elements.count ? .field(key) : .elements(key, failing))
                } else if pattern.matches(PruneFilter.text(value)) != keep {
                    removals.append(.field(key))
                }
            }
        }
        for removal in removals {
            switch removal {
            case .field(let key):
                event.fields.removeValue(forKey: key)
            case .elements(let key, let values):
                // Ruby's `hash[key] - values`, computed on the value as it was before any removal.
                if case .array(let original)? = hash[key] {
                    event.fields[key] = .array(original.filter { !values.contains($0) })
                }
            }
        }
    }

    func resolve(_ patterns: [Pattern], _ event: Event) -> [Regex] {
        patterns.compactMap { pattern in
            switch pattern {
            case .fixed(let regex): return regex
            case .interpolated(let template):
                let text = template.render(event)
                do {
                    return try Regex(text)
                } catch {
                    logger.rateLimited(.warn, key: "regex", "prune: invalid interpolated pattern \(Ruby.inspect(string: text)): \(error)")
                    return nil
                }
            }
        }
    }

    /// The text a value pattern is matched against (Logstash would raise on non-strings; Sluice uses their `to_s`).
    static func text(_ v: Value) -> String { Ruby.toS(v) }
}

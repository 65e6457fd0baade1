import SluiceCore

/// Renames fields whose names contain dots (Logstash's `de_dot` filter, 1.1.x): `a.b` becomes `a_b`, or the
/// nested field `[a][b]` with `nested => true`.
///
/// Like Logstash it works on field-reference text: the new name is the reference with every `.` replaced, the value
/// is copied there, and the old field is removed at the first level whose name has a dot.
public final class DeDotFilter: Filter {
    public static let name = "de_dot"
    public static let summary = "Replaces dots in field names with a separator or nested fields."

    public struct Settings: PluginSettings {
        @Setting("separator", doc: "Replaces each dot in a field name; may not contain a dot.")
        var separator = "_"
        @Setting("nested", doc: "Makes nested fields out of dotted names (`a.b` → `[a][b]`) instead of using `separator`.")
        var nested = false
        @Setting("fields", doc: "The fields to act on, e.g. `[\"field.suffix\", \"[foo][bar.suffix]\"]`. When unset, all top-level fields are checked.")
        var fields: [String]? = nil
        @Setting("recursive", doc: "Also checks the sub-fields of hash values (expensive; best with `fields`).")
        var recursive = false
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if separator.contains(".") {
                throw SettingsValidationError("de_dot: separator cannot be or contain '.'", setting: "separator")
            }
        }
    }

    let separator: String
    let fields: [String]?
    let recursive: Bool

    public init(settings: Settings, context: PluginContext) throws {
        separator = settings.nested ? "][" : settings.separator
        fields = settings.fields
        recursive = settings.recursive
    }

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            let refs = fields ?? event.fields.orderedKeys
            for ref in refs { process(event, ref) }
            batch.matched[i] = true
        }
    }

    func process(_ event: Event, _ text: String) {
        guard let ref = try? FieldReference(parsing: text), event.includes(ref) else { return }
        var current = text
        if text.contains(".") {
            if let renamed = rename(event, text) { current = renamed }
        }
        guard recursive, let currentRef = try? FieldReference(parsing: current),
            case .object(let o)? = event.get(currentRef)
        else { return }
        let base = current.hasPrefix("[") ? current : "[\(current)]"
        for key in o.orderedKeys where !key.contains("[") && !key.contains("]") {
            process(event, "\(base)[\(key)]")
        }
    }

    /// Moves the value at `fieldref` to the de-dotted reference; returns the new reference text.
    func rename(_ event: Event, _ fieldref: String) -> String? {
        var source = fieldref
        if separator == "][" {
            if !source.hasPrefix("[") { source = "[" + source }
            if !source.hasSuffix("]") { source += "]" }
        }
        let newText = source.replacingAll(".", with: separator)
        guard let from = try? FieldReference(parsing: source), let to = try? FieldReference(parsing: newText),
            let deleteRef = try? FieldReference(parsing: DeDotFilter.referenceForDelete(source))
        else { return nil }
        guard let value = event.get(from) else { return nil }
        event.set(to, value)
        event.remove(deleteRef)
        return newText
    }

    /// The reference up to and including the first level whose name has a dot (`[a][b.c][d]` → `[a][b.c]`).
    static func referenceForDelete(_ source: String) -> String {
        var out = ""
        for part in source.filter({ $0 != "[" }).split(separator: "]", omittingEmptySubsequences: false) {
            out += "[" + part + "]"
            if part.contains(".") { return out }
        }
        return out
    }
}

extension String {
    /// Every occurrence of `target` replaced with `replacement` (Ruby's `gsub` with a string pattern).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        return split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

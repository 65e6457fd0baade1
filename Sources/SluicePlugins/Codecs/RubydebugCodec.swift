import SluiceCore

/// Pretty-prints events in amazing_print's layout, as Logstash's `rubydebug` codec (the stdout default).
public final class RubydebugCodec: Codec {
    public static let name = "rubydebug"
    public static let summary = "Pretty-prints each event the way Logstash's rubydebug codec does."

    public struct Settings: PluginSettings {
        @Setting("metadata", doc: "Also print `@metadata` (when it is not empty).")
        var metadata = false
        public init() {}
    }

    let showMetadata: Bool

    public init(settings: Settings, context: PluginContext) throws {
        showMetadata = settings.metadata
    }

    public func encode(_ event: Event, into out: inout [UInt8]) {
        var fields = event.fields
        if showMetadata && !event.metadata.isEmpty { fields["@metadata"] = .object(event.metadata) }
        var text = ""
        RubyInspect.write(.object(fields), level: 1, into: &text)
        text += "\n"
        out.append(contentsOf: text.utf8)
    }
}

/// amazing_print 1.x's layout: hashes with right-aligned keys, arrays with `[i]` indexes, 4 spaces per level.
enum RubyInspect {
    static func write(_ v: Value, level: Int, into out: inout String) {
        switch v {
        case .object(let o):
            if o.isEmpty {
                out += "{}"
                return
            }
            let keys = o.orderedKeys.map { Ruby.inspect(string: $0) }
            let width = keys.map(\.count).max()! + 4 * level
            out += "{\n"
            var first = true
            for (key, (_, value)) in zip(keys, o) {
                if !first { out += ",\n" }
                first = false
                out += String(repeating: " ", count: width - key.count) + key + " => "
                write(value, level: level + 1, into: &out)
            }
            out += "\n" + String(repeating: " ", count: 4 * (level - 1)) + "}"
        case .array(let a):
            if a.isEmpty {
                out += "[]"
                return
            }
            let indexWidth = String(a.count - 1).count
            out += "[\n"
            for (i, element) in a.enumerated() {
                if i > 0 { out += ",\n" }
                let index = String(i)
                out += String(repeating: " ", count: 4 * level) + "[" + String(repeating: " ", count: indexWidth - index.count) + index + "] "
                write(element, level: level + 1, into: &out)
            }
            out += "\n" + String(repeating: " ", count: 4 * (level - 1)) + "]"
        case .string(let s): out += Ruby.inspect(string: s)
        case .int(let i): out += String(i)
        case .double(let d): out += RubyFloat.format(d)
        case .bigNumber(let n): out += Ruby.toS(.bigNumber(n))
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "nil"
        case .timestamp(let t): out += t.iso8601
        }
    }
}

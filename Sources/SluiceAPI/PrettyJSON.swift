import SluiceCore

/// `?pretty` output in the style of Logstash's (Jackson's default pretty printer): two-space indents and
/// `"key" : value`.
enum PrettyJSON {
    static func string(_ value: Value) -> String {
        var out = ""
        write(value, indent: 0, to: &out)
        return out
    }

    private static func write(_ value: Value, indent: Int, to out: inout String) {
        let pad = String(repeating: "  ", count: indent + 1), closing = String(repeating: "  ", count: indent)
        switch value {
        case .object(let o) where !o.isEmpty:
            out += "{\n"
            var first = true
            for (key, v) in o {
                if !first { out += ",\n" }
                first = false
                out += pad + JSONWriter.string(.string(key)) + " : "
                write(v, indent: indent + 1, to: &out)
            }
            out += "\n" + closing + "}"
        case .array(let a) where !a.isEmpty:
            out += "[ "
            for (i, v) in a.enumerated() {
                if i > 0 { out += ", " }
                write(v, indent: indent, to: &out)
            }
            out += " ]"
        default:
            out += JSONWriter.string(value)
        }
    }
}

import Yams

extension Value {
    /// A YAML node as a value: mappings keep their order, scalars get the type their tag resolves to (what the
    /// translate filter's dictionaries and `sluice test`'s YAML suites read). Pure.
    public init(yaml node: Node) {
        if let mapping = node.mapping {
            var o = Object()
            for (k, v) in mapping { o[k.string ?? ""] = Value(yaml: v) }
            self = .object(o)
            return
        }
        if let sequence = node.sequence {
            self = .array(sequence.map(Value.init(yaml:)))
            return
        }
        switch Tag.Name(rawValue: node.tag.rawValue) {
        case Tag.Name.null: self = .null
        case Tag.Name.bool: self = node.bool.map(Value.bool) ?? .string(node.string ?? "")
        case Tag.Name.int: self = node.int.map(Value.int) ?? .string(node.string ?? "")
        case Tag.Name.float: self = node.float.map(Value.double) ?? .string(node.string ?? "")
        default: self = .string(node.string ?? "")
        }
    }
}

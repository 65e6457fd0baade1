/// The parsed form of one or more config parts: the sections `input`, `filter` and `output`.
public struct PipelineAST: Sendable {
    /// Input plugins (conditionals are not allowed in inputs).
    public var inputs: [Statement] = []
    /// Filter statements, in order across all parts.
    public var filters: [Statement] = []
    /// Output statements, in order across all parts.
    public var outputs: [Statement] = []
    /// Warnings found while parsing (e.g. and/or chains whose grouping is surprising).
    public var warnings: [Diagnostic] = []

    public init() {}

    /// Appends another part, as Logstash merges config files.
    public mutating func merge(_ other: PipelineAST) {
        inputs += other.inputs
        filters += other.filters
        outputs += other.outputs
        warnings += other.warnings
    }
}

/// The kind of a section or plugin.
public enum PluginKind: String, Sendable, CaseIterable {
    case input, filter, output, codec
}

/// A statement in a section: a plugin or an if/else-if/else chain.
public indirect enum Statement: Sendable {
    case plugin(PluginDecl)
    case branch(Branch)
}

/// `name { attributes }`.
public struct PluginDecl: Sendable {
    public let name: String
    public let span: SourceSpan
    public let attributes: [Attribute]
}

/// `name => value` inside a plugin block.
public struct Attribute: Sendable {
    public let name: String
    public let span: SourceSpan
    public let value: ConfigValue
}

/// A setting value as written in the config, with its position.
public indirect enum ConfigValue: Sendable {
    case string(String, SourceSpan)
    case bareword(String, SourceSpan)
    case integer(Int, SourceSpan)
    case float(Double, SourceSpan)
    case array([ConfigValue], SourceSpan)
    case hash([HashEntry], SourceSpan)
    case plugin(PluginDecl)

    public var span: SourceSpan {
        switch self {
        case .string(_, let s), .bareword(_, let s), .integer(_, let s), .float(_, let s), .array(_, let s),
            .hash(_, let s):
            return s
        case .plugin(let p): return p.span
        }
    }

    /// A short description of the value's kind, for type errors.
    public var kindName: String {
        switch self {
        case .string: return "a string"
        case .bareword: return "a bareword"
        case .integer: return "an integer"
        case .float: return "a float"
        case .array: return "an array"
        case .hash: return "a hash"
        case .plugin: return "a plugin"
        }
    }

    /// The scalar text of a string, bareword or number.
    public var scalarText: String? {
        switch self {
        case .string(let s, _), .bareword(let s, _): return s
        case .integer(let i, _): return String(i)
        case .float(let d, _): return String(d)
        default: return nil
        }
    }
}

/// `key => value` in a hash literal.
public struct HashEntry: Sendable {
    public let key: ConfigValue
    public let value: ConfigValue
}

/// `if cond { … } else if cond { … } else { … }`.
public struct Branch: Sendable {
    public struct Clause: Sendable {
        public let condition: ConditionExpr
        public let body: [Statement]
        public let span: SourceSpan
    }
    public let clauses: [Clause]
    public let elseBody: [Statement]?
}

/// A boolean operator between expressions.
public enum BooleanOperator: String, Sendable {
    case and, or, xor, nand
}

/// A comparison operator.
public enum CompareOperator: String, Sendable {
    case eq = "==", ne = "!=", lt = "<", gt = ">", le = "<=", ge = ">="
}

/// A condition expression.
public indirect enum ConditionExpr: Sendable {
    case boolean(BooleanOperator, ConditionExpr, ConditionExpr, SourceSpan)
    case not(ConditionExpr, SourceSpan)
    case compare(CompareOperator, Rvalue, Rvalue, SourceSpan)
    case regex(negated: Bool, Rvalue, Rvalue, SourceSpan)
    case membership(negated: Bool, Rvalue, Rvalue, SourceSpan)
    case value(Rvalue)

    public var span: SourceSpan {
        switch self {
        case .boolean(_, _, _, let s), .not(_, let s), .compare(_, _, _, let s), .regex(_, _, _, let s),
            .membership(_, _, _, let s):
            return s
        case .value(let r): return r.span
        }
    }
}

/// An operand in a condition.
public indirect enum Rvalue: Sendable {
    case string(String, SourceSpan)
    case integer(Int, SourceSpan)
    case float(Double, SourceSpan)
    /// A field reference, as written (`[a][b]`).
    case selector(String, SourceSpan)
    case array([Rvalue], SourceSpan)
    case regex(String, SourceSpan)
    case methodCall(String, [Rvalue], SourceSpan)

    public var span: SourceSpan {
        switch self {
        case .string(_, let s), .integer(_, let s), .float(_, let s), .selector(_, let s), .array(_, let s),
            .regex(_, let s), .methodCall(_, _, let s):
            return s
        }
    }
}

extension ConditionExpr {
    /// A one-line rendering with every boolean grouping in parentheses (for warnings and `sluice graph`).
    public var sourceText: String {
        switch self {
        case .boolean(let op, let l, let r, _): return "(\(l.sourceText) \(op.rawValue) \(r.sourceText))"
        case .not(let inner, _): return "!\(inner.sourceText)"
        case .compare(let op, let l, let r, _): return "\(l.sourceText) \(op.rawValue) \(r.sourceText)"
        case .regex(let neg, let l, let r, _): return "\(l.sourceText) \(neg ? "!~" : "=~") \(r.sourceText)"
        case .membership(let neg, let l, let r, _): return "\(l.sourceText) \(neg ? "not in" : "in") \(r.sourceText)"
        case .value(let v): return v.sourceText
        }
    }
}

extension Rvalue {
    /// The operand as it would be written.
    public var sourceText: String {
        switch self {
        case .string(let s, _): return "\"\(s)\""
        case .integer(let i, _): return String(i)
        case .float(let d, _): return String(d)
        case .selector(let s, _): return s
        case .array(let items, _): return "[" + items.map(\.sourceText).joined(separator: ", ") + "]"
        case .regex(let p, _): return "/\(p)/"
        case .methodCall(let n, let args, _): return "\(n)(" + args.map(\.sourceText).joined(separator: ", ") + ")"
        }
    }
}

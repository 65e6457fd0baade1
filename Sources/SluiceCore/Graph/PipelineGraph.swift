/// The stage graph of a pipeline as plain data: plugin and `if` vertices joined by plain and true/false edges,
/// in Logstash's shape (inputs → queue → filters → outputs). `sluice graph` prints it as Graphviz dot.
public struct PipelineGraph: Sendable {
    /// A vertex of the graph.
    public enum Vertex: Sendable, Equatable {
        case plugin(kind: PluginKind, name: String, span: SourceSpan)
        case condition(text: String, span: SourceSpan)
        case queue
    }

    /// An edge; `when` is set on the edges leaving a condition.
    public struct Edge: Sendable, Equatable {
        public let from: Int
        public let to: Int
        public let when: Bool?
    }

    public private(set) var vertices: [Vertex] = []
    public private(set) var edges: [Edge] = []
    public let pipelineID: String

    public init(_ ast: PipelineAST, pipelineID: String = "main") {
        self.pipelineID = pipelineID
        let queue = add(.queue)
        for case .plugin(let p) in ast.inputs {
            let v = add(.plugin(kind: .input, name: p.name, span: p.span))
            edges.append(Edge(from: v, to: queue, when: nil))
        }
        let filterEnds = chain(ast.filters, kind: .filter, from: [(queue, nil)])
        _ = fanOut(ast.outputs, from: filterEnds)
    }

    private mutating func add(_ v: Vertex) -> Int {
        vertices.append(v)
        return vertices.count - 1
    }

    private mutating func connect(_ from: [(Int, Bool?)], to v: Int) {
        for (f, when) in from { edges.append(Edge(from: f, to: v, when: when)) }
    }

    /// Filters run in sequence: each statement's exits feed the next statement.
    private mutating func chain(_ statements: [Statement], kind: PluginKind, from: [(Int, Bool?)]) -> [(Int, Bool?)] {
        var ends = from
        for s in statements {
            switch s {
            case .plugin(let p):
                let v = add(.plugin(kind: kind, name: p.name, span: p.span))
                connect(ends, to: v)
                ends = [(v, nil)]
            case .branch(let b):
                ends = branch(b, kind: kind, from: ends, sequential: true)
            }
        }
        return ends
    }

    /// Outputs all receive the events that reach them.
    private mutating func fanOut(_ statements: [Statement], from: [(Int, Bool?)]) -> [(Int, Bool?)] {
        for s in statements {
            switch s {
            case .plugin(let p):
                let v = add(.plugin(kind: .output, name: p.name, span: p.span))
                connect(from, to: v)
            case .branch(let b):
                _ = branch(b, kind: .output, from: from, sequential: false)
            }
        }
        return from
    }

    private mutating func branch(_ b: Branch, kind: PluginKind, from: [(Int, Bool?)], sequential: Bool) -> [(Int, Bool?)] {
        var incoming = from
        var ends: [(Int, Bool?)] = []
        for clause in b.clauses {
            let c = add(.condition(text: PipelineGraph.describe(clause.condition), span: clause.span))
            connect(incoming, to: c)
            let bodyEnds = sequential
                ? chain(clause.body, kind: kind, from: [(c, true)]) : fanOut(clause.body, from: [(c, true)])
            if sequential { ends += bodyEnds }
            incoming = [(c, false)]
        }
        if let elseBody = b.elseBody {
            let e = sequential ? chain(elseBody, kind: kind, from: incoming) : fanOut(elseBody, from: incoming)
            if sequential { ends += e }
        } else if sequential {
            ends += incoming
        }
        return ends
    }

    /// A readable one-line form of a condition, with Logstash's grouping made explicit.
    static func describe(_ c: ConditionExpr) -> String { c.sourceText }

    /// Graphviz dot text.
    public var dot: String {
        var out = "digraph \"\(pipelineID)\" {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n"
        for (i, v) in vertices.enumerated() {
            switch v {
            case .queue: out += "  v\(i) [label=\"queue\", shape=cylinder];\n"
            case .plugin(let kind, let name, let span):
                out += "  v\(i) [label=\"\(kind.rawValue): \(name)\\n\(PipelineGraph.escape(span.description))\", shape=box];\n"
            case .condition(let text, _):
                out += "  v\(i) [label=\"if \(PipelineGraph.escape(text))\", shape=diamond];\n"
            }
        }
        for e in edges {
            let label = e.when.map { " [label=\"\($0)\"]" } ?? ""
            out += "  v\(e.from) -> v\(e.to)\(label);\n"
        }
        return out + "}"
    }

    static func escape(_ s: String) -> String {
        s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
    }
}

/// The stage graph of a pipeline — the one IR between the config and the runtime. Every plugin is decoded and
/// validated (no plugin is created yet), every condition compiled, ids checked; the result is both the statement
/// tree `ProgramCompiler` turns into the executable program and the vertices and edges that `sluice graph`, `-t`
/// and the API's `?graph=true` show, in Logstash's shape (inputs → queue → filters → outputs, `if` vertices with
/// true/false edges). Built on the compiling thread; immutable afterwards and read by the API's threads.
public struct PipelineGraph: @unchecked Sendable {
    /// What a vertex stands for.
    public enum VertexKind: Sendable, Equatable {
        case plugin(PluginKind, name: String)
        case condition(String)
        case queue
    }

    /// A vertex: a plugin (its id is the plugin id, as in `/_node/stats`), an `if` clause, or the queue.
    public struct Vertex: Sendable, Equatable {
        public let id: String
        public let explicitID: Bool
        public let kind: VertexKind
        public let span: SourceSpan?
    }

    /// An edge; `when` is set on the edges leaving a condition (its true or false outcome).
    public struct Edge: Sendable, Equatable {
        public let from: Int
        public let to: Int
        public let when: Bool?
    }

    /// A statement of the filter or output section, naming its vertex.
    indirect enum Node {
        case plugin(vertex: Int, PluginPlan)
        case branch([Clause], otherwise: [Node])
    }

    /// One `if`/`else if` clause: its vertex, compiled condition and body.
    struct Clause {
        let vertex: Int
        let condition: CompiledCondition
        let body: [Node]
    }

    public let pipelineID: String
    public private(set) var vertices: [Vertex] = []
    public private(set) var edges: [Edge] = []
    /// Warnings from parsing (and/or chains, …), for the log.
    public let warnings: [Diagnostic]
    private(set) var inputs: [PluginPlan] = []
    private(set) var filters: [Node] = []
    private(set) var outputs: [Node] = []

    /// Every plugin of the graph, inputs first, in config order.
    public var plugins: [PluginPlan] {
        inputs + PipelineGraph.plugins(in: filters) + PipelineGraph.plugins(in: outputs)
    }

    /// The id Logstash gives the queue vertex.
    public static let queueVertexID = "__QUEUE__"

    /// Decodes and validates every plugin of `ast` and compiles its conditions, or throws every problem found.
    public init(
        _ ast: PipelineAST, registry: PluginRegistry, environment: PipelineEnvironment
    ) throws(ConfigError) {
        var builder = Builder(registry: registry, environment: environment)
        let queue = builder.add(Vertex(id: PipelineGraph.queueVertexID, explicitID: false, kind: .queue, span: nil))
        for case .plugin(let decl) in ast.inputs {
            guard let plan = builder.plan(.input, decl) else { continue }
            builder.connect([(builder.add(plan), nil)], to: queue)
            builder.inputs.append(plan)
        }
        let (filters, filterExits) = builder.chain(ast.filters, kind: .filter, from: [(queue, nil)])
        let (outputs, _) = builder.chain(ast.outputs, kind: .output, from: filterExits)
        builder.checkUniqueIDs()
        if !builder.diagnostics.isEmpty { throw ConfigError(builder.diagnostics) }
        pipelineID = environment.pipelineID
        warnings = ast.warnings
        vertices = builder.vertices
        edges = builder.edges
        inputs = builder.inputs
        self.filters = filters
        self.outputs = outputs
    }

    static func plugins(in nodes: [Node]) -> [PluginPlan] {
        nodes.flatMap { node -> [PluginPlan] in
            switch node {
            case .plugin(_, let plan): return [plan]
            case .branch(let clauses, let otherwise):
                return clauses.flatMap { plugins(in: $0.body) } + plugins(in: otherwise)
            }
        }
    }

    /// A readable one-line form of a condition, with Logstash's grouping made explicit.
    static func describe(_ c: ConditionExpr) -> String { c.sourceText }

    /// One walk over the AST: plans plugins, compiles conditions, adds vertices and edges, collects diagnostics.
    private struct Builder {
        let registry: PluginRegistry
        let environment: PipelineEnvironment
        var vertices: [Vertex] = []
        var edges: [Edge] = []
        var inputs: [PluginPlan] = []
        var diagnostics: [Diagnostic] = []

        init(registry: PluginRegistry, environment: PipelineEnvironment) {
            self.registry = registry
            self.environment = environment
        }

        mutating func add(_ v: Vertex) -> Int {
            vertices.append(v)
            return vertices.count - 1
        }

        mutating func add(_ plan: PluginPlan) -> Int {
            add(Vertex(id: plan.id, explicitID: plan.explicitID, kind: .plugin(plan.kind, name: plan.name), span: plan.span))
        }

        mutating func connect(_ from: [(Int, Bool?)], to v: Int) {
            for (f, when) in from { edges.append(Edge(from: f, to: v, when: when)) }
        }

        mutating func plan(_ kind: PluginKind, _ decl: PluginDecl) -> PluginPlan? {
            do {
                return try registry.plan(kind, decl, environment)
            } catch {
                diagnostics += error.diagnostics
                return nil
            }
        }

        /// Filters run in sequence: each statement's exits feed the next one. Outputs fan out: every statement
        /// receives the events that reach the section (or its branch). Returns the nodes and the exits.
        mutating func chain(_ statements: [Statement], kind: PluginKind, from: [(Int, Bool?)]) -> ([Node], [(Int, Bool?)]) {
            var nodes: [Node] = []
            var ends = from
            for statement in statements {
                let incoming = kind == .output ? from : ends
                switch statement {
                case .plugin(let decl):
                    guard let plan = plan(kind, decl) else { continue }
                    let v = add(plan)
                    connect(incoming, to: v)
                    nodes.append(.plugin(vertex: v, plan))
                    ends = [(v, nil)]
                case .branch(let b):
                    let (node, exits) = branch(b, kind: kind, from: incoming)
                    nodes.append(node)
                    ends = exits
                }
            }
            return (nodes, ends)
        }

        /// An `if`/`else if`/`else`: a condition vertex per clause, its true edge into the body, its false edge to
        /// the next clause (or the else body, or straight on).
        mutating func branch(_ b: Branch, kind: PluginKind, from: [(Int, Bool?)]) -> (Node, [(Int, Bool?)]) {
            var incoming = from
            var clauses: [Clause] = []
            var exits: [(Int, Bool?)] = []
            for clause in b.clauses {
                let text = PipelineGraph.describe(clause.condition)
                let v = add(Vertex(id: conditionID(text, clause.span), explicitID: false, kind: .condition(text), span: clause.span))
                connect(incoming, to: v)
                let (body, bodyExits) = chain(clause.body, kind: kind, from: [(v, true)])
                exits += bodyExits
                incoming = [(v, false)]
                if let condition = compile(clause.condition) { clauses.append(Clause(vertex: v, condition: condition, body: body)) }
            }
            let (otherwise, elseExits) = chain(b.elseBody ?? [], kind: kind, from: incoming)
            exits += elseExits
            return (.branch(clauses, otherwise: otherwise), exits)
        }

        mutating func compile(_ condition: ConditionExpr) -> CompiledCondition? {
            do {
                let options = ConditionCompiler.Options(
                    regexMatchLimit: environment.regexMatchLimit, substitution: environment.substitution)
                return try ConditionCompiler.compile(condition, options: options)
            } catch {
                diagnostics.append(error)
                return nil
            }
        }

        /// A condition vertex's id: stable across runs of the same config, distinct per clause.
        func conditionID(_ text: String, _ span: SourceSpan) -> String {
            "__if_" + SHA256.hex(of: "\(environment.pipelineID)|\(span.source)|\(span.line)|\(span.column)|\(text)").prefix(32)
        }

        mutating func checkUniqueIDs() {
            var seen: Set<String> = []
            for v in vertices where !seen.insert(v.id).inserted {
                diagnostics.append(
                    Diagnostic(code: "duplicate_id", span: v.span ?? .none, "Two plugins have the id '\(v.id)', please fix this conflict"))
            }
        }
    }
}

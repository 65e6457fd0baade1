/// Turns a pipeline's graph into the executable `PipelineProgram`: creates every plugin the graph planned — the
/// last step, so a config with errors creates none — and builds the filter and output step trees from the graph's
/// statement tree. Collects every diagnostic before failing, and closes what it created when it fails.
public struct ProgramCompiler {
    let registry: PluginRegistry
    let environment: PipelineEnvironment

    public init(registry: PluginRegistry, environment: PipelineEnvironment) {
        self.registry = registry
        self.environment = environment
    }

    /// Builds the graph of `ast` and compiles it, or throws all the problems found.
    public func compile(_ ast: PipelineAST) throws(ConfigError) -> PipelineProgram {
        try compile(PipelineGraph(ast, registry: registry, environment: environment))
    }

    /// Creates the graph's plugins and compiles its step trees, or throws all the problems found.
    public func compile(_ graph: PipelineGraph) throws(ConfigError) -> PipelineProgram {
        var state = State()
        let inputs = graph.inputs.compactMap { state.instantiate($0) }
        let filterSteps = steps(graph.filters, &state)
        let outputSteps = steps(graph.outputs, &state)
        let built = inputs + state.filters + state.outputs
        if !state.diagnostics.isEmpty {
            // Release what was created (a `pipeline` output unregisters as a sender).
            for p in built { p.instance.close() }
            throw ConfigError(state.diagnostics)
        }
        let program = PipelineProgram(
            graph: graph, inputs: inputs, filters: state.filters, outputs: state.outputs, filterSteps: filterSteps,
            outputSteps: outputSteps,
            conditionFailure: ConditionFailureHandler(
                deadLetterQueue: environment.deadLetterQueue,
                logger: Logger("pipeline", pipelineID: environment.pipelineID, pluginID: "if-statement")),
            metrics: PipelineMetrics(plugins: state.metrics))
        program.collectsMetrics = environment.collectMetrics
        return program
    }

    struct State {
        var diagnostics: [Diagnostic] = []
        var filters: [BuiltPlugin] = []
        var outputs: [BuiltPlugin] = []
        var metrics: [PluginMetrics] = []

        mutating func instantiate(_ plan: PluginPlan) -> BuiltPlugin? {
            do {
                let built = try plan.instantiate()
                metrics.append(PluginMetrics(id: built.id, name: built.name, kind: built.kind))
                return built
            } catch {
                diagnostics += error.diagnostics
                return nil
            }
        }
    }

    func steps(_ nodes: [PipelineGraph.Node], _ state: inout State) -> [Step] {
        nodes.compactMap { node -> Step? in
            switch node {
            case .plugin(_, let plan):
                guard let built = state.instantiate(plan) else { return nil }
                let metrics = state.metrics.last!
                if built.kind == .filter {
                    state.filters.append(built)
                    return .filter(FilterStage(built, metrics: metrics))
                }
                state.outputs.append(built)
                return .output(OutputStage(built, metrics: metrics))
            case .branch(let clauses, let otherwise):
                let compiled = clauses.map { ($0.condition, steps($0.body, &state)) }
                return .branch(compiled, otherwise: steps(otherwise, &state))
            }
        }
    }
}

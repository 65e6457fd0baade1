/// Compiles a parsed pipeline into a `PipelineProgram`: builds and validates every plugin against its schema,
/// compiles conditions, and checks ids. Collects every diagnostic before failing.
public struct ProgramCompiler {
    let registry: PluginRegistry
    let environment: PipelineEnvironment

    public init(registry: PluginRegistry, environment: PipelineEnvironment) {
        self.registry = registry
        self.environment = environment
    }

    /// Compiles `ast`, or throws all the problems found.
    public func compile(_ ast: PipelineAST) throws(ConfigError) -> PipelineProgram {
        var state = State()
        let inputs = ast.inputs.compactMap { statement -> BuiltPlugin? in
            guard case .plugin(let decl) = statement else { return nil }
            return state.build(.input, decl, self)
        }
        let filterSteps = compileSteps(ast.filters, kind: .filter, &state)
        let outputSteps = compileSteps(ast.outputs, kind: .output, &state)
        state.checkUniqueIDs(inputs + state.filters + state.outputs)
        if !state.diagnostics.isEmpty {
            // Release what was built (a `pipeline` output unregisters as a sender).
            for p in inputs + state.filters + state.outputs { p.instance.close() }
            throw ConfigError(state.diagnostics)
        }
        let metrics = PipelineMetrics(plugins: state.metrics)
        let program = PipelineProgram(
            inputs: inputs, filters: state.filters, outputs: state.outputs, filterSteps: filterSteps,
            outputSteps: outputSteps,
            conditionFailure: ConditionFailureHandler(
                deadLetterQueue: environment.deadLetterQueue,
                logger: Logger("pipeline", pipelineID: environment.pipelineID, pluginID: "if-statement")),
            warnings: ast.warnings, metrics: metrics)
        program.collectsMetrics = environment.collectMetrics
        return program
    }

    struct State {
        var diagnostics: [Diagnostic] = []
        var filters: [BuiltPlugin] = []
        var outputs: [BuiltPlugin] = []
        var metrics: [PluginMetrics] = []

        mutating func build(_ kind: PluginKind, _ decl: PluginDecl, _ compiler: ProgramCompiler) -> BuiltPlugin? {
            do {
                let built = try compiler.registry.build(kind, decl, compiler.environment)
                metrics.append(PluginMetrics(id: built.id, name: built.name, kind: kind))
                return built
            } catch {
                diagnostics += error.diagnostics
                return nil
            }
        }

        mutating func checkUniqueIDs(_ plugins: [BuiltPlugin]) {
            var seen: Set<String> = []
            for p in plugins where !seen.insert(p.id).inserted {
                diagnostics.append(
                    Diagnostic(code: "duplicate_id", span: p.span, "Two plugins have the id '\(p.id)', please fix this conflict"))
            }
        }
    }

    func compileSteps(_ statements: [Statement], kind: PluginKind, _ state: inout State) -> [Step] {
        var steps: [Step] = []
        for statement in statements {
            switch statement {
            case .plugin(let decl):
                guard let built = state.build(kind, decl, self) else { continue }
                let metrics = state.metrics.last!
                if kind == .filter {
                    state.filters.append(built)
                    steps.append(.filter(FilterStage(built, metrics: metrics)))
                } else {
                    state.outputs.append(built)
                    steps.append(.output(OutputStage(built, metrics: metrics)))
                }
            case .branch(let branch):
                var clauses: [(CompiledCondition, [Step])] = []
                for clause in branch.clauses {
                    let body = compileSteps(clause.body, kind: kind, &state)
                    do {
                        let options = ConditionCompiler.Options(
                            regexMatchLimit: environment.regexMatchLimit, substitution: environment.substitution)
                        clauses.append((try ConditionCompiler.compile(clause.condition, options: options), body))
                    } catch {
                        state.diagnostics.append(error)
                    }
                }
                let otherwise = compileSteps(branch.elseBody ?? [], kind: kind, &state)
                steps.append(.branch(clauses, otherwise: otherwise))
            }
        }
        return steps
    }
}

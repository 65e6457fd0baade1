import ArgumentParser
import SluiceCore
import SluicePlugins

/// `sluice graph -f FILE`: compiles the pipelines as `-t` does and prints the graph each one runs — Graphviz dot,
/// Mermaid, or Logstash's graph JSON. A config that does not compile prints its errors and no graph.
struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the pipeline graph (Graphviz dot, Mermaid, or Logstash's graph JSON).")

    @OptionGroup var options: PipelineOptions

    @Option(help: "dot, mermaid or json (the shape of the API's ?graph=true).")
    var format: PipelineGraph.Format = .dot

    func run() throws {
        do {
            let settings = try options.processSettings()
            let agent = Agent(registry: builtinRegistry)
            for d in try options.definitions(settings) {
                let pipeline = try agent.compile(d, openDeadLetterQueue: false)
                defer { pipeline.program.close() }
                print(pipeline.program.graph.rendered(as: format, hash: pipeline.configHash))
            }
        } catch let e as PipelineCompileError {
            printError(e.rendered)
            throw ExitCode(1)
        } catch let e as SettingsError {
            printError("ERROR: \(e.message)")
            throw ExitCode(1)
        }
    }
}

extension PipelineGraph.Format: ExpressibleByArgument {}

/// `sluice plugins`: lists the built-in plugins and their settings.
struct Plugins: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the supported plugins and their settings.")

    @Flag(help: "Print each plugin's settings with type, default and doc.")
    var verbose = false

    func run() {
        for d in builtinRegistry.all {
            print("\(d.kind.rawValue) \(d.name): \(d.summary)")
            guard verbose else { continue }
            for s in d.settings() {
                let def = s.defaultDescription.map { " (default \($0))" } ?? (s.isRequired ? " (required)" : "")
                print("    \(s.name) <\(s.typeDescription)>\(def): \(s.doc)")
            }
        }
    }
}

import ArgumentParser
import SluiceCore
import SluicePlugins

/// `sluice graph -f FILE`: prints the pipeline's stage graph as Graphviz dot.
struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the pipeline graph as Graphviz dot.")

    @OptionGroup var options: PipelineOptions

    func run() throws {
        do {
            let settings = try options.processSettings()
            for d in try options.definitions(settings) {
                let ast = try ConfigParser.parse(d.sources, options: .init(supportEscapes: try settings.bool("config.support_escapes")))
                print(PipelineGraph(ast, pipelineID: d.id).dot)
            }
        } catch let e as ConfigError {
            printError(DiagnosticRenderer(sources: []).render(e))
            throw ExitCode(1)
        } catch let e as SettingsError {
            printError("ERROR: \(e.message)")
            throw ExitCode(1)
        }
    }
}

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

import ArgumentParser
import SluiceCore
import SluicePlugins

#if canImport(Glibc)
import Glibc
#endif

/// The `sluice` command: runs Logstash pipelines, and tools around them.
@main
struct Sluice: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Runs Logstash pipeline configs in one small native process.",
        subcommands: [Run.self, TestCommand.self, Graph.self, DLQ.self, Queue.self, Plugins.self],
        defaultSubcommand: Run.self
    )
}

/// Writes a line to standard error.
func printError(_ text: String) {
    var t = text.hasSuffix("\n") ? text : text + "\n"
    t.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
}

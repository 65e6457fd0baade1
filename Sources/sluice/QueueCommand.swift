import ArgumentParser
import SluiceCore

/// `sluice queue stats|check|repair`: inspect, verify and repair a pipeline's persisted queue (Logstash's
/// `pqcheck` and `pqrepair`).
struct Queue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Inspect, check or repair a pipeline's persisted queue.",
        subcommands: [Stats.self, Check.self, Repair.self])

    /// Which queue: a directory, or `--path.data`/`--path.queue` and `--pipeline`.
    struct Location: ParsableArguments {
        @Argument(help: "The queue directory (default <path.queue>/<pipeline>).")
        var directory: String?

        @Option(name: .customLong("path.data"), help: "The data directory (./data).")
        var pathData = "data"

        @Option(name: .customLong("path.queue"), help: "The queue root (default <path.data>/queue).")
        var pathQueue: String?

        @Option(help: "The pipeline id (main).")
        var pipeline = "main"

        var tool: QueueTool { QueueTool(directory: directory ?? (pathQueue ?? pathData + "/queue") + "/" + pipeline) }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pages, unacknowledged events, bytes and the oldest unacknowledged event's time (JSON).")
        @OptionGroup var location: Location

        func run() throws {
            try reportingErrors { () throws(PersistedQueueError) in print(JSONWriter.string(.object(try location.tool.stats()))) }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every checkpoint and page, checksums included (as pqcheck); exits 1 when something is damaged.")
        @OptionGroup var location: Location

        func run() throws {
            let (lines, problems) = location.tool.check()
            for line in lines { print(line) }
            guard !problems.isEmpty else {
                print("No problems found.")
                return
            }
            for p in problems { print("PROBLEM: \(p)") }
            print("\(problems.count) problem(s) found; `sluice queue repair` keeps every intact event.")
            throw ExitCode(1)
        }
    }

    struct Repair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Repair the queue as pqrepair does, keeping every intact event and listing what was dropped; the pipeline must be stopped.")
        @OptionGroup var location: Location

        func run() throws {
            let tool = location.tool
            try reportingErrors { () throws(PersistedQueueError) in
                let report = try tool.repairHoldingLock()
                for line in report { print(line) }
                print(report.isEmpty ? "Nothing to repair." : "Repaired \(tool.directory).")
            }
        }
    }
}

/// Runs a queue tool step; its error is printed as `ERROR: …` and the command exits 1.
private func reportingErrors(_ body: () throws(PersistedQueueError) -> Void) throws {
    do {
        try body()
    } catch {
        printError("ERROR: \(error.message)")
        throw ExitCode(1)
    }
}

import ArgumentParser
import SluiceCore

/// `sluice dlq stats|list|clear`: inspect and empty a pipeline's dead letter queue.
struct DLQ: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect or clear a pipeline's dead letter queue.",
        subcommands: [Stats.self, List.self, Clear.self])

    /// Which queue: `--path.data`/`--path.dead_letter_queue` and `--pipeline`.
    struct Location: ParsableArguments {
        @Option(name: .customLong("path.data"), help: "The data directory (./data).")
        var pathData = "data"

        @Option(name: .customLong("path.dead_letter_queue"), help: "The DLQ root (default <path.data>/dead_letter_queue).")
        var pathDeadLetterQueue: String?

        @Option(help: "The pipeline id (main).")
        var pipeline = "main"

        var admin: DeadLetterQueueAdmin {
            DeadLetterQueueAdmin(root: pathDeadLetterQueue ?? pathData + "/dead_letter_queue", pipelineID: pipeline)
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Entries, bytes, oldest and newest entry time, counts by plugin and by reason (JSON).")
        @OptionGroup var location: Location

        @Option(name: .customLong("dead_letter_queue.warn_entries"), help: "Entries from which status is yellow.")
        var warnEntries: Int?

        @Option(name: .customLong("dead_letter_queue.critical_entries"), help: "Entries from which status is red.")
        var criticalEntries: Int?

        func run() {
            print(JSONWriter.string(.object(location.admin.stats(warnEntries: warnEntries, criticalEntries: criticalEntries))))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print entries as JSON lines with their [@metadata][dead_letter_queue].")
        @OptionGroup var location: Location

        @Option(help: "Only entries that entered at or after this ISO-8601 time.")
        var since: String?

        @Option(help: "Only entries whose reason contains this text.")
        var reason: String?

        @Option(help: "Only entries written by this plugin type or id.")
        var plugin: String?

        func run() throws {
            var sinceTime: Timestamp? = nil
            if let since {
                guard let t = Timestamp.parseISO8601(since) else {
                    throw ValidationError("--since must be an ISO-8601 time such as 2026-11-22T10:00:00Z")
                }
                sinceTime = t
            }
            for event in location.admin.list(since: sinceTime, reason: reason, plugin: plugin) {
                var o = event.fields
                o["@metadata"] = .object(event.metadata)
                print(JSONWriter.string(.object(o)))
            }
        }
    }

    struct Clear: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete every segment; refused while a pipeline is writing to the queue.")
        @OptionGroup var location: Location

        func run() throws {
            do {
                let removed = try location.admin.clear()
                print("Removed \(removed) segment file(s) from \(location.admin.directory)")
            } catch {
                printError("ERROR: \(error.message)")
                throw ExitCode(1)
            }
        }
    }
}

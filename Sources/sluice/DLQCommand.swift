import ArgumentParser
import SluiceCore

/// `sluice dlq stats|list|show|clear`: inspect and empty a pipeline's dead letter queue.
struct DLQ: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect or clear a pipeline's dead letter queue.",
        subcommands: [Stats.self, List.self, Show.self, Clear.self])

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
            abstract: "Entries, bytes, oldest and newest entry, and the failure signatures: what is failing and since when.")
        @OptionGroup var location: Location

        @Option(name: .customLong("dead_letter_queue.warn_entries"), help: "Entries from which status is yellow.")
        var warnEntries: Int?

        @Option(name: .customLong("dead_letter_queue.critical_entries"), help: "Entries from which status is red.")
        var criticalEntries: Int?

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() {
            let stats = location.admin.stats(warnEntries: warnEntries, criticalEntries: criticalEntries)
            print(json ? JSONWriter.string(.object(stats)) : DLQStatsTable(stats).text)
        }
    }

    /// `--since`, `--until`, `--reason`, `--plugin`, `--signature`: which entries a command takes.
    struct SelectionOptions: ParsableArguments {
        @Option(help: "Only entries made at or after this ISO-8601 time.")
        var since: String?

        @Option(help: "Only entries made before this ISO-8601 time.")
        var until: String?

        @Option(help: "Only entries whose reason contains this text.")
        var reason: String?

        @Option(help: "Only entries written by this plugin type or id.")
        var plugin: String?

        @Option(help: "Only entries of this failure signature (an id from `sluice dlq stats`).")
        var signature: String?

        var selection: DeadLetterQueueSelection {
            get throws {
                DeadLetterQueueSelection(
                    since: try since.map { try Self.time($0, "--since") }, until: try until.map { try Self.time($0, "--until") },
                    plugin: plugin, reason: reason, signature: signature)
            }
        }

        static func time(_ text: String, _ flag: String) throws -> Timestamp {
            guard let t = Timestamp.parseISO8601(text) else {
                throw ValidationError("\(flag) must be an ISO-8601 time such as 2026-11-22T10:00:00Z")
            }
            return t
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print entries as JSON lines with their [@metadata][dead_letter_queue] (and its entry id).")
        @OptionGroup var location: Location
        @OptionGroup var select: SelectionOptions

        @Option(help: "Start after this entry id (the cursor printed by a previous --limit run).")
        var after: String?

        @Option(help: "Print at most this many entries, then the cursor of the next page on stderr.")
        var limit: Int?

        func run() throws {
            let cursor = try after.map { text in
                guard let id = DeadLetterQueueEntryID(text) else { throw ValidationError("--after takes an entry id such as 3-4097") }
                return id
            }
            let selection = try select.selection
            var printed = 0
            var last: DeadLetterQueueEntryID?
            location.admin.scan(after: cursor) { id, entry in
                guard selection.matches(entry) else { return true }
                if let limit, printed == limit { return false }
                print(JSONWriter.string(.object(DLQ.line(id, entry))))
                printed += 1
                last = id
                return true
            }
            if let limit, printed == limit, let last { printError("next page: --after \(last)") }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one entry (by its id) as JSON with its metadata.")
        @OptionGroup var location: Location

        @Argument(help: "The entry id, as `sluice dlq list` prints it (segment-offset).")
        var id: String

        func run() throws {
            guard let entryID = DeadLetterQueueEntryID(id) else { throw ValidationError("an entry id looks like 3-4097") }
            guard let entry = location.admin.entry(entryID) else {
                printError("ERROR: no entry \(id) in \(location.admin.directory)")
                throw ExitCode(1)
            }
            print(JSONWriter.string(.object(DLQ.line(entryID, entry))))
        }
    }

    /// An entry as `list` and `show` print it: the event with `[@metadata][dead_letter_queue]`, plus its `id`.
    static func line(_ id: DeadLetterQueueEntryID, _ entry: DeadLetterQueueEntry) -> Object {
        let event = entry.eventForReplay()
        var metadata = event.metadata
        if case .object(var info)? = metadata["dead_letter_queue"] {
            info["id"] = .string(id.description)
            info["signature"] = .string(FailureSignature(entry).id)
            metadata["dead_letter_queue"] = .object(info)
        }
        var o = event.fields
        o["@metadata"] = .object(metadata)
        return o
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

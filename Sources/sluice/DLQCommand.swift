import ArgumentParser
import SluiceCore
import SluicePlugins

/// `sluice dlq stats|list|show|remove|purge|clear|redrive`: inspect, empty and redrive a pipeline's dead letter
/// queue, or its archive with `--archive`.
struct DLQ: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect, clear or redrive a pipeline's dead letter queue.",
        subcommands: [Stats.self, List.self, Show.self, Remove.self, Purge.self, Clear.self, Redrive.self, Replay.self])

    /// Which queue: `--path.data`/`--path.dead_letter_queue` and `--pipeline`.
    struct Location: ParsableArguments {
        @Option(name: .customLong("path.data"), help: "The data directory (./data).")
        var pathData = "data"

        @Option(name: .customLong("path.dead_letter_queue"), help: "The DLQ root (default <path.data>/dead_letter_queue).")
        var pathDeadLetterQueue: String?

        @Option(help: "The pipeline id (main).")
        var pipeline = "main"

        @Flag(help: "Work on the pipeline's archive: entries whose redrive attempts were used up.")
        var archive = false

        var admin: DeadLetterQueueAdmin {
            let root = pathDeadLetterQueue ?? pathData + "/dead_letter_queue"
            let queue = DeadLetterQueueAdmin(root: root, pipelineID: pipeline)
            return archive ? DeadLetterQueueAdmin(root: queue.directory, pipelineID: DeadLetterQueueArchiveSettings.directoryName) : queue
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
            var out = OutputBuffer()
            var signatures = FailureSignature.Cache()
            var kinds = FailureKind.Cache()
            location.admin.scan(after: cursor) { id, entry in
                guard selection.matches(entry, signatures: &signatures) else { return true }
                if let limit, printed == limit { return false }
                DLQ.writeLine(id, entry, signature: signatures.id(of: entry), failure: kinds.kind(of: entry), to: &out.bytes)
                out.endLine()
                printed += 1
                last = id
                return true
            }
            out.flush()
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
            print(JSONWriter.string(.object(DLQ.line(entryID, entry, signature: FailureSignature(entry).id))))
        }
    }

    /// An entry as `list` and `show` print it: the event with `[@metadata][dead_letter_queue]` as the
    /// `dead_letter_queue` input sets it, plus the entry's `id` and failure `signature`.
    static func line(_ id: DeadLetterQueueEntryID, _ entry: DeadLetterQueueEntry, signature: String) -> Object {
        var info = Object(minimumCapacity: 6)
        info["plugin_type"] = .string(entry.pluginType)
        info["plugin_id"] = .string(entry.pluginID)
        info["reason"] = .string(entry.reason)
        info["entry_time"] = .timestamp(entry.entryTime)
        info["id"] = .string(id.description)
        info["signature"] = .string(signature)
        info["failure"] = .string(FailureKind(entry).rawValue)
        info["attempts"] = .int(entry.attempts)
        var metadata = entry.event.metadata
        metadata["dead_letter_queue"] = .object(info)
        var o = entry.event.fields
        o["@metadata"] = .object(metadata)
        return o
    }

    /// Appends the JSON of `line(id, entry, signature:)` byte for byte, without building it: no copy of the event's
    /// maps per entry (the `list` hot path).
    static func writeLine(_ id: DeadLetterQueueEntryID, _ entry: DeadLetterQueueEntry, signature: String,
                          failure: FailureKind, to out: inout [UInt8]) {
        func member(_ key: String, _ first: inout Bool, _ out: inout [UInt8]) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            JSONWriter.writeString(key, to: &out)
            out.append(UInt8(ascii: ":"))
        }
        func writeInfo(_ out: inout [UInt8]) {
            var first = true
            out.append(UInt8(ascii: "{"))
            member("plugin_type", &first, &out)
            JSONWriter.writeString(entry.pluginType, to: &out)
            member("plugin_id", &first, &out)
            JSONWriter.writeString(entry.pluginID, to: &out)
            member("reason", &first, &out)
            JSONWriter.writeString(entry.reason, to: &out)
            member("entry_time", &first, &out)
            JSONWriter.write(.timestamp(entry.entryTime), to: &out)
            member("id", &first, &out)
            JSONWriter.writeString(id.description, to: &out)
            member("signature", &first, &out)
            JSONWriter.writeString(signature, to: &out)
            member("failure", &first, &out)
            JSONWriter.writeString(failure.rawValue, to: &out)
            member("attempts", &first, &out)
            JSONWriter.write(.int(entry.attempts), to: &out)
            out.append(UInt8(ascii: "}"))
        }
        var first = true
        out.append(UInt8(ascii: "{"))
        var metadataWritten = false
        // `line` sets "@metadata" on the fields: in place if the key is there (never, after `Event(fromMap:)`).
        for (key, value) in entry.event.fields {
            member(key, &first, &out)
            if key == "@metadata" {
                writeMetadata(entry, writeInfo, &out)
                metadataWritten = true
            } else {
                JSONWriter.write(value, to: &out)
            }
        }
        if !metadataWritten {
            member("@metadata", &first, &out)
            writeMetadata(entry, writeInfo, &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The event's metadata with `dead_letter_queue` set (in place when present, last otherwise), as `line` builds it.
    private static func writeMetadata(_ entry: DeadLetterQueueEntry, _ writeInfo: (inout [UInt8]) -> Void, _ out: inout [UInt8]) {
        var first = true
        var infoWritten = false
        out.append(UInt8(ascii: "{"))
        for (key, value) in entry.event.metadata {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            JSONWriter.writeString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            if key == "dead_letter_queue" {
                writeInfo(&out)
                infoWritten = true
            } else {
                JSONWriter.write(value, to: &out)
            }
        }
        if !infoWritten {
            if !first { out.append(UInt8(ascii: ",")) }
            JSONWriter.writeString("dead_letter_queue", to: &out)
            out.append(UInt8(ascii: ":"))
            writeInfo(&out)
        }
        out.append(UInt8(ascii: "}"))
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove entries by id or by selection, also while the pipeline runs (recorded in removed_entries).")
        @OptionGroup var location: Location
        @OptionGroup var select: SelectionOptions

        @Argument(help: "Entry ids, as `sluice dlq list` prints them.")
        var ids: [String] = []

        func run() throws {
            let selection = try select.selection
            guard ids.isEmpty != !selection.isRestricted else {
                throw ValidationError("name entry ids or a selection (--since, --until, --plugin, --reason, --signature), not both")
            }
            if ids.isEmpty {
                print("Removed \(try DLQ.failing { () throws(DeadLetterQueueError) in try location.admin.remove(selection) }) entries")
                return
            }
            let parsed = try ids.map { text in
                guard let id = DeadLetterQueueEntryID(text) else { throw ValidationError("\(text) is not an entry id such as 3-4097") }
                return id
            }
            let removed = try DLQ.failing { () throws(DeadLetterQueueError) in try location.admin.remove(parsed) }
            print("Removed \(removed.count) entries")
            let missing = Set(parsed).subtracting(removed)
            if !missing.isEmpty {
                printError("ERROR: no such entries: \(missing.sorted().map(\.description).joined(separator: ", "))")
                throw ExitCode(1)
            }
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove every entry: deletes the segments, or, while a pipeline writes, records them as removed.")
        @OptionGroup var location: Location

        func run() throws {
            let removed = try DLQ.failing { () throws(DeadLetterQueueError) in try location.admin.purge() }
            print("Removed \(removed) entries from \(location.admin.directory)")
        }
    }

    struct Clear: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete every segment; refused while a pipeline is writing to the queue.")
        @OptionGroup var location: Location

        func run() throws {
            let removed = try DLQ.failing { () throws(DeadLetterQueueError) in try location.admin.clear() }
            print("Removed \(removed) segment file(s) from \(location.admin.directory)")
        }
    }

    struct Redrive: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send entries back into their running pipeline (through its API); each is removed once delivered.",
            discussion: """
                The pipeline must be running: its API takes the selection, pushes the entries into the pipeline's \
                queue right after the inputs, and removes each entry once its event is delivered (or written to the \
                persisted queue). An event that fails again makes a new entry with its attempt count raised; after \
                dead_letter_queue.redrive.max_attempts it goes to the archive.
                """)
        @OptionGroup var select: SelectionOptions

        @Option(help: "The pipeline id (main).")
        var pipeline = "main"

        @Flag(help: "Redrive from the pipeline's archive instead.")
        var archive = false

        @Option(help: "The running Sluice's API (http://127.0.0.1:9600).")
        var api = "http://127.0.0.1:9600"

        @Option(help: "user:password for an API with basic auth.")
        var user: String?

        func run() throws {
            let selection = try select.selection
            var query: [(String, String)] = []
            if let since = select.since { query.append(("since", since)) }
            if let until = select.until { query.append(("until", until)) }
            if let plugin = selection.plugin { query.append(("plugin", plugin)) }
            if let reason = selection.reason { query.append(("reason", reason)) }
            if let signature = selection.signature { query.append(("signature", signature)) }
            if archive { query.append(("archive", "true")) }
            let text = query.map { "\($0.0)=\(URLEncoding.encode($0.1))" }.joined(separator: "&")
            let url = api + "/_sluice/dlq/\(URLEncoding.encode(pipeline))/_redrive" + (text.isEmpty ? "" : "?" + text)
            var headers = [("sluice-xsrf", "sluice-cli")]
            if let user { headers.append(("Authorization", "Basic " + Base64.encode(Array(user.utf8)))) }
            let response: (status: Int, body: String)
            do {
                response = try APIClient.send("POST", url: url, headers: headers)
            } catch {
                printError("ERROR: cannot reach the Sluice API at \(api) (is the pipeline running? --api names another address): \(error)")
                throw ExitCode(1)
            }
            let body = (try? JSONParser.parse(response.body))?.objectValue ?? Object()
            guard response.status == 200, case .int(let selected)? = body["selected"] else {
                let message = body["error"]?.objectValue?["message"]?.stringValue ?? response.body
                printError(response.status == 404
                    ? "ERROR: no pipeline '\(pipeline)' is running at \(api)"
                    : "ERROR: the API answered \(response.status): \(message)")
                throw ExitCode(1)
            }
            print("Redriving \(selected) entries into pipeline '\(pipeline)'; each is removed once its event is delivered")
        }
    }

    /// Runs a change to the queue; a failure is printed as `ERROR: …` and ends the command with status 1.
    static func failing<T>(_ change: () throws(DeadLetterQueueError) -> T) throws -> T {
        do {
            return try change()
        } catch {
            printError("ERROR: \(error.message)")
            throw ExitCode(1)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SluiceCore
import SluicePlugins
import SluiceTesting

extension DLQ {
    /// `sluice dlq replay --through fix.conf [selection] [--dry-run]`: runs DLQ entries through a candidate config and
    /// shows, per entry, what the filters changed and whether it would fail again; without `--dry-run` the repaired
    /// events go on through the config's outputs and their entries are removed once delivered.
    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Preview a fix: run entries through a config, show each before/after diff and whether it fails again.",
            discussion: """
                The config's filters run on each selected entry's event, as a redrive would send it (attempt count \\
                raised). An entry fails again when a condition cannot be evaluated, a filter writes it to the DLQ, or \\
                a filter adds a failure tag (such as _grokparsefailure). The config's inputs are not used. With \\
                --dry-run nothing is sent and nothing changes; without it the repaired events go through the \\
                config's outputs and each entry whose event was delivered is removed. Entries that fail again stay.
                """)
        @OptionGroup var location: Location
        @OptionGroup var select: SelectionOptions

        @Option(help: "The candidate pipeline config (filters, and outputs unless --dry-run).")
        var through: String

        @Flag(help: "Only show what would happen: send nothing, remove nothing.")
        var dryRun = false

        @Flag(help: "Print only the totals, not each entry.")
        var summary = false

        @Option(help: "Replay at most this many entries.")
        var limit: Int?

        func run() throws {
            // The report says what failed; plugins' warnings (such as "sent to dead letter queue") would mislead.
            LogSink.shared.level = .error
            // Records what the config's plugins would write to the DLQ instead of writing it.
            let recorder = ReplayRecorder()
            let program = try compile(recorder)
            defer { program.close() }
            var replay = DeadLetterQueueReplay(program: program, recorder: recorder, deliver: !dryRun)
            let selection = try select.selection
            let admin = location.admin
            var progress = ProgressBar(total: ProgressBar.isTerminal ? count(admin, selection) : nil)
            var out = OutputBuffer()
            var chunk: [(DeadLetterQueueEntryID, DeadLetterQueueEntry)] = []
            var signatures = FailureSignature.Cache()
            var taken = 0
            func flush() throws {
                let outcomes = replay.run(chunk)
                if !dryRun { try removeDelivered(outcomes, admin) }
                if !summary {
                    for o in outcomes { out.bytes += Array(o.report.utf8) }
                    out.flush()
                }
                progress.advance(by: chunk.count)
                chunk.removeAll(keepingCapacity: true)
            }
            var failure: (any Error)?
            admin.scan { id, entry in
                guard selection.matches(entry, signatures: &signatures) else { return true }
                if let limit, taken == limit { return false }
                taken += 1
                chunk.append((id, entry))
                if chunk.count == Self.chunkSize {
                    do { try flush() } catch { failure = error; return false }
                }
                return true
            }
            if let failure { throw failure }
            if !chunk.isEmpty { try flush() }
            progress.finish()
            print(replay.totals.line(dryRun: dryRun))
        }

        /// Entries run at a time: one batch, as a redrive pushes them.
        static let chunkSize = 125

        /// The config's filters (and outputs unless dry-run), compiled as a pipeline compiles them.
        func compile(_ recorder: ReplayRecorder) throws -> PipelineProgram {
            let sources: [ConfigSource]
            let ast: PipelineAST
            do {
                sources = try ConfigSources.load(path: through)
                ast = try ConfigParser.parse(sources)
            } catch let error as ConfigError {
                printError(DiagnosticRenderer(sources: (try? ConfigSources.load(path: through)) ?? []).render(error))
                throw ExitCode(1)
            } catch {
                printError("ERROR: \(error)")
                throw ExitCode(1)
            }
            if !ast.inputs.isEmpty { printError("note: the inputs of \(through) are not used; the selected entries are the input") }
            var used = PipelineAST()
            used.filters = ast.filters
            if !dryRun { used.outputs = ast.outputs }
            let environment = PipelineEnvironment(
                pipelineID: location.pipeline, dataPath: location.pathData, deadLetterQueue: recorder)
            do {
                return try ProgramCompiler(registry: builtinRegistry, environment: environment).compile(used)
            } catch {
                printError(DiagnosticRenderer(sources: sources).render(error))
                throw ExitCode(1)
            }
        }

        /// How many entries `selection` takes (for the progress bar).
        func count(_ admin: DeadLetterQueueAdmin, _ selection: DeadLetterQueueSelection) -> Int {
            var n = 0
            var signatures = FailureSignature.Cache()
            admin.scan(decodeEvents: false) { _, entry in
                if selection.matches(entry, signatures: &signatures) { n += 1 }
                return limit.map { n < $0 } ?? true
            }
            return n
        }

        func removeDelivered(_ outcomes: [ReplayOutcome], _ admin: DeadLetterQueueAdmin) throws {
            let delivered = outcomes.filter(\.removesEntry).map(\.id)
            guard !delivered.isEmpty else { return }
            _ = try DLQ.failing { () throws(DeadLetterQueueError) in try admin.remove(delivered) }
        }
    }
}

/// A `DeadLetterQueueWriter` that keeps what the replayed config's plugins would have written, by event; the replay
/// reads it to tell which entries fail again. Called on the replaying thread only.
final class ReplayRecorder: DeadLetterQueueWriter, @unchecked Sendable {
    struct Failure {
        let pluginType: String
        let pluginID: String
        let reason: String
    }

    private(set) var failures: [ObjectIdentifier: Failure] = [:]

    var isEnabled: Bool { true }

    func write(_ event: Event, pluginType: String, pluginID: String, reason: String) -> Bool {
        failures[ObjectIdentifier(event)] = Failure(pluginType: pluginType, pluginID: pluginID, reason: reason)
        return true
    }

    func failure(of event: Event) -> Failure? { failures[ObjectIdentifier(event)] }

    func reset() { failures.removeAll(keepingCapacity: true) }
}

/// What became of one replayed entry.
struct ReplayOutcome {
    enum Verdict: Equatable {
        /// The filters passed it without a failure (and, delivering, the outputs took it).
        case repaired
        /// Dropped on purpose by the filters (a `drop`).
        case dropped
        /// A condition error or a filter's DLQ write.
        case failsAgain(String)
        /// Filters added failure tags.
        case tagged([String])
        /// Delivering, an output failed it (written to the DLQ, or not delivered).
        case failedAtOutput(String)
    }

    let id: DeadLetterQueueEntryID
    let entry: DeadLetterQueueEntry
    var verdict: Verdict
    /// Field changes, before → after, as diff lines.
    let changes: [FieldDifference]
    /// More events the filters made from this one (split, clone).
    let extraEvents: Int
    /// Delivering: whether the outputs took every event of it.
    var delivered = false

    /// Whether the entry is removed: its events were delivered, or the fix drops it on purpose.
    var removesEntry: Bool { delivered && (verdict == .repaired || verdict == .dropped) }

    /// The block printed for the entry: a header with the verdict, then one line per changed field.
    var report: String {
        var text = "\(id) \(entry.pluginType) (\(entry.pluginID)): \(entry.reason.prefix(160))\n"
        switch verdict {
        case .repaired: text += delivered ? "  repaired: delivered, entry removed\n" : "  repaired\n"
        case .dropped: text += delivered ? "  dropped by the filters, entry removed\n" : "  dropped by the filters\n"
        case .failsAgain(let why): text += "  FAILS AGAIN: \(why)\n"
        case .tagged(let tags): text += "  FAILS AGAIN: tagged \(tags.joined(separator: ", "))\n"
        case .failedAtOutput(let why): text += "  FAILED AT OUTPUT: \(why)\n"
        }
        if extraEvents > 0 { text += "  + \(extraEvents) more event(s) made from it\n" }
        for change in changes { text += "  " + Self.line(change) + "\n" }
        return text
    }

    static func line(_ d: FieldDifference) -> String {
        switch d {
        case .missing(let path, let before): return "- \(path): \(GoldenJSON.render(before))"
        case .unexpected(let path, let after): return "+ \(path): \(GoldenJSON.render(after))"
        case .different(let path, let after, let before):
            return "~ \(path): \(GoldenJSON.render(before)) -> \(GoldenJSON.render(after))"
        }
    }
}

/// Runs chunks of entries through a compiled config and judges each (`ReplayOutcome`), keeping totals. Single-threaded.
struct DeadLetterQueueReplay {
    let program: PipelineProgram
    let recorder: ReplayRecorder
    /// Send repaired events through the outputs.
    let deliver: Bool
    var totals = Totals()

    struct Totals {
        var entries = 0, repaired = 0, dropped = 0, failing = 0, delivered = 0, failedAtOutput = 0

        func line(dryRun: Bool) -> String {
            var text = "\(entries) entries: \(repaired) repaired, \(failing) would fail again, \(dropped) dropped by the filters"
            if !dryRun { text += "; \(delivered) delivered and removed, \(failedAtOutput) failed at an output (kept)" }
            return text
        }
    }

    init(program: PipelineProgram, recorder: ReplayRecorder, deliver: Bool) {
        self.program = program
        self.recorder = recorder
        self.deliver = deliver
    }

    mutating func run(_ chunk: [(DeadLetterQueueEntryID, DeadLetterQueueEntry)]) -> [ReplayOutcome] {
        recorder.reset()
        let events = chunk.map { $0.1.eventForRedrive() }
        let survivors = program.runFilters(events)
        var byOrdinal = [[Event]](repeating: [], count: events.count)
        for e in survivors where e.ordinal >= 0 && e.ordinal < events.count { byOrdinal[e.ordinal].append(e) }
        var outcomes = chunk.indices.map { i in judge(chunk[i], events[i], made: byOrdinal[i]) }
        if deliver { send(&outcomes, byOrdinal) }
        tally(outcomes)
        return outcomes
    }

    /// The verdict of the filters on one entry.
    func judge(_ item: (DeadLetterQueueEntryID, DeadLetterQueueEntry), _ event: Event, made: [Event]) -> ReplayOutcome {
        let (id, entry) = item
        let after = made.first { $0 === event } ?? made.first
        let verdict: ReplayOutcome.Verdict
        if let failure = recorder.failure(of: event) {
            verdict = .failsAgain("\(failure.pluginType) (\(failure.pluginID)): \(failure.reason)")
        } else if made.isEmpty {
            verdict = .dropped
        } else {
            let added = Self.failureTags(made).subtracting(Self.failureTags([entry.event]))
            verdict = added.isEmpty ? .repaired : .tagged(added.sorted())
        }
        let changes = after.map { EventDiff.differences(.object($0.fields), .object(entry.event.fields)) } ?? []
        return ReplayOutcome(id: id, entry: entry, verdict: verdict, changes: changes.sorted { $0.description < $1.description },
                             extraEvents: max(made.count - 1, 0))
    }

    /// Sends the events of repaired entries through the outputs, and marks what was delivered.
    func send(_ outcomes: inout [ReplayOutcome], _ made: [[Event]]) {
        let repaired = outcomes.indices.filter { outcomes[$0].verdict == .repaired }
        program.runOutputs(repaired.flatMap { made[$0] })
        for i in outcomes.indices {
            switch outcomes[i].verdict {
            case .dropped:
                outcomes[i].delivered = true
            case .repaired:
                if let failed = made[i].lazy.compactMap({ recorder.failure(of: $0) }).first {
                    outcomes[i].verdict = .failedAtOutput("\(failed.pluginType) (\(failed.pluginID)): \(failed.reason)")
                } else if made[i].contains(where: { $0.fate == .retryLater }) {
                    outcomes[i].verdict = .failedAtOutput("not delivered before shutdown")
                } else {
                    outcomes[i].delivered = true
                }
            default:
                break
            }
        }
    }

    mutating func tally(_ outcomes: [ReplayOutcome]) {
        for o in outcomes {
            totals.entries += 1
            switch o.verdict {
            case .repaired: totals.repaired += 1
            case .dropped: totals.dropped += 1
            case .failsAgain, .tagged: totals.failing += 1
            case .failedAtOutput:
                totals.repaired += 1
                totals.failedAtOutput += 1
            }
            if o.removesEntry { totals.delivered += 1 }
        }
    }

    /// Tags that mark a failure by Logstash's conventions: `_grokparsefailure`, `_dateparsefailure`,
    /// `_jsonparsefailure`, `_rubyexception`, `_geoip_lookup_failure` …
    static func failureTags(_ events: [Event]) -> Set<String> {
        var out: Set<String> = []
        for e in events {
            let tags: [Value]
            switch e.fields["tags"] {
            case .array(let a)?: tags = a
            case let v?: tags = [v]
            case nil: tags = []
            }
            for case .string(let t) in tags where t.hasPrefix("_") && (t.contains("failure") || t.contains("exception") || t.contains("error")) {
                out.insert(t)
            }
        }
        return out
    }
}

/// A one-line progress bar on standard error, drawn only when it is a terminal (quiet when piped).
struct ProgressBar {
    let total: Int?
    private var done = 0
    private var drawnAt = -1

    static var isTerminal: Bool { isatty(2) == 1 }

    init(total: Int?) { self.total = total }

    mutating func advance(by n: Int) {
        done += n
        guard let total, total > 0 else { return }
        let percent = min(100, done * 100 / total)
        guard percent != drawnAt else { return }
        drawnAt = percent
        let filled = percent * 30 / 100
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: 30 - filled)
        FileDescriptorWriter.writeAll(2, Array("\r[\(bar)] \(percent)% \(done)/\(total)".utf8))
    }

    func finish() {
        if total != nil && drawnAt >= 0 { printError("") }
    }
}

import Foundation
import SluiceCore

/// One golden fixture folder (`Tests/Fixtures/<case>/`) and what running it means: the command line, environment and
/// standard input a run gets, and the checks its outcome must pass. The fixture tests and `sluice test` both use it,
/// so a case means the same thing to both; only how the process is started differs.
///
/// A case holds `pipeline.conf`, optionally `input` (fed to stdin), `args` (extra flags, one per line; default
/// `--pipeline.ecs_compatibility disabled`), `settings/` (logstash.yml, pipelines.yml), `client` (a shell script
/// that sends to a network input on `$PORT`), `output-file` (read it instead of stdout) and the expectations:
/// `expected` (JSON lines compared semantically; `"<any>"` matches any present value), `expected-raw` (exact
/// text), `expected-dlq` (the DLQ entries as JSON lines of plugin_type, plugin_id, reason and event, read from
/// the `dlq-pipeline` pipeline, default `main`), `unordered` (compare lines in any order), `expected-exit`
/// (default 0) and `expected-stderr` (lines that must each appear in stderr). A case may go on with `then`: more
/// `sluice` commands, one per line (arguments split at spaces, `${WORK_DIR}` and `${FIXTURE_DIR}` substituted), run
/// after the pipeline in the same directory; `expected-then` is their transcript (`$ sluice …`, the command's
/// stdout, `[exit N]`), where `<id>` stands for a DLQ entry id and `<any>` for any text within a line.
public struct FixtureCase: Sendable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    public var name: String { directory.lastPathComponent }

    /// Whether `directory` is a fixture case (it holds a `pipeline.conf`).
    public static func isCase(_ directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent("pipeline.conf").path)
    }

    /// The text of one of the case's files, nil when absent.
    public func read(_ file: String) -> String? {
        try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
    }

    func has(_ file: String) -> Bool { FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path) }

    /// The `client` script of a network input's case, nil for a stdin case.
    public var client: String? { read("client") }

    /// The exit status the run must end with (`expected-exit`, default 0).
    public var expectedExit: Int32 {
        Int32(read("expected-exit")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0") ?? 0
    }

    /// How many events the case expects, for a client case's wait.
    public var expectedLineCount: Int { read("expected")?.split(separator: "\n").count ?? 0 }
}

/// What one run of a fixture's pipeline gets: arguments for the `sluice` binary, extra environment, standard input.
public struct FixtureInvocation: Sendable {
    public var arguments: [String]
    public var environment: [String: String]
    public var stdin: Data
}

/// How a run of a fixture's pipeline ended.
public struct FixtureRun: Sendable {
    public let exitCode: Int32
    public let stdout: String
    public let stderr: String

    public init(exitCode: Int32, stdout: String, stderr: String) {
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
    }
}

extension FixtureCase {
    /// The run's arguments: the pipeline, `workers`, a data directory in `work`, the settings, the case's `args`
    /// with `${FIXTURE_DIR}` and `${WORK_DIR}` substituted, then `extra`.
    public func invocation(work: URL, workers: Int = 1, extra: [String] = []) -> FixtureInvocation {
        var args = ["-f", directory.appendingPathComponent("pipeline.conf").path, "-w", "\(workers)",
                    "--path.data", work.appendingPathComponent("data").path] + extra
        let settingsDir = directory.appendingPathComponent("settings")
        args += ["--path.settings", has("settings") ? settingsDir.path : work.path]
        if let extra = read("args") {
            args += extra.split(separator: "\n").map(String.init).filter { !$0.isEmpty }.map {
                $0.replacingOccurrences(of: "${FIXTURE_DIR}", with: directory.path)
                    .replacingOccurrences(of: "${WORK_DIR}", with: work.path)
            }
        } else {
            args += ["--pipeline.ecs_compatibility", "disabled"]
        }
        // pipelines.yml names the pipelines: no -f.
        if has("settings/pipelines.yml") { args.removeFirst(2) }
        return FixtureInvocation(
            arguments: args, environment: ["FIXTURE_DIR": directory.path, "WORK_DIR": work.path],
            stdin: Data((read("input") ?? "").utf8))
    }

    /// The `then` commands, in order, as they are run.
    public func thenInvocations(work: URL) -> [FixtureInvocation] {
        (read("then") ?? "").split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map { line in
            let args = line.split(separator: " ").map {
                String($0).replacingOccurrences(of: "${FIXTURE_DIR}", with: directory.path)
                    .replacingOccurrences(of: "${WORK_DIR}", with: work.path)
            }
            return FixtureInvocation(arguments: args, environment: ["FIXTURE_DIR": directory.path, "WORK_DIR": work.path], stdin: Data())
        }
    }

    /// Runs the `then` commands with `execute` and compares their transcript with `expected-then`.
    public func checkThen(work: URL, execute: (FixtureInvocation) throws -> FixtureRun) rethrows -> [String] {
        guard let expected = read("expected-then") else { return [] }
        var transcript = ""
        for (line, invocation) in zip((read("then") ?? "").split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty },
                                      thenInvocations(work: work)) {
            let run = try execute(invocation)
            transcript += "$ sluice \(line)\n\(run.stdout)[exit \(run.exitCode)]\n"
        }
        return Self.transcript(transcript, matches: expected) ? [] : ["`then` transcript differs\n--- actual:\n\(transcript)--- expected:\n\(expected)"]
    }

    /// Line by line, `<id>` matching an entry id (`12-4097`) and `<any>` any text.
    static func transcript(_ actual: String, matches expected: String) -> Bool {
        let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
        return a.count == e.count && zip(a, e).allSatisfy { line($0, matches: $1) }
    }

    static func line(_ actual: Substring, matches pattern: Substring) -> Bool {
        if pattern.hasPrefix("<id>") {
            let digits = actual.prefix { $0.isNumber }
            guard !digits.isEmpty, actual.dropFirst(digits.count).first == "-" else { return false }
            let rest = actual.dropFirst(digits.count + 1)
            let offset = rest.prefix { $0.isNumber }
            return !offset.isEmpty && line(rest.dropFirst(offset.count), matches: pattern.dropFirst(4))
        }
        if pattern.hasPrefix("<any>") {
            let tail = pattern.dropFirst(5)
            return actual.indices.contains { line(actual[$0...], matches: tail) } || line(actual[actual.endIndex...], matches: tail)
        }
        guard let p = pattern.first else { return actual.isEmpty }
        return actual.first == p && line(actual.dropFirst(), matches: pattern.dropFirst())
    }

    /// The output to compare: `output-file` in `work` when the case names one, stdout otherwise.
    public func actualOutput(_ run: FixtureRun, work: URL) -> String {
        let file = read("output-file").map { work.appendingPathComponent($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return file.flatMap { try? String(contentsOf: $0, encoding: .utf8) } ?? run.stdout
    }

    /// The DLQ directory the case's entries are read from.
    public func deadLetterQueue(work: URL) -> URL {
        let pipeline = read("dlq-pipeline")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "main"
        return work.appendingPathComponent("data/dead_letter_queue/\(pipeline)")
    }

    /// Every expectation the run breaks, each explained; empty when the case passes. With `workers` above 1 the
    /// events are compared in any order.
    public func check(_ run: FixtureRun, work: URL, workers: Int = 1) -> [String] {
        var failures = checkProcess(run)
        if let expectedDLQ = read("expected-dlq") {
            let actual = GoldenJSON.deadLetterEntries(in: deadLetterQueue(work: work).path)
            failures += FixtureComparison.compare(actual: actual, expected: expectedDLQ, what: "dead letter queue")
        }
        let actualText = actualOutput(run, work: work)
        if let raw = read("expected-raw") {
            if actualText != raw { failures.append("raw output differs\n--- actual:\n\(actualText)\n--- expected:\n\(raw)") }
            return failures
        }
        guard let expectedText = read("expected") else {
            if !run.stdout.isEmpty && expectedExit == 0 { failures.append("no expected file but output:\n\(run.stdout)") }
            return failures
        }
        if has("unordered") || workers > 1 {
            return failures + FixtureComparison.compareUnordered(actual: actualText, expected: expectedText)
        }
        return failures + FixtureComparison.compare(actual: actualText, expected: expectedText, what: "output")
    }

    /// The exit status and the `expected-stderr` lines.
    public func checkProcess(_ run: FixtureRun) -> [String] {
        var failures: [String] = []
        if run.exitCode != expectedExit {
            failures.append("exit code \(run.exitCode), expected \(expectedExit)\n--- stderr:\n\(run.stderr.suffix(4000))")
        }
        for line in (read("expected-stderr") ?? "").split(separator: "\n") where !line.isEmpty && !run.stderr.contains(line) {
            failures.append("stderr lacks: \(line)\n--- stderr:\n\(run.stderr.suffix(4000))")
        }
        return failures
    }
}

/// Compares JSON-lines output with expected JSON lines and explains every difference.
public enum FixtureComparison {
    /// In order: the counts must agree and each event must match its expected line.
    public static func compare(actual: String, expected: String, what: String, numeric: Bool = false) -> [String] {
        let a: [Value], e: [Value]
        do {
            a = try GoldenJSON.parseLines(actual)
            e = try GoldenJSON.parseLines(expected)
        } catch {
            return ["\(what) is not JSON lines: \(error)\n--- actual:\n\(actual)"]
        }
        return compare(a, e, numeric: numeric, allActual: actual)
    }

    /// Parsed events in order; `allActual` is shown when the counts differ.
    public static func compare(_ a: [Value], _ e: [Value], numeric: Bool = false, allActual: String? = nil) -> [String] {
        var failures: [String] = []
        if a.count != e.count {
            let text = allActual ?? a.map(GoldenJSON.render).joined(separator: "\n")
            let shown = text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? "(no events)" : text
            failures.append("event count: got \(a.count), expected \(e.count)\n--- actual:\n\(shown)")
        }
        for (i, (x, y)) in zip(a, e).enumerated() where !GoldenJSON.matches(x, y, numeric: numeric) {
            failures.append(explain(index: i, actual: x, expected: y, numeric: numeric))
        }
        return failures
    }

    /// `event N differs:` with one line per field difference, then both events in full.
    public static func explain(index: Int, actual: Value, expected: Value, numeric: Bool = false) -> String {
        let lines = EventDiff.differences(actual, expected, numeric: numeric).map { "  " + $0.description }
        return "event \(index + 1) differs:\n" + lines.joined(separator: "\n")
            + "\n  actual:   \(GoldenJSON.render(actual))\n  expected: \(GoldenJSON.render(expected))"
    }

    /// Each expected line must match a distinct actual line (several pipelines or workers write concurrently).
    public static func compareUnordered(actual: String, expected: String) -> [String] {
        var remaining: [Value], e: [Value]
        do {
            remaining = try GoldenJSON.parseLines(actual)
            e = try GoldenJSON.parseLines(expected)
        } catch {
            return ["output is not JSON lines: \(error)\n--- actual:\n\(actual)"]
        }
        var failures: [String] = []
        if remaining.count != e.count {
            failures.append("event count: got \(remaining.count), expected \(e.count)\n--- actual:\n\(actual)")
        }
        for line in e {
            if let i = remaining.firstIndex(where: { GoldenJSON.matches($0, line) }) {
                remaining.remove(at: i)
            } else {
                failures.append("no actual event matches \(GoldenJSON.render(line))\n--- actual:\n\(actual)")
            }
        }
        return failures
    }
}

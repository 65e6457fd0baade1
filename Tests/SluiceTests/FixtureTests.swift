import Foundation
import Testing
@testable import SluiceCore

/// Golden cases: every folder under `Tests/Fixtures/` is a pipeline run end to end by the real binary.
///
/// A case holds `pipeline.conf`, optionally `input` (fed to stdin), `args` (extra flags, one per line; default
/// `--pipeline.ecs_compatibility disabled`), `settings/` (logstash.yml, pipelines.yml), and the expectations:
/// `expected` (JSON lines compared semantically; the string `"<any>"` matches any present value), `expected-raw` (exact text), `expected-dlq` (the DLQ entries
/// as JSON lines of plugin_type, plugin_id, reason and event), `unordered` (compare lines in any order), `expected-exit`
/// (default 0) and `expected-stderr` (lines that must each appear in stderr). A `requires` file names what the case
/// needs installed, one per line (`bundled-geoip`: the bundled GeoLite2 City); without it the case is cancelled with
/// the reason, never passed. With `SLUICE_RECORD=1` (or `=<name prefix>`) the
/// runner rewrites the expectations of those cases from the actual output and fails, so a recording is always reviewed.
struct FixtureTests {
    static let cases: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: TestPaths.fixtures.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted()
    }()

    @Test func thereAreEnoughFixtures() {
        #expect(FixtureTests.cases.count >= 60)
    }

    /// `SLUICE_RECORD=1` records every case; `SLUICE_RECORD=<prefix>` only the cases whose name starts with it.
    static func recording(_ name: String) -> Bool {
        guard let r = ProcessInfo.processInfo.environment["SLUICE_RECORD"], !r.isEmpty else { return false }
        return r == "1" || name.hasPrefix(r)
    }

    /// The cases whose events can also be compared without order: a JSON `expected`, a clean exit, one pipeline,
    /// no worker count of their own.
    static let multiWorkerCases: [String] = cases.filter { name in
        let dir = TestPaths.fixtures.appendingPathComponent(name)
        func has(_ file: String) -> Bool { FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path) }
        let args = (try? String(contentsOf: dir.appendingPathComponent("args"), encoding: .utf8)) ?? ""
        return has("expected") && !has("expected-exit") && !has("settings/pipelines.yml") && !has("expected-dlq")
            && !args.contains("-w") && !args.contains("pipeline.workers") && !has("output-file")
    }

    @Test(arguments: FixtureTests.cases)
    func fixture(_ name: String) throws {
        try run(name, workers: 1)
    }

    /// The same case with four workers and the persisted queue (drained at the end): the same events, in any
    /// order.
    @Test(arguments: FixtureTests.multiWorkerCases)
    func fixtureWithFourWorkersAndPersistedQueue(_ name: String) throws {
        try run(name, workers: 4, extra: ["-S", "queue.type=persisted", "-S", "queue.drain=true", "-S", "queue.page_capacity=1mb"])
    }

    func run(_ name: String, workers: Int, extra: [String] = []) throws {
        let dir = TestPaths.fixtures.appendingPathComponent(name)
        func read(_ file: String) -> String? {
            try? String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
        }
        for requirement in (read("requires") ?? "").split(separator: "\n") where !requirement.isEmpty {
            switch requirement {
            case "bundled-geoip":
                _ = try BundledGeoLite2.require()
            default:
                Issue.record("\(name): unknown requirement \(requirement)")
            }
        }
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        var args = ["-f", dir.appendingPathComponent("pipeline.conf").path, "-w", "\(workers)", "--path.data", work.appendingPathComponent("data").path]
            + extra
        let settingsDir = dir.appendingPathComponent("settings")
        args += ["--path.settings", FileManager.default.fileExists(atPath: settingsDir.path) ? settingsDir.path : work.path]
        if let extra = read("args") {
            args += extra.split(separator: "\n").map(String.init).filter { !$0.isEmpty }.map {
                $0.replacingOccurrences(of: "${FIXTURE_DIR}", with: dir.path)
                    .replacingOccurrences(of: "${WORK_DIR}", with: work.path)
            }
        } else {
            args += ["--pipeline.ecs_compatibility", "disabled"]
        }
        if FileManager.default.fileExists(atPath: settingsDir.appendingPathComponent("pipelines.yml").path) {
            args.removeFirst(2)
        }
        var env = ["FIXTURE_DIR": dir.path, "WORK_DIR": work.path]
        let result: ProcessResult
        if let client = read("client") {
            env["PORT"] = String(SluiceProcess.freePort())
            result = try runWithClient(args, client: client, expectedLines: read("expected")?.split(separator: "\n").count ?? 0, work, env)
        } else {
            result = try runSluice(args, stdin: Data((read("input") ?? "").utf8), currentDirectory: work, environment: env)
        }
        let expectedExit = Int32(read("expected-exit")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0") ?? 0
        #expect(result.exitCode == expectedExit, "exit code; stderr:\n\(result.stderr)")
        for line in (read("expected-stderr") ?? "").split(separator: "\n") where !line.isEmpty {
            #expect(result.stderr.contains(line), "stderr lacks: \(line)\n--- stderr:\n\(result.stderr)")
        }
        let outputFile = read("output-file").map { work.appendingPathComponent($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let actualText = outputFile.flatMap { try? String(contentsOf: $0, encoding: .utf8) } ?? result.stdout
        if let expectedDLQ = read("expected-dlq") {
            let queue = work.appendingPathComponent("data/dead_letter_queue/\(read("dlq-pipeline")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "main")")
            let actualDLQ = GoldenJSON.deadLetterEntries(in: queue.path)
            if FixtureTests.recording(name) {
                try GoldenJSON.record(actualDLQ).write(to: dir.appendingPathComponent("expected-dlq"), atomically: true, encoding: .utf8)
            } else {
                try GoldenJSON.compare(actual: actualDLQ, expected: expectedDLQ)
            }
        }
        if FixtureTests.recording(name) && workers > 1 { return }
        if FixtureTests.recording(name) && read("expected-raw") != nil {
            try actualText.write(to: dir.appendingPathComponent("expected-raw"), atomically: true, encoding: .utf8)
            Issue.record("recorded \(name)/expected-raw: review it and run again")
            return
        }
        if FixtureTests.recording(name) {
            try GoldenJSON.record(actualText).write(to: dir.appendingPathComponent("expected"), atomically: true, encoding: .utf8)
            Issue.record("recorded \(name)/expected: review it and run again")
            return
        }
        if let raw = read("expected-raw") {
            #expect(actualText == raw, "raw output differs\n--- actual:\n\(actualText)\n--- expected:\n\(raw)")
            return
        }
        guard let expectedText = read("expected") else {
            #expect(result.stdout.isEmpty || expectedExit != 0, "no expected file but output:\n\(result.stdout)")
            return
        }
        if read("unordered") != nil || workers > 1 {
            try GoldenJSON.compareUnordered(actual: actualText, expected: expectedText)
        } else {
            try GoldenJSON.compare(actual: actualText, expected: expectedText)
        }
    }
}

extension FixtureTests {
    /// A network input's case: sluice runs in the background, the `client` shell script (an independent client:
    /// curl, logger, python3) sends to `$PORT` once every listener is up, and sluice is stopped with SIGINT once
    /// the expected number of events is out.
    func runWithClient(_ args: [String], client: String, expectedLines: Int, _ work: URL, _ env: [String: String]) throws -> ProcessResult {
        let sluice = try SluiceProcess(args, currentDirectory: work, environment: env)
        let listeners = client.components(separatedBy: "# listeners: ").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) } ?? 1
        #expect(sluice.waitForLog("listener", count: listeners), "sluice did not start listening\n\(sluice.stderr)")
        let sent = try runClient("/bin/sh", ["-c", client], environment: env)
        #expect(sent.exitCode == 0, "client failed: \(sent.stderr)")
        #expect(sluice.waitForOutput(lines: expectedLines, seconds: 20), "sluice wrote too few events\n\(sluice.stderr)")
        return sluice.stop()
    }
}

/// Semantic comparison of JSON lines with `"<any>"` wildcards (parsed with Sluice's own JSON parser, which keeps
/// integers and floats apart).
enum GoldenJSON {
    static func parseLines(_ text: String) throws -> [Value] {
        try text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map {
            try JSONParser.parse(String($0))
        }
    }

    static func compare(actual: String, expected: String) throws {
        let a = try parseLines(actual), e = try parseLines(expected)
        #expect(a.count == e.count, "event count: got \(a.count), expected \(e.count)\n--- actual:\n\(actual)")
        for (i, (x, y)) in zip(a, e).enumerated() {
            #expect(matches(x, y), "event \(i) differs\n  actual:   \(render(x))\n  expected: \(render(y))")
        }
    }

    /// Each expected line must match a distinct actual line (several pipelines write concurrently).
    static func compareUnordered(actual: String, expected: String) throws {
        var remaining = try parseLines(actual)
        let e = try parseLines(expected)
        #expect(remaining.count == e.count, "event count: got \(remaining.count), expected \(e.count)\n--- actual:\n\(actual)")
        for line in e {
            if let i = remaining.firstIndex(where: { matches($0, line) }) {
                remaining.remove(at: i)
            } else {
                Issue.record("no actual event matches \(render(line))\n--- actual:\n\(actual)")
            }
        }
    }

    static func matches(_ actual: Value, _ expected: Value) -> Bool {
        if case .string("<any>") = expected { return true }
        switch (actual, expected) {
        case (.object(let a), .object(let e)):
            return a.count == e.count && e.allSatisfy { k, v in a[k].map { matches($0, v) } ?? false }
        case (.array(let a), .array(let e)):
            return a.count == e.count && zip(a, e).allSatisfy { matches($0, $1) }
        default:
            return actual == expected
        }
    }

    static func render(_ v: Value) -> String { JSONWriter.string(v) }

    /// The entries of a DLQ directory as JSON lines: plugin type, id, reason and the event.
    static func deadLetterEntries(in directory: String) -> String {
        DeadLetterQueueReader.readAll(directory: directory, includeHead: true).entries.map { entry in
            var o = Object()
            o["plugin_type"] = .string(entry.pluginType)
            o["plugin_id"] = .string(entry.pluginID)
            o["reason"] = .string(entry.reason)
            o["event"] = .object(entry.event.fields)
            return render(.object(o)) + "\n"
        }.joined()
    }

    /// Actual output with volatile values (`host`, generated `@timestamp`s) replaced by `"<any>"`.
    static func record(_ text: String) throws -> String {
        try parseLines(text).map { line -> String in
            guard case .object(var o) = line else { return render(line) }
            for key in ["host", "@timestamp"] where o[key] != nil { o[key] = "<any>" }
            if case .object(var inner)? = o["event"] {
                for key in ["host", "@timestamp"] where inner[key] != nil { inner[key] = "<any>" }
                o["event"] = .object(inner)
            }
            return render(.object(o))
        }.joined(separator: "\n") + "\n"
    }
}

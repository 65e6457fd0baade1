import Foundation
import Testing
@testable import SluiceCore
import SluiceTesting

/// Golden cases: every folder under `Tests/Fixtures/` is a pipeline run end to end by the real binary.
///
/// `FixtureCase` (SluiceTesting, shared with `sluice test`) says what a case's files mean and checks a run. A
/// `requires` file names what a case needs installed, one per line (`bundled-geoip`: the bundled GeoLite2 City);
/// without it the case is cancelled with the reason, never passed. With `SLUICE_RECORD=1` (or `=<name prefix>`)
/// the runner rewrites the expectations of those cases from the actual output and fails, so a recording is always
/// reviewed.
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
        let fixture = FixtureCase(directory: TestPaths.fixtures.appendingPathComponent(name))
        for requirement in (fixture.read("requires") ?? "").split(separator: "\n") where !requirement.isEmpty {
            switch requirement {
            case "bundled-geoip":
                _ = try BundledGeoLite2.require()
            default:
                Issue.record("\(name): unknown requirement \(requirement)")
            }
        }
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        var invocation = fixture.invocation(work: work, workers: workers, extra: extra)
        let result: ProcessResult
        if let client = fixture.client {
            invocation.environment["PORT"] = String(SluiceProcess.freePort())
            result = try runWithClient(invocation.arguments, client: client, expectedLines: fixture.expectedLineCount, work, invocation.environment)
        } else {
            result = try runSluice(invocation.arguments, stdin: invocation.stdin, currentDirectory: work, environment: invocation.environment)
        }
        let run = FixtureRun(exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr)
        if FixtureTests.recording(name) {
            try record(fixture, run, work: work, workers: workers)
            return
        }
        for failure in fixture.check(run, work: work, workers: workers) {
            Issue.record(Comment(rawValue: failure))
        }
        guard workers == 1 else { return }
        let then = try fixture.checkThen(work: work) { next in
            let r = try runSluice(next.arguments, currentDirectory: work, environment: next.environment)
            _ = r.exitCode  // compared through the transcript's `[exit N]`
            return FixtureRun(exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr)
        }
        for failure in then { Issue.record(Comment(rawValue: failure)) }
    }

    /// Rewrites the case's expectations from the run (the exit status and stderr must still hold), then fails so
    /// the recording is reviewed.
    func record(_ fixture: FixtureCase, _ run: FixtureRun, work: URL, workers: Int) throws {
        for failure in fixture.checkProcess(run) { Issue.record(Comment(rawValue: failure)) }
        if fixture.read("expected-dlq") != nil {
            let actualDLQ = GoldenJSON.deadLetterEntries(in: fixture.deadLetterQueue(work: work).path)
            try GoldenJSON.record(actualDLQ).write(to: fixture.directory.appendingPathComponent("expected-dlq"), atomically: true, encoding: .utf8)
        }
        if workers > 1 { return }
        let actualText = fixture.actualOutput(run, work: work)
        if fixture.read("expected-raw") != nil {
            try actualText.write(to: fixture.directory.appendingPathComponent("expected-raw"), atomically: true, encoding: .utf8)
            Issue.record("recorded \(fixture.name)/expected-raw: review it and run again")
            return
        }
        try GoldenJSON.record(actualText).write(to: fixture.directory.appendingPathComponent("expected"), atomically: true, encoding: .utf8)
        Issue.record("recorded \(fixture.name)/expected: review it and run again")
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

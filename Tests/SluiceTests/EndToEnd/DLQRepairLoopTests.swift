import Foundation
import SluiceTesting
import Testing
@testable import SluiceCore

/// The repair loop of `examples/dlq-repair/` run by the real binary: dead letters written by one run are read,
/// repaired and indexed by another, with offsets committed across runs and consumed segments cleaned.
@Suite(.serialized)
struct DLQRepairLoopTests {
    let work = TestPaths.temporaryDirectory()
    let example = TestPaths.packageRoot.appendingPathComponent("examples/dlq-repair")

    func runMain(_ lines: String) throws -> ProcessResult {
        try runSluice(
            ["-f", example.appendingPathComponent("main.conf").path, "-w", "1", "-S", "dead_letter_queue.enable=true",
             "--path.settings", work.path, "--pipeline.ecs_compatibility", "disabled"],
            stdin: Data(lines.utf8), currentDirectory: work)
    }

    func runRepair(_ extra: [String] = [], config: URL? = nil) throws -> ProcessResult {
        try runSluice(
            ["-f", (config ?? example.appendingPathComponent("repair.conf")).path, "-w", "1", "--path.settings", work.path]
                + extra, currentDirectory: work)
    }

    func indexed() throws -> [Value] {
        let text = (try? String(contentsOf: work.appendingPathComponent("data/indexed.log"), encoding: .utf8)) ?? ""
        return try GoldenJSON.parseLines(text)
    }

    func paths(_ events: [Value], tagged tag: String? = nil) -> [String] {
        events.compactMap { e -> String? in
            guard case .object(let o) = e else { return nil }
            if let tag, !(o["tags"]?.arrayValue?.contains(.string(tag)) ?? false) { return nil }
            return o["path"]?.stringValue
        }
    }

    @Test func repairLoopIndexesEveryEventExactlyOnce() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let requests = try String(contentsOf: example.appendingPathComponent("requests.log"), encoding: .utf8)
        let main = try runMain(requests)
        #expect(main.exitCode == 0, "\(main.stderr)")
        #expect(paths(try indexed()) == ["/", "/checkout", "/about"])

        let repair = try runRepair()
        #expect(repair.exitCode == 0, "\(repair.stderr)")
        let afterRepair = try indexed()
        #expect(paths(afterRepair, tagged: "repaired") == ["/search", "/login"])
        for case .object(let o) in afterRepair where o["tags"]?.arrayValue?.contains("repaired") == true {
            #expect(o["response_ms"] == nil)
            #expect(o["repaired_reason"]?.stringValue?.hasPrefix("condition evaluation error") == true)
        }

        // commit_offsets: a second repair run finds nothing new.
        #expect(try runRepair().exitCode == 0)
        #expect(try indexed().count == 5)

        // New dead letters go to a new segment; only they are repaired next time.
        #expect(try runMain(#"{"path":"/late","response_ms":"x"}"# + "\n").exitCode == 0)
        #expect(try runRepair().exitCode == 0)
        #expect(paths(try indexed(), tagged: "repaired") == ["/search", "/login", "/late"])
    }

    @Test func cleanConsumedDeletesReadSegments() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        #expect(try runMain(#"{"path":"/a","response_ms":"x"}"# + "\n").exitCode == 0)
        #expect(try runMain(#"{"path":"/b","response_ms":"y"}"# + "\n").exitCode == 0)
        let queue = work.appendingPathComponent("data/dead_letter_queue/main")
        #expect(DeadLetterQueueReader.sealedSegmentIDs(in: queue.path) == [1, 2])
        let config = work.appendingPathComponent("clean.conf")
        try """
            input { dead_letter_queue { path => "data/dead_letter_queue" clean_consumed => true exit_at_end => true } }
            output { file { path => "data/cleaned.log" } }
            """.write(to: config, atomically: true, encoding: .utf8)
        let run = try runRepair(config: config)
        #expect(run.exitCode == 0, "\(run.stderr)")
        let cleaned = try String(contentsOf: work.appendingPathComponent("data/cleaned.log"), encoding: .utf8)
        #expect(try GoldenJSON.parseLines(cleaned).count == 2)
        #expect(DeadLetterQueueReader.sealedSegmentIDs(in: queue.path).count <= 1)
        #expect(!FileManager.default.fileExists(atPath: queue.appendingPathComponent("1.log").path))
    }

    @Test func startTimestampSkipsOlderEntries() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        #expect(try runMain(#"{"path":"/old","response_ms":"x"}"# + "\n").exitCode == 0)
        usleep(50_000)
        let cut = Timestamp.now()
        usleep(50_000)
        #expect(try runMain(#"{"path":"/new","response_ms":"y"}"# + "\n").exitCode == 0)
        let config = work.appendingPathComponent("since.conf")
        try """
            input { dead_letter_queue { path => "data/dead_letter_queue" commit_offsets => false exit_at_end => true start_timestamp => "\(cut.iso8601)" } }
            output { file { path => "data/since.log" } }
            """.write(to: config, atomically: true, encoding: .utf8)
        #expect(try runRepair(config: config).exitCode == 0)
        let text = try String(contentsOf: work.appendingPathComponent("data/since.log"), encoding: .utf8)
        #expect(paths(try GoldenJSON.parseLines(text)) == ["/new"])
    }

    @Test func dlqCommandsReportAndClear() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        #expect(try runMain(#"{"path":"/a","response_ms":"x"}"# + "\n" + #"{"path":"/b","response_ms":"y"}"# + "\n").exitCode == 0)
        let stats = try runSluice(["dlq", "stats", "--json"], currentDirectory: work)
        #expect(stats.exitCode == 0)
        let parsed = try JSONParser.parse(stats.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(parsed.objectValue?["entries"] == .int(2))
        #expect(parsed.objectValue?["by_plugin"] == ["if-statement:if-statement": 2])
        let signature = try #require(parsed["signatures"]?.arrayValue?.first?["id"]?.stringValue)
        let table = try runSluice(["dlq", "stats"], currentDirectory: work)
        #expect(table.exitCode == 0)
        #expect(table.stdout.contains("2 entries"))
        #expect(table.stdout.contains("SIGNATURE"))
        #expect(table.stdout.contains(signature + "      2  "), "\(table.stdout)")
        let list = try runSluice(["dlq", "list", "--reason", "TypeError"], currentDirectory: work)
        #expect(list.exitCode == 0)
        let listed = try GoldenJSON.parseLines(list.stdout)
        #expect(listed.count == 2)
        let bySignature = try runSluice(["dlq", "list", "--signature", signature, "--limit", "1"], currentDirectory: work)
        #expect(bySignature.exitCode == 0)
        let first = try #require(try GoldenJSON.parseLines(bySignature.stdout).first)
        let id = try #require(first["@metadata"]?["dead_letter_queue"]?["id"]?.stringValue)
        #expect(bySignature.stderr.contains("next page: --after \(id)"))
        let rest = try runSluice(["dlq", "list", "--after", id], currentDirectory: work)
        #expect(rest.exitCode == 0)
        #expect(try GoldenJSON.parseLines(rest.stdout) == Array(listed.dropFirst()))
        let show = try runSluice(["dlq", "show", id], currentDirectory: work)
        #expect(show.exitCode == 0)
        #expect(try GoldenJSON.parseLines(show.stdout) == [first])
        let missing = try runSluice(["dlq", "show", "99-1"], currentDirectory: work)
        #expect(missing.exitCode == 1)
        let none = try runSluice(["dlq", "list", "--plugin", "elasticsearch"], currentDirectory: work)
        #expect(none.exitCode == 0)
        #expect(none.stdout.isEmpty)
        let clear = try runSluice(["dlq", "clear"], currentDirectory: work)
        #expect(clear.exitCode == 0)
        let statsAfter = try runSluice(["dlq", "stats", "--json"], currentDirectory: work)
        #expect(statsAfter.exitCode == 0)
        let after = try JSONParser.parse(statsAfter.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(after.objectValue?["entries"] == .int(0))
    }

    /// A second process on the same DLQ fails with a message naming the lock; `sluice dlq clear` refuses while a
    /// pipeline writes; SIGTERM drains and exits 0.
    @Test func lockedQueueIsRefusedAndSigtermDrains() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let running = Process()
        running.executableURL = TestPaths.binary
        running.arguments = ["-e", "input { generator { count => 0 } } output { null {} }", "-w", "1", "-S", "dead_letter_queue.enable=true", "--path.settings", work.path]
        running.currentDirectoryURL = work
        running.standardOutput = FileHandle.nullDevice
        running.standardError = FileHandle.nullDevice
        try running.run()
        defer { if running.isRunning { running.terminate() } }
        let lockFile = work.appendingPathComponent("data/dead_letter_queue/main/.lock")
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: lockFile.path) { usleep(20_000) }

        let second = try runSluice(["-e", "input { generator { count => 1 } } output { null {} }", "-S", "dead_letter_queue.enable=true", "--path.settings", work.path], currentDirectory: work)
        #expect(second.exitCode == 1)
        #expect(second.stderr.contains(".lock"), "\(second.stderr)")

        let clear = try runSluice(["dlq", "clear"], currentDirectory: work)
        #expect(clear.exitCode == 1)

        kill(running.processIdentifier, SIGTERM)
        running.waitUntilExit()
        #expect(running.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: lockFile.path))
    }
}

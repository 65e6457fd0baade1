import Foundation
import Testing
@testable import SluiceCore

/// Live reload with the real binary: a changed config is swapped in without a restart, a broken one leaves the
/// running pipeline alone and is recorded in the reload stats, SIGHUP reloads without `-r`.
@Suite(.serialized)
struct ReloadTests {
    let work = TestPaths.temporaryDirectory()

    func write(_ config: String) throws {
        try config.write(to: work.appendingPathComponent("p.conf"), atomically: true, encoding: .utf8)
    }

    func config(version: String, extra: String = "") -> String {
        """
        input { generator { count => 0 message => "x" } }
        filter { mutate { add_field => { "ver" => "\(version)" } } }
        \(extra)
        output { file { path => "out.log" } }
        """
    }

    func start(_ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = TestPaths.binary
        p.arguments = ["-f", "p.conf", "-w", "1", "--api.enabled", "false", "--path.settings", work.path] + arguments
        p.currentDirectoryURL = work
        p.standardOutput = FileHandle.nullDevice
        FileManager.default.createFile(atPath: work.appendingPathComponent("stderr.log").path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: work.appendingPathComponent("stderr.log"))
        try p.run()
        return p
    }

    /// Polls until `out.log` holds an event with `ver` = `version` (at most 20 s).
    func waitForVersion(_ version: String) -> Bool {
        for _ in 0..<400 {
            let text = (try? String(contentsOf: work.appendingPathComponent("out.log"), encoding: .utf8)) ?? ""
            if text.contains(#""ver":"\#(version)""#) { return true }
            usleep(50_000)
        }
        return false
    }

    @Test func automaticReloadSwapsAChangedConfigAndKeepsTheOldOneOnError() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        try write(config(version: "one"))
        let p = try start(["-r", "--config.reload.interval", "1s"])
        defer { if p.isRunning { p.terminate() } }
        #expect(waitForVersion("one"))
        try write(config(version: "two"))
        #expect(waitForVersion("two"))
        try write(config(version: "three", extra: "filter { mutat {} }"))
        usleep(2_500_000)
        let before = try String(contentsOf: work.appendingPathComponent("out.log"), encoding: .utf8)
        #expect(!before.contains(#""ver":"three""#))
        usleep(300_000)
        let after = try String(contentsOf: work.appendingPathComponent("out.log"), encoding: .utf8)
        #expect(after.count > before.count, "the old pipeline keeps running")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    @Test func sighupReloadsWithoutAutomaticReload() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        try write(config(version: "one"))
        let p = try start([])
        defer { if p.isRunning { p.terminate() } }
        #expect(waitForVersion("one"))
        try write(config(version: "two"))
        kill(p.processIdentifier, SIGHUP)
        #expect(waitForVersion("two"))
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    /// The DLQ writer moves to the reloaded pipeline (Logstash had a bug here): entries keep being written.
    @Test func deadLetterQueueKeepsWorkingAcrossReloads() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        // Every event fails its condition and goes to the DLQ; a small max_bytes keeps the disk use bounded.
        let failing = "filter { if [message] > 1 { } }"
        try write(config(version: "one", extra: failing))
        let p = try start([
            "-r", "--config.reload.interval", "1s", "-S", "dead_letter_queue.enable=true", "-S",
            "dead_letter_queue.storage_policy=drop_older", "-S", "dead_letter_queue.max_bytes=64mb",
        ])
        defer { if p.isRunning { p.terminate() } }
        let queue = work.appendingPathComponent("data/dead_letter_queue/main")
        /// The latest modification of any segment: the head segment is written with every entry.
        func lastWrite() -> Date {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: queue.path)) ?? []
            return names.filter { $0.hasSuffix(".log") || $0.hasSuffix(".log.tmp") }.compactMap {
                try? FileManager.default.attributesOfItem(atPath: queue.appendingPathComponent($0).path)[.modificationDate] as? Date
            }.max() ?? .distantPast
        }
        for _ in 0..<200 where lastWrite() == .distantPast { usleep(50_000) }
        try write(config(version: "two", extra: failing))
        usleep(2_500_000)  // one reload interval and the swap
        let afterReload = Date()
        var written = false
        for _ in 0..<200 {
            if lastWrite() > afterReload {
                written = true
                break
            }
            usleep(50_000)
        }
        #expect(written, "the reloaded pipeline does not write to the DLQ")
        let log = try String(contentsOf: work.appendingPathComponent("stderr.log"), encoding: .utf8)
        #expect(log.contains("Pipeline 'main' was reloaded"), "\(log)")
        #expect(!log.contains("Failed to reload"), "\(log)")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    /// Reloading a downstream pipeline (a `pipeline` input) while its upstream keeps sending: the reload completes
    /// (it used to hang, the stopping input waiting for its live upstream to end), and every event reaches the
    /// output exactly once, through the old pipeline or the new one (the upstream output retries while the address
    /// is unbound; nothing in memory is dropped).
    @Test func reloadingADownstreamPipelineWhileItsUpstreamSendsLosesNothing() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        signal(SIGPIPE, SIG_IGN)
        let out = work.appendingPathComponent("out.log").path
        func downstream(_ version: String) -> String {
            """
            input { pipeline { address => "down" } }
            filter { mutate { add_field => { "ver" => "\(version)" } } }
            output { file { path => "\(out)" } }
            """
        }
        try "input { stdin {} }\noutput { pipeline { send_to => [\"down\"] } }\n".write(
            to: work.appendingPathComponent("up.conf"), atomically: true, encoding: .utf8)
        try downstream("one").write(to: work.appendingPathComponent("down.conf"), atomically: true, encoding: .utf8)
        try """
            - pipeline.id: up
              path.config: "\(work.appendingPathComponent("up.conf").path)"
            - pipeline.id: down
              path.config: "\(work.appendingPathComponent("down.conf").path)"
            """.write(to: work.appendingPathComponent("pipelines.yml"), atomically: true, encoding: .utf8)
        let sluice = try SluiceProcess(
            ["-w", "1", "--api.enabled", "false", "--path.settings", work.path, "--path.data", work.appendingPathComponent("data").path],
            currentDirectory: work, stdinPipe: true)
        let total = 30_000
        // The feeder sends ids 0..<total, 100 every 10 ms, for about 3 s; a write error (the process died) ends it.
        let fd = sluice.input.fileHandleForWriting.fileDescriptor
        let feeder = try SluiceCore.Thread(name: "feed") {
            var next = 0
            while next < total {
                let chunk = (next..<min(total, next + 100)).map { "\($0)\n" }.joined()
                let written = chunk.utf8CString.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count - 1) }
                guard written == chunk.utf8.count else { return }
                next += 100
                usleep(10_000)
            }
        }
        func outputText() -> String { (try? String(contentsOfFile: out, encoding: .utf8)) ?? "" }
        #expect(sluice.waitUntil(20) { outputText().contains(#""ver":"one""#) })
        try downstream("two").write(to: work.appendingPathComponent("down.conf"), atomically: true, encoding: .utf8)
        kill(sluice.process.processIdentifier, SIGHUP)
        #expect(sluice.waitForLog("Pipeline 'down' was reloaded", seconds: 20), "the reload did not complete")
        feeder.join()
        try sluice.input.fileHandleForWriting.close()
        // Standard input ended: the upstream ends, then the downstream, then the process.
        let ended = sluice.waitUntil(30) { !sluice.process.isRunning }
        let result = sluice.stop()
        #expect(ended, "sluice did not exit after its input ended: \(result.stderr.suffix(2000))")
        #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        var seen = [Int](repeating: 0, count: total)
        var versions: Set<String> = []
        for line in outputText().split(separator: "\n") {
            guard case .object(let o) = try JSONParser.parse(Array(line.utf8)),
                  case .string(let message)? = o["message"], let id = Int(message), id >= 0, id < total
            else {
                Issue.record("unexpected line: \(line)")
                continue
            }
            seen[id] += 1
            if case .string(let v)? = o["ver"] { versions.insert(v) }
        }
        let lost = seen.indices.filter { seen[$0] == 0 }, duplicated = seen.indices.filter { seen[$0] > 1 }
        #expect(lost.isEmpty, "\(lost.count) events lost, first \(lost.prefix(10))")
        #expect(duplicated.isEmpty, "\(duplicated.count) events duplicated, first \(duplicated.prefix(10))")
        #expect(versions == ["one", "two"])
    }

    @Test func reloadIsRefusedWithConfigString() throws {
        let r = try runSluice(["-e", "input { generator { count => 1 } }", "-r", "--path.settings", work.path])
        #expect(r.exitCode == 1)
        #expect(r.stderr.contains("Configuration reloading can't be used with 'config.string' (-e)."))
    }
}

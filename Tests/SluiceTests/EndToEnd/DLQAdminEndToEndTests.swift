import Foundation
import SluiceTesting
import Testing
@testable import SluiceCore

/// The DLQ admin API over a real socket while the pipeline writes, driven by curl (an independent client), and the
/// CLI reading the same queue at the same time.
@Suite(.serialized)
struct DLQAdminEndToEndTests {
    /// curl's status and JSON body; `polling` tolerates a server that is not listening yet.
    func curl(_ args: [String], polling: Bool = false) throws -> (status: Int, body: Value?) {
        let r = try runClient("/usr/bin/env", ["curl", "-s", "-w", "\n%{http_code}"] + args)
        if polling && r.exitCode == 7 { return (0, nil) }
        #expect(r.exitCode == 0, "curl: \(r.stderr)")
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        let body = try? JSONParser.parse(lines.dropLast().joined(separator: "\n"))
        return (status, body)
    }

    @Test func removeAndPurgeThroughTheAPIWhileThePipelineWrites() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let port = SluiceProcess.freePort()
        let config = #"input { generator { count => 0 message => "x" } } filter { if [message] > 5 { mutate { } } } output { null { } }"#
        let sluice = try SluiceProcess(
            ["-e", config, "-w", "1", "-S", "dead_letter_queue.enable=true", "-S", "dead_letter_queue.max_bytes=1mb",
             "--path.data", work.appendingPathComponent("data").path, "--path.settings", work.path, "--api.http.port", String(port)],
            currentDirectory: work)
        let base = "http://127.0.0.1:\(port)/_sluice/dlq/main"
        #expect(sluice.waitUntil(30) { ((try? curl([base], polling: true))?.body?["entries"]?.intValue ?? 0) > 20 }, "\(sluice.stderr)")

        let (listed, page) = try curl([base + "/entries?size=5"])
        #expect(listed == 200)
        let ids = (page?["entries"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
        #expect(ids.count == 5)
        #expect(page?["next"]?.stringValue == ids.last)

        #expect(try curl(["-X", "DELETE", base + "/entries/" + ids[1]]).status == 400, "refused without sluice-xsrf")
        let removed = try curl(["-X", "DELETE", "-H", "sluice-xsrf: 1", base + "/entries/" + ids[1]])
        #expect(removed.status == 200 && removed.body?["removed"] == .int(1))
        #expect(try curl([base + "/entries/" + ids[1]]).status == 404)
        #expect(try curl([base + "/entries/" + ids[2]]).status == 200)

        // The CLI reads the same queue while the pipeline holds it, and honours the removal.
        let cli = try runSluice(["dlq", "list", "--limit", "5", "--path.data", work.appendingPathComponent("data").path])
        #expect(cli.exitCode == 0, "\(cli.stderr)")
        let cliIDs = try GoldenJSON.parseLines(cli.stdout).compactMap { $0["@metadata"]?["dead_letter_queue"]?["id"]?.stringValue }
        #expect(cliIDs.count == 5)
        #expect(Array(cliIDs.prefix(4)) == [ids[0], ids[2], ids[3], ids[4]])
        let clear = try runSluice(["dlq", "clear", "--path.data", work.appendingPathComponent("data").path])
        #expect(clear.exitCode == 1, "clear is refused while the pipeline holds the queue")

        let purged = try curl(["-X", "DELETE", "-H", "sluice-xsrf: 1", base])
        #expect(purged.status == 200)
        #expect((purged.body?["removed"]?.intValue ?? 0) > 20)
        let after = try curl([base + "/entries?size=1000"])
        let left = (after.body?["entries"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }.compactMap(DeadLetterQueueEntryID.init)
        let lastPurged = try #require(DeadLetterQueueEntryID(ids[4]))
        #expect(left.allSatisfy { $0 > lastPurged }, "only entries written after the purge remain")

        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr)")
    }
}

/// The operator's loop: events fail, the config is fixed and reloaded, the failed entries are redriven through the
/// API, each arrives once at the output, and the queue empties as their delivery is acknowledged.
@Suite(.serialized)
struct DLQRedriveEndToEndTests {
    @Test func fixTheConfigThenRedriveDeliversEveryEntryOnce() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let port = SluiceProcess.freePort(), httpPort = SluiceProcess.freePort()
        let conf = work.appendingPathComponent("pipeline.conf")
        let out = work.appendingPathComponent("out.log")
        func write(filter: String) throws {
            try """
                input { http { port => \(httpPort) codec => json } }
                filter { \(filter) }
                output { file { path => "\(out.path)" codec => json_lines } }
                """.write(to: conf, atomically: true, encoding: .utf8)
        }
        try write(filter: #"if [n] > 5 { mutate { add_tag => ["big"] } }"#)
        let sluice = try SluiceProcess(
            ["-f", conf.path, "-w", "1", "-r", "--config.reload.interval", "1s", "-S", "dead_letter_queue.enable=true",
             "--path.data", work.appendingPathComponent("data").path, "--path.settings", work.path, "--api.http.port", String(port)],
            currentDirectory: work)
        #expect(sluice.waitForLog("listener"), "\(sluice.stderr)")
        for i in 0..<20 {
            let sent = try runClient("/usr/bin/env", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
                                                      "-d", #"{"id":\#(i),"n":"not a number"}"#, "http://127.0.0.1:\(httpPort)/"])
            #expect(sent.exitCode == 0 && sent.stdout == "200", "\(sent.stderr)")
        }
        let base = "http://127.0.0.1:\(port)/_sluice/dlq/main"
        func entries() -> Int? {
            guard let r = try? runClient("/usr/bin/env", ["curl", "-s", base]), r.exitCode == 0 else { return nil }
            return (try? JSONParser.parse(r.stdout))?.objectValue?["entries"].flatMap { if case .int(let n) = $0 { n } else { nil } }
        }
        #expect(sluice.waitUntil(20) { entries() == 20 }, "every event failed its condition\n\(sluice.stderr)")

        try write(filter: #"mutate { add_tag => ["fixed"] }"#)
        #expect(sluice.waitForLog("was reloaded"), "\(sluice.stderr)")
        let redrive = try runClient("/usr/bin/env", ["curl", "-s", "-X", "POST", "-H", "sluice-xsrf: 1", base + "/_redrive"])
        #expect(redrive.exitCode == 0)
        #expect((try? JSONParser.parse(redrive.stdout))?.objectValue?["selected"] == .int(20), "\(redrive.stdout)")

        #expect(sluice.waitUntil(20) { entries() == 0 }, "the redriven entries are removed once delivered\n\(sluice.stderr)")
        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr)")
        let lines = try GoldenJSON.parseLines(String(contentsOf: out, encoding: .utf8))
        let ids = lines.compactMap { line -> Int? in if case .int(let n)? = line.objectValue?["id"] { return n } else { return nil } }
        #expect(ids.sorted() == Array(0..<20), "each redriven event arrives exactly once")
        #expect(lines.allSatisfy { $0.objectValue?["tags"] == ["fixed"] })
        #expect(lines.allSatisfy { $0.objectValue?["@metadata"] == nil }, "json_lines leaves @metadata out")
    }
}

/// Redrive broken on purpose: the process is killed with SIGKILL in the middle of a redrive of 200,000 entries, then
/// started again and the redrive repeated. Counted by id, every event reaches the output (at least once) and the DLQ
/// ends empty: an entry is removed only after its event was written.
@Suite(.serialized)
struct DLQRedriveCrashTests {
    @Test func killNineMidRedriveLosesNoEntry() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let count = 200_000
        let data = work.appendingPathComponent("data").path
        let out = work.appendingPathComponent("out.log")
        let fill = try runSluice(
            ["-e", #"input { generator { count => \#(count) codec => json message => '{"n":"not a number"}' } } filter { if [n] > 5 { } } output { null { } }"#,
             "-w", "2", "-S", "dead_letter_queue.enable=true", "--path.data", data, "--path.settings", work.path, "--log.level", "error"],
            currentDirectory: work, timeout: 120)
        #expect(fill.exitCode == 0, "\(fill.stderr)")

        func startRepair() throws -> (SluiceProcess, String) {
            let port = SluiceProcess.freePort(), idle = SluiceProcess.freePort()
            let config = #"input { http { host => "127.0.0.1" port => \#(idle) } } filter { mutate { add_tag => ["fixed"] } } output { file { path => "\#(out.path)" codec => json_lines } }"#
            let sluice = try SluiceProcess(
                ["-e", config, "-w", "2", "-S", "dead_letter_queue.enable=true", "--path.data", data, "--path.settings", work.path,
                 "--api.http.port", String(port)], currentDirectory: work)
            let base = "http://127.0.0.1:\(port)/_sluice/dlq/main"
            #expect(sluice.waitUntil(30) { (try? runClient("/usr/bin/env", ["curl", "-sf", base]))?.exitCode == 0 }, "\(sluice.stderr)")
            return (sluice, base)
        }
        func redrive(_ base: String) throws {
            let r = try runClient("/usr/bin/env", ["curl", "-sf", "-X", "POST", "-H", "sluice-xsrf: 1", base + "/_redrive"])
            #expect(r.exitCode == 0, "\(r.stderr)")
        }
        func entries(_ base: String) -> Int? {
            guard let r = try? runClient("/usr/bin/env", ["curl", "-sf", base]), r.exitCode == 0,
                  case .int(let n)? = (try? JSONParser.parse(r.stdout))?.objectValue?["entries"] else { return nil }
            return n
        }

        let (first, firstBase) = try startRepair()
        try redrive(firstBase)
        #expect(first.waitUntil(30) { FileManager.default.fileExists(atPath: out.path) }, "the redrive started")
        usleep(UInt32.random(in: 100_000...400_000))
        #expect(first.killed(), "SIGKILL mid-redrive")
        let written = ((try? Data(contentsOf: out)) ?? Data()).reduce(0) { $1 == 10 ? $0 + 1 : $0 }
        #expect(written < count, "killed before the redrive had finished (\(written) written)")

        let (second, secondBase) = try startRepair()
        #expect((entries(secondBase) ?? 0) > 0, "entries not yet delivered are still there")
        try redrive(secondBase)
        #expect(second.waitUntil(60) { entries(secondBase) == 0 }, "\(second.stderr)")
        let result = second.stop()
        #expect(result.exitCode == 0, "\(result.stderr)")

        // A line torn by the kill is not an event; every id must be in a whole line.
        var seen = [Int](repeating: 0, count: count)
        for line in try String(contentsOf: out, encoding: .utf8).split(separator: "\n") {
            guard case .object(let o)? = try? JSONParser.parse(String(line)),
                  case .int(let id)? = o["event"]?.objectValue?["sequence"], id >= 0 && id < count else { continue }
            seen[id] += 1
        }
        let missing = seen.indices.filter { seen[$0] == 0 }
        #expect(missing.isEmpty, "\(missing.count) events never arrived, e.g. \(missing.prefix(5))")
        let duplicates = seen.reduce(0) { $0 + max($1 - 1, 0) }
        #expect(duplicates <= written, "only what the killed run had written may arrive twice")
        print("redrive after SIGKILL: \(written) written before the kill, \(duplicates) delivered twice, none missing")
    }
}

/// `sluice dlq redrive` against a running binary, until the events' attempts are used up and they sit in the
/// archive; `--archive` lists, counts and redrives the archive; the CLI's errors when no API answers.
@Suite(.serialized)
struct DLQArchiveEndToEndTests {
    @Test func redriveFromTheCommandLineUntilTheArchiveThenFromTheArchive() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let port = SluiceProcess.freePort(), httpPort = SluiceProcess.freePort(), away = SluiceProcess.freePort()
        let data = work.appendingPathComponent("data").path
        // Every event fails at an http output whose server is not there: a transient failure, 3 events.
        let config = """
            input { http { host => "127.0.0.1" port => \(httpPort) codec => json } }
            output { http { id => "away" url => "http://127.0.0.1:\(away)/" http_method => "post" retry_failed => false automatic_retries => 0 } }
            """
        let sluice = try SluiceProcess(
            ["-e", config, "-w", "1", "-S", "dead_letter_queue.enable=true", "-S", "dead_letter_queue.redrive.max_attempts=2",
             "--path.data", data, "--path.settings", work.path, "--api.http.port", String(port)], currentDirectory: work)
        #expect(sluice.waitForLog("listener"), "\(sluice.stderr)")
        for id in 0..<3 {
            let sent = try runClient("/usr/bin/env", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json",
                                                      "-d", #"{"id":\#(id)}"#, "http://127.0.0.1:\(httpPort)/"])
            #expect(sent.exitCode == 0 && sent.stdout == "200", "\(sent.stderr)")
        }
        /// (id, attempts) of every entry `sluice dlq list` prints, sorted by id.
        func listed(_ extra: [String] = []) throws -> [[Int]] {
            let r = try runSluice(["dlq", "list", "--path.data", data] + extra)
            #expect(r.exitCode == 0, "\(r.stderr)")
            return try GoldenJSON.parseLines(r.stdout).map { line in
                [line["id"]?.intValue ?? -1, line["@metadata"]?["dead_letter_queue"]?["attempts"]?.intValue ?? -1]
            }.sorted { $0[0] < $1[0] }
        }
        #expect(sluice.waitUntil(20) { (try? listed()) == [[0, 0], [1, 0], [2, 0]] }, "\(sluice.stderr)")
        let first = try runSluice(["dlq", "list", "--path.data", data, "--limit", "1"])
        #expect(first.exitCode == 0, "\(first.stderr)")
        let line = try #require(GoldenJSON.parseLines(first.stdout).first)
        #expect(line["@metadata"]?["dead_letter_queue"]?["failure"] == "transient")

        let api = "http://127.0.0.1:\(port)"
        func redrive(_ extra: [String] = []) throws {
            let r = try runSluice(["dlq", "redrive", "--api", api] + extra)
            #expect(r.exitCode == 0, "\(r.stderr)")
            #expect(r.stdout.hasPrefix("Redriving 3 entries into pipeline 'main'"), "\(r.stdout)")
        }
        try redrive()
        #expect(sluice.waitUntil(20) { (try? listed()) == [[0, 1], [1, 1], [2, 1]] }, "failed again, attempt 1\n\(sluice.stderr)")
        try redrive()
        // The second redrive used up max_attempts (2): the failures go to the archive, the queue empties.
        #expect(sluice.waitUntil(20) { (try? listed(["--archive"])) == [[0, 2], [1, 2], [2, 2]] }, "\(sluice.stderr)")
        #expect(try listed() == [])
        let stats = try runSluice(["dlq", "stats", "--json", "--archive", "--path.data", data])
        #expect(stats.exitCode == 0)
        #expect(try JSONParser.parse(stats.stdout)["entries"] == .int(3))
        #expect(FileManager.default.fileExists(atPath: data + "/dead_letter_queue/main/archive"))
        let viaAPI = try runClient("/usr/bin/env", ["curl", "-sf", api + "/_sluice/dlq/main/entries?archive=true"])
        #expect(viaAPI.exitCode == 0, "\(viaAPI.stderr)")
        let archived = try JSONParser.parse(viaAPI.stdout)["entries"]?.arrayValue ?? []
        #expect(archived.compactMap { $0["attempts"]?.intValue } == [2, 2, 2] && archived.allSatisfy { $0["failure"] == "transient" })

        // From the archive: they fail once more and go back there, once each, with attempt 3.
        try redrive(["--archive"])
        #expect(sluice.waitUntil(20) { (try? listed(["--archive"])) == [[0, 3], [1, 3], [2, 3]] }, "\(sluice.stderr)")
        #expect(try listed() == [])

        let unknown = try runSluice(["dlq", "redrive", "--api", api, "--pipeline", "nope"])
        #expect(unknown.exitCode == 1 && unknown.stderr.contains("ERROR: no pipeline 'nope' is running at \(api)"), "\(unknown.stderr)")
        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr)")

        let closed = try runSluice(["dlq", "redrive", "--api", api])
        #expect(closed.exitCode == 1)
        #expect(closed.stderr.contains("ERROR: cannot reach the Sluice API at \(api) (is the pipeline running?"), "\(closed.stderr)")
    }
}

import Foundation
import SluiceTesting
import Testing
@testable import SluiceCore

/// The DLQ dashboard in a real browser: headless Chromium, driven over the DevTools protocol by
/// `Tests/Support/dashboard_browser.py`, loads the page from a running sluice whose DLQ holds entries of two
/// signatures, checks the figures it shows against the API, saves screenshots under `.build/test-output/dashboard/`
/// and deletes one entry and redrives another with clicks; this test then checks through the API and the output
/// what became of them.
@Suite(.serialized)
struct DashboardBrowserTests {
    static let chromium = "/usr/bin/chromium"
    static let script = TestPaths.packageRoot.appendingPathComponent("Tests/Support/dashboard_browser.py")
    static let output = TestPaths.packageRoot.appendingPathComponent(".build/test-output/dashboard")

    /// `typeErrors` events fail `[message] > 5` (a string against a number), `missingFields` fail a comparison
    /// with a field that is absent: two failure signatures. The first kind carries markup the page must show as text.
    /// (A generator's `count => 0` would run forever, so a kind with no events has no generator.)
    static func fillConfig(typeErrors: Int, missingFields: Int) -> String {
        let typeError = #"generator { count => \#(typeErrors) message => "alpha" add_field => { "kind" => "type" "html" => '<b id="injected">x</b>' } }"#
        let missingField = #"generator { count => \#(missingFields) message => "beta" add_field => { "kind" => "missing" } }"#
        return """
            input { \(typeErrors > 0 ? typeError : "") \(missingFields > 0 ? missingField : "") }
            filter { if [kind] == "type" { if [message] > 5 { } } else { if [nothere] > [message] { } } }
            output { null { } }
            """
    }

    /// curl's status and JSON body (`user:password` for basic auth).
    func curl(_ url: String, auth: String? = nil) -> (status: Int, body: Value?) {
        let credentials = auth.map { ["-u", $0] } ?? []
        guard let r = try? runClient("/usr/bin/env", ["curl", "-s", "-w", "\n%{http_code}"] + credentials + [url]), r.exitCode == 0 else {
            return (0, nil)
        }
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, try? JSONParser.parse(lines.dropLast().joined(separator: "\n")))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: chromium),
                   "chromium is not installed (`make test-deps` installs the Debian package)"))
    func theDashboardShowsTheQueueAndDeletesAndRedrivesEntriesInABrowser() throws {
        try run(output: Self.output)
    }

    /// Behind basic auth the browser is challenged once it loads the page, and the page's own requests go out with
    /// the credentials the browser was given.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: chromium),
                   "chromium is not installed (`make test-deps` installs the Debian package)"))
    func theDashboardWorksBehindBasicAuth() throws {
        try run(output: Self.output.deletingLastPathComponent().appendingPathComponent("dashboard-basic-auth"), auth: ("operator", "dlq-s3cret"))
    }

    /// Fills a DLQ, starts sluice on it, runs the browser script against it, and checks the entry it redrove.
    func run(output: URL, auth: (user: String, password: String)? = nil) throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let data = work.appendingPathComponent("data").path
        // Two runs a couple of seconds apart, so that the timeline has more than one bar.
        for (run, (typeErrors, missingFields)) in [(24, 0), (6, 8)].enumerated() {
            if run > 0 { sleep(2) }
            let fill = try runSluice(
                ["-e", Self.fillConfig(typeErrors: typeErrors, missingFields: missingFields), "-w", "1",
                 "-S", "dead_letter_queue.enable=true", "--path.data", data, "--path.settings", work.path, "--log.level", "error"],
                currentDirectory: work)
            #expect(fill.exitCode == 0, "\(fill.stderr)")
        }

        // The archive holds a copy of the first run's segment (the same format), for the page's archive view.
        let queue = data + "/dead_letter_queue/main"
        try FileManager.default.createDirectory(atPath: queue + "/archive", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: queue + "/1.log", toPath: queue + "/archive/1.log")
        let port = SluiceProcess.freePort(), idle = SluiceProcess.freePort()
        let out = work.appendingPathComponent("out.log")
        let config = #"input { http { host => "127.0.0.1" port => \#(idle) } } filter { mutate { add_tag => ["fixed"] } } output { file { path => "\#(out.path)" codec => json_lines } }"#
        let authSettings = auth.map {
            ["-S", "api.auth.type=basic", "-S", "api.auth.basic.username=\($0.user)", "-S", "api.auth.basic.password=\($0.password)"]
        } ?? []
        let sluice = try SluiceProcess(
            ["-e", config, "-w", "1", "-S", "dead_letter_queue.enable=true", "--path.data", data, "--path.settings", work.path,
             "--api.http.host", "127.0.0.1", "--api.http.port", String(port)] + authSettings, currentDirectory: work)
        let base = "http://127.0.0.1:\(port)"
        let credentials = auth.map { "\($0.user):\($0.password)" }
        #expect(sluice.waitUntil(30) { curl(base + "/_sluice/dlq/main", auth: credentials).body?["entries"] == .int(38) }, "\(sluice.stderr)")
        let stats = curl(base + "/_sluice/dlq/main", auth: credentials).body
        #expect(stats?["signatures"]?.arrayValue?.compactMap { $0["count"]?.intValue } == [30, 8])
        if auth != nil { #expect(curl(base + "/_sluice/dashboard").status == 401) }

        try? FileManager.default.removeItem(at: output)
        let authArguments = auth.map { ["--user", $0.user, "--password", $0.password] } ?? []
        let browser = (try? runClient("/usr/bin/env", ["python3", Self.script.path, "--base", base, "--pipeline", "main",
                                                       "--out", output.path, "--chromium", Self.chromium] + authArguments))
            ?? ProcessResult(exitCode: -1, stdout: "", stderr: "python3 could not be started")
        print(browser.stdout)
        #expect(browser.exitCode == 0, "dashboard_browser.py failed:\n\(browser.stderr)")
        for name in ["dashboard-desktop.png", "dashboard-narrow.png"] {
            let size = (try? FileManager.default.attributesOfItem(atPath: output.appendingPathComponent(name).path)[.size] as? Int) ?? 0
            #expect(size > 10_000, "\(name) was saved (\(size) bytes)")
        }

        // The entry the page redrove is gone, its event went through the fixed pipeline once; the one it deleted is
        // gone without reaching the output; the rest stay.
        // (No `try #require` before `stop()`: the process is stopped and its status checked whatever fails.)
        let summary = try? JSONParser.parse(String(browser.stdout.split(separator: "\n").last ?? ""))
        let redriven = summary?["redriven"]?.stringValue
        #expect(redriven != nil, "the script names the entry it redrove")
        let deleted = summary?["deleted"]?.stringValue
        #expect(deleted != nil && deleted != redriven, "the script names the entry it deleted")
        #expect(curl(base + "/_sluice/dlq/main/entries/" + (deleted ?? "?"), auth: credentials).status == 404)
        #expect(curl(base + "/_sluice/dlq/main/entries/" + (redriven ?? "?"), auth: credentials).status == 404)
        #expect(sluice.waitUntil(20) { (try? String(contentsOf: out, encoding: .utf8))?.split(separator: "\n").count == 1 })
        let delivered = (try? GoldenJSON.parseLines((try? String(contentsOf: out, encoding: .utf8)) ?? "")) ?? []
        #expect(delivered.count == 1)
        #expect(delivered.first?["kind"] == "missing" && delivered.first?["tags"] == ["fixed"], "\(delivered)")
        #expect(curl(base + "/_sluice/dlq/main", auth: credentials).body?["entries"] == .int(36))

        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr)")
    }
}

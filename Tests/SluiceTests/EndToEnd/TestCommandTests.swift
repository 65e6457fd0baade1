import Foundation
import Testing

/// `sluice test` as a user runs it: the fixture tree, the LFV suites of `examples/tests/`, a deliberately broken
/// expectation (diff text, exit 1, JUnit XML checked by Python's parser), usage and config errors (exit 2).
struct TestCommandTests {
    static let golden = TestPaths.packageRoot.appendingPathComponent("Tests/Golden/sluice-test")

    /// Runs `sluice test` from the package root, so reports show the relative paths a user types.
    func sluiceTest(_ arguments: [String]) throws -> ProcessResult {
        try runSluice(["test"] + arguments, currentDirectory: TestPaths.packageRoot, timeout: 600)
    }

    /// The counts of the summary line `N passed, M failed, K skipped`.
    func summary(_ stdout: String) -> (passed: Int, failed: Int, skipped: Int)? {
        guard let line = stdout.split(separator: "\n").last(where: { $0.hasSuffix(" skipped") }) else { return nil }
        let n = line.split(separator: " ").compactMap { Int($0) }
        return n.count == 3 ? (n[0], n[1], n[2]) : nil
    }

    @Test func wholeFixtureTreePasses() throws {
        let junit = TestPaths.temporaryDirectory().appendingPathComponent("fixtures.xml")
        let r = try sluiceTest(["-q", "-j", "2", "--junit", junit.path, "Tests/Fixtures"])
        #expect(r.exitCode == 0, "\(r.stdout.suffix(4000))\n\(r.stderr)")
        let counts = try #require(summary(r.stdout), "no summary in:\n\(r.stdout.suffix(2000))")
        #expect(counts.passed >= 200)
        #expect(counts.failed == 0)
        // Every skip says why; none is a silent pass.
        let skips = r.stdout.split(separator: "\n").filter { $0.hasPrefix("SKIP ") }
        #expect(skips.count == counts.skipped)
        #expect(skips.allSatisfy { $0.contains("needs a network client") })
        let parsed = try junitCounts(junit)
        #expect(parsed == "\(counts.passed + counts.failed + counts.skipped) 0 \(counts.skipped)")
    }

    @Test(arguments: [
        ("examples/quickstart.conf", ["examples/tests/quickstart.json", "examples/tests/quickstart.yml"]),
        ("examples/dlq-repair/main.conf", ["examples/tests/dlq-main.json"]),
        ("examples/dlq-repair/repair.conf", ["examples/tests/dlq-repair.yml"]),
    ])
    func exampleSuitesPass(_ config: String, _ suites: [String]) throws {
        let r = try sluiceTest(["--config", config] + suites)
        #expect(r.exitCode == 0, "\(r.stdout)\n\(r.stderr)")
        let counts = try #require(summary(r.stdout))
        #expect(counts.failed == 0 && counts.skipped == 0 && counts.passed >= 1)
    }

    @Test func lfvArgumentOrderIsAccepted() throws {
        let r = try sluiceTest(["examples/tests/quickstart.json", "examples/quickstart.conf"])
        #expect(r.exitCode == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stdout.hasSuffix("3 passed, 0 failed, 0 skipped\n"))
    }

    @Test func brokenExpectationsGiveTheGoldenReport() throws {
        let junit = TestPaths.temporaryDirectory().appendingPathComponent("report.xml")
        let r = try sluiceTest(["-j", "1", "--junit", junit.path, "--config", "examples/quickstart.conf",
                                "Tests/Golden/sluice-test/cases", "Tests/Golden/sluice-test/broken.yml"])
        #expect(r.exitCode == 1, "\(r.stderr)")
        let normalised = r.stdout.replacingOccurrences(of: #""(@timestamp|host)":"[^"]*""#, with: #""$1":"…""#, options: .regularExpression)
        let expected = try String(contentsOf: Self.golden.appendingPathComponent("expected-stdout"), encoding: .utf8)
        #expect(normalised == expected, "--- actual:\n\(normalised)")
        #expect(r.stdout.contains("different  [status]: actual 502, expected 500"))
        #expect(r.stdout.contains("different  [details][gateway]: actual \"acme\", expected \"other\""))
        #expect(try junitCounts(junit) == "6 3 1")
        let failure = try python(["-c", "import sys, xml.etree.ElementTree as E; print([f.text for f in E.parse(sys.argv[1]).iter('failure')][1])", junit.path])
        #expect(failure.contains("message\":\"bad <gateway> & co\""), "the diff survives XML escaping: \(failure)")
    }

    @Test func usageErrorsExitTwo() throws {
        let commandLines = [[], ["examples/tests/quickstart.json"], ["/nonexistent.json"], ["examples/quickstart.log"], ["examples/quickstart.conf"]]
        for arguments in commandLines {
            let r = try sluiceTest(arguments)
            #expect(r.exitCode == 2, "\(arguments): \(r.stdout)\n\(r.stderr)")
            #expect(r.stderr.hasPrefix("ERROR: "), "\(arguments): \(r.stderr)")
        }
    }

    @Test func configErrorIsRenderedWithACaretAndExitsTwo() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("bad.conf")
        try "filter {\n  mutate { convet => { \"a\" => \"integer\" } }\n}\n".write(to: config, atomically: true, encoding: .utf8)
        let r = try sluiceTest(["--config", config.path, "Tests/Golden/sluice-test/cases", "examples/tests/quickstart.json"])
        #expect(r.exitCode == 2)
        #expect(r.stdout.isEmpty, "found before any case runs: \(r.stdout)")
        #expect(r.stderr.contains("bad.conf:2:12: error: Unknown setting 'convet' for mutate"), "\(r.stderr)")
        #expect(r.stderr.contains("  |            ^"))
        #expect(r.stderr.contains("did you mean 'convert'?"))
    }

    @Test func badTestCaseFileIsAUsageError() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("old.json")
        try #"{"input": ["x"], "expected": []}"#.write(to: file, atomically: true, encoding: .utf8)
        let r = try sluiceTest(["--config", "examples/quickstart.conf", "Tests/Golden/sluice-test/cases", file.path])
        #expect(r.exitCode == 2)
        #expect(r.stdout.isEmpty, "found before any case runs: \(r.stdout)")
        #expect(r.stderr.contains("deprecated top-level"), "\(r.stderr)")
    }

    @Test func unknownCodecIsAConfigErrorFoundBeforeAnyCaseRuns() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("codec.yml")
        try "codec: json_line\ntestcases:\n  - input: ['{}']\n    expected: []\n".write(to: file, atomically: true, encoding: .utf8)
        let r = try sluiceTest(["--config", "examples/quickstart.conf", "examples/tests/quickstart.json", file.path])
        #expect(r.exitCode == 2)
        #expect(r.stdout.isEmpty, "found before any case runs: \(r.stdout)")
        #expect(r.stderr.contains("codec.yml (codec):1:9: error: Couldn't find any codec plugin named 'json_line'"), "\(r.stderr)")
        #expect(r.stderr.contains("did you mean 'json_lines'"), "\(r.stderr)")
    }

    /// `tests failures skipped` of a JUnit file, read by Python's XML parser (an independent check of the XML).
    func junitCounts(_ file: URL) throws -> String {
        let script = """
            import sys, xml.etree.ElementTree as E
            root = E.parse(sys.argv[1]).getroot()
            cases = list(root.iter('testcase'))
            assert int(root.get('tests')) == len(cases)
            print(len(cases), sum(1 for c in cases if c.find('failure') is not None), sum(1 for c in cases if c.find('skipped') is not None))
            """
        return try python(["-c", script, file.path])
    }

    func python(_ arguments: [String]) throws -> String {
        let r = try runClient("/usr/bin/env", ["python3"] + arguments)
        #expect(r.exitCode == 0, "python3: \(r.stderr)")
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

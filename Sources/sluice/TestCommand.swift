import ArgumentParser
import Foundation
import SluiceCore
import SluicePlugins
import SluiceTesting

/// `sluice test`: runs golden fixture folders and logstash-filter-verifier test-case files against pipelines and
/// reports each case (a field-by-field diff for a failure), a summary, and optionally JUnit XML. Exits 0 when every
/// case passed or was skipped, 1 when one failed, 2 on a usage or config error.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Test pipelines: golden fixture folders, or logstash-filter-verifier test-case files (JSON/YAML).",
        discussion: """
            Fixture folders:  sluice test DIR...  (a folder holding pipeline.conf,
                              or a folder of such folders)
            LFV test cases:   sluice test --config FILE CASE.json CASE.yml...
                              sluice test CASE.json... FILE.conf  (LFV's order)
            Exit status: 0 every case passed or was skipped, 1 a case failed,
            2 a usage error or a config that does not compile.
            """)

    @Argument(help: "Fixture case folders, folders of them, LFV test-case files (.json, .yml, .yaml), or the config (.conf).")
    var paths: [String] = []

    @Option(name: [.customShort("f"), .customLong("config")], help: "The pipeline config (file, directory or glob) LFV test cases run against.")
    var config: String?

    @Option(name: .customLong("junit"), help: "Also write the results as JUnit XML to this file.")
    var junit: String?

    @Option(name: .customLong("pipeline.ecs_compatibility"), help: "ECS mode for LFV test cases: disabled, v1 or v8.")
    var ecsCompatibility: String = "v8"

    @Flag(name: .customLong("config.support_escapes"), help: "Interpret \\n, \\t, \\\" … in the config's quoted strings.")
    var supportEscapes = false

    @Option(name: [.customShort("j"), .customLong("jobs")], help: "Fixture cases run at once (default: CPU cores).")
    var jobs: Int?

    @Option(name: .customLong("timeout"), help: "Seconds a fixture case may run before it is killed.")
    var timeout: Double = 120

    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Print only failures, skips and the summary.")
    var quiet = false

    func run() throws {
        do {
            // Everything that can be wrong with the command line or the config is found before any case runs.
            let plan = try TestPlan(paths: paths, config: config)
            let suites = try loadSuites(plan.lfvSuites)
            let verifier = try suites.isEmpty ? nil : makeVerifier(plan, suites)
            var results = runFixtures(plan.fixtures)
            if let verifier { results += try runSuites(suites, verifier) }
            try finish(TestReport(results))
        } catch let e as TestUsageError {
            printError("ERROR: \(e.message)")
            throw ExitCode(2)
        } catch let e as FilterVerifierError {
            printError(e.rendered)
            throw ExitCode(2)
        }
    }
}

extension TestCommand {
    /// Parses the config the LFV suites run against, and checks that its filters and the suites' codecs compile.
    func makeVerifier(_ plan: TestPlan, _ suites: [LFVSuite]) throws -> FilterVerifier {
        guard let config = plan.config else {
            throw TestUsageError("test-case files need the pipeline config: --config FILE (or a .conf path)")
        }
        guard let ecs = ECSCompatibility(rawValue: ecsCompatibility) else {
            throw TestUsageError("--pipeline.ecs_compatibility must be disabled, v1 or v8, got \"\(ecsCompatibility)\"")
        }
        let sources: [ConfigSource]
        do {
            sources = try ConfigSources.load(path: config)
        } catch {
            throw TestUsageError(error.message)
        }
        let verifier = try FilterVerifier(sources: sources, registry: builtinRegistry, ecsCompatibility: ecs, supportEscapes: supportEscapes)
        try verifier.check(suites)
        return verifier
    }

    /// Runs the fixture cases as subprocesses of this binary, printing each result as it is known.
    func runFixtures(_ cases: [(suite: String, fixture: FixtureCase)]) -> [TestCaseResult] {
        guard !cases.isEmpty else { return [] }
        let runner = FixtureProcessRunner(
            binary: FixtureProcessRunner.currentExecutable, jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount,
            timeout: timeout)
        let quiet = self.quiet
        return runner.run(cases) { TestCommand.show($0, quiet: quiet) }
    }

    /// Reads the LFV test-case files; one that cannot be read or does not follow the format is a usage error.
    func loadSuites(_ files: [String]) throws -> [LFVSuite] {
        do {
            return try files.map { file throws(LFVFileError) in try LFVSuite(file: file) }
        } catch {
            throw TestUsageError(error.description)
        }
    }

    /// Runs the LFV suites in process, printing each result.
    func runSuites(_ suites: [LFVSuite], _ verifier: FilterVerifier) throws -> [TestCaseResult] {
        var results: [TestCaseResult] = []
        for suite in suites {
            for r in try verifier.run(suite) {
                TestCommand.show(r, quiet: quiet)
                results.append(r)
            }
        }
        return results
    }

    /// Prints one result (passes only without `--quiet`).
    static func show(_ result: TestCaseResult, quiet: Bool) {
        if quiet && result.status == .passed { return }
        Swift.print(TestReport.line(result), terminator: "")
    }

    /// The summary, the JUnit file, and the exit status.
    func finish(_ report: TestReport) throws {
        print(report.summary)
        if let junit {
            do {
                try report.junitXML.write(toFile: junit, atomically: true, encoding: .utf8)
            } catch {
                throw TestUsageError("cannot write the JUnit report to \(junit): \(error.localizedDescription)")
            }
        }
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}

/// A command line `sluice test` cannot act on; exits 2.
struct TestUsageError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

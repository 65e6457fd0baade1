import Foundation
import SluiceCore
import SluiceTesting
import Synchronization

/// Runs golden fixture cases for `sluice test`: each case is this very binary started as a subprocess with the
/// arguments `FixtureCase` gives (the fixture tests' own), a temporary `--path.data`, and the case's `input` on
/// stdin; the run is then checked by `FixtureCase.check`. Cases run `jobs` at a time; results come back in the
/// order of `cases`, each handed to `report` as soon as every earlier one is done.
struct FixtureProcessRunner: Sendable {
    /// The `sluice` executable to start.
    let binary: URL
    let jobs: Int
    let timeout: Double

    /// The running executable (`/proc/self/exe`), falling back to `argv[0]`.
    static var currentExecutable: URL {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    }

    /// Runs every case and returns the results in order.
    func run(_ cases: [(suite: String, fixture: FixtureCase)], report: @escaping @Sendable (TestCaseResult) -> Void) -> [TestCaseResult] {
        let state = Mutex(OrderedResults(count: cases.count))
        DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, cases.count))) { _ in
            while let i = state.withLock({ $0.claim() }) {
                let result = runOne(cases[i].fixture, suite: cases[i].suite)
                // Reported under the lock, so two threads never print out of order.
                state.withLock { for ready in $0.store(result, at: i) { report(ready) } }
            }
        }
        return state.withLock { $0.all }
    }

    /// One case: skipped when it needs what `sluice test` cannot give it, otherwise run and checked.
    func runOne(_ fixture: FixtureCase, suite: String) -> TestCaseResult {
        let start = Date()
        func result(_ status: TestCaseResult.Status) -> TestCaseResult {
            TestCaseResult(suite: suite, name: fixture.name, status: status, seconds: Date().timeIntervalSince(start))
        }
        if fixture.client != nil {
            return result(.skipped("needs a network client (its `client` script); the fixture tests run it"))
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        do {
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            let run = try execute(fixture.invocation(work: work), work: work)
            let failures = fixture.check(run, work: work) + (try fixture.checkThen(work: work) { try execute($0, work: work) })
            return result(failures.isEmpty ? .passed : .failed(failures.joined(separator: "\n")))
        } catch {
            return result(.failed("could not run sluice: \(error)"))
        }
    }

    /// Starts the binary with stdin, stdout and stderr in files of `work` (no pipe can fill up), and waits for it;
    /// a run longer than `timeout` is killed and reported as exit code -9.
    func execute(_ invocation: FixtureInvocation, work: URL) throws -> FixtureRun {
        let files = ["stdin", "stdout", "stderr"].map { work.appendingPathComponent(".sluice-test-\($0)") }
        try invocation.stdin.write(to: files[0])
        for f in files.dropFirst() { _ = FileManager.default.createFile(atPath: f.path, contents: nil) }
        let process = Process()
        process.executableURL = binary
        process.arguments = invocation.arguments
        process.currentDirectoryURL = work
        process.environment = ProcessInfo.processInfo.environment.merging(invocation.environment) { $1 }
        process.standardInput = try FileHandle(forReadingFrom: files[0])
        process.standardOutput = try FileHandle(forWritingTo: files[1])
        process.standardError = try FileHandle(forWritingTo: files[2])
        try process.run()
        let killed = waitOrKill(process)
        let text = files.dropFirst().map { (try? String(contentsOf: $0, encoding: .utf8)) ?? "" }
        if killed { return FixtureRun(exitCode: -9, stdout: text[0], stderr: "killed after \(Int(timeout)) s\n" + text[1]) }
        return FixtureRun(exitCode: process.terminationStatus, stdout: text[0], stderr: text[1])
    }

    /// Waits for the process; true when it had to be killed.
    func waitOrKill(_ process: Process) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(2_000) }
        guard process.isRunning else {
            process.waitUntilExit()
            return false
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return true
    }
}

/// Results that arrive in any order and are released in case order.
struct OrderedResults {
    private var slots: [TestCaseResult?]
    private var nextToClaim = 0
    private var nextToRelease = 0

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    /// The index of the next case to run, nil when all are taken.
    mutating func claim() -> Int? {
        guard nextToClaim < slots.count else { return nil }
        defer { nextToClaim += 1 }
        return nextToClaim
    }

    /// Stores a result and returns those now releasable in order.
    mutating func store(_ result: TestCaseResult, at index: Int) -> [TestCaseResult] {
        slots[index] = result
        var ready: [TestCaseResult] = []
        while nextToRelease < slots.count, let r = slots[nextToRelease] {
            ready.append(r)
            nextToRelease += 1
        }
        return ready
    }

    var all: [TestCaseResult] { slots.compactMap { $0 } }
}

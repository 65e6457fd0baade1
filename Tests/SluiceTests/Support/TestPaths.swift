import Foundation
import Testing

/// Locations the tests need: the package root, the fixtures, the built `sluice` binary.
enum TestPaths {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures")

    /// The `sluice` executable built next to the test bundle.
    static let binary: URL = {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = runner.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("sluice")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/debug/sluice")
    }()

    /// A fresh temporary directory.
    static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-test-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The result of running a program. For the `sluice` binary (`checksExitCode`), reading `exitCode` marks the
/// result checked, and a result released without that records an issue naming the command: every test that
/// starts Sluice asserts how it ended (issue 15).
final class ProcessResult: @unchecked Sendable {
    private let status: Int32
    let stdout: String
    let stderr: String
    private let command: String?
    private let lock = NSLock()
    private var checked = false

    init(exitCode: Int32, stdout: String, stderr: String, checkedAs command: String? = nil) {
        status = exitCode
        self.stdout = stdout
        self.stderr = stderr
        self.command = command
    }

    var exitCode: Int32 {
        lock.lock()
        checked = true
        lock.unlock()
        return status
    }

    deinit {
        if let command, !checked {
            Issue.record("the exit status of `sluice \(command)` was never checked (it was \(status))")
        }
    }
}

extension ProcessResult {
    /// How `sluice` was started, for the issue recorded when its exit status is not checked.
    static func describe(_ arguments: [String]) -> String {
        arguments.map { $0.count > 40 ? String($0.prefix(37)) + "..." : $0 }.joined(separator: " ")
    }
}

/// Runs `sluice` with arguments and standard input, capturing its output. With `descriptorLimit`, it runs under
/// that soft and hard `RLIMIT_NOFILE` (set by `/bin/sh`'s `ulimit -n`, which sets both); a run longer than
/// `timeout` seconds is killed and reported as exit code -9.
func runSluice(
    _ arguments: [String], stdin: Data = Data(), currentDirectory: URL? = nil, environment: [String: String] = [:],
    descriptorLimit: Int? = nil, timeout: Double = 60
) throws -> ProcessResult {
    let work = TestPaths.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: work) }
    let inFile = work.appendingPathComponent("stdin"), outFile = work.appendingPathComponent("stdout")
    let errFile = work.appendingPathComponent("stderr")
    try stdin.write(to: inFile)
    FileManager.default.createFile(atPath: outFile.path, contents: nil)
    FileManager.default.createFile(atPath: errFile.path, contents: nil)
    let process = Process()
    if let descriptorLimit {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", #"ulimit -n \#(descriptorLimit) && exec "$0" "$@""#, TestPaths.binary.path] + arguments
    } else {
        process.executableURL = TestPaths.binary
        process.arguments = arguments
    }
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    process.standardInput = try FileHandle(forReadingFrom: inFile)
    process.standardOutput = try FileHandle(forWritingTo: outFile)
    process.standardError = try FileHandle(forWritingTo: errFile)
    try process.run()
    // A hung pipeline fails its test instead of hanging the suite.
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(2_000) }
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let stderr = (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
        return ProcessResult(exitCode: -9, stdout: "", stderr: "sluice did not finish within \(Int(timeout)) s: killed\n" + stderr.suffix(3000),
                             checkedAs: ProcessResult.describe(arguments))
    }
    process.waitUntilExit()
    return ProcessResult(
        exitCode: process.terminationStatus,
        stdout: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "",
        checkedAs: ProcessResult.describe(arguments))
}

import Foundation
import Testing

/// A `sluice` process running in the background (network inputs): started with arguments, waited on until its
/// log shows it is ready, stopped with SIGINT, and its exit status and output returned for the test to check.
final class SluiceProcess {
    let process = Process()
    let work: URL
    private let outFile: URL
    private let errFile: URL

    /// Standard input when started with `stdinPipe: true` (write to it, close it to end the stream).
    let input = Pipe()

    init(_ arguments: [String], currentDirectory: URL? = nil, environment: [String: String] = [:], stdinPipe: Bool = false) throws {
        work = TestPaths.temporaryDirectory()
        outFile = work.appendingPathComponent("stdout")
        errFile = work.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outFile.path, contents: nil)
        FileManager.default.createFile(atPath: errFile.path, contents: nil)
        process.executableURL = TestPaths.binary
        process.arguments = arguments
        process.currentDirectoryURL = currentDirectory ?? work
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardInput = stdinPipe ? input : FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        try process.run()
    }

    /// Whether `stop()` or `killed()` reported how the process ended.
    private var ended = false

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        if !ended { Issue.record("`sluice \(ProcessResult.describe(process.arguments ?? []))` was started and never stopped with its exit status checked") }
        try? FileManager.default.removeItem(at: work)
    }

    /// SIGKILL, and whether the process died of it (a crash test's expected end).
    func killed() -> Bool {
        ended = true
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
    }

    var stdout: String { (try? String(contentsOf: outFile, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: errFile, encoding: .utf8)) ?? "" }

    /// Waits until stderr holds `marker` `count` times (a listener started); false after `seconds` or when the
    /// process has exited.
    func waitForLog(_ marker: String, count: Int = 1, seconds: Double = 30) -> Bool {
        waitUntil(seconds) { stderr.components(separatedBy: marker).count - 1 >= count }
    }

    /// Waits until stdout has at least `lines` lines.
    func waitForOutput(lines: Int, seconds: Double = 30) -> Bool {
        waitUntil(seconds) { stdout.reduce(0) { $1 == "\n" ? $0 + 1 : $0 } >= lines }
    }

    func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            if !process.isRunning { return condition() }
            usleep(20_000)
        }
        return condition()
    }

    /// SIGINT, then waits up to 30 s for a clean exit (SIGKILL after that, reported as exit code -9).
    func stop() -> ProcessResult {
        ended = true
        if process.isRunning { kill(process.processIdentifier, SIGINT) }
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return ProcessResult(exitCode: -9, stdout: stdout, stderr: stderr + "\nsluice did not stop within 30 s: killed",
                                 checkedAs: ProcessResult.describe(process.arguments ?? []))
        }
        process.waitUntilExit()
        return ProcessResult(exitCode: process.terminationStatus, stdout: stdout, stderr: stderr,
                             checkedAs: ProcessResult.describe(process.arguments ?? []))
    }

    /// A port that is free on 127.0.0.1 for both TCP (`freePort()`) and UDP at the moment of asking (the syslog
    /// input binds both).
    static func freePort() -> Int {
        for _ in 0..<50 {
            let port = SluiceTests.freePort()
            let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(udp) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let udpFree = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(udp, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            if udpFree { return port }
        }
        return 0
    }
}

/// Whether a shell command line succeeds, for `.enabled(if:)` checks of the tools a suite needs.
func shellSucceeds(_ script: String) -> Bool {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", script]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return false }
    p.waitUntilExit()
    return p.terminationStatus == 0
}

/// Runs a client program (curl, logger, python3, sh) to completion and returns its exit status and output.
func runClient(_ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(stdin)
        try? input.fileHandleForWriting.close()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessResult(
        exitCode: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

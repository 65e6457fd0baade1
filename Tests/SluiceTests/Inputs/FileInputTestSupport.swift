import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// A `sluice` process running a pipeline in the background for the file input's end-to-end tests: its output
/// goes to files, and every way it ends (SIGTERM, SIGKILL, its own exit) is waited for with a deadline, so the
/// test can assert the exit status.
final class BackgroundSluice {
    let process = Process()
    let log: URL

    init(config: String, directory: URL, extra: [String] = [], environment: [String: String] = [:]) throws {
        // Its own files live apart from the files under test, which globs like `<dir>/*.log` would match.
        let own = directory.appendingPathComponent("sluice")
        try FileManager.default.createDirectory(at: own, withIntermediateDirectories: true)
        let conf = own.appendingPathComponent("pipeline-\(UUID().uuidString).conf")
        try config.write(to: conf, atomically: true, encoding: .utf8)
        log = own.appendingPathComponent("sluice-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let settings = own.appendingPathComponent("settings")
        try FileManager.default.createDirectory(at: settings, withIntermediateDirectories: true)
        process.executableURL = TestPaths.binary
        process.arguments = [
            "-f", conf.path, "-w", "1", "--path.data", own.appendingPathComponent("data").path, "--path.settings",
            settings.path, "--api.enabled=false",
        ] + extra
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Waits up to `seconds` for the process to end on its own; nil if it is still running (then it is killed).
    func waitForExit(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGTERM, then the exit status of a clean shutdown (nil when it did not stop within 20 s).
    func terminate() -> Int32? {
        kill(process.processIdentifier, SIGTERM)
        return waitForExit(seconds: 20)
    }

    /// SIGKILL; returns whether the process died of it.
    func killNine() -> Bool {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
    }
}

enum FileInputTesting {
    /// Polls `condition` every 20 ms for up to `seconds`.
    static func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    static func lines(_ file: URL) -> [String] {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    /// The numbers of `id-N` lines.
    /// Lines in a file, counted without decoding it (cheap enough to poll a big output).
    static func lineCount(_ file: URL) -> Int {
        guard let data = try? Data(contentsOf: file) else { return 0 }
        return data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    static func ids(_ file: URL) -> [Int] {
        lines(file).compactMap { line in
            guard let r = line.range(of: "id-") else { return nil }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }
    }

    static func append(_ text: String, to file: URL) throws {
        if !FileManager.default.fileExists(atPath: file.path) { FileManager.default.createFile(atPath: file.path, contents: nil) }
        let h = try FileHandle(forWritingTo: file)
        try h.seekToEnd()
        try h.write(contentsOf: Data(text.utf8))
        try h.close()
    }

    static func idLines(_ range: Range<Int>) -> String { range.map { "id-\($0)\n" }.joined() }

    /// `stat` of a path: inode and device numbers as the sincedb writes them.
    static func key(_ path: String) -> String {
        var st = stat()
        _ = stat(path, &st)
        return "\(FileKey(st))"
    }

    static func shell(_ command: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        p.standardOutput = FileHandle.nullDevice
        try? p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}

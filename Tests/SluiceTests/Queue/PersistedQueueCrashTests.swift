import Foundation
import Testing
@testable import SluiceCore

/// Reliability by breaking things: `kill -9` at random moments while stdin pushes numbered events through the
/// persisted queue to a file, and a queue on a file system that fills up. Every event the queue accepted (found
/// in its pages by an independent reader, or already delivered) must be delivered after a restart.
@Suite(.serialized) struct PersistedQueueCrashTests {
    static let config = """
        input { stdin {} }
        output { file { path => "OUT" codec => line { format => "%{message}" } } }
        """

    /// A running sluice fed by a pipe.
    final class Feeder: @unchecked Sendable {
        let process = Process()
        let input = Pipe()
        let log: URL

        init(_ arguments: [String], directory: URL) throws {
            log = directory.appendingPathComponent("sluice-\(UUID().uuidString).log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = TestPaths.binary
            process.arguments = arguments
            process.standardInput = input
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        /// Writes `id-<n>` lines from `first` until the pipe breaks (the process died).
        func feed(from first: Int, count: Int) {
            let fd = input.fileHandleForWriting.fileDescriptor
            signal(SIGPIPE, SIG_IGN)
            var n = first
            while n < first + count {
                var chunk = ""
                for k in n..<min(n + 500, first + count) { chunk += "id-\(k)\n" }
                let bytes = Array(chunk.utf8)
                let ok = bytes.withUnsafeBytes { raw -> Bool in
                    var done = 0
                    while done < raw.count {
                        let w = write(fd, raw.baseAddress! + done, raw.count - done)
                        if w <= 0 { return false }
                        done += w
                    }
                    return true
                }
                if !ok { return }
                n += 500
            }
        }
    }

    static func arguments(_ conf: URL, _ data: URL, extra: [String]) -> [String] {
        ["-f", conf.path, "-w", "2", "--path.data", data.path, "--api.enabled=false", "-S", "queue.type=persisted"] + extra
    }

    static func ids(_ file: URL) -> [Int] {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { $0.hasPrefix("id-") ? Int($0.dropFirst(3)) : nil }
    }

    /// Drains what the queue holds with an empty stdin and `queue.drain`; the run must end cleanly.
    static func drain(_ conf: URL, _ data: URL, extra: [String] = []) throws -> ProcessResult {
        try runSluice(arguments(conf, data, extra: extra + ["-S", "queue.drain=true"]))
    }

    @Test func killNineAtRandomMomentsLosesNothingAccepted() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var generator = SystemRandomNumberGenerator()
        var duplicates = 0
        for trial in 0..<20 {
            let work = dir.appendingPathComponent("trial-\(trial)")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            let out = work.appendingPathComponent("out.log"), data = work.appendingPathComponent("data")
            let conf = work.appendingPathComponent("p.conf")
            try Self.config.replacingOccurrences(of: "OUT", with: out.path).write(to: conf, atomically: true, encoding: .utf8)
            // Half the trials checkpoint on every write, so kills land inside checkpoint writes too.
            let extra = trial % 2 == 0 ? [] : ["-S", "queue.checkpoint.writes=1", "-S", "queue.page_capacity=256kb"]
            let feeder = try Feeder(Self.arguments(conf, data, extra: extra), directory: work)
            let feeding = try! SluiceCore.Thread(name: "feed") { feeder.feed(from: 0, count: 400_000) }
            usleep(UInt32.random(in: 150_000...900_000, using: &generator))
            kill(feeder.process.processIdentifier, SIGKILL)
            feeder.process.waitUntilExit()
            feeding.join()
            #expect(feeder.process.terminationReason == .uncaughtSignal && feeder.process.terminationStatus == SIGKILL)
            let queued = PQBytes.ids(inQueue: data.appendingPathComponent("queue/main").path)
            let deliveredBefore = Set(Self.ids(out))
            let accepted = queued.union(deliveredBefore)
            let result = try Self.drain(conf, data, extra: extra)
            #expect(result.exitCode == 0, "trial \(trial): \(result.stderr)")
            let delivered = Self.ids(out)
            let distinct = Set(delivered)
            let missing = accepted.subtracting(distinct)
            #expect(missing.isEmpty, "trial \(trial): \(missing.count) accepted events missing, e.g. \(missing.sorted().prefix(5))")
            // stdin is read in order, so what was accepted is a prefix of the ids sent: no holes.
            let top = distinct.max() ?? -1
            #expect(distinct.count == top + 1, "trial \(trial): \(top + 1 - distinct.count) holes below id \(top)")
            duplicates += delivered.count - distinct.count
        }
        print("persisted queue crash trials: 20 kills, \(duplicates) duplicate deliveries (at-least-once)")
    }

    /// The queue's file system fills up: intake stops with a clear error, the queue stays consistent, and once
    /// space returns intake resumes; after a kill every accepted event is still delivered.
    @Test(.enabled(if: getuid() == 0, "needs root to mount a small tmpfs"))
    func fullDiskStopsIntakeWithoutCorruption() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let mount = dir.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        guard shell("mount -t tmpfs -o size=3m tmpfs '\(mount.path)'") == 0 else {
            Issue.record("cannot mount a tmpfs at \(mount.path)")
            return
        }
        defer { _ = shell("umount -l '\(mount.path)'") }
        let filler = mount.appendingPathComponent("filler")
        #expect(shell("dd if=/dev/zero of='\(filler.path)' bs=1k count=1024 status=none") == 0)
        let out = dir.appendingPathComponent("out.log"), conf = dir.appendingPathComponent("p.conf")
        // Nothing is delivered while the disk fills: the output waits for a pipeline that does not exist.
        try """
            input { stdin {} }
            output { pipeline { send_to => "nowhere" } }
            """.write(to: conf, atomically: true, encoding: .utf8)
        let settings = ["-S", "path.queue=\(mount.path)", "-S", "queue.page_capacity=256kb", "-S", "queue.max_bytes=0"]
        let feeder = try Feeder(Self.arguments(conf, dir.appendingPathComponent("data"), extra: settings), directory: dir)
        let feeding = try! SluiceCore.Thread(name: "feed") { feeder.feed(from: 0, count: 300_000) }
        let stopped = waitFor(seconds: 30) { (try? String(contentsOf: feeder.log, encoding: .utf8))?.contains("Persisted queue intake stopped") == true }
        #expect(stopped, "no intake error was logged")
        let logText = (try? String(contentsOf: feeder.log, encoding: .utf8)) ?? ""
        #expect(logText.contains("No space left on device"))
        let queueDir = mount.appendingPathComponent("main").path
        let before = PQBytes.ids(inQueue: queueDir).count
        #expect(before > 0)
        try FileManager.default.removeItem(at: filler)
        let resumed = waitFor(seconds: 10) { PQBytes.ids(inQueue: queueDir).count > before }
        #expect(resumed, "intake did not resume after space returned")
        kill(feeder.process.processIdentifier, SIGKILL)
        feeder.process.waitUntilExit()
        feeding.join()
        #expect(feeder.process.terminationReason == .uncaughtSignal && feeder.process.terminationStatus == SIGKILL,
                "sluice ran until the SIGKILL")
        let check = try runSluice(["queue", "check", queueDir])
        #expect(check.exitCode == 0, "\(check.stdout)")
        let accepted = PQBytes.ids(inQueue: queueDir)
        try Self.config.replacingOccurrences(of: "OUT", with: out.path).write(to: conf, atomically: true, encoding: .utf8)
        let result = try Self.drain(conf, dir.appendingPathComponent("data"), extra: settings)
        #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        let delivered = Set(Self.ids(out))
        let missing = accepted.subtracting(delivered)
        #expect(missing.isEmpty, "\(missing.count) accepted events missing, e.g. \(missing.sorted().prefix(5))")
        #expect(delivered.count == (delivered.max() ?? -1) + 1)
    }

    func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    func shell(_ command: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        try? p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}

import Foundation
import Testing
@testable import SluiceCore

/// A repair run over a dead letter queue, killed with SIGKILL four times and then run to the end, delivers every
/// entry the queue held: the `dead_letter_queue` input commits its offsets (and cleans consumed segments) only
/// for events that are safe — delivered with the memory queue, written to disk with the persisted queue.
@Suite(.serialized) struct DLQRepairCrashTests {
    static let entries = 100_000

    /// Writes `entries` dead letters `id-0` … into `<root>/main`, in small segments.
    static func fillDeadLetterQueue(_ root: String) throws {
        var settings = DeadLetterQueueSettings(path: root, pipelineID: "main")
        settings.maxSegmentSize = 256 * 1024
        let dlq = try DeadLetterQueue(settings: settings) { _ in }
        for n in 0..<entries {
            let e = Event(timestamp: Timestamp(seconds: 1_700_000_000, nanoseconds: 0))
            e.fields["message"] = .string("id-\(n)")
            #expect(dlq.write(e, pluginType: "elasticsearch", pluginID: "es", reason: "test"))
        }
        dlq.close()
    }

    func repair(queue extra: [String]) throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = dir.appendingPathComponent("dlq").path
        try Self.fillDeadLetterQueue(root)
        let out = dir.appendingPathComponent("out.log"), conf = dir.appendingPathComponent("repair.conf")
        try """
            input { dead_letter_queue { path => "\(root)" commit_offsets => true clean_consumed => true exit_at_end => true } }
            output { file { path => "\(out.path)" codec => line { format => "%{message}" } } }
            """.write(to: conf, atomically: true, encoding: .utf8)
        let arguments = ["-f", conf.path, "-w", "2", "--path.data", dir.appendingPathComponent("data").path, "--api.enabled=false"] + extra
        var generator = SystemRandomNumberGenerator()
        var killed = 0
        for _ in 0..<4 {
            let p = Process()
            p.executableURL = TestPaths.binary
            p.arguments = arguments
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(UInt32.random(in: 20_000...300_000, using: &generator))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            // A run may finish before the kill lands; it must then have ended cleanly.
            if p.terminationReason == .uncaughtSignal { killed += 1 } else { #expect(p.terminationStatus == 0) }
        }
        #expect(killed >= 2, "only \(killed) of 4 kills hit a running repair")
        let last = try runSluice(arguments + ["-S", "queue.drain=true"])
        #expect(last.exitCode == 0, "\(last.stderr.suffix(2000))")
        let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        let ids = text.split(separator: "\n").compactMap { Int($0.dropFirst(3)) }
        let distinct = Set(ids)
        #expect(distinct.count == Self.entries, "\(Self.entries - distinct.count) of \(Self.entries) dead letters lost")
        #expect(distinct == Set(0..<Self.entries))
        print("DLQ repair killed 4 times (\(extra.isEmpty ? "memory" : "persisted") queue): \(distinct.count) of \(Self.entries) delivered, \(ids.count - distinct.count) duplicates")
    }

    @Test func memoryQueueRepairSurvivesKills() throws { try repair(queue: []) }

    @Test func persistedQueueRepairSurvivesKills() throws { try repair(queue: ["-S", "queue.type=persisted"]) }
}

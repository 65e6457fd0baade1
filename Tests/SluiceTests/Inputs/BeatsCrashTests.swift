import Foundation
import Testing
@testable import SluiceCore

/// `kill -9` while a beats client sends through the persisted queue: after a restart, every event whose window the
/// input ACKed is delivered (at least once), counted by id.
@Suite(.serialized)
struct BeatsCrashTests {
    @Test(arguments: [0.4, 0.8, 1.3])
    func everyAcknowledgedEventSurvivesKillNine(after seconds: Double) throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let port = SluiceProcess.freePort()
        let out = work.appendingPathComponent("out.jsonl").path
        let config = "input { beats { port => \(port) host => \"127.0.0.1\" } } output { file { path => \"\(out)\" codec => json_lines } }"
        let arguments = [
            "-e", config, "-w", "2", "--path.data", work.appendingPathComponent("data").path, "-S", "queue.type=persisted",
            "-S", "queue.drain=true", "--pipeline.ecs_compatibility", "disabled",
        ]
        let first = try SluiceProcess(arguments)
        #expect(first.waitForLog("listener"))
        let acknowledged = sendUntilKilled(port: port, killing: first, after: seconds)
        #expect(first.killed(), "the first run died of the SIGKILL, not before it: \(first.stderr.suffix(1000))")
        #expect(acknowledged > 0, "no window was acknowledged before the kill")
        print("beats kill -9 after \(seconds) s: \(acknowledged) events acknowledged before the kill")

        let second = try SluiceProcess(arguments)
        #expect(second.waitForLog("listener"))
        let delivered = { Self.ids(inFile: out) }
        #expect(second.waitUntil(30) { delivered().isSuperset(of: 0..<acknowledged) }, "missing after restart")
        let result = second.stop()
        #expect(result.exitCode == 0, "\(result.stderr)")
        let missing = Set(0..<acknowledged).subtracting(delivered())
        #expect(missing.isEmpty, "\(missing.count) acknowledged events missing, e.g. \(missing.sorted().prefix(5))")
    }

    /// Sends windows of 100 events (ids 0, 1, …) until `sluice` is killed `seconds` after the start; returns how
    /// many events were ACKed.
    func sendUntilKilled(port: Int, killing sluice: SluiceProcess, after seconds: Double) -> Int {
        let pid = sluice.process.processIdentifier
        let killer = try! Thread(name: "killer") {
            usleep(useconds_t(seconds * 1_000_000))
            kill(pid, SIGKILL)
        }
        defer { killer.join() }
        guard let client = try? LumberjackClient(port: port) else { return 0 }
        defer { client.close() }
        var acknowledged = 0
        while true {
            var window = LumberjackClient.window(100)
            for i in 0..<100 { window += LumberjackClient.json(i + 1, "{\"message\":\"event\",\"id\":\(acknowledged + i)}") }
            guard (try? client.write(window)) != nil, (try? client.readAck()) == 100 else { return acknowledged }
            acknowledged += 100
        }
    }

    static func ids(inFile path: String) -> Set<Int> {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return Set(text.split(separator: "\n").compactMap { line in
            guard case .object(let o)? = try? JSONParser.parse(String(line)), case .int(let id)? = o["id"] else { return nil }
            return id
        })
    }
}

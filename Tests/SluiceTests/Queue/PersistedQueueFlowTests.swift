import Foundation
import Testing
@testable import SluiceCore

/// Logstash's persisted-queue flow metrics from the real binary's API: with the output blocked, 1,000 events pile
/// up in the queue and `queue_persisted_growth_events` / `queue_persisted_growth_bytes` report that growth per
/// second, consistently with the queue's own gauges.
@Suite(.serialized)
struct PersistedQueueFlowTests {
    @Test func growthFlowsFollowTheQueueWhileTheOutputIsBlocked() throws {
        let apiPort = freePort(), deadPort = freePort()
        let queueDir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: queueDir) }
        let launched = Date()
        let sluice = try SluiceProcess(
            [
                "-e", "input { stdin { } } output { tcp { host => \"127.0.0.1\" port => \(deadPort) reconnect_interval => 60 } }",
                "-w", "1", "-b", "10", "--api.http.port", String(apiPort), "-S", "queue.type=persisted",
                "-S", "path.queue=\(queueDir.path)",
            ], stdinPipe: true)
        #expect(sluice.waitForLog("Pipeline started"), "\(sluice.stderr)")
        sluice.input.fileHandleForWriting.write(Data((0..<1_000).map { "event \($0)\n" }.joined().utf8))
        var stats: Value?
        let queued = sluice.waitUntil(20) {
            guard let reply = httpGet(port: apiPort, path: "/_node/stats/pipelines/main"), reply.status == 200,
                let body = try? JSONParser.parse(reply.body)
            else { return false }
            stats = body["pipelines"]?["main"]
            // The worker holds one batch it cannot deliver; the rest is unread in the queue.
            return (stats?["queue"]?["events_count"]?.numberValue ?? 0) >= 989
        }
        let elapsed = Date().timeIntervalSince(launched)
        #expect(queued, "the queue did not fill: \(String(describing: stats))")
        let events = try #require(stats?["queue"]?["events_count"]?.numberValue)
        let bytes = try #require(stats?["queue"]?["queue_size_in_bytes"]?.numberValue)
        let eventsRate = try #require(stats?["flow"]?["queue_persisted_growth_events"]?["lifetime"]?.numberValue)
        let bytesRate = try #require(stats?["flow"]?["queue_persisted_growth_bytes"]?["lifetime"]?.numberValue)
        // The pipeline started after `launched`, so its uptime is shorter than `elapsed`: the rate is at least this.
        #expect(eventsRate >= events / elapsed * 0.99, "\(eventsRate) events/s; \(events) events in under \(elapsed) s")
        // Both rates share their uptime: their ratio is bytes per event, about the queue's average element size
        // (the empty page's few header bytes were there at the start).
        let perEvent = bytesRate / eventsRate
        #expect(abs(perEvent - bytes / events) / (bytes / events) < 0.05, "\(perEvent) vs \(bytes / events) bytes per event")
        try sluice.input.fileHandleForWriting.close()
        let result = sluice.stop()
        #expect(result.exitCode == 0, "undelivered events stay in the persisted queue: \(result.stderr)")
    }
}

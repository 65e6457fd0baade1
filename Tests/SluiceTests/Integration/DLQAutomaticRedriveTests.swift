import Foundation
import Testing
@testable import SluiceCore

/// The automatic redrive against a real Elasticsearch-compatible server (noida-db): an outage answers every item
/// 503 (Logstash's `dlq_custom_codes => [503]` sends them to the DLQ), the server recovers, and the running binary
/// redrives the transient entries on its own — the good documents end indexed, the mapping conflicts they hid come
/// back as 400s and stay, never redriven again. Part of `ElasticsearchIntegrationTests` (one server, serialized).
extension ElasticsearchIntegrationTests {
    @Test func anOutageIsRedrivenAutomaticallyAndThe400sStay() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        try harness.fault("reset")
        try harness.request(.DELETE, "/redrive")
        try harness.request(.PUT, "/redrive", #"{"mappings":{"properties":{"n":{"type":"long"}}}}"#)
        let port = SluiceProcess.freePort()
        let config = """
            input { stdin { codec => json_lines } }
            output {
              elasticsearch { id => "es" hosts => ["\(harness.proxyURL)"] index => "redrive" document_id => "%{id}"
                              dlq_custom_codes => [503] \(fast) }
            }
            """
        let sluice = try SluiceProcess(
            ["-e", config, "-w", "1", "--path.data", work.appendingPathComponent("data").path, "--path.settings", work.path,
             "--api.http.port", String(port), "-S", "dead_letter_queue.enable=true",
             "-S", "dead_letter_queue.redrive.automatic=true", "-S", "dead_letter_queue.redrive.base_delay=2s",
             "-S", "dead_letter_queue.redrive.max_delay=4s"],
            currentDirectory: work, stdinPipe: true)
        let api = "http://127.0.0.1:\(port)/_sluice/dlq/main"
        func entries() -> [Value] {
            let r = try? runClient("/usr/bin/env", ["curl", "-s", api + "/entries?size=1000"])
            return (try? JSONParser.parse(r?.stdout ?? ""))?["entries"]?.arrayValue ?? []
        }

        // The outage: every item of every bulk request answered 503 until the reset below.
        try harness.fault("items?code=503&count=1000")
        let bad: Set<Int> = [3, 8, 13, 18]
        var lines = ""
        for id in 0..<20 { lines += bad.contains(id) ? #"{"id":\#(id),"n":"oops"}"# + "\n" : #"{"id":\#(id),"n":\#(id)}"# + "\n" }
        sluice.input.fileHandleForWriting.write(Data(lines.utf8))
        #expect(sluice.waitUntil(30) { entries().count == 20 }, "every item dead-lettered during the outage: \(sluice.stderr)")
        #expect(entries().allSatisfy { $0["failure"] == "transient" && $0["reason"]?.stringValue?.contains("status: 503") == true })
        try harness.fault("reset")

        // Recovered: the redriver sends them back; the 16 good documents are indexed, the 4 conflicts come back as 400s.
        let settled = sluice.waitUntil(60) {
            let left = entries()
            return left.count == 4 && left.allSatisfy { $0["failure"] == "permanent" }
        }
        #expect(settled, "\(entries()) \(sluice.stderr)")
        #expect(try harness.count("redrive") == 16)
        let left = entries()
        #expect(Set(left.compactMap { $0["event"]?["id"]?.intValue }) == bad)
        #expect(left.allSatisfy { $0["reason"]?.stringValue?.hasPrefix("Could not index event to Elasticsearch. status: 400") == true })
        #expect(left.allSatisfy { ($0["attempts"]?.intValue ?? 0) >= 1 }, "the attempt count travels with the event")

        // Longer than the largest backoff: the permanent failures are never redriven again.
        let ids = left.compactMap { $0["id"]?.stringValue }
        usleep(5_000_000)
        #expect(entries().compactMap { $0["id"]?.stringValue } == ids)

        sluice.input.fileHandleForWriting.closeFile()
        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stderr.contains("Automatic redrive of transient failures is on"))
    }
}

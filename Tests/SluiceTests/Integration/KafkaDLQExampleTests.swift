import Foundation
import Testing
@testable import SluiceCore

/// `examples/dlq-to-kafka/` run by the real binary against a Kafka-protocol server: records that fail the main
/// pipeline land in its DLQ, are mirrored to `orders-dlq` with Kafka Connect-style context headers, and a consumer
/// pipeline reads them back and classifies them by reason. kcat checks the topic in between.
extension KafkaIntegration {
    @Suite(.enabled(if: KafkaHarness.isAvailable, "noida-db, kcat or kafka-python is not installed (make test-deps installs them)"))
    struct KafkaDLQExampleTests {
        let kafka: KafkaHarness
        let work = TestPaths.temporaryDirectory()
        let example = TestPaths.packageRoot.appendingPathComponent("examples/dlq-to-kafka")

        init() throws { kafka = try KafkaHarness.shared.get() }

        func start(_ config: String, _ extra: [String] = []) throws -> SluiceProcess {
            try SluiceProcess(
                ["-f", example.appendingPathComponent(config).path, "-w", "1", "--api.enabled=false", "--path.settings", work.path] + extra,
                currentDirectory: work, environment: ["KAFKA": kafka.bootstrap])
        }

        @Test func deadLettersAreMirroredToADLQTopicWithContextHeadersAndClassified() throws {
            defer { try? FileManager.default.removeItem(at: work) }
            // Offsets 0…4 of the one-partition topic `orders`: 1 and 3 are not JSON.
            let records: [(key: String?, value: String)] = [
                ("o-0", #"{"order":0,"amount":10}"#), ("o-1", "order 1: amount=11"), ("o-2", #"{"order":2,"amount":12}"#),
                ("o-3", "{not json"), ("o-4", #"{"order":4,"amount":14}"#),
            ]
            try kafka.produce("orders", records)

            let main = try start("main.conf", ["-S", "dead_letter_queue.enable=true"])
            let orders = work.appendingPathComponent("data/orders.log").path
            let dlqDir = work.appendingPathComponent("data/dead_letter_queue/main").path
            #expect(main.waitUntil(60) { jsonLines(orders).count >= 3 })
            usleep(300_000)
            let mainResult = main.stop()
            #expect(mainResult.exitCode == 0, "\(mainResult.stderr)")
            #expect(jsonLines(orders).compactMap { $0["order"] } == [.int(0), .int(2), .int(4)])
            #expect(FileManager.default.fileExists(atPath: dlqDir))

            // The mirror drains the DLQ (exit_at_end) and exits.
            let mirror = try start("dlq-to-kafka.conf")
            #expect(mirror.waitUntil(60) { !mirror.process.isRunning })
            let mirrorResult = mirror.stop()
            #expect(mirrorResult.exitCode == 0, "\(mirrorResult.stderr)")

            let dead = try kafka.consume("orders-dlq")
            try #require(dead.count == 2, "\(dead.map(\.value))")
            for (record, offset) in zip(dead, [1, 3]) {
                let headers = Dictionary(record.headers, uniquingKeysWith: { a, _ in a })
                #expect(record.key == "o-\(offset)")
                #expect(headers["__connect.errors.topic"] == "orders")
                #expect(headers["__connect.errors.partition"] == "0")
                #expect(headers["__connect.errors.offset"] == String(offset))
                #expect(headers["__sluice.errors.plugin.type"] == "json")
                #expect(headers["__sluice.errors.pipeline"] == "main")
                #expect(headers["__sluice.errors.attempts"] == "0")
                #expect(headers["__sluice.errors.plugin.id"]?.isEmpty == false)
                let entryTime = headers["__sluice.errors.entry.time"] ?? ""
                #expect(Timestamp.parseISO8601(entryTime) != nil, "entry time \(entryTime)")
                #expect(headers["__connect.errors.exception.message"]?.isEmpty == false)
                // The body is the event as it entered the DLQ: the original record in `message`.
                guard case .object(let body) = try JSONParser.parse(Array(record.value.utf8)) else {
                    Issue.record("body is not JSON: \(record.value)")
                    continue
                }
                #expect(body["message"] == .string(records[offset].value))
            }

            // The consumer reads orders-dlq back and classifies by the reason header.
            let triage = try start("dlq-consumer.conf")
            let triaged = work.appendingPathComponent("data/dlq-triage.log").path
            #expect(triage.waitUntil(60) { jsonLines(triaged).count >= 2 })
            let triageResult = triage.stop()
            #expect(triageResult.exitCode == 0, "\(triageResult.stderr)")
            let classified = jsonLines(triaged)
            #expect(classified.count == 2)
            for e in classified {
                guard case .object(let d)? = e["dlq"] else {
                    Issue.record("no [dlq]: \(e)")
                    continue
                }
                #expect(d["class"] == .string("parse_failure"), "\(d)")
                #expect(d["plugin"] == .string("json"))
                #expect(["orders/0/1", "orders/0/3"].contains(d["source"]?.stringValue ?? ""), "\(d)")
            }
        }
    }
}

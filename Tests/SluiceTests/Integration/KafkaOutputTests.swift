import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// The kafka output against a real Kafka-protocol server (noida-db), with kcat consuming what it wrote; and the
/// settings of both kafka plugins that librdkafka cannot honour. One server for every Kafka suite; each test uses
/// its own topics.
extension KafkaIntegration {
    @Suite(.enabled(if: KafkaHarness.isAvailable, "noida-db, kcat or kafka-python is not installed (make test-deps installs them)"))
    struct KafkaOutputTests {
        let kafka: KafkaHarness

        init() throws { kafka = try KafkaHarness.shared.get() }

        @Test func outputWritesBodiesKeysAndHeaders() throws {
            let topic = "out-basic", n = 100
            let lines = (0..<n).map { #"{"id":\#($0),"message":"event \#($0)"}"# }.joined(separator: "\n") + "\n"
            let config = """
                input { stdin { codec => json_lines } }
                output { kafka { bootstrap_servers => "\(kafka.bootstrap)" topic_id => "%{[@metadata][t]}" message_key => "key-%{id}"
                                 message_headers => { "source" => "sluice" "event-id" => "%{id}" } codec => json } }
                filter { mutate { add_field => { "[@metadata][t]" => "\(topic)" } } }
                """
            let sluice = try SluiceProcess(["-e", config, "-w", "1", "--api.enabled=false", "--path.data", TestPaths.temporaryDirectory().path], stdinPipe: true)
            sluice.input.fileHandleForWriting.write(Data(lines.utf8))
            try sluice.input.fileHandleForWriting.close()
            #expect(sluice.waitUntil(60) { !sluice.process.isRunning })
            let result = sluice.stop()
            #expect(result.exitCode == 0, "\(result.stderr)")
            let records = try kafka.consume(topic)
            #expect(records.count == n)
            var seen = Set<Int>()
            for r in records {
                guard case .object(let body) = try JSONParser.parse(Array(r.value.utf8)), case .int(let id)? = body["id"] else {
                    Issue.record("not a JSON body: \(r.value)")
                    continue
                }
                seen.insert(id)
                #expect(body["message"] == .string("event \(id)"))
                #expect(r.key == "key-\(id)")
                #expect(r.headers.map { "\($0.0)=\($0.1)" } == ["source=sluice", "event-id=\(id)"])
            }
            #expect(seen == Set(0..<n))
        }

        @Test func outputPlainCodecSendsEventToString() throws {
            let topic = "out-plain"
            let out = try OutputHarness.build(KafkaOutput.self, #"bootstrap_servers => "\#(kafka.bootstrap)" topic_id => "\#(topic)""#)
            defer { out.close() }
            let event = OutputHarness.event(#"{"message":"hello","host":"h1","@timestamp":"2026-12-07T10:00:00.000Z"}"#)
            #expect(out.receive([event]).allDelivered)
            let records = try kafka.consume(topic)
            #expect(records.map(\.value) == ["2026-12-07T10:00:00.000Z h1 hello"])
            #expect(records.first?.key == nil)
        }

        @Test func oversizedMessageGoesToTheDLQWithLibrdkafkasReason() throws {
            let topic = "out-oversized"
            let dlq = RecordingDeadLetterQueue()
            let out = try OutputHarness.build(
                KafkaOutput.self, #"bootstrap_servers => "\#(kafka.bootstrap)" topic_id => "\#(topic)" max_request_size => 2000 batch_size => 1000 id => "kafka_out""#,
                dlq: dlq)
            defer { out.close() }
            let small = OutputHarness.event(#"{"message":"small"}"#)
            let big = OutputHarness.event(#"{"message":"\#(String(repeating: "x", count: 5000))"}"#)
            let outcome = out.receive([small, big])
            #expect(outcome.exceptions.count == 1)
            #expect(outcome.exceptions.first?.fate == .deadLettered)
            let entries = dlq.entries
            try #require(entries.count == 1)
            #expect(entries[0].pluginType == "kafka")
            #expect(entries[0].pluginID == "kafka_out")
            #expect(entries[0].event.fields["message"]?.stringValue?.count == 5000)
            #expect(entries[0].reason.contains("Message size too large"), "\(entries[0].reason)")
            #expect(entries[0].reason.contains("MSG_SIZE_TOO_LARGE"), "\(entries[0].reason)")
            let records = try kafka.consume(topic)
            #expect(records.count == 1)
            #expect(records.first?.value.hasSuffix(" small") == true)
        }

        @Test func outputSurvivesABrokerRestartWithoutLoss() throws {
            let topic = "out-restart", n = 60
            let out = try OutputHarness.build(
                KafkaOutput.self, #"bootstrap_servers => "\#(kafka.bootstrap)" topic_id => "\#(topic)" codec => json retry_backoff_ms => 100"#)
            defer { out.close() }
            #expect(out.receive((0..<20).map { OutputHarness.event(#"{"n":\#($0)}"#) }).allDelivered)
            // The broker is down (not merely asked to stop) before the next batch: a message it acknowledged just
            // before its stop could be lost by the test server itself, which is not what this test is about.
            let restarter = restartInBackground(kafka, down: 2)
            // Sent while the broker is down: librdkafka retries, then reports; the output retries until delivered.
            #expect(out.receive((20..<n).map { OutputHarness.event(#"{"n":\#($0)}"#) }).allDelivered)
            restarter.wait()
            let ns = try kafka.consume(topic).compactMap { r -> Int? in
                guard case .object(let o)? = try? JSONParser.parse(Array(r.value.utf8)), case .int(let i)? = o["n"] else { return nil }
                return i
            }
            #expect(Set(ns) == Set(0..<n))
            print("kafka output restart test: \(ns.count) records for \(n) events (\(ns.count - Set(ns).count) duplicates)")
        }

        @Test func settingsWithoutALibrdkafkaEquivalentAreRefusedAtStartUp() throws {
            let cases = try FileManager.default.contentsOfDirectory(atPath: TestPaths.fixtures.path).filter { $0.hasPrefix("error-kafka-") }.sorted()
            #expect(cases.count >= 5)
            for name in cases {
                let dir = TestPaths.fixtures.appendingPathComponent(name)
                let conf = dir.appendingPathComponent("pipeline.conf").path
                let sluice = try SluiceProcess(["-f", conf, "-t", "--api.enabled=false"])
                let result = sluice.stop()
                let expected = try String(contentsOfFile: dir.appendingPathComponent("expected-stderr").path, encoding: .utf8)
                #expect(result.exitCode == 1, "\(name): \(result.stderr)")
                for line in expected.split(separator: "\n") {
                    #expect(result.stderr.contains(line), "\(name): stderr lacks \(line)\n\(result.stderr)")
                }
                #expect(result.stderr.contains("kafka"), "\(name): the error does not name the plugin")
            }
        }
    }

}

/// Stops the broker, returns once it is down, and starts it again `down` seconds later in the background; the
/// semaphore is signalled once it serves again.
func restartInBackground(_ kafka: KafkaHarness, down: Double) -> DispatchSemaphore {
    kafka.beginRestart(down: down)
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        kafka.waitUntilRestarted()
        done.signal()
    }
    return done
}

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

        /// `kill -9` while the output has batches in flight (a worker keeps up to 8): the file input's committed
        /// position never passes a line whose delivery report had not arrived, so the restart writes every line at
        /// least once. Counted by id in what kcat reads back.
        @Test func killNineWithBatchesInFlightLosesNoLine() throws {
            typealias T = FileInputTesting
            let dir = TestPaths.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let log = dir.appendingPathComponent("lines.log"), sincedb = dir.appendingPathComponent("sincedb")
            let topic = "out-kill-nine", total = 30_000
            try T.append(T.idLines(0..<total), to: log)
            let config = """
                input { file { path => "\(log.path)" start_position => "beginning" sincedb_path => "\(sincedb.path)"
                               stat_interval => "50 ms" sincedb_write_interval => 0.1 file_chunk_size => 4096 } }
                output { kafka { bootstrap_servers => "\(kafka.bootstrap)" topic_id => "\(topic)" codec => plain { format => "%{message}" } } }
                """
            let first = try BackgroundSluice(config: config, directory: dir)
            #expect(T.waitFor(seconds: 30) { (T.lines(sincedb).first?.split(separator: " ").count ?? 0) == 6 }, "\(first.logText)")
            usleep(UInt32.random(in: 20_000...200_000))
            #expect(first.killNine(), "sluice was not killed by SIGKILL: \(first.logText)")
            let committed = Int(try #require(T.lines(sincedb).first).split(separator: " ")[3])!
            let linesBefore = try Data(contentsOf: log).prefix(committed).reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            let second = try BackgroundSluice(config: config, directory: dir)
            var ids: [Int] = []
            let complete = T.waitFor(seconds: 90) {
                ids = ((try? kafka.consume(topic)) ?? []).compactMap { Int($0.value.dropFirst(3)) }
                return Set(ids).count >= total
            }
            #expect(complete, "\(Set(ids).count) of \(total) ids in the topic: \(second.logText)")
            #expect(second.terminate() == 0, "\(second.logText)")
            #expect(Set(ids) == Set(0..<total), "\(total - Set(ids).count) ids missing")
            #expect(linesBefore < total, "the kill came after every line was committed")
            print("kafka output kill -9: \(linesBefore) of \(total) lines committed at the kill; \(ids.count - Set(ids).count) written twice")
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

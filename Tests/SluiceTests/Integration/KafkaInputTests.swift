import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// The kafka input against a real Kafka-protocol server (noida-db), with kcat producing the records. One server for the suite; each test uses its own topics and groups.
extension KafkaIntegration {
    @Suite(.enabled(if: KafkaHarness.isAvailable, "noida-db, kcat or kafka-python is not installed (make test-deps installs them)"))
    struct KafkaInputTests {
        let kafka: KafkaHarness

        init() throws { kafka = try KafkaHarness.shared.get() }

        func inputConfig(_ topic: String, group: String, extra: String = "", filter: String = "", output: String) -> String {
            """
            input { kafka { bootstrap_servers => "\(kafka.bootstrap)" topics => ["\(topic)"] group_id => "\(group)"
                            auto_offset_reset => "earliest" auto_commit_interval_ms => 200 \(extra) } }
            filter { \(filter) }
            output { \(output) }
            """
        }

        @Test func inputDeliversEveryRecordWithExtendedMetadata() throws {
            let topic = "in-basic", n = 200
            try kafka.produce(topic, (0..<n).map { (key: "k\($0)", value: "id-\($0)") }, headers: [("origin", "kcat"), ("lane", "7")])
            let dir = TestPaths.temporaryDirectory()
            let out = dir.appendingPathComponent("out.json").path
            let sluice = try SluiceProcess([
                "-e", inputConfig(topic, group: "g-basic", extra: #"decorate_events => "extended""#,
                                  filter: #"mutate { copy => { "[@metadata][kafka]" => "[kafka]" } }"#,
                                  output: #"file { path => "\#(out)" codec => json_lines }"#),
                "-w", "1", "--api.enabled=false", "--path.data", dir.appendingPathComponent("data").path,
            ])
            #expect(sluice.waitUntil(60) { jsonLines(out).count >= n })
            let result = sluice.stop()
            #expect(result.exitCode == 0, "\(result.stderr)")
            let events = jsonLines(out)
            let ids = Set(events.compactMap { $0["message"]?.stringValue })
            #expect(ids == Set((0..<n).map { "id-\($0)" }))
            #expect(events.count == n)
            for e in events {
                guard case .object(let k)? = e["kafka"], let message = e["message"]?.stringValue,
                    let i = Int(message.dropFirst(3))
                else {
                    Issue.record("event without [kafka]: \(e)")
                    continue
                }
                // One partition, produced in order: record i is at offset i with key k<i>.
                #expect(k["topic"] == .string(topic))
                #expect(k["consumer_group"] == .string("g-basic"))
                #expect(k["partition"] == .int(0))
                #expect(k["offset"] == .int(i))
                #expect(k["key"] == .string("k\(i)"))
                if case .int(let ts)? = k["timestamp"] {
                    #expect(abs(ts - Int(Date().timeIntervalSince1970 * 1000)) < 600_000)
                } else {
                    Issue.record("no timestamp: \(k)")
                }
                let headers = k["headers"]?.objectValue
                #expect(headers?.count == 2)
                #expect(headers?["origin"] == .string("kcat"))
                #expect(headers?["lane"] == .string("7"))
            }
            // A clean stop commits everything delivered.
            #expect(try kafka.committedOffsets(group: "g-basic")["\(topic):0"] == n)
        }

        @Test func decorateEventsNoneAddsNothingAndBasicHasNoHeaders() throws {
            let topic = "in-decorate"
            try kafka.produce(topic, [(key: nil, value: "plain one")], headers: [("h", "v")])
            for (mode, expectKafka) in [("false", false), ("basic", true)] {
                let dir = TestPaths.temporaryDirectory()
                let out = dir.appendingPathComponent("out.json").path
                let sluice = try SluiceProcess([
                    "-e", inputConfig(topic, group: "g-decorate-\(mode)", extra: "decorate_events => \(mode)",
                                      filter: #"mutate { copy => { "[@metadata][kafka]" => "[kafka]" } }"#,
                                      output: #"file { path => "\#(out)" codec => json_lines }"#),
                    "-w", "1", "--api.enabled=false", "--path.data", dir.appendingPathComponent("data").path,
                ])
                #expect(sluice.waitUntil(60) { jsonLines(out).count >= 1 })
                let result = sluice.stop()
                #expect(result.exitCode == 0, "\(result.stderr)")
                let events = jsonLines(out)
                try #require(events.count == 1)
                #expect(events[0]["message"] == .string("plain one"))
                if expectKafka {
                    guard case .object(let k)? = events[0]["kafka"] else { Issue.record("no [kafka] with basic"); continue }
                    #expect(k["headers"] == nil)
                    #expect(k["key"] == .null)
                    #expect(k["offset"] == .int(0))
                } else {
                    #expect(events[0]["kafka"] == nil)
                }
            }
        }

        /// kill -9 while a slow pipeline works through the topic: the committed offset never passes an event that was
        /// not delivered, and a restart delivers every id at least once.
        @Test func crashResumesFromTheLastAcknowledgedOffset() throws {
            let topic = "in-crash", group = "g-crash", n = 400
            try kafka.produce(topic, (0..<n).map { (key: nil, value: "id-\($0)") })
            let dir = TestPaths.temporaryDirectory()
            let out = dir.appendingPathComponent("out.json").path
            func args(_ out: String) -> [String] {
                let config = inputConfig(
                    topic, group: group, extra: #"max_poll_records => 50 group_instance_id => "node-a""#,
                    filter: #"ruby { code => "sleep(0.01)" }"#, output: #"file { path => "\#(out)" codec => json_lines flush_interval => 0 }"#)
                return ["-e", config, "-w", "1", "-b", "10", "--api.enabled=false", "--path.data", dir.appendingPathComponent("data").path]
            }
            let first = try SluiceProcess(args(out))
            #expect(first.waitUntil(90) { jsonLines(out).count >= 120 })
            // Let at least one auto-commit (every 200 ms) happen, then crash.
            usleep(500_000)
            #expect(first.killed(), "sluice should die of SIGKILL")
            let deliveredBeforeCrash = Set(jsonLines(out).compactMap { $0["message"]?.stringValue })
            let committed = try kafka.committedOffsets(group: group)["\(topic):0"] ?? 0
            #expect(committed > 0, "no offset was committed before the crash")
            #expect(committed < n, "everything was committed before the crash: the test did not crash midway")
            // Single partition: record i is at offset i. Every record below the committed offset was delivered.
            let missing = (0..<committed).filter { !deliveredBeforeCrash.contains("id-\($0)") }
            #expect(missing.isEmpty, "committed offset \(committed) passed undelivered records \(missing.prefix(10))")

            // The restarted node takes its place by static membership (group_instance_id): noida-db, the test server,
            // never expires a dead member's session, so a new member id would wait forever to join.
            let out2 = dir.appendingPathComponent("out-2.json").path
            let second = try SluiceProcess(args(out2))
            func delivered() -> [String] { (jsonLines(out) + jsonLines(out2)).compactMap { $0["message"]?.stringValue } }
            #expect(second.waitUntil(120) { Set(delivered()).count >= n })
            let result = second.stop()
            #expect(result.exitCode == 0, "\(result.stderr)")
            let all = delivered()
            #expect(Set(all) == Set((0..<n).map { "id-\($0)" }))
            print("kafka crash test: committed \(committed) of \(n) at the crash, \(deliveredBeforeCrash.count) delivered before it, \(all.count - n) duplicates after the restart")
            #expect(try kafka.committedOffsets(group: group)["\(topic):0"] == n)
        }

        @Test func enableAutoCommitFalseCommitsAfterDelivery() throws {
            let topic = "in-sync-commit", group = "g-sync", n = 50
            try kafka.produce(topic, (0..<n).map { (key: nil, value: "id-\($0)") })
            let dir = TestPaths.temporaryDirectory()
            let out = dir.appendingPathComponent("out.json").path
            let sluice = try SluiceProcess([
                "-e", inputConfig(topic, group: group, extra: "enable_auto_commit => false", output: #"file { path => "\#(out)" codec => json_lines }"#),
                "-w", "1", "--api.enabled=false", "--path.data", dir.appendingPathComponent("data").path,
            ])
            #expect(sluice.waitUntil(60) { jsonLines(out).count >= n })
            // Committed while running (not only at shutdown).
            var committed = 0
            _ = sluice.waitUntil(10) {
                committed = (try? kafka.committedOffsets(group: group)["\(topic):0"]) ?? 0
                return committed == n
            }
            #expect(committed == n)
            #expect(sluice.killed())
        }
    }
}

import Foundation
import Testing
@testable import SluiceCore

extension KafkaIntegration {
    /// Three Sluice processes in one consumer group on a six-partition topic, as Logstash nodes share a topic; one is
    /// killed with SIGKILL midway and restarted, as a node's supervisor would. Every record is delivered at least
    /// once (distinct ids counted across the three outputs) and duplicates are counted and reported.
    ///
    /// The members use static membership (`group_instance_id`): noida-db 0.2.3, the test server, never expires the
    /// session of a member that died (checked with two kcat consumers: the second never joins), so neither the
    /// survivors nor a new member id could take the dead member's partitions there. With static membership the
    /// restarted node gets its partitions back, resuming from the last committed (acknowledged) offsets.
    @Suite(.enabled(if: KafkaHarness.isAvailable, "noida-db, kcat or kafka-python is not installed (make test-deps installs them)"))
    struct KafkaScaleOutTests {
        let kafka: KafkaHarness

        init() throws { kafka = try KafkaHarness.shared.get() }

        /// The partitions a process's log says it was assigned, in order of the assignments.
        func assignments(_ log: String) -> [[String]] {
            log.split(separator: "\n").compactMap { line -> [String]? in
                guard let r = line.range(of: " assigned ") else { return nil }
                return line[r.upperBound...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
        }

        @Test func threeMembersShareASixPartitionTopicAndSurviveOneKilled() throws {
            let topic = "scale-out", group = "g-scale", n = 3000
            try kafka.createTopic(topic, partitions: 6)
            try kafka.produce(topic, (0..<n).map { (key: "k\($0)", value: "id-\($0)") })
            let partitionsUsed = Set(try kafka.consume(topic).map(\.partition))
            #expect(partitionsUsed.count == 6, "kcat spread the keys over \(partitionsUsed.sorted())")

            let dir = TestPaths.temporaryDirectory()
            // Four outputs: the three members and the restarted one (a killed process may leave a cut last line).
            let outs = (0..<4).map { dir.appendingPathComponent("out-\($0).json").path }
            func member(_ i: Int, output: Int) throws -> SluiceProcess {
                try SluiceProcess([
                    "-e", """
                    input { kafka { bootstrap_servers => "\(kafka.bootstrap)" topics => ["\(topic)"] group_id => "\(group)"
                                    auto_offset_reset => "earliest" auto_commit_interval_ms => 200 max_poll_records => 50
                                    group_instance_id => "node-\(i)" } }
                    filter { ruby { code => "sleep(0.004)" } }
                    output { file { path => "\(outs[output])" codec => json_lines } }
                    """,
                    "-w", "1", "-b", "25", "--api.enabled=false", "--path.data", dir.appendingPathComponent("data-\(i)").path,
                ])
            }
            let members = try (0..<3).map { try member($0, output: $0) }
            func delivered() -> [String] { outs.flatMap { jsonLines($0).compactMap { $0["message"]?.stringValue } } }
            // Midway: all three have partitions and a fifth of the records are through.
            #expect(members[0].waitUntil(120) {
                members.allSatisfy { !assignments($0.stderr).isEmpty } && delivered().count >= n / 5
            })
            let victim = members[1]
            let victimPartitions = Set(assignments(victim.stderr).last ?? [])
            #expect(victim.killed(), "member 1 should die of SIGKILL")
            let beforeKill = delivered().count

            let replacement = try member(1, output: 3)
            #expect(replacement.waitUntil(180) { Set(delivered()).count >= n }, "\(Set(delivered()).count) of \(n) ids")
            let running = [members[0], replacement, members[2]]
            let held = running.map { Set(assignments($0.stderr).last ?? []) }
            for s in running {
                let r = s.stop()
                #expect(r.exitCode == 0, "\(r.stderr.suffix(2000))")
            }
            let all = delivered()
            #expect(Set(all) == Set((0..<n).map { "id-\($0)" }))
            // The three members held all six partitions between them; the restarted node got the dead one's back.
            #expect(!victimPartitions.isEmpty)
            #expect(victimPartitions == held[1], "victim had \(victimPartitions.sorted()), the restarted node holds \(held[1].sorted())")
            #expect(held.reduce(Set<String>()) { $0.union($1) }.count == 6)
            print("kafka scale-out: \(n) records, 3 members, member 1 killed after \(beforeKill) deliveries holding \(victimPartitions.sorted()) and restarted; \(all.count) events delivered, \(Set(all).count) distinct, \(all.count - Set(all).count) duplicates")
        }
    }
}

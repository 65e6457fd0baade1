import Foundation
import Testing

/// stdin and tcp leave line decoding to the workers (`UndecodedLines`): every line still makes its events, once,
/// in order with one worker, with blank `json_lines` lines making none, arrays several and broken lines a failure
/// event. Counted by id, against expectations computed here from the lines sent.
@Suite(.serialized)
struct WorkerDecodingTests {
    /// `{"id":N}` lines, with a blank line every 997th, a two-element array every 1,009th (ids N and N + 10⁶) and
    /// one line that is not JSON; returns the text and the ids the events must carry, in order.
    static func lines(_ count: Int) -> (text: String, ids: [Int]) {
        var text = "", ids: [Int] = []
        for n in 0..<count {
            if n % 997 == 500 {
                text += "   \n"
            } else if n % 1009 == 7 {
                text += #"[{"id":\#(n)},{"id":\#(n + 1_000_000)}]"# + "\n"
                ids += [n, n + 1_000_000]
            } else if n == count / 2 {
                text += #"{"id":"# + "\n"
                ids.append(-1)
            } else {
                text += #"{"id":\#(n)}"# + "\n"
                ids.append(n)
            }
        }
        return (text, ids)
    }

    /// The ids of json_lines output, in order; -1 for the event of the broken line (tagged `_jsonparsefailure`).
    static func ids(_ output: String) -> [Int] {
        output.split(separator: "\n").compactMap { line -> Int? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            if let id = object["id"] as? Int { return id }
            return ((object["tags"] as? [String]) ?? []).contains("_jsonparsefailure") ? -1 : nil
        }
    }

    /// (ECS mode is off: stdin would copy each whole read into every event's `[event][original]`, as Logstash does.)
    @Test(arguments: [1, 2])
    func stdinJsonLinesMakeEveryEventOnceWithEitherWorkerCount(workers: Int) throws {
        let (text, expected) = Self.lines(60_000)
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let input = work.appendingPathComponent("in.jsonl"), output = work.appendingPathComponent("out.jsonl")
        try text.write(to: input, atomically: true, encoding: .utf8)
        let config = "input { stdin { codec => json_lines } } output { stdout { codec => json_lines } }"
        let run = try runClient("/bin/sh", [
            "-c", "'\(TestPaths.binary.path)' -e '\(config)' -w \(workers) -b 50 --pipeline.ecs_compatibility disabled --path.data '\(work.path)/data' < '\(input.path)' > '\(output.path)'",
        ])
        #expect(run.exitCode == 0, "\(run.stderr)")
        let got = Self.ids(try String(contentsOf: output, encoding: .utf8))
        if workers == 1 {
            #expect(got == expected, "one worker keeps the input's order")
        } else {
            #expect(got.sorted() == expected.sorted(), "\(got.count) events for \(expected.count) expected")
        }
    }

    @Test func tcpLinesFromSeveralConnectionsMakeEveryEventOnce() throws {
        let port = SluiceProcess.freePort()
        let config = "input { tcp { port => \(port) host => \"127.0.0.1\" codec => json_lines } } output { stdout { codec => json_lines } }"
        let sluice = try SluiceProcess(["-e", config, "-w", "2", "-b", "40", "--pipeline.ecs_compatibility", "disabled"])
        #expect(sluice.waitForLog("listener"), "receiver did not start\n\(sluice.stderr)")
        var expected: [Int] = []
        var senders: [String] = []
        for connection in 0..<3 {
            let (text, ids) = Self.lines(20_000)
            let offset = connection * 10_000_000
            expected += ids.map { $0 < 0 ? $0 : $0 + offset }
            let shifted = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                String(line).replacing(/"id":(\d+)/) { match -> String in "\"id\":\(Int(match.1)! + offset)" }
            }.joined(separator: "\n")
            senders.append(shifted)
        }
        let script = """
            import socket, sys, threading
            texts = [open(p, 'rb').read() for p in sys.argv[2:]]
            def send(data):
                s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
                for i in range(0, len(data), 7000):
                    s.sendall(data[i:i + 7000])
                s.close()
            threads = [threading.Thread(target=send, args=(t,)) for t in texts]
            for t in threads: t.start()
            for t in threads: t.join()
            """
        let files = try senders.enumerated().map { i, text -> String in
            let path = sluice.work.appendingPathComponent("conn\(i).jsonl").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let sent = try runClient("/usr/bin/env", ["python3", "-c", script, String(port)] + files)
        #expect(sent.exitCode == 0, "\(sent.stderr)")
        #expect(sluice.waitForOutput(lines: expected.count, seconds: 60), "got \(sluice.stdout.split(separator: "\n").count) of \(expected.count)")
        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(Self.ids(result.stdout).sorted() == expected.sorted())
    }
}

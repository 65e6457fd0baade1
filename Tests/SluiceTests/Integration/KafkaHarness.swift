import Foundation
import Testing
@testable import SluiceCore

/// The Kafka suites, run one at a time: they share one server, and one of them restarts it.
@Suite(.serialized) enum KafkaIntegration {}

/// A Kafka-protocol server (noida-db, started by `Tests/Support/kafka_harness.py` on a free 127.0.0.1 port) and
/// `kcat`, the independent client that produces the input tests' records and consumes what the output wrote.
/// The harness stops the server when this object is closed or the test process dies (its standard input closes).
final class KafkaHarness: @unchecked Sendable {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    let port: Int
    /// One server for every Kafka suite; the harness stops it when the test process exits.
    static let shared = Result { try KafkaHarness() }
    static let script = TestPaths.packageRoot.appendingPathComponent("Tests/Support/kafka_harness.py").path

    /// Whether noida-db, kcat and kafka-python are installed (`make test` installs them).
    static let isAvailable = shellSucceeds("command -v noida-db && command -v kcat && python3 -c 'import kafka'")

    init() throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let line = Self.readLine(output)
        guard case .object(let o) = try JSONParser.parse(Array(line.utf8)), case .int(let p)? = o["port"] else {
            throw HarnessError("kafka_harness.py did not start: \(line)")
        }
        port = p
    }

    private static func readLine(_ output: Pipe) -> String {
        var line = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        return String(decoding: line, as: UTF8.self)
    }

    var bootstrap: String { "127.0.0.1:\(port)" }

    /// Stops the server (data kept) and returns once it is down; it starts again `seconds` later.
    func beginRestart(down seconds: Double) {
        input.fileHandleForWriting.write(Data("restart \(seconds)\n".utf8))
        _ = Self.readLine(output)  // "stopped"
    }

    /// Waits until the server `beginRestart` stopped serves again.
    func waitUntilRestarted() {
        _ = Self.readLine(output)  // "restarted"
    }

    /// Creates a topic with `partitions` partitions.
    func createTopic(_ name: String, partitions: Int) throws {
        let r = try runClient("/usr/bin/env", ["python3", Self.script, "create-topic", String(port), name, String(partitions)])
        guard r.exitCode == 0 else { throw HarnessError("create-topic failed: \(r.stderr)") }
    }

    /// The group's committed offsets, "topic:partition" → offset (from the admin protocol, not from Sluice).
    func committedOffsets(group: String) throws -> [String: Int] {
        let r = try runClient("/usr/bin/env", ["python3", Self.script, "offsets", String(port), group])
        guard r.exitCode == 0, case .object(let o) = try JSONParser.parse(Array(r.stdout.utf8)) else {
            throw HarnessError("offsets failed: \(r.stderr)")
        }
        var out: [String: Int] = [:]
        for (k, v) in o { if case .int(let i) = v { out[k] = i } }
        return out
    }

    /// Produces `records` (key, value) with kcat, each with `headers`; throws when kcat fails.
    func produce(_ topic: String, _ records: [(key: String?, value: String)], headers: [(String, String)] = [], partition: Int? = nil) throws {
        // kcat splits key and value at the first tab with -K; values never contain a tab or a newline here.
        let keyed = records.contains { $0.key != nil }
        let text = records.map { (keyed ? ($0.key ?? "") + "\t" : "") + $0.value }.joined(separator: "\n") + "\n"
        var args = ["-P", "-b", bootstrap, "-t", topic, "-c", String(records.count)]
        if keyed { args += ["-K", "\t"] }
        if let partition { args += ["-p", String(partition)] }
        for (k, v) in headers { args += ["-H", "\(k)=\(v)"] }
        let r = try runClient("/usr/bin/kcat", args, stdin: Data(text.utf8))
        guard r.exitCode == 0 else { throw HarnessError("kcat -P failed: \(r.stderr)") }
    }

    /// A record as kcat read it.
    struct Record {
        let partition: Int
        let offset: Int
        let key: String?
        let value: String
        let headers: [(String, String)]
    }

    /// Every record of `topic` from the beginning, read with kcat (which exits at the end of every partition).
    func consume(_ topic: String) throws -> [Record] {
        let r = try runClient("/usr/bin/kcat", ["-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-J", "-q"])
        guard r.exitCode == 0 else { throw HarnessError("kcat -C failed: \(r.stderr)") }
        return try r.stdout.split(separator: "\n").map { line in
            guard case .object(let o) = try JSONParser.parse(Array(line.utf8)) else { throw HarnessError("kcat printed \(line)") }
            var headers: [(String, String)] = []
            if case .array(let h)? = o["headers"] {
                var i = 0
                while i + 1 < h.count {
                    headers.append((h[i].stringValue ?? "", h[i + 1].stringValue ?? ""))
                    i += 2
                }
            }
            guard case .int(let partition)? = o["partition"], case .int(let offset)? = o["offset"] else {
                throw HarnessError("kcat record without partition/offset: \(line)")
            }
            return Record(partition: partition, offset: offset, key: o["key"]?.stringValue, value: o["payload"]?.stringValue ?? "", headers: headers)
        }
    }

    func close() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// The lines of a json_lines file as objects (a file a killed process may have cut mid-line: that line is skipped).
func jsonLines(_ path: String) -> [Object] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap { line in
        guard case .object(let o)? = try? JSONParser.parse(Array(line.utf8)) else { return nil }
        return o
    }
}

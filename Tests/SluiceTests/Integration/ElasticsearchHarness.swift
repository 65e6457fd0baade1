import Foundation
import NIOHTTP1
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// An Elasticsearch-compatible server (noida-db) and the fault-injection proxy of `Tests/Support/es_harness.py`,
/// on free 127.0.0.1 ports. The harness stops the server when this object is closed or the test process dies
/// (its standard input closes).
final class ElasticsearchHarness: @unchecked Sendable {
    let process = Process()
    let input = Pipe()
    let esPort: Int
    let proxyPort: Int
    let client: HTTPTransport

    /// Whether `noida-db` is installed (`make test` installs it).
    static let isAvailable = shellSucceeds("command -v noida-db")

    init() throws {
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestPaths.packageRoot.appendingPathComponent("Tests/Support/es_harness.py").path]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        // The first line says where the server and the proxy listen (the harness waits for readiness itself).
        var line = Data()
        while true {
            let byte = output.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data("\n".utf8) { break }
            line.append(byte)
        }
        guard case .object(let o) = try JSONParser.parse(Array(line)), case .int(let es)? = o["es"],
            case .int(let proxy)? = o["proxy"]
        else { throw HarnessError("es_harness.py did not start: \(String(decoding: line, as: UTF8.self))") }
        esPort = es
        proxyPort = proxy
        client = try HTTPTransport(poolSize: 4, timeoutSeconds: 30)
    }

    /// Stops the server and the proxy.
    func close() {
        client.shutdown()
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    var esURL: String { "http://127.0.0.1:\(esPort)" }
    var proxyURL: String { "http://127.0.0.1:\(proxyPort)" }

    /// Sends a request to the server directly; returns status and body.
    @discardableResult
    func request(_ method: HTTPMethod, _ path: String, _ body: String? = nil) throws -> (Int, Value) {
        let r = try client.send(
            method, url: esURL + path, headers: [("Content-Type", "application/json")], body: body.map { Array($0.utf8) })
        return (r.status, (try? JSONParser.parse(r.body)) ?? .null)
    }

    /// Injects a fault in the proxy (`status?code=503&count=3`, `drop?count=1`, `restart?down=1` …).
    func fault(_ spec: String) throws {
        _ = try client.send(.POST, url: proxyURL + "/__fault/" + spec, headers: [], body: nil)
    }

    /// The proxy's counters.
    func proxyStats() throws -> Object {
        let r = try client.send(.POST, url: proxyURL + "/__fault/stats", headers: [], body: nil)
        return (try JSONParser.parse(r.body)).objectValue ?? Object()
    }

    /// The number of documents in `index` (after a refresh).
    func count(_ index: String) throws -> Int {
        try request(.POST, "/\(index)/_refresh")
        let (_, body) = try request(.GET, "/\(index)/_count")
        if case .int(let n)? = body.objectValue?["count"] { return n }
        return -1
    }

    /// Waits until `condition` holds, polling; fails after `seconds`.
    static func waitUntil(_ seconds: Double = 20, _ condition: () throws -> Bool) rethrows -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A DLQ writer that keeps entries in memory, as the pipeline's writer would store them.
final class RecordingDeadLetterQueue: DeadLetterQueueWriter, @unchecked Sendable {
    struct Entry {
        let event: Event
        let pluginType: String
        let pluginID: String
        let reason: String
    }
    private let lock = Lock()
    private var stored: [Entry] = []
    var isEnabled: Bool { true }
    var entries: [Entry] { lock.withLock { stored } }

    func write(_ event: Event, pluginType: String, pluginID: String, reason: String) -> Bool {
        if event.isFromDeadLetterQueue { return false }
        lock.withLock { stored.append(Entry(event: Event(copying: event), pluginType: pluginType, pluginID: pluginID, reason: reason)) }
        return true
    }
}

/// Builds outputs from config text, as a pipeline would.
enum OutputHarness {
    static func build<P: Output>(
        _ type: P.Type, _ body: String, dlq: DeadLetterQueueWriter = DisabledDeadLetterQueue(),
        ecs: ECSCompatibility = .disabled, shutdown: ShutdownFlag = ShutdownFlag()
    ) throws -> P {
        let ast = try ConfigParser.parse(ConfigSource(name: "t.conf", text: "output {\n\(P.name) {\n\(body)\n}\n}"))
        let env = PipelineEnvironment(ecsCompatibility: ecs, deadLetterQueue: dlq, shutdown: shutdown)
        let program = try ProgramCompiler(registry: builtinRegistry, environment: env).compile(ast)
        return program.outputs[0].instance as! P
    }

    /// The config error building the output raises, or nil.
    static func configError<P: Output>(
        _ type: P.Type, _ body: String, dlq: DeadLetterQueueWriter = DisabledDeadLetterQueue(), ecs: ECSCompatibility = .v8
    ) -> String? {
        do {
            _ = try build(type, body, dlq: dlq, ecs: ecs)
            return nil
        } catch {
            return String(describing: error)
        }
    }

    static func event(_ json: String) -> Event {
        Event(fromMap: (try! JSONParser.parse(json)).objectValue!)
    }
}

import Foundation
import Testing
import SluiceCore
@testable import SluiceAPI

/// The API over real sockets: once in-process through Hummingbird, once through the `sluice` binary.
@Suite(.serialized)
struct MonitoringServerTests {
    @Test func serverAnswersOnTheFirstFreePortOfTheRange() throws {
        let port = freePort()
        var configuration = APIConfiguration(ports: port...(port + 1), basicAuth: (username: "u", password: "p"))
        // The server reads requests on Swift's cooperative pool, which the suite's blocking tests can keep busy for
        // longer than the 10 s header timeout: the connection was then closed unanswered (nil below).
        configuration.headerTimeoutMilliseconds = 600_000
        let api = MonitoringAPI(agent: StaticDirectory([]), node: NodeInfo(version: "0.1.0", id: "x"), configuration: configuration)
        let first = MonitoringServer(api: api, configuration: configuration)
        try first.start()
        defer { first.stop() }
        #expect(first.port == port)
        let second = MonitoringServer(api: api, configuration: configuration)
        try second.start()
        #expect(second.port == port + 1)
        second.stop()

        let auth = "Basic " + Base64.encode(Array("u:p".utf8))
        let ok = try #require(httpGet(port: port, path: "/_node/stats/events?pretty", authorization: auth))
        #expect(ok.status == 200)
        #expect(ok.body.contains("\"events\" : {"))
        let denied = try #require(httpGet(port: port, path: "/"))
        #expect(denied.status == 401)
        let missing = try #require(httpGet(port: port, path: "/_node/stats/pipelines/none", authorization: auth))
        #expect(missing.status == 404)
    }

    @Test func sluiceServesGrowingDeadLetterQueueStats() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let port = freePort()
        let config = #"input { generator { count => 0 message => "x" } } filter { if [message] > 5 { mutate { } } } output { null { } }"#
        let process = Process()
        process.executableURL = TestPaths.binary
        process.arguments = ["-e", config, "-w", "1", "-S", "dead_letter_queue.enable=true", "--path.data", work.path,
                             "--path.settings", work.path, "--api.http.port", String(port), "--log.level", "error"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        func entries() -> Int? {
            guard let r = httpGet(port: port, path: "/_node/stats/pipelines/main"), r.status == 200,
                  case .object(let o)? = try? JSONParser.parse(r.body) else { return nil }
            return o["pipelines"]?["main"]?["dead_letter_queue"]?["entries"]?.intValue
        }
        var first: Int? = nil
        let deadline = Date().addingTimeInterval(20)
        while first == nil || first == 0, Date() < deadline {
            usleep(100_000)
            first = entries()
        }
        let a = try #require(first)
        #expect(a > 0)
        usleep(300_000)
        let b = try #require(entries())
        #expect(b > a)
        let metrics = try #require(httpGet(port: port, path: "/metrics"))
        #expect(metrics.body.contains(#"sluice_dlq_writes_total{pipeline="main"} "#))

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}

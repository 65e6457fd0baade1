import Foundation
import Testing
import SluiceCore
@testable import SluiceAPI

/// The API in-process, against the router: the JSON keys dashboards read, DLQ statistics, errors, auth.
@Suite(.serialized)
struct MonitoringAPITests {
    let work = TestPaths.temporaryDirectory()

    func api(_ pipelines: [Pipeline], auth: (String, String)? = nil) -> MonitoringAPI {
        let directory = StaticDirectory(pipelines)
        let api = MonitoringAPI(
            agent: directory, node: NodeInfo(version: "0.1.0", id: "node-id", name: "node-a", workers: 2),
            configuration: APIConfiguration(basicAuth: auth.map { (username: $0.0, password: $0.1) }))
        api.httpAddress = "127.0.0.1:9600"
        return api
    }

    static let everyEndpoint = [
        "/", "/_node", "/_node/pipelines", "/_node/pipelines/main", "/_node/stats", "/_node/stats/pipelines",
        "/_node/stats/pipelines/main", "/_node/stats/process", "/_node/stats/events", "/_node/stats/reloads",
    ]

    @Test(arguments: everyEndpoint)
    func everyBodyStartsWithTheNodeMetadata(_ path: String) throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work)
        defer { pipeline.deadLetterQueue?.close() }
        let response = api([pipeline]).respond(to: APIRequest(path: path))
        #expect(response.status == 200)
        #expect(response.contentType == "application/json")
        let o = try json(response)
        #expect(Array(o.map(\.0).prefix(9)) == ["host", "version", "http_address", "id", "name", "ephemeral_id", "snapshot", "status", "pipeline"])
        #expect(o["version"] == "0.1.0")
        #expect(o["http_address"] == "127.0.0.1:9600")
        #expect(o["id"] == "node-id")
        #expect(o["name"] == "node-a")
        #expect(o["snapshot"] == .bool(false))
        #expect(o["status"] == "green")
        #expect(o["pipeline"]?["workers"] == .int(2))
        #expect(o["pipeline"]?["batch_size"] == .int(125))
        #expect(o["pipeline"]?["batch_delay"] == .int(50))
    }

    @Test func flowAppearsInPipelinePluginAndNodeStats() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work)
        defer { pipeline.deadLetterQueue?.close() }
        let directory = StaticDirectory([pipeline])
        let started = Clock.nanoseconds() - 61 * 1_000_000_000  // as if both had started 61 s ago
        directory.flow = NodeFlow(startNanos: started) { EventCounts(summing: [pipeline]) }
        directory.flow?.capture(at: started)
        pipeline.flow.capture(at: started)
        pipeline.process(numericEvents(4))
        let api = MonitoringAPI(agent: directory, node: NodeInfo(version: "0.1.0", id: "node-id"), configuration: APIConfiguration())

        let o = try json(api.respond(to: APIRequest(path: "/_node/stats/pipelines/main")))
        let main = try #require(o["pipelines"]?["main"])
        guard case .object(let flow) = try #require(main["flow"]) else { throw APITestError("flow is not an object") }
        #expect(flow.map(\.0) == ["input_throughput", "filter_throughput", "output_throughput", "queue_backpressure",
                                  "worker_concurrency", "worker_utilization"])
        // One capture 61 s old: a baseline for current and one minute, not yet for five.
        guard case .object(let filtered) = try #require(flow["filter_throughput"]) else { throw APITestError("not an object") }
        #expect(filtered.map(\.0) == ["current", "last_1_minute", "lifetime"])
        let lifetime = try #require(filtered["lifetime"]?.numberValue)
        #expect(lifetime > 0.06 && lifetime < 0.066)  // 4 events over a little more than 61 s
        let plugins = try #require(main["plugins"])
        #expect(plugins["inputs"]?.arrayValue?.first?["flow"]?["throughput"]?["lifetime"]?.numberValue == 0)
        #expect(plugins["filters"]?.arrayValue?.first?["flow"]?["worker_utilization"] != nil)
        #expect(plugins["outputs"]?.arrayValue?.first?["flow"]?["worker_millis_per_event"]?["lifetime"] != nil)

        for path in ["/_node/stats", "/_node/stats/flow"] {
            let node = try json(api.respond(to: APIRequest(path: path)))
            guard case .object(let nodeFlow) = try #require(node["flow"]) else { throw APITestError("no node flow") }
            #expect(nodeFlow.map(\.0) == ["input_throughput", "filter_throughput", "output_throughput",
                                          "queue_backpressure", "worker_concurrency"])
            let rate = try #require(nodeFlow["output_throughput"]?["last_1_minute"]?.numberValue)
            #expect(rate > 0.06 && rate < 0.066)
        }
    }

    @Test func pipelineStatsHaveLogstashsShape() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work)
        defer { pipeline.deadLetterQueue?.close() }
        pipeline.process(numericEvents(4))  // n = 0, 10, 20, 30: two go through the mutate
        let o = try json(api([pipeline]).respond(to: APIRequest(path: "/_node/stats/pipelines/main")))
        let main = try #require(o["pipelines"]?["main"])
        #expect(main["events"]?["filtered"] == .int(4))
        #expect(main["events"]?["out"] == .int(4))
        #expect(main["events"]?["in"] == .int(0))
        #expect(main["events"]?["duration_in_millis"] != nil)
        #expect(main["events"]?["queue_push_duration_in_millis"] != nil)
        let filters = try #require(main["plugins"]?["filters"]?.arrayValue)
        #expect(filters.count == 1)
        #expect(filters[0]["id"] == "tagger")
        #expect(filters[0]["name"] == "mutate")
        #expect(filters[0]["events"]?["in"] == .int(2))
        #expect(filters[0]["events"]?["out"] == .int(2))
        #expect(filters[0]["events"]?["duration_in_millis"] != nil)
        let outputs = try #require(main["plugins"]?["outputs"]?.arrayValue)
        #expect(outputs[0]["id"] == "sink")
        #expect(outputs[0]["name"] == "null")
        #expect(outputs[0]["events"]?["in"] == .int(4))
        let inputs = try #require(main["plugins"]?["inputs"]?.arrayValue)
        #expect(inputs[0]["id"] == "gen")
        #expect(inputs[0]["name"] == "generator")
        #expect(inputs[0]["events"]?["out"] == .int(0))
        #expect(main["queue"]?["type"] == "memory")
        #expect(main["queue"]?["events_count"] == .int(0))
        #expect(main["reloads"]?["successes"] == .int(0))
        #expect(main["reloads"]?["failures"] == .int(0))
        #expect(main["reloads"]?["last_error"] == .null)
        #expect(main["hash"]?.stringValue?.count == 64)
        #expect(main["ephemeral_id"]?.stringValue?.count == 36)
        let dlq = try #require(main["dead_letter_queue"])
        #expect(dlq["max_queue_size_in_bytes"] == .int(1_073_741_824))
        #expect(dlq["dropped_events"] == .int(0))
        #expect(dlq["expired_events"] == .int(0))
        #expect(dlq["last_error"] == "no errors")
        #expect(dlq["storage_policy"] == "drop_newer")
        #expect(dlq["status"] == "green")
        #expect(dlq["entries"] == .int(0))
    }

    @Test func deadLetterQueueIsAbsentWhenDisabled() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work, extra: ["dead_letter_queue.enable": "false"])
        let o = try json(api([pipeline]).respond(to: APIRequest(path: "/_node/stats/pipelines")))
        #expect(o["pipelines"]?["main"]?["dead_letter_queue"] == nil)
        #expect(o["pipelines"]?["main"]?["events"] != nil)
    }

    @Test func deadLetterQueueSizeGrowsAsFailuresAreWritten() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(
            data: work, extra: ["dead_letter_queue.warn_entries": "3", "dead_letter_queue.critical_entries": "5"])
        defer { pipeline.deadLetterQueue?.close() }
        let api = api([pipeline])
        func dlq() throws -> Value {
            try #require(try json(api.respond(to: APIRequest(path: "/_node/stats/pipelines/main")))["pipelines"]?["main"]?["dead_letter_queue"])
        }
        let empty = try dlq()
        pipeline.process(failingEvents(2))
        let two = try dlq()
        #expect(two["entries"] == .int(2))
        #expect(two["status"] == "green")
        #expect(two["queue_size_in_bytes"]!.intValue! > empty["queue_size_in_bytes"]!.intValue!)
        pipeline.process(failingEvents(1))
        #expect(try dlq()["status"] == "yellow")
        pipeline.process(failingEvents(2))
        let five = try dlq()
        #expect(five["entries"] == .int(5))
        #expect(five["status"] == "red")
        #expect(five["queue_size_in_bytes"]!.intValue! > two["queue_size_in_bytes"]!.intValue!)

        let metrics = api.respond(to: APIRequest(path: "/metrics"))
        #expect(metrics.contentType.hasPrefix("text/plain; version=0.0.4"))
        let lines = Set(metrics.body.split(separator: "\n").map(String.init))
        #expect(lines.contains(#"sluice_dlq_entries{pipeline="main"} 5"#))
        #expect(lines.contains(#"sluice_dlq_writes_total{pipeline="main"} 5"#))
        #expect(lines.contains(#"sluice_dlq_status{pipeline="main",status="red"} 1"#))
        #expect(lines.contains(#"sluice_dlq_status{pipeline="main",status="green"} 0"#))
        #expect(lines.contains(#"sluice_pipeline_events_filtered_total{pipeline="main"} 5"#))
        #expect(lines.contains(#"sluice_plugin_events_in_total{pipeline="main",plugin_type="output",plugin="null",id="sink"} 0"#))
        #expect(lines.contains("# TYPE sluice_dlq_writes_total counter"))
        #expect(lines.contains("# TYPE sluice_dlq_entries gauge"))
        #expect(lines.contains { $0.hasPrefix(#"sluice_dlq_size_bytes{pipeline="main"} "#) })
        let age = lines.first { $0.hasPrefix(#"sluice_dlq_oldest_entry_age_seconds{pipeline="main"} "#) }
        #expect(Double(age?.split(separator: " ").last ?? "") ?? -1 >= 0)
        // Every sample line is `name{labels} number`.
        for line in lines where !line.hasPrefix("#") {
            #expect(Double(line.split(separator: " ").last ?? "") != nil, "\(line)")
        }
    }

    @Test func reloadStatsAreReported() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work, extra: ["dead_letter_queue.enable": "false"])
        let directory = StaticDirectory([pipeline])
        var r = PipelineReloadStats()
        r.failures = 1
        r.lastError = "Expected one of [ \\t\\r\\n], \"#\", \"{\" at line 1"
        r.lastFailureTimestamp = Timestamp(seconds: 1_700_000_000)
        directory.reloads["main"] = r
        let api = MonitoringAPI(agent: directory, node: NodeInfo(version: "0.1.0", id: "x"), configuration: APIConfiguration())
        let o = try json(api.respond(to: APIRequest(path: "/_node/stats/pipelines/main")))
        let reloads = try #require(o["pipelines"]?["main"]?["reloads"])
        #expect(reloads["failures"] == .int(1))
        #expect(reloads["last_error"]?["message"] == .string(r.lastError!))
        #expect(reloads["last_error"]?["backtrace"]?.arrayValue != nil)
        #expect(reloads["last_failure_timestamp"] == "2023-11-14T22:13:20.000Z")
        #expect(reloads["last_success_timestamp"] == .null)
        let node = try json(api.respond(to: APIRequest(path: "/_node/stats")))
        #expect(node["reloads"]?["failures"] == .int(1))
    }

    @Test(arguments: ["/_node/stats/pipelines/nope", "/_node/pipelines/nope", "/nope", "/_node/stats/nope"])
    func unknownPathsAre404(_ path: String) throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work, extra: ["dead_letter_queue.enable": "false"])
        let response = api([pipeline]).respond(to: APIRequest(path: path))
        #expect(response.status == 404)
        let o = try json(response)
        #expect(o["status"] == .int(404))
        #expect(o["path"] == .string(path))
    }

    @Test func prettyIndents() throws {
        let api = api([])
        let compact = api.respond(to: APIRequest(path: "/_node/stats/events"))
        let pretty = api.respond(to: APIRequest(path: "/_node/stats/events", query: "pretty"))
        #expect(!compact.body.contains("\n"))
        #expect(pretty.body.hasPrefix("{\n  \"host\" : "))
        #expect(pretty.body.contains("\n  \"events\" : {\n    \"in\" : 0,"))
        #expect(try JSONParser.parse(pretty.body) == JSONParser.parse(compact.body))
    }

    @Test func basicAuth() throws {
        let api = api([], auth: ("logstash", "s3cret"))
        let none = api.respond(to: APIRequest(path: "/"))
        #expect(none.status == 401)
        #expect(none.headers.contains { $0.0 == "WWW-Authenticate" })
        #expect(try json(none)["status"] == .int(401))
        let wrong = "Basic " + Base64.encode(Array("logstash:wrong".utf8))
        #expect(api.respond(to: APIRequest(path: "/", authorization: wrong)).status == 401)
        let longer = "Basic " + Base64.encode(Array("logstash:s3cret!".utf8))
        #expect(api.respond(to: APIRequest(path: "/", authorization: longer)).status == 401)
        #expect(api.respond(to: APIRequest(path: "/", authorization: "Bearer abc")).status == 401)
        let right = "Basic " + Base64.encode(Array("logstash:s3cret".utf8))
        #expect(api.respond(to: APIRequest(path: "/", authorization: right)).status == 200)
        #expect(api.respond(to: APIRequest(path: "/metrics", authorization: right)).status == 200)
        #expect(api.respond(to: APIRequest(path: "/metrics")).status == 401)
    }

    @Test func settingsAreParsed() throws {
        var s = Settings()
        var c = try APIConfiguration(s)
        #expect(c.enabled && c.host == "127.0.0.1" && c.ports == 9600...9700 && c.basicAuth == nil && c.isLoopback)
        try s.set("api.http.port", "9601", origin: "test")
        try s.set("api.http.host", "0.0.0.0", origin: "test")
        c = try APIConfiguration(s)
        #expect(c.ports == 9601...9601 && !c.isLoopback)
        try s.set("api.http.port", "x", origin: "test")
        #expect(throws: SettingsError.self) { try APIConfiguration(s) }
        try s.set("api.http.port", "9600", origin: "test")
        try s.set("api.auth.type", "basic", origin: "test")
        #expect(throws: SettingsError.self) { try APIConfiguration(s) }
        try s.set("api.auth.basic.username", "u", origin: "test")
        try s.set("api.auth.basic.password", "p", origin: "test")
        #expect(try APIConfiguration(s).basicAuth?.username == "u")
    }

    @Test func adminStatsShowTheAlertStatus() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work)
        pipeline.process(failingEvents(3))
        pipeline.deadLetterQueue?.close()
        let admin = DeadLetterQueueAdmin(root: work.appendingPathComponent("dead_letter_queue").path, pipelineID: "main")
        #expect(admin.stats()["status"] == "green")
        #expect(admin.stats(warnEntries: 2)["status"] == "yellow")
        #expect(admin.stats(warnEntries: 2, criticalEntries: 3)["status"] == "red")
        #expect(admin.stats()["entries"] == .int(3))
    }
}

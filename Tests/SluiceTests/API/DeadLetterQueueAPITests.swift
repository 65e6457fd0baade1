import Foundation
import Testing
import SluiceCore
import SluicePlugins
@testable import SluiceAPI

/// The DLQ admin API in-process: statistics, cursor paging, single entries, errors, auth, and listing while the
/// pipeline keeps writing.
@Suite(.serialized)
struct DeadLetterQueueAPITests {
    let work = TestPaths.temporaryDirectory()

    func api(_ pipelines: [Pipeline], auth: (String, String)? = nil) -> MonitoringAPI {
        MonitoringAPI(
            agent: StaticDirectory(pipelines), node: NodeInfo(version: "0.1.0", id: "n"),
            configuration: APIConfiguration(basicAuth: auth.map { (username: $0.0, password: $0.1) }))
    }

    func get(_ api: MonitoringAPI, _ path: String, _ query: String = "") throws -> (Int, Object) {
        let r = api.respond(to: APIRequest(path: path, query: query))
        return (r.status, try json(r))
    }

    /// Follows `next` from page to page; returns every entry id and event `n` in order.
    func pageThrough(_ api: MonitoringAPI, size: Int, query: String = "") throws -> [(id: String, n: String)] {
        var out: [(id: String, n: String)] = []
        var after: String?
        repeat {
            let q = "size=\(size)" + (after.map { "&after=\($0)" } ?? "") + query
            let (status, body) = try get(api, "/_sluice/dlq/main/entries", q)
            #expect(status == 200, "\(body)")
            for e in body["entries"]?.arrayValue ?? [] {
                out.append((e["id"]?.stringValue ?? "?", e["event"]?["n"]?.stringValue ?? "?"))
            }
            after = body["next"]?.stringValue
        } while after != nil
        return out
    }

    @Test func statsPagesAndSingleEntries() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work)
        defer { pipeline.deadLetterQueue?.close() }
        pipeline.process(failingEvents(25))
        let api = api([pipeline])

        let (status, stats) = try get(api, "/_sluice/dlq/main")
        #expect(status == 200)
        #expect(stats["entries"] == .int(25))
        #expect(stats["signatures"]?.arrayValue?.count == 1)
        #expect(stats["signatures"]?.arrayValue?.first?["count"] == .int(25))
        #expect(stats["status"] == "green")
        let (_, all) = try get(api, "/_sluice/dlq")
        #expect(all["pipelines"]?["main"]?["entries"] == .int(25))

        let entries = try pageThrough(api, size: 4)
        #expect(entries.map(\.n) == (0..<25).map { "x\($0)" })
        #expect(Set(entries.map(\.id)).count == 25)

        let third = entries[2]
        let (one, entry) = try get(api, "/_sluice/dlq/main/entries/\(third.id)")
        #expect(one == 200)
        #expect(entry["event"]?["n"] == .string(third.n))
        #expect(entry["plugin_type"] == "if-statement")
        #expect(entry["signature"] == stats["signatures"]?.arrayValue?.first?["id"])
        #expect(entry["reason"]?.stringValue?.contains("condition evaluation error") == true)

        let signature = try #require(stats["signatures"]?.arrayValue?.first?["id"]?.stringValue)
        #expect(try pageThrough(api, size: 100, query: "&signature=\(signature)").count == 25)
        #expect(try pageThrough(api, size: 100, query: "&signature=000000000000").isEmpty)
        #expect(try pageThrough(api, size: 100, query: "&reason=no+implicit%20conversion").count == 25)
        #expect(try pageThrough(api, size: 100, query: "&plugin=elasticsearch").isEmpty)
    }

    @Test(arguments: [
        ("/_sluice/dlq/nope", "", 404),
        ("/_sluice/dlq/main/entries/9-99999", "", 404),
        ("/_sluice/dlq/main/entries/not-an-id", "", 404),
        ("/_sluice/dlq/main/entries", "size=0", 400),
        ("/_sluice/dlq/main/entries", "size=100000", 400),
        ("/_sluice/dlq/main/entries", "after=x", 400),
        ("/_sluice/dlq/main/entries", "since=yesterday", 400),
        ("/_sluice/dlq/main/bogus", "", 404),
    ])
    func badRequestsAreRefusedWithLogstashsErrorBody(_ path: String, _ query: String, _ expected: Int) throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work)
        defer { pipeline.deadLetterQueue?.close() }
        pipeline.process(failingEvents(2))
        let (status, body) = try get(api([pipeline]), path, query)
        #expect(status == expected)
        #expect(body["status"] == .int(expected))
        #expect(body["error"]?["message"] != nil)
    }

    @Test func theAdminAPIIsBehindTheSameAuth() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work)
        defer { pipeline.deadLetterQueue?.close() }
        let api = api([pipeline], auth: ("u", "p"))
        #expect(api.respond(to: APIRequest(path: "/_sluice/dlq/main")).status == 401)
        #expect(api.respond(to: APIRequest(path: "/_sluice/dlq/main/entries")).status == 401)
        let auth = "Basic " + Base64.encode(Array("u:p".utf8))
        #expect(api.respond(to: APIRequest(path: "/_sluice/dlq/main", authorization: auth)).status == 200)
    }

    @Test func aPipelineWithoutADeadLetterQueueIsABadRequest() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        var s = Settings()
        try s.set("path.data", work.path, origin: "test")
        let pipeline = try Agent(registry: builtinRegistry).compile(
            PipelineDefinition(id: "main", sources: ConfigSources.fromString("input { stdin {} } output { null {} }"), settings: s))
        let (status, body) = try get(api([pipeline]), "/_sluice/dlq/main")
        #expect(status == 400)
        #expect(body["error"]?["message"]?.stringValue?.contains("not enabled") == true)
    }

    /// Paging while workers keep writing: every page is in order, no entry twice, and a listing started later sees
    /// everything written before it.
    @Test func listingWhileThePipelineWrites() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work)
        defer { pipeline.deadLetterQueue?.close() }
        let api = api([pipeline])
        let writer = Thread {
            for round in 0..<40 {
                pipeline.process((0..<25).map { i in event(n: .string("w\(round * 25 + i)")) })
            }
        }
        writer.start()
        var listings = 0
        while !writer.isFinished || listings < 3 {
            let ids = try pageThrough(api, size: 50).map { try #require(DeadLetterQueueEntryID($0.id)) }
            #expect(ids == ids.sorted(), "in order")
            #expect(Set(ids).count == ids.count, "no entry twice")
            listings += 1
            if writer.isFinished && listings >= 3 { break }
        }
        let final = try pageThrough(api, size: 1_000)
        #expect(final.map(\.n) == (0..<1_000).map { "w\($0)" })
    }
}

/// The admin API's changes: removing entries and purging, with the cross-site header required.
@Suite(.serialized)
struct DeadLetterQueueAPIChangeTests {
    let work = TestPaths.temporaryDirectory()

    func send(_ api: MonitoringAPI, _ method: String, _ path: String, _ query: String = "", xsrf: Bool = true) throws -> (Int, Object) {
        let r = api.respond(to: APIRequest(method: method, path: path, query: query, xsrf: xsrf ? "1" : nil))
        return (r.status, try json(r))
    }

    @Test func removeEntriesAndPurgeWhileThePipelineHoldsTheQueue() throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work)
        defer { pipeline.deadLetterQueue?.close() }
        pipeline.process(failingEvents(10))
        let api = MonitoringAPI(agent: StaticDirectory([pipeline]), node: NodeInfo(version: "0.1.0", id: "n"), configuration: APIConfiguration())
        let (_, page) = try send(api, "GET", "/_sluice/dlq/main/entries")
        let ids = (page["entries"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
        #expect(ids.count == 10)

        #expect(try send(api, "DELETE", "/_sluice/dlq/main/entries/\(ids[3])", xsrf: false).0 == 400, "no cross-site header")
        let (deleted, body) = try send(api, "DELETE", "/_sluice/dlq/main/entries/\(ids[3])")
        #expect(deleted == 200 && body["removed"] == .int(1))
        #expect(try send(api, "GET", "/_sluice/dlq/main/entries/\(ids[3])").0 == 404)
        #expect(try send(api, "DELETE", "/_sluice/dlq/main/entries/\(ids[3])").0 == 404, "already removed")
        #expect(try send(api, "GET", "/_sluice/dlq/main").1["entries"] == .int(9))

        #expect(try send(api, "POST", "/_sluice/dlq/main/_remove").0 == 400, "a selection is required")
        #expect(try send(api, "POST", "/_sluice/dlq/main/_remove", "plugin=elasticsearch").1["removed"] == .int(0))
        #expect(try send(api, "PUT", "/_sluice/dlq/main").0 == 405)
        #expect(try send(api, "DELETE", "/_node/stats").0 == 405)

        let (purged, purge) = try send(api, "DELETE", "/_sluice/dlq/main")
        #expect(purged == 200 && purge["removed"] == .int(9))
        #expect(try send(api, "GET", "/_sluice/dlq/main").1["entries"] == .int(0))
        pipeline.process(failingEvents(2))
        #expect(try send(api, "GET", "/_sluice/dlq/main").1["entries"] == .int(2), "entries written after a purge stay")
    }
}

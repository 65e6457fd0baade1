import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// The elasticsearch and http outputs against a real Elasticsearch-compatible server (noida-db), with a
/// fault-injection proxy in between for 429s, 503s, slow answers, dropped connections and a server restart.
/// One server for the suite; each test uses its own indices.
@Suite(.serialized, .enabled(if: ElasticsearchHarness.isAvailable, "noida-db is not installed (make test installs it)"))
struct ElasticsearchIntegrationTests {
    /// One server and proxy for the whole suite; the harness stops them when the test process exits.
    static let shared = Result { try ElasticsearchHarness() }
    let harness: ElasticsearchHarness

    init() throws { harness = try Self.shared.get() }

    /// Fast back-off for tests: 50 ms doubling to 200 ms.
    var fast: String { "retry_initial_interval => 0.05 retry_max_interval => 0.2 resurrect_delay => 0.1" }

    func events(_ n: Int, _ extra: (Int) -> String = { _ in "" }) -> [Event] {
        (0..<n).map { OutputHarness.event(#"{"n":\#($0),"message":"event \#($0)"\#(extra($0))}"#) }
    }

    @Test func mappingConflictGoesToDLQWithElasticsearchsReason() throws {
        try harness.request(.PUT, "/conflict", #"{"mappings":{"properties":{"bytes":{"type":"long"}}}}"#)
        let dlq = RecordingDeadLetterQueue()
        let out = try OutputHarness.build(
            ElasticsearchOutput.self, #"hosts => ["\#(harness.esURL)"] index => "conflict" id => "es_out""#, dlq: dlq)
        defer { out.close() }
        out.receive([
            OutputHarness.event(#"{"message":"ok","bytes":10}"#),
            OutputHarness.event(#"{"message":"bad","bytes":"ten"}"#),
            OutputHarness.event(#"{"message":"ok2","bytes":20}"#),
        ])
        #expect(try harness.count("conflict") == 2)
        let entries = dlq.entries
        try #require(entries.count == 1)
        #expect(entries[0].pluginType == "elasticsearch")
        #expect(entries[0].pluginID == "es_out")
        #expect(entries[0].event.fields["message"] == "bad")
        let reason = entries[0].reason
        #expect(reason.hasPrefix(#"Could not index event to Elasticsearch. status: 400, action: ["index", {:_id=>nil, :_index=>"conflict", :routing=>nil}, {"#))
        #expect(reason.contains(#""bytes"=>"ten""#))
        #expect(reason.contains(#"response: {"index"=>{"#))
        #expect(reason.contains("failed to parse field [bytes] of type [long]"))
        let m = out.metrics.snapshot
        #expect(m.documentDLQRouted == 1 && m.documentSuccesses == 2 && m.bulkWithErrors == 1)
        #expect(m.bulkResponses[200] == 1)
    }

    @Test func conflictsAreDroppedAndCounted() throws {
        let out = try OutputHarness.build(
            ElasticsearchOutput.self, #"hosts => ["\#(harness.esURL)"] index => "dups" action => "create" document_id => "%{n}""#)
        defer { out.close() }
        out.receive(events(5))
        out.receive(events(5))  // the same ids again: 409 for each
        #expect(try harness.count("dups") == 5)
        let m = out.metrics.snapshot
        #expect(m.documentSuccesses == 5)
        #expect(m.documentNonRetryableFailures == 5)
        #expect(m.documentDLQRouted == 0 && m.documentRetryableFailures == 0)
    }

    @Test func a503StormAndItemRejectionsLoseNothing() throws {
        try harness.fault("reset")
        let out = try OutputHarness.build(
            ElasticsearchOutput.self,
            #"hosts => ["\#(harness.proxyURL)"] index => "storm" document_id => "%{n}" \#(fast)"#)
        defer { out.close() }
        try harness.fault("status?code=503&count=4")
        try harness.fault("items?code=429&count=2")
        out.receive(events(100))
        try harness.fault("status?code=429&count=1")
        try harness.fault("items?code=503&count=1")
        out.receive(events(100).map { e in e.fields["n"] = .int(100 + e.fields["n"]!.numberValue.map(Int.init)!); return e })
        #expect(try harness.count("storm") == 200)
        let m = out.metrics.snapshot
        #expect(m.bulkFailures == 5)
        #expect(m.bulkResponses[503] == 4 && m.bulkResponses[429] == 1)
        #expect(m.documentRetryableFailures == 300)  // 2 rounds of 100 items at 429, one of 100 at 503
        #expect(m.documentSuccesses == 200)
        #expect(try harness.proxyStats()["gzip_bodies"].flatMap { if case .int(let n) = $0 { n } else { nil } } ?? 0 > 0)
    }

    @Test func slowResponsesAndDroppedConnectionsAreRetriedWhole() throws {
        try harness.fault("reset")
        let out = try OutputHarness.build(
            ElasticsearchOutput.self,
            #"hosts => ["\#(harness.proxyURL)"] index => "flaky" document_id => "%{n}" timeout => 0.5 \#(fast)"#)
        defer { out.close() }
        out.receive(events(1))  // connect and install the template first
        try harness.fault("slow?seconds=1.5&count=1")
        try harness.fault("drop?count=2")
        out.receive(events(50))
        #expect(try harness.count("flaky") == 50)
        #expect(out.metrics.snapshot.bulkFailures >= 3)
    }

    @Test func serverRestartMidStreamLosesNothing() throws {
        try harness.fault("reset")
        let out = try OutputHarness.build(
            ElasticsearchOutput.self,
            #"hosts => ["\#(harness.proxyURL)"] index => "restart" document_id => "%{n}" timeout => 5 \#(fast)"#)
        defer { out.close() }
        let total = 40, perBatch = 10
        for b in 0..<(total / perBatch) {
            if b == 1 {
                try harness.fault("restart?down=1")
                // Send the next batch only once the server is really down: it must wait for the restart.
                #expect(ElasticsearchHarness.waitUntil(10) { (try? harness.request(.GET, "/")) == nil })
            }
            out.receive(events(perBatch).map { e in
                e.fields["n"] = .int(b * perBatch + Int(e.fields["n"]!.numberValue!))
                return e
            })
        }
        #expect(out.metrics.snapshot.bulkFailures >= 1)
        #expect(ElasticsearchHarness.waitUntil(20) { (try? harness.count("restart")) == total })
        #expect(try harness.count("restart") == total)
    }

    @Test func shutdownStopsRetryingAndKeepsTheEventsInTheDLQ() throws {
        try harness.fault("reset")
        let dlq = RecordingDeadLetterQueue()
        let shutdown = ShutdownFlag()
        let out = try OutputHarness.build(
            ElasticsearchOutput.self, #"hosts => ["\#(harness.proxyURL)"] index => "never" \#(fast)"#, dlq: dlq,
            shutdown: shutdown)
        defer { out.close() }
        out.receive(events(1))
        try harness.fault("status?code=503&count=100000")
        let done = Semaphore()
        let batch = events(3)
        nonisolated(unsafe) let unsafeBatch = batch
        let worker = try! SluiceCore.Thread(name: "receive") {
            out.receive(unsafeBatch)
            done.signal()
        }
        #expect(ElasticsearchHarness.waitUntil(10) { out.metrics.snapshot.bulkFailures >= 2 })
        shutdown.request()
        done.wait()
        worker.join()
        #expect(dlq.entries.count == 3)
        #expect(dlq.entries.allSatisfy { $0.reason.contains("the pipeline shut down before the event was accepted") })
        try harness.fault("reset")
    }

    @Test func unresolvedIndexGoesToTheDLQWithoutBeingSent() throws {
        let dlq = RecordingDeadLetterQueue()
        let out = try OutputHarness.build(
            ElasticsearchOutput.self, #"hosts => ["\#(harness.esURL)"] index => "idx-%{[service]}""#, dlq: dlq)
        defer { out.close() }
        out.receive([OutputHarness.event(#"{"service":"web"}"#), OutputHarness.event(#"{"other":1}"#)])
        #expect(try harness.count("idx-web") == 1)
        try #require(dlq.entries.count == 1)
        #expect(dlq.entries[0].reason.hasPrefix("Badly formatted index, after interpolation still contains placeholder: [idx-%{[service]}]; event: `{"))
        #expect(out.metrics.snapshot.documentNonRetryableFailures == 1)
    }

    @Test func dataStreamModeWritesToTheDefaultStreamWithSyncedFields() throws {
        let out = try OutputHarness.build(
            ElasticsearchOutput.self, #"hosts => ["\#(harness.esURL)"] data_stream_dataset => "sluice""#, ecs: .v8)
        defer { out.close() }
        out.receive([OutputHarness.event(#"{"message":"a"}"#),
                     OutputHarness.event(#"{"message":"b","data_stream":{"namespace":"prod"}}"#)])
        #expect(try harness.count("logs-sluice-default") == 1)
        #expect(try harness.count("logs-sluice-prod") == 1)
        let (_, hits) = try harness.request(.GET, "/logs-sluice-prod/_search")
        #expect(JSONWriter.string(hits).contains(#""dataset":"sluice""#))
    }

    @Test func updateWithDocAsUpsertCreatesThenUpdates() throws {
        let out = try OutputHarness.build(
            ElasticsearchOutput.self,
            #"hosts => ["\#(harness.esURL)"] index => "upserts" action => "update" doc_as_upsert => true document_id => "k""#)
        defer { out.close() }
        out.receive([OutputHarness.event(#"{"v":1}"#)])
        out.receive([OutputHarness.event(#"{"v":2}"#)])
        #expect(try harness.count("upserts") == 1)
        let (_, doc) = try harness.request(.GET, "/upserts/_doc/k")
        #expect(doc.objectValue?["_source"]?.objectValue?["v"] == .int(2))
    }

    @Test func httpOutputPutsDocumentsAndDeadLettersRejectedOnes() throws {
        try harness.request(.PUT, "/viahttp", #"{"mappings":{"properties":{"n":{"type":"long"}}}}"#)
        try harness.fault("reset")
        let dlq = RecordingDeadLetterQueue()
        let out = try OutputHarness.build(
            HttpOutput.self, #"url => "\#(harness.proxyURL)/viahttp/_doc/%{id}" http_method => "put""#, dlq: dlq)
        defer { out.close() }
        try harness.fault("status?code=503&count=1")
        out.receive([
            OutputHarness.event(#"{"id":"a","n":1}"#), OutputHarness.event(#"{"id":"b","n":"x"}"#),
            OutputHarness.event(#"{"id":"c","n":3}"#),
        ])
        #expect(try harness.count("viahttp") == 2)
        try #require(dlq.entries.count == 1)
        #expect(dlq.entries[0].pluginType == "http")
        #expect(dlq.entries[0].reason.hasPrefix("HTTP output: non-2xx HTTP code 400 from \(harness.proxyURL)/viahttp/_doc/b; response body: {"))
        #expect(dlq.entries[0].reason.contains("document_parsing_exception"))
    }

    /// `examples/dlq-repair/es-*.conf` run by the real binary: the mapping conflicts land in the DLQ, the repair
    /// pipeline re-indexes them and the document count matches; a second repair changes nothing.
    @Test func dlqRepairExampleReindexesRejectedDocuments() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let example = TestPaths.packageRoot.appendingPathComponent("examples/dlq-repair")
        try harness.request(.DELETE, "/weblogs")
        try harness.request(.PUT, "/weblogs", #"{"mappings":{"properties":{"bytes":{"type":"long"}}}}"#)
        let env = ["ES_HOSTS": harness.esURL]
        let main = try runSluice(
            ["-f", example.appendingPathComponent("es-main.conf").path, "-w", "1", "-S", "dead_letter_queue.enable=true",
             "--path.settings", work.path],
            stdin: try Data(contentsOf: example.appendingPathComponent("weblogs.log")), currentDirectory: work,
            environment: env)
        #expect(main.exitCode == 0, "\(main.stderr)")
        #expect(try harness.count("weblogs") == 3)
        let queue = work.appendingPathComponent("data/dead_letter_queue/main").path
        let reader = try DeadLetterQueueReader(directory: queue)
        var entries: [DeadLetterQueueEntry] = []
        while let entry = reader.next() { entries.append(entry) }
        reader.close()
        #expect(entries.count == 2)
        #expect(entries.allSatisfy { $0.pluginType == "elasticsearch" && $0.pluginID == "es_weblogs" })
        #expect(entries.allSatisfy { $0.reason.hasPrefix("Could not index event to Elasticsearch. status: 400") })

        for _ in 0..<2 {
            let repair = try runSluice(
                ["-f", example.appendingPathComponent("es-repair.conf").path, "-w", "1", "--path.settings", work.path],
                currentDirectory: work, environment: env)
            #expect(repair.exitCode == 0, "\(repair.stderr)")
            #expect(try harness.count("weblogs") == 5)
        }
        let (_, doc) = try harness.request(.GET, "/weblogs/_doc/r2")
        let source = doc.objectValue?["_source"]?.objectValue
        #expect(source?["bytes"] == nil)
        #expect(source?["bytes_original"] == "n/a")
        #expect(source?["tags"] == .array(["repaired"]))
    }
}

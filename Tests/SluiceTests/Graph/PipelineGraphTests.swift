import Foundation
import Testing
@testable import SluiceAPI
@testable import SluiceCore
@testable import SluicePlugins

/// The graph is the program: its vertices are the plugins the runtime runs (same ids as `/_node/stats`), its edges
/// follow Logstash's rules, the API serves it in Logstash's LIR shape, and `sluice graph` agrees with `-t`.
@Suite(.serialized)
struct PipelineGraphTests {
    func compile(_ text: String, data: URL) throws -> Pipeline {
        var s = Settings()
        try s.set("path.data", data.path, origin: "test")
        try s.set("pipeline.workers", "1", origin: "test")
        return try Agent(registry: builtinRegistry).compile(
            PipelineDefinition(id: "main", sources: ConfigSources.fromString(text), settings: s), openDeadLetterQueue: false)
    }

    /// Each vertex named for people: the explicit plugin id, `if <condition>`, or `queue`.
    func names(_ g: PipelineGraph) -> [String] {
        g.vertices.map { v in
            switch v.kind {
            case .queue: return "queue"
            case .condition(let text): return "if " + text
            case .plugin: return v.id
            }
        }
    }

    func edgeSet(_ g: PipelineGraph) -> Set<String> {
        let n = names(g)
        return Set(g.edges.map { "\(n[$0.from]) -> \(n[$0.to])" + ($0.when.map { " [\($0)]" } ?? "") })
    }

    @Test func edgesFollowLogstashSequencingAndFanOut() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compile(
            """
            input { stdin { id => "in" } generator { id => "gen" count => 1 } }
            filter {
              if [a] == 1 { mutate { id => "m1" } mutate { id => "m2" } }
              else if [b] { drop { id => "d" } }
              else { mutate { id => "m3" } }
              mutate { id => "last" }
            }
            output {
              if [c] { stdout { id => "o1" } }
              null { id => "o2" }
            }
            """, data: work)
        defer { pipeline.program.close() }
        let expected: Set<String> = [
            "in -> queue", "gen -> queue",
            "queue -> if [a] == 1",
            "if [a] == 1 -> m1 [true]", "m1 -> m2",
            "if [a] == 1 -> if [b] [false]", "if [b] -> d [true]", "if [b] -> m3 [false]",
            "m2 -> last", "d -> last", "m3 -> last",
            "last -> if [c]", "if [c] -> o1 [true]", "last -> o2",
        ]
        #expect(edgeSet(pipeline.program.graph) == expected)
        #expect(pipeline.program.graph.vertices.count == 13)
    }

    /// Logstash's `LIRSerializer` keys, in its order, for each vertex and edge type.
    static let vertexKeys: [String: [String]] = [
        "plugin": ["config_name", "plugin_type", "meta", "id", "explicit_id", "type"],
        "if": ["condition", "meta", "id", "explicit_id", "type"],
        "queue": ["meta", "id", "explicit_id", "type"],
    ]
    static let edgeKeys: [String: [String]] = ["plain": ["from", "to", "id", "type"], "boolean": ["from", "to", "id", "when", "type"]]

    /// Checks the LIR JSON's shape and returns its plugin vertex ids in order.
    @discardableResult
    func checkLIRShape(_ lir: Value) throws -> [String] {
        #expect(lir["type"] == "lir")
        #expect(lir["version"] == "0.0.0")
        guard case .array(let vertices) = try #require(lir["graph"]?["vertices"]),
              case .array(let edges) = try #require(lir["graph"]?["edges"])
        else { throw APITestError("no vertices/edges") }
        var ids: Set<String> = []
        var pluginIDs: [String] = []
        for v in vertices {
            guard case .object(let o) = v, case .string(let type) = try #require(o["type"]), case .string(let id) = try #require(o["id"])
            else { throw APITestError("bad vertex \(v)") }
            #expect(o.map(\.0) == PipelineGraphTests.vertexKeys[type], "vertex keys of \(type)")
            #expect(ids.insert(id).inserted, "duplicate vertex id \(id)")
            if type == "plugin" { pluginIDs.append(id) }
            if type == "queue" { #expect(id == "__QUEUE__" && o["meta"] == .null) }
        }
        #expect(vertices.filter { $0["type"] == "queue" }.count == 1)
        for e in edges {
            guard case .object(let o) = e, case .string(let type) = try #require(o["type"]) else { throw APITestError("bad edge \(e)") }
            #expect(o.map(\.0) == PipelineGraphTests.edgeKeys[type], "edge keys of \(type)")
            if case .string(let from) = o["from"], case .string(let to) = o["to"] {
                #expect(ids.contains(from) && ids.contains(to), "edge \(from) -> \(to) has an unknown end")
            }
        }
        return pluginIDs
    }

    @Test func apiServesTheGraphAndVertexFiguresUnderTheStatsIDs() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work)
        defer { pipeline.deadLetterQueue?.close() }
        pipeline.process(numericEvents(5))
        let api = MonitoringAPI(agent: StaticDirectory([pipeline]), node: NodeInfo(version: "0.1.0", id: "n"), configuration: APIConfiguration())

        let info = try json(api.respond(to: APIRequest(path: "/_node/pipelines/main", query: "graph=true")))
        let main = try #require(info["pipelines"]?["main"])
        let lir = try #require(main["graph"])
        let graphIDs = try checkLIRShape(lir)
        #expect(lir["hash"] == main["hash"])
        #expect(graphIDs == ["gen", "tagger", "sink"])
        let conditions = lir["graph"]?["vertices"].flatMap { v -> [Value] in
            guard case .array(let a) = v else { return [] }
            return a.filter { $0["type"] == "if" }.compactMap { $0["condition"] }
        }
        #expect(conditions == ["[n] > 10"])
        let plain = try json(api.respond(to: APIRequest(path: "/_node/pipelines/main")))
        #expect(plain["pipelines"]?["main"]?["graph"] == nil, "the graph only when asked for")

        let stats = try json(api.respond(to: APIRequest(path: "/_node/stats/pipelines/main", query: "vertices=true")))
        let s = try #require(stats["pipelines"]?["main"])
        var statsIDs: [String] = []
        for section in ["inputs", "filters", "outputs"] {
            if case .array(let plugins) = s["plugins"]?[section] { statsIDs += plugins.compactMap { $0["id"]?.stringValue } }
        }
        #expect(statsIDs == graphIDs)
        guard case .array(let vertices) = try #require(s["vertices"]) else { throw APITestError("no vertices") }
        #expect(vertices.compactMap { $0["id"]?.stringValue } == graphIDs)
        let sink = try #require(vertices.first { $0["id"] == "sink" })
        #expect(sink["events_in"] == .int(5) && sink["events_out"] == .int(5))
        #expect(sink["pipeline_ephemeral_id"] == s["ephemeral_id"])
        #expect(vertices.first { $0["id"] == "tagger" }?["events_in"] == .int(3), "n = 0, 10 are not > 10")
    }

    /// Every fixture's config that compiles in-process: the graph's plugin vertices are, in order, the plugins
    /// the program runs (the ids `/_node/stats` reports), and its LIR JSON has Logstash's shape.
    @Test func everyFixtureGraphIsItsProgram() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        var compiled = 0
        for name in FixtureTests.cases {
            let conf = TestPaths.fixtures.appendingPathComponent(name).appendingPathComponent("pipeline.conf")
            guard let text = try? String(contentsOf: conf, encoding: .utf8),
                  let pipeline = try? compile(text, data: work)
            else { continue }
            defer { pipeline.program.close() }
            compiled += 1
            let program = pipeline.program
            let programIDs = (program.inputs + program.filters + program.outputs).map(\.id)
            let ids = try checkLIRShape(.object(program.graph.lir(hash: pipeline.configHash)))
            #expect(ids == programIDs, "\(name)")
            #expect(program.graph.plugins.map(\.id) == programIDs, "\(name)")
        }
        #expect(compiled >= 180, "only \(compiled) fixtures compiled in-process")
    }

    /// `sluice graph` compiles as `-t` does: the same verdict on every fixture without arguments of its own, and no
    /// graph at all for a config that fails.
    @Test func graphCommandAgreesWithTestAndExit() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        var failing = 0
        for name in FixtureTests.cases {
            let dir = TestPaths.fixtures.appendingPathComponent(name)
            let has = { (f: String) in FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path) }
            guard !has("args") && !has("settings") && !has("client") else { continue }
            let base = ["-f", dir.appendingPathComponent("pipeline.conf").path, "--path.settings", work.path,
                        "--path.data", work.appendingPathComponent("data").path]
            let check = try runSluice(["-t"] + base, currentDirectory: work)
            let graph = try runSluice(["graph", "--format", "json"] + base, currentDirectory: work)
            #expect(graph.exitCode == check.exitCode, "\(name): graph \(graph.exitCode), -t \(check.exitCode)\n\(graph.stderr)")
            if graph.exitCode == 0 {
                try checkLIRShape(try JSONParser.parse(graph.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
            } else {
                failing += 1
                #expect(graph.stdout.isEmpty, "\(name): a failing config printed a graph")
            }
        }
        #expect(failing >= 5, "the error fixtures were exercised")
    }

    @Test func mermaidAndDotNameEveryVertex() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let text = #"input { stdin { id => "in" } } filter { if [m] == "a\"b" { mutate { id => "tag" } } } output { stdout { id => "out" } }"#
        let mermaid = try runSluice(["graph", "--format", "mermaid", "-e", text, "--path.settings", work.path], currentDirectory: work)
        #expect(mermaid.exitCode == 0, "\(mermaid.stderr)")
        #expect(mermaid.stdout == """
            flowchart LR
              v0[("queue")]
              v1["input: stdin (in)"]
              v2{"if [m] == #quot;a\\#quot;b#quot;"}
              v3["filter: mutate (tag)"]
              v4["output: stdout (out)"]
              v1 --> v0
              v0 --> v2
              v2 -->|true| v3
              v3 --> v4
              v2 -->|false| v4

            """)
        let dot = try runSluice(["graph", "-e", text, "--path.settings", work.path], currentDirectory: work)
        #expect(dot.exitCode == 0, "\(dot.stderr)")
        #expect(dot.stdout.contains(#""in" -> "__QUEUE__";"#))
        #expect(dot.stdout.contains(#""tag" -> "out";"#))
        #expect(dot.stdout.contains(#""tag" [label="filter: mutate (tag)\nconfig_string:1:"#))
        let broken = try runSluice(["graph", "-e", "filter { mutate { nope => 1 } }", "--path.settings", work.path], currentDirectory: work)
        #expect(broken.exitCode == 1)
        #expect(broken.stdout.isEmpty)
        #expect(broken.stderr.contains("Unknown setting 'nope'"))
    }
}

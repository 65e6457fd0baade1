import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// Hostile event data that nests deeply: field references, JSON and CBOR documents. Every path must end in an
/// error, a tag or a bounded structure, never in a stack overflow (issue 15, item 1).
@Suite struct DeepDataTests {
    static func brackets(_ n: Int) -> String { String(repeating: "[a]", count: n) }

    /// Runs `body` on a thread with the stack the pipeline's workers get (8 MiB), as a worker would.
    static func onWorkerStack(_ body: @escaping @Sendable () -> Void) {
        let t = try! SluiceCore.Thread(name: "test-worker", body)
        t.join()
    }

    @Test func fieldReferenceDepthIsBoundedAtOneThousandKeys() throws {
        let deepest = try FieldReference(parsing: DeepDataTests.brackets(1000))
        #expect(deepest.path.count == 1000)
        let metadata = try FieldReference(parsing: "[@metadata]" + DeepDataTests.brackets(1000))
        #expect(metadata.path.count == 1000 && metadata.isMetadata)
        do {
            _ = try FieldReference(parsing: DeepDataTests.brackets(1001))
            Issue.record("a 1,001-key reference was accepted")
        } catch {
            #expect(error.isTooDeep)
            #expect(error.description.count < 400, "the message quotes only the start of the text")
        }
    }

    @Test func settingAPathDeeperThanTheLimitFailsWithoutChangingTheEvent() {
        let event = Event()
        let before = event.fields
        let tooDeep = FieldReference(path: Array(repeating: "a", count: 50_000))
        #expect(event.set(tooDeep, "x") == false)
        #expect(event.update(tooDeep) { $0 = "x" } == false)
        #expect(event.remove(tooDeep) == nil)
        #expect(event.fields == before)
        let deepest = FieldReference(path: Array(repeating: "a", count: 1000))
        #expect(event.set(deepest, "x"))
        #expect(event.get(deepest) == "x")
        #expect(event.remove(deepest) == "x")
    }

    /// `add_field => { "%{message}" => "x" }` with a message of 50,000 `[a]`: the event is tagged, not crashed.
    @Test func addFieldWithADeepKeyFromDataTagsTheEvent() throws {
        let message = DeepDataTests.brackets(50_000)
        let out = try FilterHarness.run(#"mutate { add_field => { "%{message}" => "x" } }"#, ["message": .string(message)])
        #expect(out.tagList == ["_fieldreferencefailure"])
        #expect(Set(out.fields.orderedKeys) == ["@timestamp", "@version", "message", "tags"], "nothing was added")
        let shallow = try FilterHarness.run(#"mutate { add_field => { "%{message}" => "x" } }"#, ["message": "[b][c]"])
        #expect(shallow.at("[b][c]") == "x")
    }

    /// `de_dot { nested => true }` on one key of 50,000 dotted parts leaves the field alone instead of crashing.
    @Test func deDotNestedOnAKeyWithFiftyThousandPartsLeavesItAlone() throws {
        let key = Array(repeating: "a", count: 50_000).joined(separator: ".")
        let registry = PluginRegistry([.filter(DeDotFilter.self)])
        let ast = try ConfigParser.parse(ConfigSource(name: "t.conf", text: "filter { de_dot { nested => true } }"))
        let program = try ProgramCompiler(registry: registry, environment: PipelineEnvironment()).compile(ast)
        var object = Object()
        object[key] = 1
        object["b.c"] = 2
        let events = program.runFilters([Event(fromMap: object)])
        #expect(events.count == 1)
        #expect(events.first?.fields[key] == 1)
        #expect(events.first?.at("[b][c]") == 2, "ordinary keys are still de-dotted")
    }

    @Test func jsonNestingIsBoundedAtOneThousandContainers() throws {
        let ok = String(repeating: "[", count: 1000) + "1" + String(repeating: "]", count: 1000)
        _ = try JSONParser.parse(ok)
        let objects = String(repeating: #"{"a":"#, count: 1000) + "1" + String(repeating: "}", count: 1000)
        _ = try JSONParser.parse(objects)
        #expect(throws: JSONError.self) { try JSONParser.parse("[" + ok + "]") }
        #expect(throws: JSONError.self) { try JSONParser.parse(String(repeating: "[", count: 100_000)) }
        let closed = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONError.self) { try JSONParser.parse(closed) }
        #expect(throws: JSONError.self) { try JSONParser.parse(String(repeating: #"{"a":"#, count: 100_000)) }
    }

    @Test func jsonFilterTagsADocumentNestedOneHundredThousandDeep() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let out = try FilterHarness.run(#"json { source => "message" target => "t" }"#, ["message": .string(deep)])
        #expect(out.tagList == ["_jsonparsefailure"])
        #expect(out.at("t") == nil)
    }

    @Test func cborDecodingOfAHundredThousandNestedArraysIsAnError() {
        // 0x81: an array of one item; 100,000 of them around a null.
        let bytes = [UInt8](repeating: 0x81, count: 100_000) + [0xF6]
        #expect(throws: CBORDecodingError.self) { try CBOREventCodec.decodeItem(bytes) }
        #expect(throws: CBORDecodingError.self) { try CBOREventCodec.decode(bytes) }
        // Indefinite-length maps (0xBF) nested the same way.
        let maps = [UInt8](repeating: 0xBF, count: 100_000)
        #expect(throws: CBORDecodingError.self) { try CBOREventCodec.decodeItem(maps) }
    }

    /// The deepest value data can build — a parsed JSON document at the limit, set at a field path at the limit —
    /// is written as JSON and CBOR, compared, copied and freed on a worker's stack.
    @Test func theDeepestValueDataCanBuildIsWrittenAndFreed() throws {
        Self.onWorkerStack {
            let document = String(repeating: "[", count: 999) + #"{"k":1}"# + String(repeating: "]", count: 999)
            guard let parsed = try? JSONParser.parse(document) else {
                Issue.record("the document at the limit did not parse")
                return
            }
            var event: Event? = Event()
            #expect(event!.set(FieldReference(path: Array(repeating: "a", count: 1000)), parsed))
            let json = JSONWriter.string(.object(event!.fields))
            #expect(json.utf8.count > 4000)
            let cbor = CBOREventCodec.encode(event!)
            // Deeper than CBOR's read limit (Jackson's 1,000): reading it back is an error, not a crash.
            _ = try? CBOREventCodec.decode(cbor)
            let copy = Event(copying: event!)
            #expect(copy.fields == event!.fields)
            event = nil
        }
    }
}

/// kv's `recursive` parses values within values; a line of many `k=` would recurse once per `=`.
@Suite struct DeepKvTests {
    static func program() throws -> PipelineProgram {
        let registry = PluginRegistry([.filter(KvFilter.self)])
        let ast = try ConfigParser.parse(ConfigSource(name: "t.conf", text: #"filter { kv { recursive => true value_split => "=" } }"#))
        return try ProgramCompiler(registry: registry, environment: PipelineEnvironment()).compile(ast)
    }

    @Test func recursionStopsAtTheJSONDepthLimit() throws {
        let kv = try #require(try Self.program().filters.first?.instance as? KvFilter)
        var pairs = KvFilter.Pairs()
        // Two levels below the limit: k0 and k1 become hashes, the rest stays text.
        try kv.parse("k0=k1=k2=k3=1", Event(), &pairs, depth: KvFilter.maximumRecursionDepth - 2)
        guard case .object(let k0)? = pairs["k0"], case .object(let k1)? = k0["k1"] else {
            Issue.record("expected two nested levels: \(pairs.values)")
            return
        }
        #expect(k1["k2"] == "k3=1")
    }

    /// 2,000 nested pairs exhaust PCRE2's JIT stack: the event is tagged instead of silently left alone.
    @Test func aLineOfTwoThousandNestedPairsIsTaggedNotCrashedOrSilent() throws {
        let hostile = Event()
        hostile.fields["message"] = .string((0..<2_000).map { "k\($0)=" }.joined() + "1")
        let shallow = Event()
        shallow.fields["message"] = "a=b=c=1"
        let out = try Self.program().runFilters([shallow, hostile])
        #expect(out.count == 2)
        #expect(out.first?.at("[a][b][c]") == "1", "ordinary recursion still works")
        #expect(out.last?.tagList == ["_kv_filter_timeout"])
    }
}

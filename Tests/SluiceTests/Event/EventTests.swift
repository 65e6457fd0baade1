import Testing
@testable import SluiceCore

struct FieldReferenceTests {
    @Test(arguments: [
        ("message", ["message"], false), ("[a][b]", ["a", "b"], false), ("a.b", ["a.b"], false),
        ("[@metadata][x]", ["x"], true), ("@metadata", [], true), ("[[a][b]][c]", ["a", "b", "c"], false),
        ("[field with space]", ["field with space"], false),
    ])
    func parsesValidReferences(text: String, path: [String], metadata: Bool) throws {
        let ref = try FieldReference(parsing: text)
        #expect(ref.path == path)
        #expect(ref.isMetadata == metadata)
    }

    @Test(arguments: ["a[b]", "[a]b", "[a", "a]", "[]", ""])
    func rejectsInvalidReferences(text: String) {
        #expect(throws: FieldReference.InvalidError.self) { try FieldReference(parsing: text) }
    }
}

struct EventAccessTests {
    /// Nested writes change intermediate objects in place: an object copied on the way down would come back with
    /// exactly its element count as capacity (and the copy would cost an allocation per write).
    @Test func nestedWritesDoNotCopyIntermediateObjects() {
        let e = Event()
        for r in ["[http][request][method]", "[http][version]", "[http][response][status_code]", "[http][response][body][bytes]", "[http][request][referrer]"] {
            e.update(FieldReference(r)) { $0 = "v" }
        }
        e.set(FieldReference("[http][response][body][content]"), "c")
        e.tag("a")
        e.tag("b")
        guard case .object(let http)? = e.fields["http"], case .object(let response)? = http["response"] else {
            Issue.record("no [http][response]")
            return
        }
        #expect(http.count == 3 && http.entries.capacity >= Object.nestedCapacity)
        #expect(response.count == 2 && response.entries.capacity >= Object.nestedCapacity)
        #expect(e.get(FieldReference("[http][response][body][bytes]")) == "v")
        #expect(e.fields["tags"] == .array(["a", "b"]))
    }

    @Test func setCreatesIntermediateObjectsAndGetReadsThem() {
        let e = Event()
        #expect(e.set(FieldReference("[a][b][c]"), 1))
        #expect(e.get(FieldReference("[a][b][c]")) == .int(1))
        #expect(e.get(FieldReference("[a][b]")) == (["c": 1] as Value))
    }

    @Test func setIntoScalarIntermediateFails() {
        let e = Event()
        e.set(FieldReference("a"), "scalar")
        #expect(!e.set(FieldReference("[a][b]"), 1))
        #expect(e.get(FieldReference("a")) == "scalar")
    }

    @Test func arrayIndexesIncludingNegative() {
        let e = Event()
        e.set(FieldReference("arr"), ["x", "y", "z"])
        #expect(e.get(FieldReference("[arr][0]")) == "x")
        #expect(e.get(FieldReference("[arr][-1]")) == "z")
        #expect(e.get(FieldReference("[arr][3]")) == nil)
    }

    @Test func removeNestedAndMetadata() {
        let e = Event()
        e.set(FieldReference("[a][b]"), 1)
        e.set(FieldReference("[a][c]"), 2)
        e.set(FieldReference("[@metadata][m]"), "v")
        #expect(e.remove(FieldReference("[a][b]")) == .int(1))
        #expect(e.get(FieldReference("a")) == (["c": 2] as Value))
        #expect(e.get(FieldReference("[@metadata][m]")) == "v")
        #expect(e.fields["@metadata"] == nil)
    }

    @Test func fromMapMovesMetadataAndParsesTimestamp() {
        var o = Object()
        o["@metadata"] = ["k": "v"]
        o["@timestamp"] = "2024-05-01T10:00:00.123Z"
        let e = Event(fromMap: o)
        #expect(e.metadata["k"] == "v")
        #expect(e.fields["@version"] == "1")
        #expect(e.timestamp?.iso8601 == "2024-05-01T10:00:00.123Z")
    }

    @Test func unparsableTimestampIsTagged() {
        var o = Object()
        o["@timestamp"] = "junk"
        let e = Event(fromMap: o)
        #expect(e.fields["_@timestamp"] == "junk")
        #expect(e.fields["tags"] == ["_timestampparsefailure"])
    }

    @Test func tagDeduplicates() {
        let e = Event()
        e.tag("a")
        e.tag("a")
        e.tag("b")
        #expect(e.fields["tags"] == ["a", "b"])
    }

    @Test func objectKeepsInsertionOrderPastTheIndexThreshold() {
        var o = Object()
        for i in 0..<40 { o["k\(i)"] = .int(i) }
        o.removeValue(forKey: "k3")
        #expect(o.count == 39)
        #expect(o["k39"] == .int(39))
        #expect(o["k3"] == nil)
        #expect(o.orderedKeys.first == "k0")
    }
}

struct TimestampTests {
    @Test(arguments: [
        ("2024-05-01T10:00:00.123Z", "2024-05-01T10:00:00.123Z"),
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000Z"),
        ("2024-05-01T10:00:00.123456Z", "2024-05-01T10:00:00.123456Z"),
        ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00.000Z"),
        ("2024-05-01", "2024-05-01T00:00:00.000Z"),
        ("1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500Z"),
    ])
    func parsesAndPrintsISO8601(input: String, printed: String) {
        #expect(Timestamp.parseISO8601(input)?.iso8601 == printed)
    }

    @Test func rejectsGarbage() {
        #expect(Timestamp.parseISO8601("May 1st") == nil)
        #expect(Timestamp.parseISO8601("2024-13-01") == nil)
    }
}

struct TemplateTests {
    func event() -> Event {
        let e = Event(timestamp: Timestamp.parseISO8601("2024-05-01T10:11:12.345Z")!)
        e.set(FieldReference("a"), "x")
        e.set(FieldReference("[b][c]"), 2)
        e.set(FieldReference("list"), [1, [2, 3]])
        e.set(FieldReference("f"), 1.5)
        return e
    }

    @Test(arguments: [
        ("%{a}-%{[b][c]}", "x-2"), ("%{missing}", "%{missing}"), ("%{list}", "1,2,3"), ("%{f}", "1.5"),
        ("%{+YYYY.MM.dd}", "2024.05.01"), ("%{+%s}", "1714558272"), ("%{+HH:mm:ss.SSS}", "10:11:12.345"),
        ("unclosed %{a", "unclosed %{a"), ("%{b}", "{\"c\":2}"), ("%{{yyyy-MM-dd'T'HH}}", "2024-05-01T10"),
        ("%{+EEE MMM d}", "Wed May 1"),
    ])
    func renders(template: String, expected: String) {
        #expect(Template(template).render(event()) == expected)
    }
}

struct JSONTests {
    @Test func roundTripsValues() throws {
        let text = #"{"a":1,"b":[true,false,null],"c":{"d":"e\n\"q\""},"f":1.5,"g":-3,"h":"ünïcödé"}"#
        let v = try JSONParser.parse(text)
        #expect(JSONWriter.string(v) == text)
    }

    @Test(arguments: [(1.0, "1.0"), (0.0001, "1.0E-4"), (12345678.9, "1.23456789E7"), (100.25, "100.25"), (1e20, "1.0E20"), (0.001, "0.001")])
    func formatsFloatsLikeJava(value: Double, text: String) {
        #expect(JavaDouble.format(value) == text)
    }

    @Test(arguments: [(1.0, "1.0"), (1e20, "1.0e+20"), (1e-5, "1.0e-05"), (0.0001, "0.0001"), (123.456, "123.456")])
    func formatsFloatsLikeRuby(value: Double, text: String) {
        #expect(RubyFloat.format(value) == text)
    }

    @Test(arguments: ["{", "[1,", "{\"a\" 1}", "tru", "\"\\x\"", "01", "1.", "{\"a\":1}x"])
    func rejectsInvalidJSON(text: String) {
        #expect(throws: JSONError.self) { try JSONParser.parse(text) }
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try JSONParser.parse(#""\ud83d\ude00""#) == .string("😀"))
    }

    @Test func fuzzedInputNeverCrashes() {
        var rng = SplitMix64(seed: 42)
        let seeds = [#"{"a":[1,2,{"b":"c"}],"d":1.5e3,"e":"\u00e9"}"#, "[[[[]]]]", #""\"\\""#]
        for i in 0..<5000 {
            var bytes = Array(seeds[i % seeds.count].utf8)
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let pos = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[pos] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.remove(at: pos)
                default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: pos)
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            _ = try? JSONParser.parse(bytes)
        }
    }
}

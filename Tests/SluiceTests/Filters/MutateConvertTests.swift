import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    /// mutate's `convert`, in Logstash 8.x's lenient mode (mutate 3.5.8).
    @Suite struct MutateConvertTests {
        /// Converts each field of `fields` with `type` and returns the event.
        func convert(_ type: String, _ fields: [(String, Value)]) throws -> Event {
            let entries = fields.map { "\"\($0.0)\" => \"\(type)\"" }.joined(separator: " ")
            var map = Object()
            for (k, v) in fields { map[k] = v }
            return try FilterHarness.run("mutate { convert => { \(entries) } }", .object(map))
        }

        @Test func integer() throws {
            let e = try convert("integer", [
                ("s1", "1,000"), ("s2", "12abc"), ("s3", "3.9"), ("s4", "1e3"), ("s5", "abc"), ("s6", " -42"),
                ("s7", "1_000"), ("s8", "+7 apples"), ("f", 3.9), ("fn", -3.9), ("t", true), ("fa", false), ("i", 7),
                ("arr", ["1", nil, "2x", 3.5]), ("h", ["a": "1"]), ("n", nil),
            ])
            #expect(e.at("s1") == 1000)
            #expect(e.at("s2") == 12)
            #expect(e.at("s3") == 3)
            #expect(e.at("s4") == 1)
            #expect(e.at("s5") == 0)
            #expect(e.at("s6") == -42)
            #expect(e.at("s7") == 1000)
            #expect(e.at("s8") == 7)
            #expect(e.at("f") == 3)
            #expect(e.at("fn") == -3)
            #expect(e.at("t") == 1)
            #expect(e.at("fa") == 0)
            #expect(e.at("i") == 7)
            #expect(e.at("arr") == [1, nil, 2, 3])
            #expect(e.at("h") == ["a": "1"])
            #expect(e.at("n") == .null)
            #expect(e.tagList.isEmpty)
        }

        @Test func float() throws {
            let e = try convert("float", [
                ("a", "1e3"), ("b", "abc"), ("c", "1,234.5"), ("d", 2), ("e", true), ("f", "  .5"), ("g", "-1.5e-2x"),
                ("h", 2.5), ("i", "7."),
            ])
            #expect(e.at("a") == 1000.0)
            #expect(e.at("b") == 0.0)
            #expect(e.at("c") == 1234.5)
            #expect(e.at("d") == 2.0)
            #expect(e.at("e") == 1.0)
            #expect(e.at("f") == 0.5)
            #expect(e.at("g") == -0.015)
            #expect(e.at("h") == 2.5)
            #expect(e.at("i") == 7.0)
        }

        @Test func europeanFormats() throws {
            let i = try convert("integer_eu", [("a", "1.000,5"), ("b", "2.340"), ("c", 7), ("d", 2.9)])
            #expect(i.at("a") == 1000)
            #expect(i.at("b") == 2340)
            #expect(i.at("c") == 7)
            #expect(i.at("d") == 2)
            let f = try convert("float_eu", [("a", "1.000,5"), ("b", "3,14"), ("c", 1)])
            #expect(f.at("a") == 1000.5)
            #expect(f.at("b") == 3.14)
            #expect(f.at("c") == 1.0)
        }

        @Test func string() throws {
            let e = try convert("string", [
                ("i", 1), ("f", 1.0), ("t", true), ("big", 1e20), ("small", 0.0001), ("tiny", 1e-5), ("s", "x"),
                ("arr", ["a", 1, nil, 2.5]), ("h", ["k": 1]),
            ])
            #expect(e.at("i") == "1")
            #expect(e.at("f") == "1.0")
            #expect(e.at("t") == "true")
            #expect(e.at("big") == "1.0e+20")
            #expect(e.at("small") == "0.0001")
            #expect(e.at("tiny") == "1.0e-05")
            #expect(e.at("s") == "x")
            #expect(e.at("arr") == ["a", "1", nil, "2.5"])
            #expect(e.at("h") == ["k": 1])
        }

        @Test func stringOfTimestampIsISO8601() throws {
            let e = try FilterHarness.run(
                #"mutate { copy => { "@timestamp" => "ts" } convert => { "ts" => "string" } }"#,
                ["@timestamp": "2024-05-01T10:00:00.123Z"])
            // copy runs after convert: the copy is still a timestamp, converted by a second filter below.
            #expect(e.at("ts") == .timestamp(Timestamp.parseISO8601("2024-05-01T10:00:00.123Z")!))
            let f = try FilterHarness.run(
                #"""
                mutate { copy => { "@timestamp" => "ts" } }
                mutate { convert => { "ts" => "string" } }
                """#,
                ["@timestamp": "2024-05-01T10:00:00.123Z"])
            #expect(f.at("ts") == "2024-05-01T10:00:00.123Z")
        }

        @Test func boolean() throws {
            let e = try convert("boolean", [
                ("a", "true"), ("b", "Yes"), ("c", "y"), ("d", "1"), ("e", "1.0"), ("f", "1x0"), ("g", "F"), ("h", "no"),
                ("i", "0"), ("j", ""), ("k", 0), ("l", 1), ("m", 1.0), ("n", "maybe"), ("o", 2), ("p", "0.0"),
                ("q", ["t", "n", "?"]), ("r", false), ("s", "junk\ntrue"),
            ])
            #expect(e.at("a") == true)
            #expect(e.at("b") == true)
            #expect(e.at("c") == true)
            #expect(e.at("d") == true)
            #expect(e.at("e") == true)
            #expect(e.at("f") == true)  // the dot in 1.0 is a regex wildcard
            #expect(e.at("g") == false)
            #expect(e.at("h") == false)
            #expect(e.at("i") == false)
            #expect(e.at("j") == false)
            #expect(e.at("k") == false)
            #expect(e.at("l") == true)
            #expect(e.at("m") == true)
            #expect(e.at("n") == "maybe")  // left unchanged, with a warning only
            #expect(e.at("o") == 2)
            #expect(e.at("p") == false)
            #expect(e.at("q") == [true, false, "?"])
            #expect(e.at("r") == false)
            #expect(e.at("s") == true)  // Ruby's ^ and $ are line anchors
            #expect(e.tagList.isEmpty)
        }

        @Test func numericConversionOfNestedHashOrListIsAFailure() throws {
            let e = try FilterHarness.run(
                #"mutate { convert => { "a" => "integer" "b" => "float" } add_tag => ["ok"] }"#,
                ["a": ["1", ["x": 1]], "b": "2"])
            #expect(e.at("a") == ["1", ["x": 1]])
            #expect(e.at("b") == "2")  // convert stops at the first failure
            #expect(e.tagList == ["_mutate_error"])
        }

        @Test func nestedFieldsAndListElements() throws {
            let e = try FilterHarness.run(
                #"mutate { convert => { "[foo][bar]" => "integer" "[list][0]" => "float" "[list][5]" => "integer" } }"#,
                ["foo": ["bar": "1000"], "list": ["100", "200"]])
            #expect(e.at("[foo][bar]") == 1000)
            #expect(e.at("list") == [100.0, "200"])
            #expect(e.tagList.isEmpty)
        }

        @Test func unknownTypeIsAConfigErrorListingTheAllowedTypes() throws {
            let message = try #require(FilterHarness.configError(#"mutate { convert => { "a" => "int" } }"#))
            #expect(message.contains("expected one of [string, integer, float, boolean, integer_eu, float_eu], got 'int'"))
            #expect(message.contains("t.conf:2:"))
        }

        @Test func floatTruncationRejectsNaNAndInfinity() {
            #expect(throws: EventOperationError.self) { try MutateConversion.truncate(.nan) }
            #expect(throws: EventOperationError.self) { try MutateConversion.truncate(-.infinity) }
            #expect((try? MutateConversion.truncate(-2.9)) == -2)
            #expect((try? MutateConversion.truncate(1e30)) == Int.max)
        }
    }
}

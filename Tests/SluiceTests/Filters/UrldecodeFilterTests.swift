import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct UrldecodeFilterTests {
        @Test func decodesOneFieldOrAll() throws {
            let e = try BuiltinFilterHarness.run("urldecode { }", ["message": "http%3A%2F%2Fa.b%2F%3Fq%3Da+b%20c%zz"])
            #expect(e.at("message") == "http://a.b/?q=a+b c%zz")  // `+` stays: only %XX is decoded
            let all = try BuiltinFilterHarness.run("urldecode { all_fields => true }", ["a": "x%20y", "b": ["%41", ["c": "%42"]], "n": 1])
            #expect(all.at("a") == "x y")
            #expect(all.at("b") == ["A", ["c": "B"]])
            #expect(all.at("n") == 1)
        }

        @Test func missingFieldBecomesNullAndCharsets() throws {
            let e = try BuiltinFilterHarness.run(#"urldecode { field => "nope" }"#, ["message": "x"])
            #expect(e.includes(FieldReference("nope")))
            #expect(e.at("nope") == .null)
            let latin = try BuiltinFilterHarness.run(#"urldecode { charset => "ISO-8859-1" }"#, ["message": "caf%E9"])
            #expect(latin.at("message") == "café")
            let invalid = try BuiltinFilterHarness.run("urldecode { }", ["message": "a%FFb"])
            #expect(invalid.at("message") == "a\\xFFb")
            #expect(BuiltinFilterHarness.configError(#"urldecode { charset => "EBCDIC" }"#)?.contains("UTF-8") == true)
        }

        @Test func failuresAreTagged() throws {
            let e = try BuiltinFilterHarness.run(#"urldecode { field => "a[b" add_tag => ["ok"] }"#, ["message": "x"])
            #expect(e.tagList == ["_urldecodefailure"])
            let dlq = RecordingDeadLetterQueue()
            let out = try BuiltinFilterHarness.run(#"urldecode { field => "a[b" on_error => "dlq" }"#, [["message": "x"]], dlq: dlq)
            #expect(out.isEmpty)
            #expect(dlq.entries.first?.reason.contains("urldecode: cannot decode field [a[b]") == true)
        }
    }
}

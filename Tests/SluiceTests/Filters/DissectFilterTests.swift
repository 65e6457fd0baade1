import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct DissectFilterTests {
        func dissect(_ pattern: String, _ text: String, extra: String = "") throws -> Event {
            try BuiltinFilterHarness.run(
                "dissect { mapping => { \"message\" => '\(pattern)' } \(extra) }", ["message": .string(text)])
        }

        @Test func normalFieldsTakeTextUpToEachDelimiterAndTheLastTakesTheRest() throws {
            let e = try dissect("%{a} %{b} %{c}", "foo bar   baz")
            #expect(e.at("a") == "foo")
            #expect(e.at("b") == "bar")
            #expect(e.at("c") == "  baz")
        }

        @Test func consecutiveDelimitersAreEmptyFields() throws {
            let e = try dissect("%{name},%{addr1},%{addr2},%{addr3},%{city},%{zip}", "Jane Doe,4321 Fifth Avenue,,,New York,87432")
            #expect(e.at("addr2") == "")
            #expect(e.at("addr3") == "")
            #expect(e.at("city") == "New York")
            #expect(e.at("zip") == "87432")
        }

        @Test func paddingModifierSkipsRepeatedDelimiters() throws {
            let e = try dissect("%{id} %{function->} %{server}", "f3000a3b Calc            machine-123")
            #expect(e.at("function") == "Calc")
            #expect(e.at("server") == "machine-123")
            // No padding at all still matches (logstash-filter-dissect 1.2.5 fix).
            let plain = try dissect("%{a->} %{b}", "foo bar")
            #expect(plain.at("a") == "foo")
            #expect(plain.at("b") == "bar")
            #expect(plain.tagList.isEmpty)
        }

        @Test func appendJoinsWithThePrecedingDelimiterInOrdinalOrder() throws {
            let e = try dissect("%{+a/2} %{+a/1} %{+a/4} %{+a/3}", "1 2 3 go")
            #expect(e.at("a") == "2 1 go 3")
            let declared = try dissect("%{a} %{b} %{+a}", "1 2 3 go")
            #expect(declared.at("a") == "1 3 go")
            #expect(declared.at("b") == "2")
            let ts = try dissect("%{ts} %{+ts} %{+ts} %{src} %{} %{prog}[%{pid}]: %{msg}", "Mar 16 00:01:25 evita skipped postfix/smtpd[1713]: connect from camomile")
            #expect(ts.at("ts") == "Mar 16 00:01:25")
            #expect(ts.at("src") == "evita")
            #expect(ts.at("prog") == "postfix/smtpd")
            #expect(ts.at("pid") == "1713")
            #expect(ts.at("msg") == "connect from camomile")
        }

        @Test func skipAndIndirectFields() throws {
            let e = try dissect("%{?a}: %{&a}", "google: 77.98")
            #expect(e.at("google") == "77.98")
            #expect(e.at("a") == nil)
            let kv = try dissect("%{k1}=%{&k1}, %{k2}=%{&k2}", "foo=bar, baz=quux")
            #expect(kv.at("foo") == "bar")
            #expect(kv.at("baz") == "quux")
            #expect(kv.at("k1") == "foo")
        }

        @Test func leadingAndTrailingDelimitersMustBeFound() throws {
            let e = try dissect("[%{a}] %{b}.", "[x y] z.")
            #expect(e.at("a") == "x y")
            #expect(e.at("b") == "z")
            let missing = try dissect("[%{a}] %{b}.", "x y] z")
            #expect(missing.tagList == ["_dissectfailure"])
            #expect(missing.at("a") == nil)
        }

        @Test func nestedFieldNames() throws {
            let e = try dissect("%{[a][b]} %{c}", "1 2")
            #expect(e.at("[a][b]") == "1")
        }

        @Test func failureTagsLeaveTheEventAndSkipDecorations() throws {
            let e = try dissect("%{a} - %{b}", "no delimiter here", extra: #"add_tag => ["ok"] tag_on_failure => ["_x", "_y"]"#)
            #expect(e.tagList == ["_x", "_y"])
            #expect(e.at("a") == nil)
        }

        @Test func missingSourceFieldIsNotAFailure() throws {
            let e = try BuiltinFilterHarness.run(#"dissect { mapping => { "other" => "%{a} %{b}" } add_tag => ["ok"] }"#, ["message": "x"])
            #expect(e.tagList == ["ok"])
        }

        @Test func convertDatatype() throws {
            let e = try dissect(
                "%{code} %{cpu} %{bad}", "200 1.5 x",
                extra: #"convert_datatype => { "code" => "int" "cpu" => "float" "bad" => "int" "none" => "float" "code2" => "bool" }"#)
            #expect(e.at("code") == 200)
            #expect(e.at("cpu") == 1.5)
            #expect(e.at("bad") == "x")
            #expect(e.tagList == ["_dataconversionuncoercible_bad_int", "_dataconversionnullvalue_none_float", "_dataconversionmissing_code2_bool"])
        }

        @Test func invalidPatternsAreConfigErrors() {
            #expect(BuiltinFilterHarness.configError(#"dissect { mapping => { "message" => "%{+&a} x" } }"#)?.contains("Append and Indirect") == true)
            #expect(BuiltinFilterHarness.configError(#"dissect { mapping => { "message" => "no fields" } }"#)?.contains("no %{} field") == true)
        }

        @Test func failuresGoToTheDLQWithOnError() throws {
            let dlq = RecordingDeadLetterQueue()
            let out = try BuiltinFilterHarness.run(
                #"dissect { id => "d" mapping => { "message" => "%{a} - %{b}" } on_error => "dlq" }"#,
                [["message": "a - b"], ["message": "nope"]], dlq: dlq)
            #expect(out.count == 1)
            #expect(out[0].at("b") == "b")
            #expect(dlq.entries.count == 1)
            #expect(dlq.entries[0].pluginID == "d")
            #expect(dlq.entries[0].reason.contains("does not match field [message]"))
            #expect(dlq.entries[0].event.at("message") == "nope")
            #expect(dlq.entries[0].event.tagList.isEmpty)
        }
    }
}

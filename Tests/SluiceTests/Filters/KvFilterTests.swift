import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct KvFilterTests {
        @Test func defaultsParseQuotedBracketedAndPlainValues() throws {
            let e = try BuiltinFilterHarness.run(
                "kv { }",
                ["message": #"hello=world foo=bar baz=fizz doublequoted="hello world" singlequoted='hello world' bracketsone=(hello world) bracketstwo=[hello world] bracketsthree=<hello world>"#])
            #expect(e.at("hello") == "world")
            #expect(e.at("baz") == "fizz")
            #expect(e.at("doublequoted") == "hello world")
            #expect(e.at("singlequoted") == "hello world")
            #expect(e.at("bracketsone") == "hello world")
            #expect(e.at("bracketstwo") == "hello world")
            #expect(e.at("bracketsthree") == "hello world")
        }

        @Test func withoutBracketsTheyArePartOfTheValue() throws {
            let e = try BuiltinFilterHarness.run("kv { include_brackets => false }", ["message": "a=(x) b=[y]"])
            #expect(e.at("a") == "(x)")
            #expect(e.at("b") == "[y]")
        }

        @Test func splittersTrimRemoveAndTransform() throws {
            let e = try BuiltinFilterHarness.run(
                #"kv { field_split => "&?" value_split => ":" trim_key => "<>" trim_value => "," remove_char_key => "-" remove_char_value => "x" transform_key => "uppercase" transform_value => "capitalize" }"#,
                ["message": "?<ke-y>:vaLUEx,&k2:vX"])
            #expect(e.at("KEY") == "Value")
            #expect(e.at("K2") == "Vx")
        }

        @Test func patternsPrefixTargetAndDefaults() throws {
            let e = try BuiltinFilterHarness.run(
                #"kv { field_split_pattern => ",\s*" value_split_pattern => "::" prefix => "p_" target => "[kv]" default_keys => { "p_a" => "default" "p_z" => "zz" } }"#,
                ["message": "a::1,  b::2"])
            #expect(e.at("[kv][p_a]") == "1")
            #expect(e.at("[kv][p_b]") == "2")
            #expect(e.at("[kv][p_z]") == "zz")
            #expect(e.at("p_a") == nil)
        }

        @Test func includeAndExcludeKeys() throws {
            let e = try BuiltinFilterHarness.run(#"kv { include_keys => ["a", "%{want}"] exclude_keys => ["b"] }"#, ["message": "a=1 b=2 c=3 d=4", "want": "c"])
            #expect(e.at("a") == "1")
            #expect(e.at("b") == nil)
            #expect(e.at("c") == "3")
            #expect(e.at("d") == nil)
        }

        @Test func repeatedKeysMakeListsAndDuplicatesCanBeDropped() throws {
            let e = try BuiltinFilterHarness.run("kv { }", ["message": "a=1 a=1 a=2"])
            #expect(e.at("a") == ["1", "1", "2"])
            let unique = try BuiltinFilterHarness.run("kv { allow_duplicate_values => false }", ["message": "a=1 a=1 a=2 b=foobar b=foo"])
            #expect(unique.at("a") == ["1", "2"])
            // Ruby's String#include?: "foo" is inside "foobar", so it is dropped.
            #expect(unique.at("b") == "foobar")
        }

        @Test func recursiveParsesNestedPairs() throws {
            let e = try BuiltinFilterHarness.run("kv { recursive => true }", ["message": #"a="b=c d=e" f=g"#])
            #expect(e.at("[a][b]") == "c")
            #expect(e.at("[a][d]") == "e")
            #expect(e.at("f") == "g")
        }

        @Test func whitespaceModesAndEmptyValues() throws {
            let lenient = try BuiltinFilterHarness.run("kv { }", ["message": "a = 1 b= c=3"])
            #expect(lenient.at("a") == "1")
            #expect(lenient.at("b") == "c=3")
            let strict = try BuiltinFilterHarness.run(#"kv { whitespace => "strict" allow_empty_values => true }"#, ["message": "a=1 b= c=3"])
            #expect(strict.at("b") == "")
            #expect(strict.at("c") == "3")
            let dropped = try BuiltinFilterHarness.run(#"kv { whitespace => "strict" }"#, ["message": "a=1 b= c=3"])
            #expect(dropped.at("b") == nil)
        }

        @Test func listsOfStringsAreParsedAndOtherTypesIgnored() throws {
            let e = try BuiltinFilterHarness.run(#"kv { add_tag => ["ok"] }"#, ["message": ["a=1", "b=2"]])
            #expect(e.at("a") == "1")
            #expect(e.at("b") == "2")
            #expect(e.tagList == ["ok"])
            let number = try BuiltinFilterHarness.run(#"kv { add_tag => ["ok"] }"#, ["message": 5])
            #expect(number.tagList.isEmpty)
        }

        @Test func invalidKeysAreFailures() throws {
            let dlq = RecordingDeadLetterQueue()
            let e = try BuiltinFilterHarness.run(#"kv { add_tag => ["ok"] }"#, ["message": "a[b=1"])
            #expect(e.tagList == ["_kv_filter_error"])
            let out = try BuiltinFilterHarness.run(#"kv { on_error => "dlq" }"#, [["message": "a[b=1"]], dlq: dlq)
            #expect(out.isEmpty)
            #expect(dlq.entries.first?.reason.contains("Invalid FieldReference") == true)
        }

        @Test func configErrors() {
            #expect(BuiltinFilterHarness.configError(#"kv { value_split => "" }"#)?.contains("value_split") == true)
            #expect(BuiltinFilterHarness.configError(#"kv { field_split_pattern => "(" }"#) != nil)
            #expect(BuiltinFilterHarness.configError(#"kv { transform_key => "snake" }"#)?.contains("lowercase, uppercase, capitalize") == true)
        }
    }
}

import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct DeDotFilterTests {
        @Test func replacesDotsInTopLevelNames() throws {
            let e = try BuiltinFilterHarness.run("de_dot { }", ["a.b": 1, "c": ["d.e": 2]])
            #expect(e.at("a_b") == 1)
            #expect(e.fields["a.b"] == nil)
            #expect(e.at("[c][d.e]") == 2)
        }

        @Test func nestedSeparatorFieldsAndRecursion() throws {
            let nested = try BuiltinFilterHarness.run("de_dot { nested => true }", ["a.b.c": 1])
            #expect(nested.at("[a][b][c]") == 1)
            let fields = try BuiltinFilterHarness.run(#"de_dot { fields => ["[foo][bar.suffix]"] separator => "__" }"#, ["foo": ["bar.suffix": 1], "x.y": 2])
            #expect(fields.at("[foo][bar__suffix]") == 1)
            #expect(fields.fields["x.y"] == 2)
            let recursive = try BuiltinFilterHarness.run("de_dot { recursive => true }", ["a.b": ["c.d": ["e.f": 1]]])
            #expect(recursive.at("[a_b][c_d][e_f]") == 1)
        }

        @Test func separatorMayNotContainADot() {
            #expect(BuiltinFilterHarness.configError(#"de_dot { separator => "." }"#)?.contains("separator cannot be or contain '.'") == true)
        }
    }
}

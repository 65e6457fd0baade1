import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct TruncateFilterTests {
        @Test func truncatesOnCharacterBoundaries() throws {
            let e = try BuiltinFilterHarness.run(#"truncate { fields => ["a", "b", "h", "n"] length_bytes => 5 }"#, ["a": "hello world", "b": ["ééé", 1, "abcdefg"], "h": ["x": "123456", "y": ["z": "abcdef"]], "n": 1234567])
            #expect(e.at("a") == "hello")
            #expect(e.at("b") == ["éé", 1, "abcde"])
            #expect(e.at("[h][x]") == "12345")
            #expect(e.at("[h][y][z]") == "abcde")
            #expect(e.at("n") == 1234567)
            #expect(TruncateFilter.trim("日本語", 4) == "日")
            #expect(TruncateFilter.trim("abc", 0) == "")
        }

        @Test func allFieldsByDefault() throws {
            let e = try BuiltinFilterHarness.run(#"truncate { length_bytes => 2 add_tag => ["t"] }"#, ["message": "abc", "other": "xyz"])
            #expect(e.at("message") == "ab")
            #expect(e.at("other") == "xy")
            #expect(e.at("@version") == "1")
            #expect(e.tagList == ["t"])
        }

        @Test func lengthIsRequired() {
            #expect(BuiltinFilterHarness.configError("truncate { }")?.contains("length_bytes") == true)
        }
    }
}

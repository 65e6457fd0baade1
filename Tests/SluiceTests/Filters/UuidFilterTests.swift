import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct UuidFilterTests {
        @Test func addsVersion4UUIDsUnlessPresent() throws {
            let out = try BuiltinFilterHarness.run(#"uuid { target => "id" }"#, [["a": 1], ["a": 2], ["id": "keep"]])
            let first = try #require(out[0].at("id")?.stringValue)
            #expect(first.count == 36)
            #expect(Array(first)[14] == "4")
            #expect("89ab".contains(Array(first)[19]))
            #expect(first == first.lowercased())
            #expect(out[1].at("id") != out[0].at("id"))
            #expect(out[2].at("id") == "keep")
            let over = try BuiltinFilterHarness.run(#"uuid { target => "id" overwrite => true }"#, ["id": "keep"])
            #expect(over.at("id") != "keep")
            #expect(BuiltinFilterHarness.configError("uuid { }")?.contains("target") == true)
        }
    }
}

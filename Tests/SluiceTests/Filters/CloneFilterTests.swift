import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct CloneFilterTests {
        @Test func clonesSetTypeOrTagsByECSMode() throws {
            let out = try BuiltinFilterHarness.run(#"clone { clones => ["a", "b"] }"#, [["message": "m"]])
            #expect(out.count == 3)
            #expect(out[0].at("type") == nil)
            #expect(out[1].at("type") == "a")
            #expect(out[2].at("type") == "b")
            #expect(out[1].at("message") == "m")
            let ecs = try BuiltinFilterHarness.run(#"clone { clones => ["a"] }"#, [["message": "m"]], ecs: .v8)
            #expect(ecs[1].tagList == ["a"])
            #expect(ecs[1].at("type") == nil)
            let none = try BuiltinFilterHarness.run(#"clone { }"#, [["message": "m"]])
            #expect(none.count == 1)
        }
    }
}

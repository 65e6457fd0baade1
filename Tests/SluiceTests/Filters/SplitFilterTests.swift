import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct SplitFilterTests {
        @Test func splitsStringsSkippingEmptyPieces() throws {
            let out = try BuiltinFilterHarness.run(#"split { }"#, [["message": "a\nb\n\nc", "k": 1]])
            #expect(out.map { $0.at("message") } == ["a", "b", "c"])
            #expect(out.allSatisfy { $0.at("k") == 1 })
        }

        @Test func terminatorTargetAndLists() throws {
            let out = try BuiltinFilterHarness.run(#"split { field => "list" target => "item" }"#, [["list": [1, ["x": 2]]]])
            #expect(out.map { $0.at("item") } == [1, ["x": 2]])
            #expect(out.allSatisfy { $0.at("list") == [1, ["x": 2]] })
            let comma = try BuiltinFilterHarness.run(#"split { terminator => "," }"#, [["message": "x,y"]])
            #expect(comma.map { $0.at("message") } == ["x", "y"])
        }

        @Test func oneOrNoPieces() throws {
            let single = try BuiltinFilterHarness.run(#"split { }"#, [["message": "abc"]])
            #expect(single.count == 1)
            let empty = try BuiltinFilterHarness.run(#"split { field => "l" }"#, [["l": []]])
            #expect(empty.isEmpty)
        }

        @Test func nonSplittableIsTaggedAndCanGoToTheDLQ() throws {
            let e = try BuiltinFilterHarness.run(#"split { field => "n" }"#, [["n": 5]])
            #expect(e.count == 1)
            #expect(e[0].tagList == ["_split_type_failure"])
            let missing = try BuiltinFilterHarness.run(#"split { field => "nope" }"#, [["n": 5]])
            #expect(missing[0].tagList == ["_split_type_failure"])
            let dlq = RecordingDeadLetterQueue()
            let out = try BuiltinFilterHarness.run(#"split { field => "n" on_error => "dlq" }"#, [["n": ["a": 1]]], dlq: dlq)
            #expect(out.isEmpty)
            #expect(dlq.entries.first?.reason == "split: field [n] is a Hash, not a String or an Array")
        }
    }
}

import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    /// The Ruby core methods mutate relies on.
    @Suite struct RubySemanticsTests {
        @Test func toI() {
            #expect(Ruby.toI("42") == 42)
            #expect(Ruby.toI("  \t-17xyz") == -17)
            #expect(Ruby.toI("1_000_000") == 1_000_000)
            #expect(Ruby.toI("1__0") == 1)
            #expect(Ruby.toI("_1") == 0)
            #expect(Ruby.toI("0x1A") == 0)
            #expect(Ruby.toI("- 5") == 0)
            #expect(Ruby.toI("") == 0)
            #expect(Ruby.toI("-9223372036854775808") == Int.min)
            #expect(Ruby.toI("99999999999999999999") == Int.max)
        }

        @Test func toF() {
            #expect(Ruby.toF("1.5") == 1.5)
            #expect(Ruby.toF(" -2.5e3abc") == -2500)
            #expect(Ruby.toF(".25") == 0.25)
            #expect(Ruby.toF("1e") == 1)
            #expect(Ruby.toF("1.e5") == 1)
            #expect(Ruby.toF("1_000.5") == 1000.5)
            #expect(Ruby.toF("0x1A") == 0)
            #expect(Ruby.toF("Infinity") == 0)
            #expect(Ruby.toF("1e400") == .infinity)
        }

        @Test func split() {
            #expect(Ruby.split("a,b,,", ",") == ["a", "b"])
            #expect(Ruby.split(",", ",") == [])
            #expect(Ruby.split("a b", ",") == ["a b"])
            #expect(Ruby.split(" a \n b ", " ") == ["a", "b"])
            #expect(Ruby.split("ab", "") == ["a", "b"])
            #expect(Ruby.split("a--b---c", "--") == ["a", "b", "-c"])
        }

        @Test func stripCapitalizeJoin() {
            #expect(Ruby.strip("\0 \t x y \n\u{0B}\u{0C}\r") == "x y")
            #expect(Ruby.strip("\u{00A0}x") == "\u{00A0}x")  // not ASCII whitespace
            #expect(Ruby.capitalize("ǆemal") == "ǅemal")
            #expect(Ruby.capitalize("") == "")
            #expect(Ruby.join([1, nil, [2, [3, []]], "s"], ", ") == "1, , 2, 3, , s")
        }

        @Test func toSAndInspect() {
            #expect(Ruby.toS(["a": 1, "b": [nil, "x\"y", 2.0]]) == #"{"a"=>1, "b"=>[nil, "x\"y", 2.0]}"#)
            #expect(Ruby.inspect("tab\there #{x}") == ##""tab\there \#{x}""##)
            #expect(Ruby.toS(nil) == "")
            #expect(Ruby.toS(1e20) == "1.0e+20")
        }

        @Test func kernelArray() {
            #expect(Ruby.array(nil) == [])
            #expect(Ruby.array(.null) == [])
            #expect(Ruby.array("x") == ["x"])
            #expect(Ruby.array([1, 2]) == [1, 2])
        }

        @Test func strictSetChecks() throws {
            let e = Event()
            #expect(throws: EventOperationError.self) { try e.strictSet(.timestamp, "2024-01-01") }
            #expect(throws: EventOperationError.self) { try e.strictSet(.tags, [1]) }
            #expect(throws: EventOperationError.self) { try e.strictSet(FieldReference("[tags][x]"), "a") }
            try e.strictSet(.tags, ["a", "b"])
            try e.strictSet(FieldReference("[@metadata][tags]"), [1])
            e.fields["s"] = "scalar"
            #expect(throws: EventOperationError.self) { try e.strictSet(FieldReference("[s][x]"), 1) }
            #expect(e.at("tags") == ["a", "b"])
        }
    }
}

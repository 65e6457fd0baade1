import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct MutateFilterTests {
        // MARK: coerce, rename, update, replace

        @Test func coerceSetsDefaultOnlyWhenFieldExistsAndIsNull() throws {
            let e = try FilterHarness.run(
                #"mutate { coerce => { "a" => "default" "b" => "unused" "c" => "%{d}-z" "m" => "x" } }"#,
                ["a": nil, "b": "keep", "c": nil, "d": 5])
            #expect(e.at("a") == "default")
            #expect(e.at("b") == "keep")
            #expect(e.at("c") == "5-z")
            #expect(e.at("m") == nil)
        }

        @Test func renameMovesValuesWithSprintfNamesAndSkipsMissing() throws {
            let e = try FilterHarness.run(
                #"""
                mutate { rename => {
                    "old" => "new"
                    "[src][x]" => "[dst][y]"
                    "%{which}" => "renamed_%{which}"
                    "missing" => "never"
                    "n" => "over"
                } }
                """#,
                ["old": 1, "src": ["x": "v"], "which": "w", "w": true, "n": nil, "over": "overwritten"])
            #expect(e.at("new") == 1)
            #expect(e.at("old") == nil)
            #expect(e.at("[dst][y]") == "v")
            #expect(e.at("src") == .object(Object()))
            #expect(e.at("renamed_w") == true)
            #expect(e.at("w") == nil)
            #expect(e.at("never") == nil)
            #expect(e.at("over") == .null)
            #expect(e.at("n") == nil)
            #expect(e.tagList.isEmpty)
        }

        @Test func renameIntoAPathThroughAScalarFailsAndLosesTheField() throws {
            // Logstash removes the old field first, then `set` raises.
            let e = try FilterHarness.run(#"mutate { rename => { "a" => "[s][x]" } }"#, ["a": 1, "s": "scalar"])
            #expect(e.at("a") == nil)
            #expect(e.at("s") == "scalar")
            #expect(e.tagList == ["_mutate_error"])
        }

        @Test func updateOnlyTouchesExistingFieldsAndAlwaysWritesStrings() throws {
            let e = try FilterHarness.run(
                #"mutate { update => { "a" => "%{b}!" "n" => "%{b}" "missing" => "x" } }"#, ["a": 1, "b": 2, "n": nil])
            #expect(e.at("a") == "2!")
            #expect(e.at("n") == "2")
            #expect(e.at("missing") == nil)
        }

        @Test func replaceCreatesFieldsAndKeepsMissingReferencesLiteral() throws {
            let e = try FilterHarness.run(
                #"mutate { replace => { "a" => "new %{b}" "c" => "%{nope}" "[n][m]" => "v" "num" => 5 } }"#,
                ["a": 1, "b": [1, 2]])
            #expect(e.at("a") == "new 1,2")
            #expect(e.at("c") == "%{nope}")
            #expect(e.at("[n][m]") == "v")
            #expect(e.at("num") == "5")
        }

        @Test func replacingTimestampWithAStringIsAFailure() throws {
            let e = try FilterHarness.run(
                #"mutate { replace => { "@timestamp" => "2024-01-01T00:00:00Z" } }"#,
                ["@timestamp": "2020-05-01T10:00:00.000Z"])
            #expect(e.timestamp?.iso8601 == "2020-05-01T10:00:00.000Z")
            #expect(e.tagList == ["_mutate_error"])
        }

        // MARK: gsub

        @Test func gsubReplacesWithBackreferencesOnStringsAndStringElements() throws {
            let e = try FilterHarness.run(
                #"""
                mutate { gsub => [
                    "a", "/", "_",
                    "b", "(\d+)-(\d+)", "\2-\1",
                    "c", "o", "0",
                    "d", "^\s+", "",
                    "e", "x*", "-",
                    "f", "a+", "<\0|\&>",
                    "g", "(?<first>\w+) (?<last>\w+)", "\k<last>, \k<first>",
                    "path", "\x5c", "/",
                    "num", "1", "2"
                ] }
                """#,
                [
                    "a": "x/y/z", "b": "10-20 and 3-4", "c": ["foo", 5, "boo"], "d": "  one\n  two", "e": "abc",
                    "f": "baaad", "g": "John Smith", "path": "a\\b\\c", "num": 1,
                ])
            #expect(e.at("a") == "x_y_z")
            #expect(e.at("b") == "20-10 and 4-3")
            #expect(e.at("c") == ["f00", 5, "b00"])
            #expect(e.at("d") == "one\ntwo")  // Ruby's ^ matches at every line start
            #expect(e.at("e") == "-a-b-c-")
            #expect(e.at("f") == "b<aaa|aaa>d")
            #expect(e.at("g") == "Smith, John")
            #expect(e.at("path") == "a/b/c")
            #expect(e.at("num") == 1)
            #expect(e.tagList.isEmpty)
        }

        @Test func gsubRendersReplacementAndDynamicPatternPerEvent() throws {
            let out = try FilterHarness.run(
                #"mutate { gsub => [ "msg", "%{who}", "[%{who}]", "msg", "!", "%{punct}" ] }"#,
                [["msg": "hello bob!", "who": "bob", "punct": "?"], ["msg": "hi ann, ann!", "who": "ann", "punct": "."]])
            #expect(out[0].at("msg") == "hello [bob]?")
            #expect(out[1].at("msg") == "hi [ann], [ann].")
        }

        @Test func gsubWithAnInvalidDynamicPatternFailsTheEvent() throws {
            let e = try FilterHarness.run(#"mutate { gsub => [ "msg", "%{p}", "x" ] add_tag => ["ok"] }"#, ["msg": "a(b", "p": "("])
            #expect(e.at("msg") == "a(b")
            #expect(e.tagList == ["_mutate_error"])
        }

        @Test func gsubConfigErrors() {
            let count = FilterHarness.configError(#"mutate { gsub => [ "a", "b" ] }"#)
            #expect(count?.contains("gsub requires 3 non-nil elements per config entry") == true)
            let pattern = FilterHarness.configError(#"mutate { gsub => [ "a", "(unclosed", "b" ] }"#)
            #expect(pattern?.contains("Invalid gsub pattern for field 'a'") == true)
            #expect(pattern?.contains("t.conf:1:") == false)
            #expect(pattern?.contains("t.conf:2:") == true)
        }

        // MARK: case, strip, split, join

        @Test func caseOperationsChangeStringsAndStringElementsOnly() throws {
            let e = try FilterHarness.run(
                #"mutate { uppercase => ["u", "ua", "n"] capitalize => ["c", "ca"] lowercase => ["l"] }"#,
                ["u": "hello ß", "ua": ["a", 1, "b"], "n": 5, "c": "hELLO wORLD", "ca": ["éCOLE", nil], "l": "ÀB Ç"])
            #expect(e.at("u") == "HELLO SS")
            #expect(e.at("ua") == ["A", 1, "B"])
            #expect(e.at("n") == 5)
            #expect(e.at("c") == "Hello world")
            #expect(e.at("ca") == ["École", nil])
            #expect(e.at("l") == "àb ç")
            #expect(e.tagList.isEmpty)
        }

        @Test func stripRemovesOuterWhitespaceAndRejectsNonStringElements() throws {
            let ok = try FilterHarness.run(
                #"mutate { strip => ["s", "a", "n"] }"#, ["s": "  a b \t\n", "a": [" x ", "y\r\n"], "n": 3])
            #expect(ok.at("s") == "a b")
            #expect(ok.at("a") == ["x", "y"])
            #expect(ok.at("n") == 3)
            let bad = try FilterHarness.run(#"mutate { strip => ["a"] }"#, ["a": [" x", 1]])
            #expect(bad.at("a") == [" x", 1])
            #expect(bad.tagList == ["_mutate_error"])
        }

        @Test func splitFollowsRubyStringSplit() throws {
            let e = try FilterHarness.run(
                #"""
                mutate { split => { "csv" => "," "ws" => " " "chars" => "" "multi" => "::" "empty" => "," "num" => "," } }
                """#,
                ["csv": ",a,,b,,", "ws": "  one  two\tthree ", "chars": "héy", "multi": "a::b::", "empty": "", "num": 5])
            #expect(e.at("csv") == ["", "a", "", "b"])
            #expect(e.at("ws") == ["one", "two", "three"])
            #expect(e.at("chars") == ["h", "é", "y"])
            #expect(e.at("multi") == ["a", "b"])
            #expect(e.at("empty") == [])
            #expect(e.at("num") == 5)
        }

        @Test func joinFlattensNestedListsAndSkipsNonLists() throws {
            let e = try FilterHarness.run(
                #"mutate { join => { "a" => "-" "s" => "," "h" => "," } }"#,
                ["a": [1, [2, [3]], nil, "x", 1.5, true, []], "s": "str", "h": ["k": 1]])
            #expect(e.at("a") == "1-2-3--x-1.5-true-")
            #expect(e.at("s") == "str")
            #expect(e.at("h") == ["k": 1])
        }

        // MARK: merge, copy

        @Test func mergeCoversListsScalarsHashesAndMissingFields() throws {
            let e = try FilterHarness.run(
                #"""
                mutate { merge => {
                    "arr" => "str"
                    "s1" => "s2"
                    "h1" => "h2"
                    "harr" => "arr2"
                    "scalar" => "missing"
                    "none" => "missing2"
                    "newdest" => "str2"
                    "lists" => "arr3"
                } }
                """#,
                [
                    "arr": ["a"], "str": "b", "s1": "x", "s2": "y", "h1": ["a": 1, "b": 2], "h2": ["b": 3, "c": 4],
                    "harr": ["a": 1], "arr2": ["z"], "scalar": "v", "str2": "q", "lists": [1, 2], "arr3": [3, [4]],
                ])
            #expect(e.at("arr") == ["a", "b"])
            #expect(e.at("s1") == ["x", "y"])
            #expect(e.at("h1") == ["a": 1, "b": 3, "c": 4])
            #expect(e.at("harr") == ["a": 1])  // hash + list: logged and skipped, not a failure
            #expect(e.at("scalar") == ["v"])
            #expect(e.at("none") == [])
            #expect(e.at("newdest") == ["q"])
            #expect(e.at("lists") == [1, 2, 3, [4]])
            #expect(e.tagList.isEmpty)
        }

        @Test func mergeWithSeveralSourcesKeepsUpstreamQuirk() throws {
            let config = #"mutate { merge => { "d" => ["s1", "s2"] } }"#
            // A scalar destination is rebuilt from its original value for each source: only the last one survives.
            let scalar = try FilterHarness.run(config, ["d": "x", "s1": "a", "s2": "b"])
            #expect(scalar.at("d") == ["x", "b"])
            // A list destination accumulates.
            let list = try FilterHarness.run(config, ["d": ["x"], "s1": "a", "s2": ["b", "c"]])
            #expect(list.at("d") == ["x", "a", "b", "c"])
            // Hashes accumulate too.
            let hash = try FilterHarness.run(config, ["d": ["a": 1], "s1": ["b": 2], "s2": ["c": 3]])
            #expect(hash.at("d") == ["a": 1, "b": 2, "c": 3])
            // The flat-list form with a repeated key means the same.
            let flat = try FilterHarness.run(#"mutate { merge => ["d", "s1", "d", "s2"] }"#, ["d": ["x"], "s1": "a", "s2": "b"])
            #expect(flat.at("d") == ["x", "a", "b"])
        }

        @Test func copyDeepCopiesOverwritingAndSkipsMissingOrNull() throws {
            let e = try FilterHarness.run(
                #"mutate { copy => { "src" => "dst" "[h]" => "[deep][copy]" "missing" => "x" "n" => "nn" } }"#,
                ["src": "v", "dst": "old", "h": ["k": [1]], "n": nil])
            #expect(e.at("dst") == "v")
            #expect(e.at("src") == "v")
            #expect(e.at("[deep][copy]") == ["k": [1]])
            #expect(e.at("h") == ["k": [1]])
            #expect(e.at("x") == nil)
            #expect(e.at("nn") == nil)
        }

        // MARK: Order, failures, decorations

        @Test func operationsRunInLogstashOrderWhateverTheConfigOrder() throws {
            let e = try FilterHarness.run(
                #"""
                mutate {
                    copy => { "a" => "copied" }
                    join => { "list" => "+" }
                    split => { "list" => "," }
                    lowercase => [ "a" ]
                    uppercase => [ "a" ]
                    gsub => [ "a", "x", "y" ]
                    convert => { "num" => "integer" }
                    replace => { "num" => "%{n2}" }
                    rename => { "r" => "a" }
                    coerce => { "r" => "from-coerce" }
                }
                """#,
                ["r": nil, "list": "p,q", "n2": "12.7"])
            // coerce → rename → replace → convert → gsub → uppercase → lowercase → split → join → copy
            #expect(e.at("r") == nil)
            #expect(e.at("a") == "from-coerce")
            #expect(e.at("copied") == "from-coerce")
            #expect(e.at("num") == 12)
            #expect(e.at("list") == "p+q")

            let g = try FilterHarness.run(
                #"mutate { uppercase => ["a"] gsub => ["a", "x", "y"] }"#, ["a": "xax"])
            #expect(g.at("a") == "YAY")  // gsub ran first, on the lower-case text
        }

        @Test func failureKeepsEarlierChangesSkipsLaterOnesAndDecorations() throws {
            let config = #"""
                mutate {
                    replace => { "before" => "done" }
                    strip => [ "bad" ]
                    split => { "after" => "," }
                    add_tag => [ "ok" ]
                    add_field => { "added" => "yes" }
                }
                """#
            let failed = try FilterHarness.run(config, ["bad": [" a", 1], "after": "x,y"])
            #expect(failed.at("before") == "done")
            #expect(failed.at("after") == "x,y")
            #expect(failed.at("added") == nil)
            #expect(failed.tagList == ["_mutate_error"])

            let succeeded = try FilterHarness.run(config, ["bad": [" a "], "after": "x,y"])
            #expect(succeeded.at("after") == ["x", "y"])
            #expect(succeeded.at("added") == "yes")
            #expect(succeeded.tagList == ["ok"])
        }

        @Test func customFailureTagIsAddedOnce() throws {
            let e = try FilterHarness.run(
                #"mutate { convert => { "tags" => "integer" } tag_on_failure => "_custom" }"#,
                ["tags": ["1", "_custom"]])
            // Setting tags to a list of integers is rejected, as Logstash rejects illegal tags values.
            #expect(e.at("tags") == ["1", "_custom"])
        }

        @Test func invalidFieldReferenceFailsEachEvent() throws {
            let out = try FilterHarness.run(
                #"mutate { uppercase => ["a[b"] add_tag => ["ok"] }"#, [["a": "x"], ["b": "y"]])
            #expect(out.map(\.tagList) == [["_mutate_error"], ["_mutate_error"]])
        }

        @Test func writesBelowTagsAreRejected() throws {
            let e = try FilterHarness.run(#"mutate { replace => { "[tags][0]" => "x" } }"#, ["tags": ["a"]])
            #expect(e.at("tags") == ["a", "_mutate_error"])
        }

        @Test func repeatedHashSettingsMergeWithTheLastValueWinning() throws {
            let e = try FilterHarness.run(
                #"mutate { convert => { "a" => "integer" } convert => { "a" => "float" "b" => "integer" } }"#,
                ["a": "1.5", "b": "2"])
            #expect(e.at("a") == 1.5)
            #expect(e.at("b") == 2)
        }

        @Test func emptyMutateStillDecorates() throws {
            let e = try FilterHarness.run(#"mutate { add_tag => ["t"] add_field => { "f" => "%{a}" } }"#, ["a": 1])
            #expect(e.tagList == ["t"])
            #expect(e.at("f") == "1")
        }
    }
}

import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct TranslateFilterTests {
        let dictionary = #"dictionary => { "100" => "Continue" "200" => "OK" "a.b" => "dot" }"#

        @Test func exactLookupIntoTheDefaultTarget() throws {
            let out = try BuiltinFilterHarness.run(
                "translate { source => \"status\" \(dictionary) add_tag => [\"t\"] }",
                [["status": 200], ["status": "100"], ["status": "404"], ["status": ["100", "200"]]])
            #expect(out[0].at("translation") == "OK")
            #expect(out[0].tagList == ["t"])
            #expect(out[1].at("translation") == "Continue")
            #expect(out[2].at("translation") == nil)
            #expect(out[2].tagList.isEmpty)
            #expect(out[3].at("translation") == "Continue")
        }

        @Test func fallbackOverrideAndECSInPlace() throws {
            let e = try BuiltinFilterHarness.run(
                "translate { source => \"status\" target => \"t\" \(dictionary) fallback => \"no %{status}\" }", ["status": "9"])
            #expect(e.at("t") == "no 9")
            let kept = try BuiltinFilterHarness.run("translate { source => \"status\" target => \"t\" \(dictionary) }", ["status": "200", "t": "old"])
            #expect(kept.at("t") == "old")
            let replaced = try BuiltinFilterHarness.run(
                "translate { source => \"status\" target => \"t\" override => true \(dictionary) }", ["status": "200", "t": "old"])
            #expect(replaced.at("t") == "OK")
            let inPlace = try BuiltinFilterHarness.run("translate { source => \"status\" \(dictionary) add_tag => [\"t\"] }", ["status": "200"], ecs: .v8)
            #expect(inPlace.at("status") == "OK")
            let unmatched = try BuiltinFilterHarness.run("translate { source => \"status\" \(dictionary) add_tag => [\"t\"] }", ["status": "7"], ecs: .v8)
            #expect(unmatched.tagList == ["t"])
        }

        @Test func regexAndInexactReplacement() throws {
            let regex = try BuiltinFilterHarness.run(#"translate { source => "m" regex => true dictionary => { "^fo+" => "F" "bar" => "B" } }"#, ["m": "xbar"])
            #expect(regex.at("translation") == "B")
            let inexact = try BuiltinFilterHarness.run(#"translate { source => "m" exact => false dictionary => { "foo" => "bar" "a.b" => "X" } }"#, ["m": "foofing a.b axb"])
            #expect(inexact.at("translation") == "barfing X axb")
            #expect(BuiltinFilterHarness.configError(#"translate { source => "m" regex => true dictionary => { "(" => "x" } }"#) != nil)
        }

        @Test func iterateOnValuesAndObjects() throws {
            let values = try BuiltinFilterHarness.run(
                "translate { iterate_on => \"[ids]\" source => \"[ids]\" target => \"[names]\" fallback => \"Unknown\" \(dictionary) }",
                ["ids": [100, 200, 110]])
            #expect(values.at("names") == ["Continue", "OK", "Unknown"])
            let objects = try BuiltinFilterHarness.run(
                "translate { iterate_on => \"[people]\" source => \"[id]\" target => \"[name]\" fallback => \"Unknown\" \(dictionary) }",
                ["people": [["id": 100], ["id": 110]]])
            #expect(objects.at("people") == [["id": 100, "name": "Continue"], ["id": 110, "name": "Unknown"]])
        }

        @Test func dictionaryFilesInEachFormat() throws {
            let yaml = try temporaryFile("d.yml", "\"100\": Continue\n200: Int key\nmerci: gracias\nnested:\n  a: [1, 2]\n")
            let y = try BuiltinFilterHarness.run(
                "translate { source => \"k\" dictionary_path => \"\(yaml)\" }", [["k": "100"], ["k": "200"], ["k": "nested"]])
            #expect(y[0].at("translation") == "Continue")
            #expect(y[1].at("translation") == nil)
            #expect(y[2].at("translation") == ["a": [1, 2]])
            let json = try temporaryFile("d.json", #"{"a": "A", "b": {"c": true}}"#)
            let j = try BuiltinFilterHarness.run("translate { source => \"k\" dictionary_path => \"\(json)\" }", [["k": "b"]])
            #expect(j[0].at("translation") == ["c": true])
            let csv = try temporaryFile("d.csv", "100,Yuki\n\"1,01\",Rupert\n")
            let c = try BuiltinFilterHarness.run("translate { source => \"k\" dictionary_path => \"\(csv)\" }", [["k": "1,01"]])
            #expect(c[0].at("translation") == "Rupert")
        }

        @Test func fileIsReloadedWithMergeOrReplace() throws {
            for (behaviour, expectOld) in [("merge", true), ("replace", false)] {
                let path = try temporaryFile("d.json", #"{"a": "1"}"#)
                let program = try BuiltinFilterHarness.compile(
                    "translate { source => \"k\" dictionary_path => \"\(path)\" refresh_behaviour => \"\(behaviour)\" refresh_interval => 1000 }")
                let filter = try #require(program.filters.first?.instance as? TranslateFilter)
                #expect(program.runFilters([FilterHarness.event(["k": "a"])])[0].at("translation") == "1")
                try #"{"b": "2"}"#.write(toFile: path, atomically: true, encoding: .utf8)
                filter.file?.expire()
                let out = program.runFilters([FilterHarness.event(["k": "a"]), FilterHarness.event(["k": "b"])])
                #expect((out[0].at("translation") == "1") == expectOld)
                #expect(out[1].at("translation") == "2")
                // A broken file keeps the dictionary it replaces.
                try "{".write(toFile: path, atomically: true, encoding: .utf8)
                filter.file?.expire()
                #expect(program.runFilters([FilterHarness.event(["k": "b"])])[0].at("translation") == "2")
            }
        }

        @Test func configErrors() {
            #expect(BuiltinFilterHarness.configError(#"translate { dictionary => { "a" => "b" } }"#)?.contains("'source'") == true)
            #expect(BuiltinFilterHarness.configError(#"translate { source => "a" dictionary => { "a" => "b" } dictionary_path => "/x.yml" }"#)?.contains("mutually exclusive") == true)
            #expect(BuiltinFilterHarness.configError(#"translate { source => "a" dictionary_path => "/nonexistent.yml" }"#)?.contains("cannot read") == true)
            #expect(BuiltinFilterHarness.configError(#"translate { source => "a" dictionary_path => "/etc/hostname.txt" }"#) != nil)
            #expect(BuiltinFilterHarness.configError(#"translate { field => "a" }"#) == nil)
        }
    }
}

import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct PruneFilterTests {
        @Test func whitelistAndBlacklistNames() throws {
            let w = try BuiltinFilterHarness.run(#"prune { whitelist_names => ["^msg$", "^@"] }"#, ["msg": 1, "msg_short": 2, "x": 3])
            #expect(w.at("msg") == 1)
            #expect(w.at("msg_short") == nil)
            #expect(w.at("x") == nil)
            #expect(w.at("@timestamp") != nil)
            let loose = try BuiltinFilterHarness.run(#"prune { whitelist_names => ["msg"] }"#, ["msg": 1, "msg_short": 2])
            #expect(loose.at("msg_short") == 2)
            let b = try BuiltinFilterHarness.run(#"prune { blacklist_names => ["^x"] }"#, ["x1": 1, "y": 2])
            #expect(b.at("x1") == nil)
            #expect(b.at("y") == 2)
        }

        @Test func defaultBlacklistDropsUnresolvedReferences() throws {
            let e = try BuiltinFilterHarness.run("prune { }", ["%{host}": "x", "ok": 1])
            #expect(e.fields["%{host}"] == nil)
            #expect(e.at("ok") == 1)
        }

        @Test func valuesIncludingListElements() throws {
            let e = try BuiltinFilterHarness.run(
                #"prune { whitelist_values => { "method" => "^(GET|POST)$" } blacklist_values => { "tags" => "^debug" "status" => "^[^2]" } }"#,
                ["method": "HEAD", "tags": ["debug1", "keep"], "status": 404])
            #expect(e.at("method") == nil)
            #expect(e.at("tags") == ["keep"])
            #expect(e.at("status") == nil)
            let all = try BuiltinFilterHarness.run(#"prune { blacklist_values => { "tags" => "." } }"#, ["tags": ["a", "b"]])
            #expect(all.at("tags") == nil)
        }

        @Test func interpolation() throws {
            let e = try BuiltinFilterHarness.run(#"prune { interpolate => true whitelist_names => ["^%{keep}$", "^keep$"] }"#, ["keep": "a", "a": 1, "b": 2])
            #expect(e.at("a") == 1)
            #expect(e.at("b") == nil)
        }

        @Test func badPatternIsAConfigError() {
            #expect(BuiltinFilterHarness.configError(#"prune { whitelist_names => ["("] }"#)?.contains("whitelist_names") == true)
        }
    }
}

import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct JsonFilterTests {
        @Test func parsesAnObjectIntoTheEventUsingKeysAsFieldReferences() throws {
            let e = try FilterHarness.run(
                #"json { source => "message" add_tag => ["parsed"] }"#,
                ["message": #"{"hello":"world","list":[1,2,3],"hash":{"k":"v"},"[nested][key]":1,"a.b":2.5,"n":null}"#])
            #expect(e.at("hello") == "world")
            #expect(e.at("list") == [1, 2, 3])
            #expect(e.at("hash") == ["k": "v"])
            #expect(e.at("[nested][key]") == 1)
            #expect(e.fields["a.b"] == 2.5)
            #expect(e.at("n") == .null)
            #expect(e.at("message") != nil)
            #expect(e.tagList == ["parsed"])
        }

        @Test func targetReceivesAnyJSONValue() throws {
            let config = #"json { source => "message" target => "[doc]" }"#
            let out = try FilterHarness.run(config, [
                ["message": #"{"hello":"world"}"#], ["message": #"[1, {"a": 2}]"#], ["message": "42"], ["message": "null"],
                ["message": #""text""#], ["message": #"{"x":1}"#, "doc": "replaced"],
            ])
            #expect(out[0].at("doc") == ["hello": "world"])
            #expect(out[0].at("hello") == nil)
            #expect(out[1].at("doc") == [1, ["a": 2]])
            #expect(out[2].at("doc") == 42)
            #expect(out[3].at("doc") == .null)
            #expect(out[4].at("doc") == "text")
            #expect(out[5].at("doc") == ["x": 1])
            #expect(out.allSatisfy { $0.tagList.isEmpty })
        }

        @Test func sourceCanBeItsOwnTarget() throws {
            let e = try FilterHarness.run(
                #"json { source => "example" target => "example" }"#, ["example": #"{ "hello": "world" }"#])
            #expect(e.at("example") == ["hello": "world"])
        }

        @Test func invalidJSONIsTaggedAndNotDecorated() throws {
            let e = try FilterHarness.run(
                #"json { source => "message" add_tag => ["parsed"] remove_field => ["message"] }"#,
                ["message": "not json", "tags": ["_other"]])
            #expect(e.at("message") == "not json")
            #expect(e.tagList == ["_other", "_jsonparsefailure"])
        }

        @Test func customFailureTags() throws {
            let e = try FilterHarness.run(
                #"json { source => "message" tag_on_failure => ["_a", "_b"] }"#, ["message": "{broken"])
            #expect(e.tagList == ["_a", "_b"])
        }

        @Test func skipOnInvalidJSONLeavesTheEventAlone() throws {
            let out = try FilterHarness.run(
                #"json { source => "message" skip_on_invalid_json => true add_tag => ["parsed"] }"#,
                [["message": "this is not a json message"], ["message": ["a": 1]], ["message": #"{"ok":true}"#]])
            #expect(out[0].at("tags") == nil)
            #expect(out[0].at("message") == "this is not a json message")
            #expect(out[1].at("tags") == nil)
            #expect(out[2].at("ok") == true)
            #expect(out[2].tagList == ["parsed"])
        }

        @Test func missingNullOrFalseSourceDoesNothing() throws {
            let out = try FilterHarness.run(
                #"json { source => "message" add_tag => ["parsed"] }"#,
                [["other": 1], ["message": nil], ["message": false]])
            #expect(out.allSatisfy { $0.at("tags") == nil })
        }

        @Test func nonStringSourceIsAParseError() throws {
            let out = try FilterHarness.run(
                #"json { source => "message" add_tag => ["parsed"] }"#, [["message": ["a": 1]], ["message": 5]])
            #expect(out[0].tagList == ["_jsonparsefailure"])
            #expect(out[0].at("message") == ["a": 1])
            #expect(out[1].tagList == ["_jsonparsefailure"])
        }

        @Test func nonObjectWithoutTargetIsAFailure() throws {
            let out = try FilterHarness.run(
                #"json { source => "message" add_tag => ["parsed"] }"#,
                [["message": "[1, 2, 3]"], ["message": #""str""#], ["message": "7"]])
            #expect(out.map(\.tagList) == [["_jsonparsefailure"], ["_jsonparsefailure"], ["_jsonparsefailure"]])
        }

        @Test func timestampKeyBecomesTheEventTimestamp() throws {
            let e = try FilterHarness.run(
                #"json { source => "message" }"#,
                ["message": #"{"foo":"bar","@timestamp":"2015-12-02T17:40:00.666Z"}"#])
            #expect(e.timestamp?.iso8601 == "2015-12-02T17:40:00.666Z")
            #expect(e.at("foo") == "bar")
            #expect(e.at("_@timestamp") == nil)
            #expect(e.tagList.isEmpty)
        }

        @Test func unparsableTimestampBecomesNowWithFailureTagAndOriginal() throws {
            let before = Timestamp.now()
            let out = try FilterHarness.run(
                #"json { source => "message" add_tag => ["parsed"] }"#,
                [
                    ["message": #"{"foo":"bar","@timestamp":"foobar"}"#, "@timestamp": "2000-01-01T00:00:00Z"],
                    ["message": #"{"@timestamp":12345}"#, "@timestamp": "2000-01-01T00:00:00Z"],
                ])
            for e in out {
                let ts = try #require(e.timestamp)
                #expect(ts >= Timestamp(seconds: before.seconds - 1))
                // The filter still succeeded: decorations come after the failure tag.
                #expect(e.tagList == ["_timestampparsefailure", "parsed"])
            }
            #expect(out[0].at("_@timestamp") == "foobar")
            #expect(out[0].at("foo") == "bar")
            #expect(out[1].at("_@timestamp") == "12345")
        }

        @Test func nullTimestampKeyIsIgnored() throws {
            let e = try FilterHarness.run(
                #"json { source => "message" }"#,
                ["message": #"{"@timestamp":null,"x":1}"#, "@timestamp": "2000-01-01T00:00:00.000Z"])
            #expect(e.timestamp?.iso8601 == "2000-01-01T00:00:00.000Z")
            #expect(e.at("x") == 1)
            #expect(e.tagList.isEmpty)
        }

        @Test func settingFailuresTagTheEvent() throws {
            let out = try FilterHarness.run(
                #"json { source => "message" add_tag => ["parsed"] }"#,
                [
                    ["message": #"{"tags":{"a":1}}"#],
                    ["message": #"{"ok":1,"un[sup]]ported":2}"#],
                    ["message": #"{"tags":"t1","x":2}"#],
                ])
            #expect(out[0].tagList == ["_jsonparsefailure"])
            #expect(out[1].tagList == ["_jsonparsefailure"])
            #expect(out[1].at("ok") == 1)  // keys set before the failing one stay
            #expect(out[2].at("tags") == ["t1", "parsed"])
            #expect(out[2].at("x") == 2)
        }

        @Test func timestampTargetRejectsNonTimestamps() throws {
            let e = try FilterHarness.run(
                #"json { source => "message" target => "@timestamp" }"#,
                ["message": #""2024-01-01T00:00:00Z""#, "@timestamp": "2000-01-01T00:00:00.000Z"])
            #expect(e.timestamp?.iso8601 == "2000-01-01T00:00:00.000Z")
            #expect(e.tagList == ["_jsonparsefailure"])
        }

        @Test func metadataKeyReplacesMetadata() throws {
            let e = try FilterHarness.run(
                #"json { source => "message" }"#, ["message": #"{"@metadata":{"m":1},"x":2}"#])
            #expect(e.at("[@metadata][m]") == 1)
            #expect(e.fields["@metadata"] == nil)
            #expect(e.at("x") == 2)
        }

        @Test func sourceIsRequired() throws {
            let message = try #require(FilterHarness.configError("json { }"))
            #expect(message.contains("Missing a required setting for the json plugin: 'source'"))
        }
    }
}

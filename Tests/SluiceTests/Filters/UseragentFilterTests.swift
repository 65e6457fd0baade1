import Foundation
import Testing
import Yams
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct UseragentFilterTests {
        static let uapCore = "/usr/share/uap-core"

        static let parser: UserAgentParser = {
            do {
                return try UseragentFilter.loadParser(UseragentFilter.debianRegexesPath)
            } catch {
                fatalError("uap-core is not installed (make deps): \(error)")
            }
        }()

        /// The test cases of one of uap-core's own test files.
        static func cases(_ file: String) throws -> [[String: String?]] {
            let text = try String(contentsOfFile: "\(uapCore)/tests/\(file)", encoding: .utf8)
            let root = try #require(try Yams.compose(yaml: text)?.mapping)
            let list = try #require(root["test_cases"]?.sequence)
            return list.compactMap { node in
                guard let mapping = node.mapping else { return nil }
                var out: [String: String?] = [:]
                for (k, v) in mapping {
                    guard let key = k.string else { continue }
                    out[key] = v.tag.rawValue == Tag.Name.null.rawValue ? .some(nil) : .some(v.string)
                }
                return out
            }
        }

        /// uap-core's test_ua.yaml, test_os.yaml and test_device.yaml pass against the parser (the conformance suite
        /// every ua-parser port runs).
        @Test(arguments: ["test_ua.yaml", "test_os.yaml", "test_device.yaml"])
        func passesUapCoreConformanceSuite(_ file: String) throws {
            let cases = try UseragentFilterTests.cases(file)
            #expect(cases.count > 400)
            var failures: [String] = []
            for c in cases {
                guard let ua = c["user_agent_string"] ?? nil else { continue }
                let client = UseragentFilterTests.parser.parse(ua)
                let actual: [String: String?]
                let keys: [String]
                switch file {
                case "test_ua.yaml":
                    let v = client.userAgent
                    actual = ["family": v.family, "major": v.major, "minor": v.minor, "patch": v.patch, "patch_minor": v.patchMinor]
                    // uap-core's own runner (tests/test.js) checks these four for user agents.
                    keys = ["family", "major", "minor", "patch"]
                case "test_os.yaml":
                    let v = client.os
                    actual = ["family": v.family, "major": v.major, "minor": v.minor, "patch": v.patch, "patch_minor": v.patchMinor]
                    keys = ["family", "major", "minor", "patch", "patch_minor"]
                default:
                    actual = ["family": client.device]
                    keys = ["family"]
                }
                for key in keys where c.keys.contains(key) {
                    let expected = c[key] ?? nil
                    if actual[key] ?? nil != expected {
                        failures.append("\(ua): \(key) \(String(describing: actual[key] ?? nil)) != \(String(describing: expected))")
                    }
                }
            }
            #expect(failures.isEmpty, "\(failures.count) mismatches, first: \(failures.prefix(10).joined(separator: "\n"))")
        }

        @Test func substitutesGroupsInReplacements() {
            #expect(UserAgentParser.substitute("$1 for ArcGIS", ["x", "Collector"]) == "Collector for ArcGIS")
            #expect(UserAgentParser.substitute("$1$2", ["x", "Sam", nil]) == "Sam")
            #expect(UserAgentParser.substitute(" $3 ", ["x", "a"]) == nil)
            #expect(UserAgentParser.substitute("$0 $a", ["whole"]) == "$0 $a")
        }

        @Test func honoursCaseInsensitiveFlagAndOtherFallback() throws {
            let yaml = """
                user_agent_parsers:
                  - regex: '(Foo)/(\\d+)\\.(\\d+)'
                    family_replacement: 'Bar $1'
                    v2_replacement: '$3x'
                os_parsers:
                  - regex: 'Win(95|98)'
                    os_replacement: 'Windows'
                    os_v1_replacement: '$1'
                device_parsers:
                  - regex: 'spider'
                    regex_flag: 'i'
                    device_replacement: 'Spider'
                """
            let parser = try UserAgentParser(yaml: yaml)
            let client = parser.parse("Foo/1.2 (Win95) SPIDER")
            #expect(client.userAgent == .init(family: "Bar Foo", major: "1", minor: "2x"))
            #expect(client.os == .init(family: "Windows", major: "95"))
            #expect(client.device == "Spider")
            let other = parser.parse("nothing here")
            #expect(other == UserAgentClient(userAgent: .init(family: "Other"), os: .init(family: "Other"), device: "Other"))
        }

        @Test func rejectsBrokenRegexFiles() throws {
            let bad = try temporaryFile("bad.yaml", "user_agent_parsers:\n  - regex: '(unclosed'\nos_parsers: []\ndevice_parsers: []\n")
            #expect(BuiltinFilterHarness.configError("useragent { source => \"ua\" regexes => \"\(bad)\" }")?.contains("missing closing parenthesis") == true)
            let missing = try temporaryFile("missing.yaml", "user_agent_parsers: []\n")
            #expect(BuiltinFilterHarness.configError("useragent { source => \"ua\" regexes => \"\(missing)\" }")?.contains("os_parsers is missing") == true)
            #expect(BuiltinFilterHarness.configError("useragent { source => \"ua\" regexes => \"/nonexistent.yaml\" }")?.contains("cannot read") == true)
            #expect(BuiltinFilterHarness.configError("useragent { source => \"ua\" lru_cache_size => 0 }")?.contains("greater than 0") == true)
            #expect(BuiltinFilterHarness.configError("useragent { }")?.contains("source") == true)
        }

        static let firefox = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.11; rv:45.0) Gecko/20100101 Firefox/45.0"
        static let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/89.0.4389.90 Safari/537.36"

        /// The example of Logstash's useragent documentation, legacy flavour.
        @Test func legacyFieldsAtTheRoot() throws {
            let event = try BuiltinFilterHarness.run("useragent { source => \"message\" }", ["message": .string(UseragentFilterTests.firefox)])
            let expected: [String: Value] = [
                "name": "Firefox", "version": "45.0", "major": "45", "minor": "0", "os": "Mac OS X", "os_name": "Mac OS X",
                "os_version": "10.11", "os_full": "Mac OS X 10.11", "os_major": "10", "os_minor": "11", "device": "Mac",
            ]
            for (k, v) in expected { #expect(event.fields[k] == v, "\(k)") }
            #expect(event.fields["patch"] == nil)
            #expect(event.fields["os_patch"] == nil)
            #expect(event.fields["build"] == nil)
        }

        @Test func legacyTargetAndPrefix() throws {
            let event = try BuiltinFilterHarness.run(
                "useragent { source => \"message\" target => \"ua\" prefix => \"ua_\" }", ["message": .string(UseragentFilterTests.chrome)])
            #expect(event.get(FieldReference("[ua][ua_name]")) == "Chrome")
            #expect(event.get(FieldReference("[ua][ua_version]")) == "89.0.4389.90")
            #expect(event.get(FieldReference("[ua][ua_patch]")) == "4389")
            #expect(event.get(FieldReference("[ua][ua_os_full]")) == "Windows 10")
        }

        /// The example of Logstash's useragent documentation, ECS flavour; version parts go to @metadata.
        @Test func ecsFieldsUnderUserAgent() throws {
            let event = try BuiltinFilterHarness.run(
                "useragent { source => \"message\" prefix => \"ignored_\" }", ["message": .string(UseragentFilterTests.firefox)], ecs: .v8)
            let expected: Value = [
                "name": "Firefox", "device": ["name": "Mac"], "version": "45.0",
                "os": ["version": "10.11", "name": "Mac OS X", "full": "Mac OS X 10.11"],
            ]
            #expect(event.get(FieldReference("[user_agent]")) == expected)
            #expect(event.get(FieldReference("[@metadata][filter][user_agent][version][major]")) == "45")
            #expect(event.get(FieldReference("[@metadata][filter][user_agent][os][version][minor]")) == "11")
            #expect(event.get(FieldReference("[user_agent][original]")) == nil)
            let nested = try BuiltinFilterHarness.run(
                "useragent { source => \"message\" target => \"[client][ua]\" }", ["message": .string(UseragentFilterTests.firefox)], ecs: .v1)
            #expect(nested.get(FieldReference("[client][ua][os][name]")) == "Mac OS X")
        }

        @Test func sourceReplacedByTargetAndListsAndEmptyValues() throws {
            let replaced = try BuiltinFilterHarness.run(
                "useragent { source => \"message\" target => \"message\" }", ["message": .string(UseragentFilterTests.firefox)])
            #expect(replaced.get(FieldReference("[message][name]")) == "Firefox")
            let list = try BuiltinFilterHarness.run(
                "useragent { source => \"ua\" target => \"x\" add_tag => [\"ok\"] }",
                ["ua": .array([.string(UseragentFilterTests.chrome), "ignored"])])
            #expect(list.get(FieldReference("[x][name]")) == "Chrome")
            #expect(list.tagList == ["ok"])
            let out = try BuiltinFilterHarness.run(
                "useragent { source => \"ua\" target => \"x\" add_tag => [\"ok\"] }", [["ua": ""], ["other": 1], ["ua": .array([])]])
            for event in out {
                #expect(event.fields["x"] == nil)
                #expect(event.tagList.isEmpty)
            }
        }

        @Test func nonStringSourceFailsToTheDLQ() throws {
            let dlq = RecordingDeadLetterQueue()
            let out = try BuiltinFilterHarness.run(
                "useragent { source => \"ua\" on_error => \"dlq\" }", [["ua": 42], ["ua": .string(UseragentFilterTests.firefox)]], dlq: dlq)
            #expect(out.count == 1)
            #expect(out.first?.fields["name"] == "Firefox")
            #expect(dlq.entries.map(\.reason) == ["useragent: field [ua] is a Integer, not a String"])
        }

        @Test func unknownAgentsAreOther() throws {
            let event = try BuiltinFilterHarness.run("useragent { source => \"ua\" target => \"ua_parsed\" }", ["ua": "zzzz 1.0"])
            #expect(event.get(FieldReference("[ua_parsed][name]")) == "Other")
            #expect(event.get(FieldReference("[ua_parsed][os_full]")) == "Other")
            #expect(event.get(FieldReference("[ua_parsed][device]")) == "Other")
        }

        @Test func versionsAsLogstashBuildsThem() {
            #expect(UseragentFilter.completedVersion("1.2.3", in: "X/1.2.3.45 more") == "1.2.3.45")
            #expect(UseragentFilter.completedVersion("1.2.3", in: "X/1.2.3.045 more") == "1.2.3")
            #expect(UseragentFilter.completedVersion("1.2.3", in: "X/1.2.3.45") == "1.2.3")
            #expect(UseragentFilter.osVersion(.init(family: "Windows", major: "Vista", minor: "SP1")) == "Vista SP1")
            #expect(UseragentFilter.osVersion(.init(family: "iOS", major: "9", minor: "3", patch: "2", patchMinor: "1")) == "9.3.2.1")
            #expect(UseragentFilter.isCanonicalInteger("10"))
            #expect(!UseragentFilter.isCanonicalInteger("010"))
            #expect(!UseragentFilter.isCanonicalInteger("-0"))
            #expect(UseragentFilter.isCanonicalInteger("0"))
        }

        @Test func lruCacheEvictsTheLeastRecentlyUsed() {
            let cache = LRUCache<String, Int>(capacity: 2)
            cache.put("a", 1)
            cache.put("b", 2)
            #expect(cache.get("a") == 1)
            cache.put("c", 3)
            #expect(cache.get("b") == nil)
            #expect(cache.keysByRecency == ["c", "a"])
            cache.put("a", 10)
            #expect(cache.keysByRecency == ["a", "c"])
            #expect(cache.value(for: "d") { 4 } == 4)
            #expect(cache.keysByRecency == ["d", "a"])
            #expect(cache.count == 2)
        }
    }
}

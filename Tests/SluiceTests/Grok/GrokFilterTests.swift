#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import SluiceCore
@testable import SluicePlugins

struct GrokFilterTests {
    static let apacheLine =
        #"83.149.9.216 - - [04/Jan/2015:05:13:42 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36""#

    @Test func combinedApacheLogLegacyNames() throws {
        let e = try grok(#"match => { "message" => "%{COMBINEDAPACHELOG}" }"#, .string(Self.apacheLine))
        #expect(e.tagList == [])
        #expect(e["clientip"] == "83.149.9.216")
        #expect(e["ident"] == "-")
        #expect(e["auth"] == "-")
        #expect(e["timestamp"] == "04/Jan/2015:05:13:42 +0000")
        #expect(e["verb"] == "GET")
        #expect(e["request"] == "/presentations/logstash-monitorama-2013/images/kibana-search.png")
        #expect(e["httpversion"] == "1.1")
        #expect(e["response"] == "200")
        #expect(e["bytes"] == "203023")
        #expect(e["referrer"] == "\"http://semicomplete.com/presentations/logstash-monitorama-2013/\"")
        #expect(e["agent"]?.stringValue?.hasPrefix("\"Mozilla/5.0") == true)
        #expect(e["rawrequest"] == nil)
        #expect(e["port"] == nil)
    }

    @Test func combinedApacheLogECSNames() throws {
        let e = try grok(#"match => { "message" => "%{COMBINEDAPACHELOG}" }"#, .string(Self.apacheLine), ecs: .v8)
        #expect(e.tagList == [])
        #expect(e["[source][address]"] == "83.149.9.216")
        #expect(e["timestamp"] == "04/Jan/2015:05:13:42 +0000")
        #expect(e["[http][request][method]"] == "GET")
        #expect(e["[url][original]"] == "/presentations/logstash-monitorama-2013/images/kibana-search.png")
        #expect(e["[http][version]"] == "1.1")
        #expect(e["[http][response][status_code]"] == .int(200))
        #expect(e["[http][response][body][bytes]"] == .int(203023))
        #expect(e["[http][request][referrer]"] == "http://semicomplete.com/presentations/logstash-monitorama-2013/")
        #expect(e["[user_agent][original]"]?.stringValue?.hasPrefix("Mozilla/5.0") == true)
        #expect(e["[user][name]"] == nil)
        #expect(e["[apache][access][user][identity]"] == nil)
    }

    @Test func timeoutTagsCatastrophicPattern() throws {
        let start = GrokTimeout.now()
        let e = try grok(#"match => { "message" => "(.*a){30}" } timeout_millis => 100"#, .string(String(repeating: "a", count: 68)))
        let elapsedMs = Double(GrokTimeout.now() - start) / 1e6
        #expect(e.tagList == ["_groktimeout"])
        #expect(elapsedMs < 2000, "took \(elapsedMs) ms")
    }
}

extension GrokFilterTests {
    @Test func syslogLineWithOverwrite() throws {
        let line = "Mar 16 00:01:25 evita postfix/smtpd[1713]: connect from camomile.cloud9.net[168.100.1.3]"
        let e = try grok(#"match => { "message" => "%{SYSLOGLINE}" } overwrite => ["message"]"#, .string(line))
        #expect(e.tagList == [])
        #expect(e["logsource"] == "evita")
        #expect(e["timestamp"] == "Mar 16 00:01:25")
        #expect(e["message"] == "connect from camomile.cloud9.net[168.100.1.3]")
        #expect(e["program"] == "postfix/smtpd")
        #expect(e["pid"] == "1713")
    }

    @Test func syslogLineECS() throws {
        let line = "Mar 16 00:01:25 evita postfix/smtpd[1713]: connect from camomile.cloud9.net[168.100.1.3]"
        let e = try grok(#"match => { "message" => "%{SYSLOGLINE}" } overwrite => ["message"]"#, .string(line), ecs: .v1)
        #expect(e["[host][hostname]"] == "evita")
        #expect(e["[process][name]"] == "postfix/smtpd")
        #expect(e["[process][pid]"] == .int(1713))
        #expect(e["message"] == "connect from camomile.cloud9.net[168.100.1.3]")
    }

    @Test func withoutOverwriteASecondValueMakesAList() throws {
        let e = try grok(#"match => { "message" => "%{WORD:message}" }"#, "hello world")
        #expect(e["message"] == .array(["hello world", "hello"]))
    }

    @Test func syslog5424NilParts() throws {
        let e = try grok(
            #"match => { "message" => "%{SYSLOG5424LINE}" }"#,
            "<191>1 2009-06-30T18:30:00+02:00 paxton.local grokdebug - - [id1 foo=\"bar\"] No process ID.")
        #expect(e.tagList == [])
        #expect(e["syslog5424_pri"] == "191")
        #expect(e["syslog5424_ver"] == "1")
        #expect(e["syslog5424_app"] == "grokdebug")
        #expect(e["syslog5424_proc"] == nil)
        #expect(e["syslog5424_sd"] == "[id1 foo=\"bar\"]")
        #expect(e["syslog5424_msg"] == "No process ID.")
    }

    @Test func failureTagsAndNoDecoration() throws {
        let e = try grok(#"match => { "message" => "matchme %{NUMBER:fancy}" } add_tag => ["ok"]"#, "this will not be matched")
        #expect(e.tagList == ["_grokparsefailure"])
        let custom = try grok(#"match => { "message" => "matchme %{NUMBER:fancy}" } tag_on_failure => "not_a_match""#, "nope")
        #expect(custom.tagList == ["not_a_match"])
        let ok = try grok(#"match => { "message" => "matchme %{NUMBER:fancy}" } add_field => { "new" => "%{fancy}" }"#, "matchme 1234")
        #expect(ok["new"] == "1234")
        #expect(ok.tagList == [])
    }

    @Test func typeConversion() throws {
        let e = try grok(#"match => { "message" => "%{NUMBER:foo:int} %{NUMBER:bar:float}" }"#, "400 454.33")
        #expect(e["foo"] == .int(400))
        #expect(e["bar"] == .double(454.33))
        let trunc = try grok(#"match => { "message" => "%{NUMBER:n:int}" }"#, "3.9")
        #expect(trunc["n"] == .int(3))
    }

    @Test func nilCoercedValueIsSkippedUnlessKeepEmptyCaptures() throws {
        let rule = #"match => { "message" => "test (N/A|%{BASE10NUM:duration:float}ms)" }"#
        #expect(try grok(rule, "test 28.4ms")["duration"] == .double(28.4))
        let na = try grok(rule, "test N/A")
        #expect(na.fields["duration"] == nil)
        #expect(na.tagList == [])
        let kept = try grok(rule + " keep_empty_captures => true", "test N/A")
        #expect(kept.fields["duration"] == .null)
    }

    @Test func keepEmptyCaptures() throws {
        let rule = #"match => { "message" => "1=%{WORD:foo1} *(2=%{WORD:foo2})?" }"#
        let dropped = try grok(rule, "1=test")
        #expect(dropped["foo1"] == "test")
        #expect(dropped.fields["foo2"] == nil)
        let kept = try grok(rule + " keep_empty_captures => true", "1=test")
        #expect(kept.fields["foo2"] == .null)
        let empty = try grok(#"match => { "message" => "a(?<x>b*)c" } keep_empty_captures => true"#, "ac")
        #expect(empty["x"] == "")
    }

    @Test func namedCapturesOnlyFalseKeepsPatternNames() throws {
        let e = try grok(#"match => { "message" => "Hello %{WORD}. %{WORD:foo}" } named_captures_only => false"#, "Hello World, yo!")
        #expect(e["WORD"] == "World")
        #expect(e["foo"] == "yo")
        let only = try grok(#"match => { "message" => "Hello %{WORD}. %{WORD:foo}" }"#, "Hello World, yo!")
        #expect(only.fields["WORD"] == nil)
    }

    @Test func inlineNamedCapturesAndDefinitions() throws {
        #expect(try grok(#"match => { "message" => "(?<foo>\w+)" }"#, "hello world")["foo"] == "hello")
        #expect(try grok(#"match => { "message" => "(?<timestamp>%{DATE_EU} %{TIME})" }"#, "fancy 12-12-12 12:12:12")["timestamp"] == "12-12-12 12:12:12")
        #expect(try grok(#"match => { "message" => "%{FIZZLE=\d+}" } named_captures_only => false"#, "hello 1234")["FIZZLE"] == "1234")
        #expect(try grok(#"match => { "message" => "%{WORD:foo-bar}" }"#, "hello world")["foo-bar"] == "hello")
    }

    @Test func duplicateNamesKeepOnlyParticipatingGroups() throws {
        let rule = #"match => { "message" => "%{INT:foo}|%{WORD:foo}" }"#
        #expect(try grok(rule, "hello world")["foo"] == "hello")
        #expect(try grok(rule, "123 world")["foo"] == "123")
        let both = try grok(#"match => { "message" => "%{INT:foo} %{INT:foo}" }"#, "1 2")
        #expect(both["foo"] == .array(["1", "2"]))
    }

    @Test func fieldReferenceSemanticsAndTarget() throws {
        let e = try grok(#"match => { "message" => "%{WORD:[a][b]} %{INT:c}" }"#, "x 1")
        #expect(e["[a][b]"] == "x")
        let t = try grok(#"match => { "message" => "%{WORD:[a][b]} %{INT:c}" } target => "parsed""#, "x 1")
        #expect(t["[parsed][a][b]"] == "x")
        #expect(t["[parsed][c]"] == "1")
        #expect(t.fields["c"] == nil)
        let m = try grok(#"match => { "message" => "%{WORD:[@metadata][w]}" }"#, "x")
        #expect(m.metadata["w"] == "x")
    }

    @Test func overwriteWithNestedReference() throws {
        let event = makeEvent(["somefield": "12 abc", "nested": ["field": ["test": "old"]]])
        let out = try runFilterBlock(
            #"grok { match => { "somefield" => "%{NUMBER} %{GREEDYDATA:[nested][field][test]}" } overwrite => ["[nested][field][test]"] }"#,
            [event])[0]
        #expect(out["[nested][field][test]"] == "abc")
    }

    @Test func breakOnMatchAcrossFieldsAndPatterns() throws {
        let data: [String: Value] = ["message": "hello world 123", "somefield": "testme abc 999"]
        let first = try runFilterBlock(#"grok { match => { "message" => "%{INT:foo}" "somefield" => "%{INT:bar}" } }"#, [makeEvent(data)])[0]
        #expect(first["foo"] == "123")
        #expect(first["bar"] == nil)
        let all = try runFilterBlock(
            #"grok { match => { "message" => "%{INT:foo}" "somefield" => "%{INT:bar}" } break_on_match => false }"#, [makeEvent(data)])[0]
        #expect(all["bar"] == "999")
        let rule = #"match => { "message" => ["%{GREEDYDATA:name1}beard", "tree%{GREEDYDATA:name2}"] } break_on_match => false"#
        let tree = try grok(rule, "treebeard")
        #expect(tree["name1"] == "tree")
        #expect(tree["name2"] == "beard")
        #expect(try grok(rule, "treebranch")["name2"] == "branch")
    }

    @Test func arrayInput() throws {
        let full = try grok(#"match => { "message" => "%{INT:foo}" } break_on_match => false"#, ["hello world 123", "line 23"])
        #expect(full["foo"] == .array(["123", "23"]))
        let partial = try grok(#"match => { "message" => ["%{INT:foo}", "%{WORD:bar}"] }"#, ["hello world", "line 23"])
        #expect(partial["bar"] == "hello")
        #expect(partial["foo"] == "23")
        #expect(partial.tagList == [])
        let allPatterns = try grok(#"match => { "message" => ["%{INT:foo}", "%{WORD:bar}"] } break_on_match => false"#, ["hello world 123", "line 23"])
        #expect(allPatterns["bar"] == .array(["hello", "line"]))
    }

    @Test func nonStringInputsMatchTheirRubyString() throws {
        let i = try runFilterBlock(#"grok { match => { "status" => "^403$" } add_tag => "four_oh_three" }"#, [makeEvent(["status": 403])])[0]
        #expect(i.tagList == ["four_oh_three"])
        let f = try runFilterBlock(#"grok { match => { "version" => "^1.0$" } }"#, [makeEvent(["version": 1.0])])[0]
        #expect(f.tagList == [])
        // A missing field is matched as "" (Ruby's nil.to_s).
        let missing = try runFilterBlock(#"grok { match => { "nope" => "^$" } add_tag => "empty" }"#, [makeEvent([:])])[0]
        #expect(missing.tagList == ["empty"])
    }

    @Test func existingNonStringFieldIsLeftAlone() throws {
        let out = try runFilterBlock(#"grok { match => { "message" => "%{INT:n}" } }"#, [makeEvent(["message": "5", "n": 7])])[0]
        #expect(out["n"] == .int(7))
    }

    @Test func patternDefinitionsOverrideLibrary() throws {
        let e = try grok(
            #"match => { "message" => "%{APACHE_TIME:timestamp} %{LOGLEVEL:level}" } pattern_definitions => { "APACHE_TIME" => "%{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{YEAR}" "LOGLEVEL" => "%{NUMBER}" }"#,
            "Mon Dec 26 16:22:08 2016 9999")
        #expect(e["timestamp"] == "Mon Dec 26 16:22:08 2016")
        #expect(e["level"] == "9999")
    }

    @Test func patternsDirAndGlob() throws {
        let dir = "/tmp/sluice-grok-test-\(getpid())-\(Int.random(in: 0..<1_000_000))"
        _ = FileSystem.makeDirectories(dir)
        defer { _ = system("rm -rf '\(dir)'") }
        func write(_ name: String, _ text: String) {
            let fp = fopen(dir + "/" + name, "w")!
            fputs(text, fp)
            fclose(fp)
        }
        write("grok.pattern", "# comment\nWORD \\b[0-1]\\b\n")
        write("grok.pattern.old", "WORD \\b[2-5]\\b\n")
        _ = FileSystem.makeDirectories(dir + "/subdir")
        let globbed = try grok(#"patterns_dir => "\#(dir)" patterns_files_glob => "*.pattern" match => { "message" => "%{WORD:word}" }"#, "0")
        #expect(globbed.tagList == [])
        #expect(globbed["word"] == "0")
        // With "*" both files load in name order; the later one (.old) wins.
        let all = try grok(#"patterns_dir => ["\#(dir)"] match => { "message" => "%{WORD:word}" }"#, "3")
        #expect(all["word"] == "3")
    }

    @Test func unknownAndRecursivePatternsAreConfigErrors() throws {
        #expect(throws: ConfigError.self) { try grok(#"match => { "message" => "%{NOPE_NOT_A_PATTERN:x}" }"#, "a") }
        do {
            _ = try grok(#"match => { "message" => "%{A}" } pattern_definitions => { "A" => "x%{B}" "B" => "%{A}" }"#, "a")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("recursive"))
            #expect("\(error)".contains("%{A}"))
        }
        #expect(throws: ConfigError.self) { try grok(#"match => { "message" => "(unclosed" }"#, "a") }
    }

    @Test func timeoutScopeEventAndDisabledTimeout() throws {
        let patterns = #"["(.*f){20}", "(.*e){20}", "(.*d){20}", "(.*c){20}", "(.*b){20}", "(.*a){25}", "(.*a){24}", "(.*a){20}"]"#
        let text = Value.string(String(repeating: "b", count: 10) + String(repeating: "c", count: 10) + " " + String(repeating: "a", count: 20))
        let pattern = try grok("match => { \"message\" => \(patterns) } timeout_millis => 50 timeout_scope => \"pattern\"", text)
        #expect(pattern.tagList.contains("_groktimeout") || pattern.tagList == [])
        #expect(GrokTimeout(millis: 0).matchLimit == nil, "0 disables the timeout")
        #expect(GrokTimeout(millis: 30000).matchLimit == UInt32.max)
        #expect(GrokTimeout(millis: 100).matchLimit == 100_000_000)
        let custom = try grok(#"match => { "message" => "(.*a){30}" } timeout_millis => 50 tag_on_timeout => "slow""#, .string(String(repeating: "a", count: 68)))
        #expect(custom.tagList == ["slow"])
    }

    @Test func unicodeSubject() throws {
        let e = try grok(
            #"match => { "message" => "<%{POSINT:syslog_pri}>%{SPACE}%{SYSLOGTIMESTAMP:syslog_timestamp} %{SYSLOGHOST:syslog_hostname} %{PROG:syslog_program}(:?)(?:\[%{GREEDYDATA:syslog_pid}\])?(:?) %{GREEDYDATA:syslog_message}" }"#,
            "<22>Jan  4 07:50:46 mailmaster postfix/policy-spf[9454]: : SPF permerror (Junk encountered in record 'v=spf1 mx a:mail.domain.no ip4:192.168.0.4 �all'): Envelope-from: email@domain.no")
        #expect(e.tagList == [])
        #expect(e["syslog_pri"] == "22")
        #expect(e["syslog_program"] == "postfix/policy-spf")
    }

    @Test(arguments: [
        "trace", "Trace", "TRACE", "debug", "Debug", "DEBUG", "notice", "Notice", "info", "Info", "INFO", "warn", "warning",
        "Warn", "Warning", "WARN", "WARNING", "err", "error", "Err", "Error", "ERR", "ERROR", "crit", "critical", "Crit",
        "Critical", "CRIT", "CRITICAL", "fatal", "Fatal", "FATAL", "severe", "Severe", "SEVERE", "emerg", "emergency",
        "Emerg", "Emergency", "EMERG", "EMERGENCY",
    ])
    func logLevels(_ level: String) throws {
        let e = try grok(#"match => { "message" => "%{LOGLEVEL:level}: error!" }"#, .string("\(level): error!"))
        #expect(e["level"] == .string(level))
    }
}

import Testing
@testable import SluiceCore
@testable import SluicePlugins

struct GrokPatternLibraryTests {
    static let flavours = GrokPatternLibrary.Flavour.allCases

    @Test(arguments: flavours)
    func everyPatternCompiles(_ flavour: GrokPatternLibrary.Flavour) throws {
        let library = try GrokPatternLibrary.builtin(flavour)
        #expect(library.patterns.count >= 90)
        for name in library.patterns.keys.sorted() {
            for namedOnly in [true, false] {
                var compiler = GrokCompiler(library: library, namedCapturesOnly: namedOnly, matchLimit: 1_000_000)
                do {
                    _ = try compiler.compile("%{\(name)}")
                } catch {
                    Issue.record("\(flavour.rawValue) %{\(name)}: \(error)")
                }
            }
        }
    }

    @Test func flavoursHaveLogstashsFamiliesAndTheECSSetHasEveryLegacyName() throws {
        // As in logstash-patterns-core: zeek exists only in the ECS set, mcollective-patterns only in the legacy one.
        let legacyFamilies = Set(GrokPatternLibrary.families(.legacy)), ecsFamilies = Set(GrokPatternLibrary.families(.ecsV1))
        #expect(legacyFamilies.subtracting(ecsFamilies) == ["mcollective-patterns"])
        #expect(ecsFamilies.subtracting(legacyFamilies) == ["zeek"])
        #expect(legacyFamilies.count == 22)
        let legacy = Set(try GrokPatternLibrary.builtin(.legacy).patterns.keys)
        let ecs = Set(try GrokPatternLibrary.builtin(.ecsV1).patterns.keys)
        // The ECS set has every legacy pattern (it is a drop-in replacement).
        #expect(legacy.subtracting(ecs).isEmpty, "missing in ecs-v1: \(legacy.subtracting(ecs).sorted())")
    }

    /// Every family is matched against sample lines in each flavour it exists in: by the `samples` table below
    /// (the families the other grok tests rely on) or by a `grok-family-<family>-<flavour>` golden fixture.
    @Test(arguments: flavours)
    func everyFamilyHasSampleLines(_ flavour: GrokPatternLibrary.Flavour) {
        let coveredHere: Set = ["grok-patterns", "httpd", "java", "linux-syslog"]
        // mcollective-patterns is the legacy duplicate of mcollective, whose fixture covers both.
        let duplicates: Set = ["mcollective-patterns"]
        for family in GrokPatternLibrary.families(flavour) where !coveredHere.contains(family) && !duplicates.contains(family) {
            let fixture = TestPaths.fixtures.appendingPathComponent("grok-family-\(family)-\(flavour.rawValue)")
            let input = (try? String(contentsOf: fixture.appendingPathComponent("input"), encoding: .utf8)) ?? ""
            let expected = (try? String(contentsOf: fixture.appendingPathComponent("expected"), encoding: .utf8)) ?? ""
            #expect(!input.isEmpty, "no sample lines for \(family) (\(flavour.rawValue))")
            #expect(!expected.contains("_grokparsefailure"), "a sample line of \(family) (\(flavour.rawValue)) does not match")
        }
    }

    struct Sample: CustomTestStringConvertible, Sendable {
        let pattern: String
        let line: String
        let legacy: [String: Value]
        let ecs: [String: Value]
        var testDescription: String { pattern }
    }

    static let samples: [Sample] = [
        Sample(
            pattern: "COMMONAPACHELOG",
            line: #"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
            legacy: ["clientip": "127.0.0.1", "auth": "frank", "verb": "GET", "request": "/apache_pb.gif", "response": "200", "bytes": "2326"],
            ecs: ["[source][address]": "127.0.0.1", "[user][name]": "frank", "[http][request][method]": "GET",
                  "[url][original]": "/apache_pb.gif", "[http][response][status_code]": 200, "[http][response][body][bytes]": 2326]),
        Sample(
            pattern: "HTTPD_ERRORLOG",
            line: "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration: /export/home/live/ap/htdocs/test",
            legacy: ["timestamp": "Wed Oct 11 14:32:52 2000", "loglevel": "error", "clientip": "127.0.0.1",
                     "message": ["[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration: /export/home/live/ap/htdocs/test", "client denied by server configuration: /export/home/live/ap/htdocs/test"]],
            ecs: ["timestamp": "Wed Oct 11 14:32:52 2000", "[log][level]": "error", "[source][address]": "127.0.0.1"]),
        Sample(
            pattern: "HTTPD24_ERRORLOG",
            line: "[Mon Aug 31 09:30:48.958285 2015] [proxy_fcgi:error] [pid 28787:tid 140169587934976] (70008)Partial results are valid but processing is incomplete: [client 58.13.45.166:59307] AH01075: Error dispatching request to : (reading input brigade), referer: http://example.com/index.php?id_product=11&controller=product",
            legacy: ["module": "proxy_fcgi", "loglevel": "error", "pid": "28787", "tid": "140169587934976", "proxy_errorcode": "70008", "clientip": "58.13.45.166", "clientport": "59307", "errorcode": "AH01075"],
            ecs: ["[apache][error][module]": "proxy_fcgi", "[log][level]": "error", "[process][pid]": 28787, "[process][thread][id]": 140169587934976,
                  "[apache][error][proxy][error][code]": "70008", "[source][address]": "58.13.45.166", "[source][port]": 59307, "[error][code]": "AH01075"]),
        Sample(
            pattern: "SYSLOGLINE",
            line: "May 11 15:17:02 meow.local CRON[10973]: pam_unix(cron:session): session opened for user root by (uid=0)",
            legacy: ["timestamp": "May 11 15:17:02", "logsource": "meow.local", "program": "CRON", "pid": "10973"],
            ecs: ["timestamp": "May 11 15:17:02", "[host][hostname]": "meow.local", "[process][name]": "CRON", "[process][pid]": 10973]),
        Sample(
            pattern: "SYSLOGPAMSESSION",
            line: "May 11 15:17:02 meow.local CRON[10973]: pam_unix(cron:session): session opened for user root by (uid=0)",
            legacy: ["pam_module": "pam_unix", "pam_caller": "cron:session", "pam_session_state": "opened", "username": "root", "pam_by": "(uid=0)"],
            ecs: ["[system][auth][pam][module]": "pam_unix", "[system][auth][pam][origin]": "cron:session",
                  "[system][auth][pam][session_state]": "opened", "[user][name]": "root"]),
        Sample(
            pattern: "CRONLOG",
            line: "Mar 17 08:17:01 host CRON[3241]: (root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
            legacy: ["user": "root", "action": "CMD", "program": "CRON"],
            ecs: ["[user][name]": "root", "[system][cron][action]": "CMD", "[process][name]": "CRON"]),
        Sample(
            pattern: "SYSLOG5424LINE",
            line: #"<191>1 2009-06-30T18:30:00+02:00 paxton.local grokdebug 4123 - [id1 foo="bar"][id2 baz="something"] Hello, syslog."#,
            legacy: ["syslog5424_pri": "191", "syslog5424_ts": "2009-06-30T18:30:00+02:00", "syslog5424_host": "paxton.local",
                     "syslog5424_app": "grokdebug", "syslog5424_proc": "4123", "syslog5424_msg": "Hello, syslog."],
            ecs: ["[log][syslog][facility][code]": 191, "[system][syslog][version]": "1", "timestamp": "2009-06-30T18:30:00+02:00",
                  "[host][hostname]": "paxton.local", "[process][name]": "grokdebug", "[process][pid]": 4123,
                  "[system][syslog][structured_data]": #"[id1 foo="bar"][id2 baz="something"]"#]),
        Sample(
            pattern: "JAVASTACKTRACEPART",
            line: "  at org.jruby.RubyMethod.call(RubyMethod.java:117)",
            legacy: ["class": "org.jruby.RubyMethod", "method": "call", "file": "RubyMethod.java", "line": "117"],
            ecs: ["[java][log][origin][class][name]": "org.jruby.RubyMethod", "[log][origin][function]": "call",
                  "[log][origin][file][name]": "RubyMethod.java", "[log][origin][file][line]": 117]),
        Sample(
            pattern: "TOMCATLOG",
            line: "2014-01-09 20:03:28,269 -0800 | ERROR | com.example.service.ExampleService - something unexpected happened",
            legacy: ["timestamp": "2014-01-09 20:03:28,269 -0800", "level": "ERROR", "class": "com.example.service.ExampleService",
                     "logmessage": "something unexpected happened"],
            ecs: ["timestamp": "2014-01-09 20:03:28,269 -0800", "[log][level]": "ERROR",
                  "[java][log][origin][class][name]": "com.example.service.ExampleService"]),
    ]

    @Test(arguments: samples)
    func familySamplesMatchWithFieldNames(_ sample: Sample) throws {
        for (ecs, expected) in [(ECSCompatibility.disabled, sample.legacy), (.v1, sample.ecs)] {
            let e = try grok("match => { \"message\" => \"%{\(sample.pattern)}\" }", .string(sample.line), ecs: ecs)
            #expect(e.tagList == [], "\(sample.pattern) \(ecs)")
            for (field, value) in expected {
                #expect(e[field] == value, "\(sample.pattern) \(ecs.rawValue) \(field)")
            }
        }
    }

    @Test func ecsCatalinaLog() throws {
        let e = try grok(
            #"match => { "message" => "%{CATALINALOG}" }"#,
            "31-Jul-2020 16:40:38.578 INFO [main] org.apache.catalina.startup.VersionLoggerListener.log Server version name:   Apache Tomcat/9.0.37",
            ecs: .v8)
        #expect(e["[log][level]"] == "INFO")
        #expect(e["[java][log][origin][thread][name]"] == "main")
        #expect(e["[java][log][origin][class][name]"] == "org.apache.catalina.startup.VersionLoggerListener")
        #expect(e["[log][origin][function]"] == "log")
    }

    @Test(arguments: [
        ("IPV6", "2001:db8::1", true), ("IPV6", "::ffff:192.0.2.128", true), ("IPV6", "fe80::1%eth0", true),
        ("IPV4", "192.168.1.254", true), ("IPV4", "256.1.1.1", false), ("MAC", "00:1b:63:84:45:e6", true),
        ("MAC", "0011.2233.4455", true), ("UUID", "123e4567-e89b-12d3-a456-426614174000", true),
        ("EMAILADDRESS", "john.doe@example.com", true), ("URI", "https://user:pw@example.com:8080/a/b?c=d&e=f", true),
        ("TIMESTAMP_ISO8601", "2024-05-01T10:00:00.123+02:00", true), ("HTTPDATE", "04/Jan/2015:05:13:42 +0000", true),
        ("SYSLOGTIMESTAMP", "Jan  1 06:25:43", true), ("DATESTAMP_RFC2822", "Sun, 05 Jan 2014 12:00:00 +0000", true),
        ("UNIXPATH", "/var/log/messages", true), ("WINPATH", #"C:\Windows\system32"#, true), ("QUOTEDSTRING", #""a \"b\" c""#, true),
        ("BASE16FLOAT", "0x1F.8", true), ("POSINT", "0", false), ("NONNEGINT", "0", true), ("MONTH", "März", true),
    ])
    func basePatterns(_ name: String, _ text: String, _ matches: Bool) throws {
        let library = try GrokPatternLibrary.builtin(.legacy)
        var compiler = GrokCompiler(library: library, namedCapturesOnly: true, matchLimit: 10_000_000)
        let p = try compiler.compile("^%{\(name)}$")
        var s = text
        let outcome = s.withUTF8 { p.regex.match($0, GrokMatchScratch()) }
        if case .match = outcome { #expect(matches, "\(name) matched \(text)") } else { #expect(!matches, "\(name) did not match \(text)") }
    }
}

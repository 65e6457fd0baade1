import Foundation
import SluiceTesting
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// The command line as a user meets it: `-e` defaults, version, help, graph, plugins.
struct CommandLineTests {
    @Test func configStringAddsStdinAndRubydebugDefaults() throws {
        let r = try runSluice(["-e", "", "-w", "1", "--path.settings", "/nonexistent"], stdin: Data("hello\n".utf8))
        #expect(r.exitCode == 0, "\(r.stderr)")
        #expect(r.stdout.contains(#""message" => "hello""#))
        #expect(r.stdout.contains(#""type" => "stdin""#))
        #expect(r.stdout.contains(#""original" => "hello""#))
    }

    @Test func configStringWithOutputKeepsIt() throws {
        let r = try runSluice(["-e", "output { stdout { codec => json_lines } }", "-w", "1", "--path.settings", "/nonexistent"], stdin: Data("x\n".utf8))
        #expect(r.exitCode == 0, "\(r.stderr)")
        let events = try GoldenJSON.parseLines(r.stdout)
        #expect(events.count == 1)
        #expect(events.first?.objectValue?["type"] == "stdin")
    }

    @Test func pathConfigAndConfigStringConflict() throws {
        let r = try runSluice(["-e", "", "-f", "x.conf", "--path.settings", "/nonexistent"])
        #expect(r.exitCode == 1)
        #expect(r.stderr.contains("can't be used simultaneously"))
    }

    @Test func missingConfigIsAnError() throws {
        let r = try runSluice(["-f", "/nonexistent/*.conf", "--path.settings", "/nonexistent"])
        #expect(r.exitCode == 1)
        #expect(r.stderr.contains("No configuration found"))
    }

    @Test func missingPipelinesYmlIsAnError() throws {
        let r = try runSluice(["--path.settings", "/nonexistent"])
        #expect(r.exitCode == 1)
        #expect(r.stderr.contains("Failed to read pipelines yaml file"))
    }

    @Test func versionAndHelp() throws {
        let v = try runSluice(["-V"])
        #expect(v.exitCode == 0)
        #expect(v.stdout.hasPrefix("sluice "))
        let h = try runSluice(["--help"])
        #expect(h.exitCode == 0)
        #expect(h.stdout.contains("run (default)"))
        let runHelp = try runSluice(["run", "--help"])
        #expect(runHelp.exitCode == 0)
        #expect(runHelp.stdout.contains("-f, --path.config"))
    }

    @Test func orderedTrueNeedsOneWorker() throws {
        let r = try runSluice(["-e", "input { generator { count => 1 } } output { null {} }", "-w", "2", "--pipeline.ordered", "true", "--path.settings", "/nonexistent"])
        #expect(r.exitCode == 1)
        #expect(r.stderr.contains("requires the use of a single pipeline worker"))
    }

    @Test func graphPrintsDot() throws {
        let conf = #"input { stdin { id => "in" } } filter { if [a] == 1 { mutate { add_tag => ["x"] id => "tag" } } else { drop { id => "stop" } } } output { stdout { id => "out" } }"#
        let r = try runSluice(["graph", "-e", conf, "--path.settings", "/nonexistent"])
        #expect(r.exitCode == 0, "\(r.stderr)")
        // The condition's vertex id: "__if_" and 32 hex digits of a SHA-256 (computed here by Python's hashlib).
        let digest = try runClient("/usr/bin/env", ["python3", "-c", "import hashlib;print(hashlib.sha256(b'main|config_string|1|41|[a] == 1').hexdigest()[:32])"])
        #expect(digest.exitCode == 0)
        let ifID = "__if_" + digest.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let expected = """
            digraph "main" {
              rankdir=LR;
              node [fontname="Helvetica"];
              "__QUEUE__" [label="queue", shape=cylinder];
              "in" [label="input: stdin (in)\\nconfig_string:1:9", shape=box];
              "\(ifID)" [label="if [a] == 1\\nconfig_string:1:41", shape=diamond];
              "tag" [label="filter: mutate (tag)\\nconfig_string:1:55", shape=box];
              "stop" [label="filter: drop (stop)\\nconfig_string:1:104", shape=box];
              "out" [label="output: stdout (out)\\nconfig_string:1:139", shape=box];
              "in" -> "__QUEUE__";
              "__QUEUE__" -> "\(ifID)";
              "\(ifID)" -> "tag" [label="true"];
              "\(ifID)" -> "stop" [label="false"];
              "tag" -> "out";
              "stop" -> "out";
            }

            """
        #expect(r.stdout == expected)
    }

    @Test func pluginsListsEveryBuiltin() throws {
        let r = try runSluice(["plugins", "--verbose"])
        #expect(r.exitCode == 0)
        for d in builtinPlugins { #expect(r.stdout.contains("\(d.kind.rawValue) \(d.name):")) }
        #expect(r.stdout.contains("tag_on_failure <string> (default \"_mutate_error\")"))
    }
}

/// The registry's own consistency: unique names, every setting documented, defaults that type-check.
struct PluginRegistryTests {
    @Test func namesAreUniquePerKind() {
        var seen: Set<String> = []
        for d in builtinPlugins { #expect(seen.insert("\(d.kind.rawValue)/\(d.name)").inserted, "\(d.name) twice") }
    }

    @Test func everySettingHasADocAndALogstashStyleName() {
        for d in builtinPlugins {
            var names: Set<String> = []
            for s in d.settings() {
                #expect(!s.doc.isEmpty, "\(d.name).\(s.name) has no doc")
                #expect(s.name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, "\(d.name).\(s.name)")
                #expect(names.insert(s.name).inserted, "\(d.name) declares \(s.name) twice")
            }
        }
    }

    @Test func everyPluginBuildsWithItsDefaults() throws {
        let required: [String: String] = [
            "filter/json": #"source => "message""#, "output/file": #"path => "/tmp/x""#,
            "input/dead_letter_queue": #"path => "/tmp/q""#, "input/pipeline": #"address => "a""#,
            "output/pipeline": #"send_to => "a""#, "filter/cidr": #"address => ["%{ip}"]"#,
            "filter/translate": #"source => "a""#, "filter/truncate": "length_bytes => 10", "filter/uuid": #"target => "id""#,
            "output/http": #"url => "http://127.0.0.1:1" http_method => "post""#, "filter/date": #"match => ["t", "ISO8601"]"#,
            "filter/useragent": #"source => "agent""#, "filter/ruby": #"code => "event.set('x', 1)""#,
            "input/file": #"path => "/tmp/x.log" sincedb_path => "/dev/null""#,
            "filter/geoip": "source => \"[source][ip]\" database => \"\(TestMMDB.city)\"",
            "input/redis": #"key => "k" data_type => "list""#, "output/redis": #"key => "k" data_type => "list""#,
            "input/beats": "port => 5044", "input/tcp": "port => 5000", "input/udp": "port => 5000",
            "output/tcp": #"host => "127.0.0.1" port => 5000"#, "output/kafka": #"topic_id => "logs""#, "output/udp": #"host => "127.0.0.1" port => "5000""#,
        ]
        for d in builtinPlugins where d.kind != .codec {
            let section = d.kind == .input ? "input" : d.kind == .filter ? "filter" : "output"
            let text = "\(section) { \(d.name) { \(required["\(section)/\(d.name)"] ?? "") } }"
            let ast = try ConfigParser.parse(ConfigSource(name: "t", text: text))
            _ = try ProgramCompiler(registry: builtinRegistry, environment: PipelineEnvironment()).compile(ast)
        }
    }
}

import Foundation
import Testing
@testable import SluiceCore

struct ParserTests {
    static let configFiles: [String] = {
        var files: [String] = []
        for dir in ["grammar", "examples"] {
            let root = TestPaths.packageRoot.appendingPathComponent(dir)
            let e = FileManager.default.enumerator(atPath: root.path)
            while let f = e?.nextObject() as? String {
                if f.hasSuffix(".conf") { files.append(root.appendingPathComponent(f).path) }
            }
        }
        return files.sorted()
    }()

    @Test func everyExampleConfigParses() throws {
        #expect(!ParserTests.configFiles.isEmpty)
        for file in ParserTests.configFiles {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            _ = try ConfigParser.parse(ConfigSource(name: file, text: text))
        }
    }

    @Test func parsesValuesOfEveryKind() throws {
        let text = """
            filter { x { a => "dq" b => 'sq' c => bare_word d => -12 e => 3.5 f => [1, "two", [3]]
              g => { k1 => "v" "k 2" => 2 3 => [xy] } h => json_lines { charset => "UTF-8" } } }
            """
        let ast = try ConfigParser.parse(ConfigSource(name: "t", text: text))
        guard case .plugin(let p) = ast.filters[0] else { Issue.record("no plugin"); return }
        #expect(p.attributes.map(\.name) == ["a", "b", "c", "d", "e", "f", "g", "h"])
        if case .integer(let d, _) = p.attributes[3].value { #expect(d == -12) } else { Issue.record("d") }
        if case .plugin(let codec) = p.attributes[7].value { #expect(codec.name == "json_lines") } else { Issue.record("h") }
    }

    @Test func escapesOnlyWithSupportEscapes() throws {
        let text = #"filter { x { a => "t\tq\"" } }"#
        func value(_ escapes: Bool) throws -> String? {
            let ast = try ConfigParser.parse(ConfigSource(name: "t", text: text), options: .init(supportEscapes: escapes))
            guard case .plugin(let p) = ast.filters[0], case .string(let s, _) = p.attributes[0].value else { return nil }
            return s
        }
        #expect(try value(false) == #"t\tq\""#)
        #expect(try value(true) == "t\tq\"")
    }

    @Test(arguments: [
        ("[a] and [b] or [c]", "(([a] and [b]) or [c])"),
        ("[a] or [b] and [c]", "([a] or ([b] and [c]))"),
        ("[a] and [b] or [c] and [d]", "(([a] and [b]) or ([c] and [d]))"),
        ("[a] and [b] and [c] or [d]", "([a] and (([b] and [c]) or [d]))"),
        ("[a] or [b] or [c]", "([a] or ([b] or [c]))"),
    ])
    func groupsChainsAsLogstash(condition: String, grouped: String) throws {
        let ast = try ConfigParser.parse(ConfigSource(name: "t", text: "filter { if \(condition) { } }"))
        guard case .branch(let b) = ast.filters[0] else { Issue.record("no branch"); return }
        #expect(PipelineGraph.describe(b.clauses[0].condition) == grouped)
    }

    @Test func oneElementListIsAFieldReference() throws {
        let ast = try ConfigParser.parse(ConfigSource(name: "t", text: #"filter { if [x] in ["a"] { } }"#))
        guard case .branch(let b) = ast.filters[0], case .membership(_, _, let rhs, _) = b.clauses[0].condition,
            case .selector(let s, _) = rhs
        else { Issue.record("expected a selector"); return }
        #expect(s == #"["a"]"#)
    }

    /// 10,000 random mutations of the example configs: the parser returns or throws, never crashes.
    @Test func randomMutationsNeverCrashTheParser() throws {
        let seeds = try ParserTests.configFiles.map { try String(contentsOfFile: $0, encoding: .utf8) }
            + [#"filter { if [a] == "b" and ([c] =~ /d/ or ![e]) { mutate { add_field => { "x" => "%{y}" } } } else { drop {} } }"#]
        var rng = SplitMix64(seed: 7)
        let alphabet = Array("{}[]()\"'=>#/\\,!~<and or in not if else 0123456789.-_ab\n\t$:%".utf8)
        for i in 0..<10_000 {
            var bytes = Array(seeds[i % seeds.count].utf8)
            for _ in 0..<(1 + Int(rng.next() % 5)) where !bytes.isEmpty {
                let pos = Int(rng.next() % UInt64(bytes.count))
                let c = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                switch rng.next() % 3 {
                case 0: bytes[pos] = c
                case 1: bytes.remove(at: pos)
                default: bytes.insert(c, at: pos)
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            if let ast = try? ConfigParser.parse(ConfigSource(name: "fuzz", text: text)) {
                _ = try? ProgramCompiler(registry: PluginRegistry([]), environment: PipelineEnvironment()).compile(ast)
            }
        }
    }
}

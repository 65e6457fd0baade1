import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// Hostile configs that nest deeply or chain very long conditions: the parser refuses them with a located
/// diagnostic, or they work (issue 15, item 2).
@Suite struct DeepConfigTests {
    static func nestedIfs(_ n: Int) -> String {
        "filter {\n" + String(repeating: "if [a] {\n", count: n) + "mutate {}\n" + String(repeating: "}\n", count: n) + "}\n"
    }
    static func nestedParentheses(_ n: Int) -> String {
        "filter { if " + String(repeating: "(", count: n) + "[a]" + String(repeating: ")", count: n) + " { mutate {} } }\n"
    }
    static func nestedArray(_ n: Int) -> String {
        "filter { mutate { add_tag => " + String(repeating: "[", count: n) + String(repeating: "]", count: n) + " } }\n"
    }
    static func andChain(_ n: Int, last: String = "1") -> String {
        let terms = (0..<n).map { $0 == n - 1 ? "[n] == \(last)" : "[n] == 1" }
        return "filter { if " + terms.joined(separator: " and ") + " { mutate { add_tag => [\"all\"] } } }\n"
    }

    /// The diagnostic the parser gives for `text`, or nil when it parses.
    static func diagnostic(_ text: String) -> Diagnostic? {
        do {
            _ = try ConfigParser.parse(ConfigSource(name: "deep.conf", text: text))
            return nil
        } catch {
            return error.diagnostics.first
        }
    }

    @Test func tenThousandNestedIfsAreRefusedAtTheFirstIfTooDeep() throws {
        let d = try #require(Self.diagnostic(Self.nestedIfs(10_000)))
        #expect(d.code == "too_deep")
        // `filter {` is line 1 and the n-th `if` is on line n + 1: the 257th if is the first one too deep.
        #expect(d.span.line == ConfigParser.maximumNestingDepth + 2)
        #expect(d.span.column == 1)
        // The innermost plugin block is one more level.
        #expect(Self.diagnostic(Self.nestedIfs(ConfigParser.maximumNestingDepth - 1)) == nil)
        #expect(Self.diagnostic(Self.nestedIfs(ConfigParser.maximumNestingDepth))?.code == "too_deep")
    }

    @Test func tenThousandNestedParenthesesAreRefused() throws {
        let d = try #require(Self.diagnostic(Self.nestedParentheses(10_000)))
        #expect(d.code == "too_deep")
        // `filter { if ` is 12 characters; the if's own level takes one, so parenthesis 256 is the first too deep.
        #expect(d.span.line == 1 && d.span.column == 12 + ConfigParser.maximumNestingDepth)
        #expect(Self.diagnostic(Self.nestedParentheses(200)) == nil)
    }

    @Test func aHundredThousandNestedArraysAreRefused() throws {
        let d = try #require(Self.diagnostic(Self.nestedArray(100_000)))
        #expect(d.code == "too_deep")
        #expect(Self.diagnostic(Self.nestedArray(100)) == nil)
    }

    @Test func aNotInFrontOfDeepParenthesesIsRefusedToo() throws {
        let text = "filter { if " + String(repeating: "!(", count: 5_000) + "[a]" + String(repeating: ")", count: 5_000) + " {} }"
        #expect(Self.diagnostic(text)?.code == "too_deep")
    }

    @Test func aTwentyThousandTermAndChainCompilesAndEvaluatesLikeTheShortChain() throws {
        let registry = PluginRegistry([.filter(MutateFilter.self)])
        func run(_ text: String) throws -> [String] {
            let ast = try ConfigParser.parse(ConfigSource(name: "chain.conf", text: text))
            let program = try ProgramCompiler(registry: registry, environment: PipelineEnvironment()).compile(ast)
            let event = Event()
            event.fields["n"] = 1
            return program.runFilters([event]).first.map { e in
                e.fields["tags"]?.arrayValue?.compactMap(\.stringValue) ?? []
            } ?? []
        }
        #expect(try run(Self.andChain(20_000)) == ["all"])
        #expect(try run(Self.andChain(20_000, last: "2")) == [])
        #expect(try run(Self.andChain(3)) == ["all"])
        let ast = try ConfigParser.parse(ConfigSource(name: "chain.conf", text: Self.andChain(20_000)))
        guard case .branch(let b) = ast.filters[0] else { Issue.record("expected a branch"); return }
        #expect(Self.depth(b.clauses[0].condition) <= 16, "balanced: log2(20,000) < 15")
    }

    @Test func aLongChainMixingAndWithOrIsRefused() throws {
        let terms = (0..<10_000).map { _ in "[a]" }
        var text = ""
        for (k, t) in terms.enumerated() { text += (k == 0 ? "" : (k % 2 == 0 ? " and " : " or ")) + t }
        let d = try #require(Self.diagnostic("filter { if \(text) {} }"))
        #expect(d.code == "too_deep")
    }

    /// The depth of a condition tree, walked with an explicit stack.
    static func depth(_ root: ConditionExpr) -> Int {
        var deepest = 0
        var stack: [(ConditionExpr, Int)] = [(root, 1)]
        while let (e, d) = stack.popLast() {
            deepest = max(deepest, d)
            switch e {
            case .boolean(_, let l, let r, _): stack += [(l, d + 1), (r, d + 1)]
            case .not(let inner, _): stack.append((inner, d + 1))
            default: break
            }
        }
        return deepest
    }

    // MARK: The binary: -t, run, graph, reload

    func writeConfig(_ text: String, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("deep.conf").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: ["ifs", "parentheses", "array"])
    func testAndExitRefusesADeepConfigWithALocatedError(_ kind: String) throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let text = kind == "ifs" ? Self.nestedIfs(10_000) : kind == "parentheses" ? Self.nestedParentheses(10_000) : Self.nestedArray(100_000)
        let path = try writeConfig(text, in: work)
        for extra in [["-t"], []] {
            let result = try runSluice(["-f", path, "--path.settings", work.path, "--api.enabled", "false"] + extra, currentDirectory: work)
            #expect(result.exitCode == 1, "stderr: \(result.stderr.prefix(2000))")
            #expect(result.stderr.contains("deep.conf:"), "names the file")
            #expect(result.stderr.contains("nesting deeper than \(ConfigParser.maximumNestingDepth) levels"))
            #expect(result.stderr.contains("^"), "shows a caret")
        }
        let graph = try runSluice(["graph", "-f", path], currentDirectory: work)
        #expect(graph.exitCode == 1)
        #expect(graph.stderr.contains("nesting deeper than"))
    }

    @Test func testAndExitRunAndGraphAcceptATwentyThousandTermChain() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let path = try writeConfig(
            "input { stdin { codec => json_lines } }\n" + Self.andChain(20_000) + "output { stdout { codec => json_lines } }\n",
            in: work)
        let check = try runSluice(["-t", "-f", path, "--path.settings", work.path], currentDirectory: work)
        #expect(check.exitCode == 0, "stderr: \(check.stderr.prefix(2000))")
        #expect(check.stdout.contains("Configuration OK"))
        let run = try runSluice(
            ["-f", path, "-w", "1", "--path.settings", work.path, "--api.enabled", "false", "--path.data", work.appendingPathComponent("data").path],
            stdin: Data("{\"n\":1}\n{\"n\":2}\n".utf8), currentDirectory: work)
        #expect(run.exitCode == 0, "stderr: \(run.stderr.prefix(2000))")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.contains(#""tags":["all"]"#) == true)
        #expect(lines.last?.contains("tags") == false)
        let graph = try runSluice(["graph", "-f", path], currentDirectory: work)
        #expect(graph.exitCode == 0, "stderr: \(graph.stderr.prefix(2000))")
        #expect(graph.stdout.contains("digraph"))
    }
}

/// A SIGHUP reload onto a config nested too deep is refused and the running pipeline keeps running.
@Suite(.serialized) struct DeepConfigReloadTests {
    @Test func sighupOntoADeepConfigKeepsTheOldPipeline() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let config = work.appendingPathComponent("p.conf")
        let good = """
            input { generator { count => 0 message => "x" } }
            filter { mutate { add_field => { "ver" => "one" } } }
            output { file { path => "out.log" } }
            """
        try good.write(to: config, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = TestPaths.binary
        p.arguments = ["-f", "p.conf", "-w", "1", "--api.enabled", "false", "--path.settings", work.path]
        p.currentDirectoryURL = work
        p.standardOutput = FileHandle.nullDevice
        let stderrURL = work.appendingPathComponent("stderr.log")
        FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: stderrURL)
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        func outputSize() -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: work.appendingPathComponent("out.log").path))?[.size] as? Int) ?? 0
        }
        var waited = 0
        while outputSize() == 0 && waited < 400 {
            usleep(50_000)
            waited += 1
        }
        #expect(outputSize() > 0, "the first pipeline writes")
        try DeepConfigTests.nestedIfs(10_000).write(to: config, atomically: true, encoding: .utf8)
        kill(p.processIdentifier, SIGHUP)
        var refused = false
        for _ in 0..<200 where !refused {
            usleep(50_000)
            refused = ((try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "").contains("nesting deeper than")
        }
        #expect(refused, "the reload is refused with the parser's message")
        #expect(p.isRunning)
        let before = outputSize()
        usleep(300_000)
        #expect(outputSize() > before, "the old pipeline keeps running")
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }
}

import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// Regular expressions that exhaust PCRE2's limits: a condition fails loudly instead of answering "no match",
/// and grok's `timeout_millis => 0` removes every limit (issue 15, item 4).
@Suite struct RegexLimitTests {
    static let pattern = "^(?:(a|a)*c|.*b)"

    static func condition(_ limit: UInt32 = Regex.defaultMatchLimit) throws -> CompiledCondition {
        let ast = try ConfigParser.parse(ConfigSource(name: "t.conf", text: "filter { if [message] =~ /\(pattern)/ { } }"))
        guard case .branch(let b) = ast.filters[0] else { throw ConfigError([]) }
        return try ConditionCompiler.compile(b.clauses[0].condition, options: .init(regexMatchLimit: limit))
    }

    static func event(_ message: String) -> Event {
        let e = Event()
        e.fields["message"] = .string(message)
        return e
    }

    @Test func aMatchLimitHitIsAnEvaluationErrorNotANonMatch() throws {
        let c = try Self.condition()
        let hostile = String(repeating: "a", count: 40) + "b"
        // The text does match the second alternative: what a regex engine without limits answers.
        #expect(hostile.hasSuffix("b"))
        do {
            let result = try c(Self.event(hostile))
            Issue.record("expected an evaluation error, got \(result)")
        } catch {
            #expect(error.cause.contains("match limit"))
            #expect(error.cause.contains("pipeline.regex.match_limit is 10000000"))
        }
        #expect(try c(Self.event(String(repeating: "a", count: 10) + "b")) == true)
        #expect(try c(Self.event("xyz")) == false)
    }

    @Test func theMatchLimitIsConfigurable() throws {
        let text = String(repeating: "a", count: 10) + "b"  // 2^10 backtracking steps before `.*b`
        #expect(try Self.condition(1_000_000)(Self.event(text)) == true)
        #expect(throws: ConditionEvaluationError.self) { try Self.condition(100)(Self.event(text)) }
    }

    @Test(arguments: ["0", "-1", "abc", "4294967296", "1.5"])
    func badMatchLimitsAreRefused(_ value: String) throws {
        var s = Settings()
        try s.set("pipeline.regex.match_limit", value, origin: "test")
        #expect(throws: SettingsError.self) { try s.regexMatchLimit() }
    }

    @Test func matchLimitSettingDefaultsToPCRE2sDefault() throws {
        #expect(try Settings().regexMatchLimit() == 10_000_000)
        var s = Settings()
        try s.set("pipeline.regex.match_limit", "4294967295", origin: "test")
        #expect(try s.regexMatchLimit() == UInt32.max)
        #expect(Settings.pipelineKeys.contains("pipeline.regex.match_limit"))
    }

    /// A capture repeated 300,000 times exhausts the JIT's stack: with the timeout disabled it must still match.
    @Test func grokWithTimeoutDisabledHasNoLimit() throws {
        let long = Value.string(String(repeating: "a", count: 300_000))
        let unlimited = try grok(#"match => { "message" => "^(?:(a)|b)*$" } timeout_millis => 0"#, long)
        #expect(unlimited.tagList == [])
        let limited = try grok(#"match => { "message" => "^(?:(a)|b)*$" } timeout_millis => 30000"#, long)
        #expect(limited.tagList == ["_groktimeout"], "with a timeout the JIT stack bounds the work")
    }
}

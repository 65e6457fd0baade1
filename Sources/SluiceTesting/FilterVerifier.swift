import Foundation
import SluiceCore

/// Runs logstash-filter-verifier suites in process, as LFV's standalone mode runs them through Logstash: the
/// config's inputs and outputs are replaced, each test case's input lines are decoded by the suite's codec (read
/// as the `stdin` input reads them: `plain` becomes `line`, `json` becomes `json_lines`), the `fields` are set, the
/// events go through the config's filter section, and what comes out is compared in order with `expected`, after
/// the `ignore`d fields are removed. Numbers compare by value (`1` equals `1.0`), as LFV's decoded JSON does.
public struct FilterVerifier {
    /// The parsed pipeline config.
    let ast: PipelineAST
    let sources: [ConfigSource]
    let registry: PluginRegistry
    let ecsCompatibility: ECSCompatibility

    /// Parses the config; a syntax error is thrown with its diagnostics rendered.
    public init(sources: [ConfigSource], registry: PluginRegistry, ecsCompatibility: ECSCompatibility = .v8,
                supportEscapes: Bool = false) throws(FilterVerifierError) {
        self.sources = sources
        self.registry = registry
        self.ecsCompatibility = ecsCompatibility
        do {
            ast = try ConfigParser.parse(sources, options: .init(supportEscapes: supportEscapes))
        } catch {
            throw FilterVerifierError(rendered: DiagnosticRenderer(sources: sources).render(error))
        }
    }

    /// Runs every test case of `suite` through a freshly compiled program (filter state does not leak between
    /// files). A config or codec that does not compile is thrown: no case can run.
    public func run(_ suite: LFVSuite) throws(FilterVerifierError) -> [TestCaseResult] {
        let (environment, data) = temporaryEnvironment()
        defer { try? FileManager.default.removeItem(at: data) }
        let program = try compileFilters(environment)
        defer { program.close() }
        return try suite.testcases.enumerated().map { (i, testcase) throws(FilterVerifierError) in
            let start = Date()
            let codec = try buildCodec(suite.codec, from: suite.file, environment)
            let actual = program.runFilters(decode(testcase, suite, codec))
            let failures = compare(actual, testcase.expected, suite)
            return TestCaseResult(
                suite: suite.file, name: testcase.name(index: i),
                status: failures.isEmpty ? .passed : .failed(failures.joined(separator: "\n")),
                seconds: Date().timeIntervalSince(start))
        }
    }

    /// The environment plugins are built in, with a `path.data` of their own that the caller removes.
    func temporaryEnvironment() -> (PipelineEnvironment, URL) {
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-test-\(UUID().uuidString)")
        return (PipelineEnvironment(pipelineID: "main", ecsCompatibility: ecsCompatibility, dataPath: data.path), data)
    }

    /// Compiles the filter section once and builds each suite's codec, then releases them: a config or codec
    /// error shows before any case runs.
    public func check(_ suites: [LFVSuite]) throws(FilterVerifierError) {
        let (environment, data) = temporaryEnvironment()
        defer { try? FileManager.default.removeItem(at: data) }
        try compileFilters(environment).close()
        for suite in suites { try buildCodec(suite.codec, from: suite.file, environment).close() }
    }

    /// The config's filter section alone, compiled as the runtime compiles a pipeline. Inputs and outputs are
    /// not built: LFV replaces them, and building them could open sockets or clients.
    func compileFilters(_ environment: PipelineEnvironment) throws(FilterVerifierError) -> PipelineProgram {
        var filtersOnly = PipelineAST()
        filtersOnly.filters = ast.filters
        do {
            return try ProgramCompiler(registry: registry, environment: environment).compile(filtersOnly)
        } catch {
            throw FilterVerifierError(rendered: DiagnosticRenderer(sources: sources).render(error))
        }
    }
}

/// A config or codec `sluice test` cannot compile; `rendered` holds the diagnostics with file, line and caret.
public struct FilterVerifierError: Error, Sendable {
    public let rendered: String
}

extension FilterVerifier {
    /// The suite's codec, built from its config text (`json_lines`, `plain { charset => "…" }`).
    func buildCodec(_ spec: String, from file: String, _ environment: PipelineEnvironment) throws(FilterVerifierError) -> any Codec {
        let text = "input { \(Self.lineOriented(spec)) }\n"
        let sources = [ConfigSource(name: "\(file) (codec)", text: text)]
        let renderer = DiagnosticRenderer(sources: sources)
        let ast: PipelineAST
        do {
            ast = try ConfigParser.parse(sources)
        } catch {
            throw FilterVerifierError(rendered: renderer.render(error))
        }
        guard ast.inputs.count == 1, case .plugin(let decl) = ast.inputs[0] else {
            throw FilterVerifierError(rendered: "the codec \"\(spec)\" is not one codec declaration\n")
        }
        let built: BuiltPlugin
        do {
            built = try registry.build(.codec, decl, environment)
        } catch {
            throw FilterVerifierError(rendered: renderer.render(error))
        }
        guard let codec = built.instance as? any Codec else { throw FilterVerifierError(rendered: "\"\(decl.name)\" is not a codec\n") }
        return codec
    }

    /// `name` or `name { settings }` with the `stdin` input's substitutions (`plain` → `line`, `json` →
    /// `json_lines`), and `{}` added to a bare name.
    static func lineOriented(_ spec: String) -> String {
        let trimmed = spec.trimmingCharacters(in: .whitespacesAndNewlines)
        let name = String(trimmed.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
        var rest = String(trimmed.dropFirst(name.count))
        if rest.trimmingCharacters(in: .whitespaces).isEmpty { rest = " {}" }
        let renamed = ["plain": "line", "json": "json_lines"][name] ?? name
        return renamed + rest
    }

    /// The events one test case's input makes: each line decoded (as one read of stdin), then the codec flushed;
    /// the suite's fields and then the case's are set. With ECS on, `[event][original]` holds the line when the
    /// codec did not set it, as the stdin input does.
    func decode(_ testcase: LFVTestCase, _ suite: LFVSuite, _ codec: any Codec) -> [Event] {
        var events: [Event] = []
        for line in testcase.input {
            let text = suite.codec.hasPrefix("json_lines") ? Self.expandFieldReferenceKeys(line) : line
            codec.decode(text + "\n") { event in
                if ecsCompatibility.isEnabled && event.get(.eventOriginal) == nil { _ = event.set(.eventOriginal, .string(line)) }
                events.append(event)
            }
        }
        codec.flush { events.append($0) }
        let fields = Self.merged(suite.fields, overriddenBy: testcase.fields)
        for event in events {
            for (key, value) in fields { Self.addField(event, key, value) }
        }
        return events
    }

    /// The suite's fields with the test case's replacing those of the same name (LFV merges them so).
    static func merged(_ base: [(key: String, value: Value)], overriddenBy local: [(key: String, value: Value)]) -> [(key: String, value: Value)] {
        let localKeys = Set(local.map(\.key))
        return base.filter { !localKeys.contains($0.key) } + local
    }

    /// Sets a field as the input's `add_field` does (LFV passes `fields` so): a field already present becomes an
    /// array with the new values appended.
    static func addField(_ event: Event, _ key: String, _ value: Value) {
        let ref = FieldReference(key)
        guard let existing = event.get(ref) else {
            _ = event.set(ref, value)
            return
        }
        func list(_ v: Value) -> [Value] { if case .array(let a) = v { a } else { [v] } }
        _ = event.set(ref, .array(list(existing) + list(value)))
    }

    /// LFV lets a json_lines input line name nested fields with field references (`{"[log][level]": "x"}`); the
    /// line is rewritten with nested objects. A line that is not a JSON object is left to the codec.
    static func expandFieldReferenceKeys(_ line: String) -> String {
        guard let parsed = try? JSONParser.parse(line), case .object(let o) = parsed, o.contains(where: { $0.0.hasPrefix("[") }) else {
            return line
        }
        let event = Event(fromMap: Object())
        for (key, value) in o { _ = event.set(FieldReference(key), value) }
        return JSONWriter.string(.object(event.fields))
    }

    /// The failures of one test case: a count mismatch, then a field-by-field diff per differing event.
    func compare(_ actual: [Event], _ expected: [Value], _ suite: LFVSuite) -> [String] {
        FixtureComparison.compare(actual.map { Self.outputValue($0, suite) }, expected, numeric: true)
    }

    /// An event as an output would write it (JSON: timestamps as text), without the ignored fields; with
    /// `export_metadata`, `@metadata` too, less LFV's own `__lfv_` and `__tmp_` keys.
    static func outputValue(_ event: Event, _ suite: LFVSuite) -> Value {
        for field in suite.ignore { removeIgnored(FieldReference(field), from: event) }
        var fields = event.fields
        if suite.exportMetadata {
            var metadata = Object()
            for (k, v) in event.metadata where !k.hasPrefix("__lfv_") && !k.hasPrefix("__tmp_") { metadata[k] = v }
            if !metadata.isEmpty { fields["@metadata"] = .object(metadata) }
        }
        return (try? JSONParser.parse(JSONWriter.string(.object(fields)))) ?? .object(fields)
    }

    /// Removes an ignored field and then each parent object it leaves empty, as LFV does (ignoring
    /// `[event][original]` does not leave `"event": {}` behind).
    static func removeIgnored(_ ref: FieldReference, from event: Event) {
        guard event.remove(ref) != nil else { return }
        for depth in stride(from: ref.path.count - 1, through: 1, by: -1) {
            let parent = FieldReference(path: Array(ref.path.prefix(depth)), isMetadata: ref.isMetadata)
            guard case .object(let o)? = event.get(parent), o.isEmpty else { return }
            _ = event.remove(parent)
        }
    }
}

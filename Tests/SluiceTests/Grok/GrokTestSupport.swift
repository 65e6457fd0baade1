import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// Runs events through a `filter { … }` block built by the real compiler and registry.
func runFilterBlock(_ body: String, _ events: [Event], ecs: ECSCompatibility = .disabled) throws -> [Event] {
    let ast = try ConfigParser.parse(ConfigSource(name: "test.conf", text: "filter {\n\(body)\n}"))
    let program = try ProgramCompiler(
        registry: builtinRegistry, environment: PipelineEnvironment(ecsCompatibility: ecs)
    ).compile(ast)
    defer { program.close() }
    return program.runFilters(events)
}

/// An event with the given fields (plus @timestamp/@version).
func makeEvent(_ fields: [String: Value]) -> Event {
    let e = Event()
    for (k, v) in fields { e.fields[k] = v }
    return e
}

/// Groks one message with `grok { <settings> }` and returns the event.
func grok(_ settings: String, _ message: Value, ecs: ECSCompatibility = .disabled) throws -> Event {
    try runFilterBlock("grok { \(settings) }", [makeEvent(["message": message])], ecs: ecs)[0]
}

extension Event {
    /// The value at a field reference written as in a config.
    subscript(_ ref: String) -> Value? { self.get(FieldReference(ref)) }
}

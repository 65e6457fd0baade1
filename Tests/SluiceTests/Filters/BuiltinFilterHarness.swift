import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// Runs `filter { … }` bodies through the full registry, optionally with ECS disabled and a recording DLQ.
enum BuiltinFilterHarness {
    static func compile(_ body: String, ecs: ECSCompatibility = .disabled, dlq: DeadLetterQueueWriter = DisabledDeadLetterQueue()) throws -> PipelineProgram {
        let ast = try ConfigParser.parse(ConfigSource(name: "t.conf", text: "filter {\n\(body)\n}"))
        return try ProgramCompiler(
            registry: builtinRegistry, environment: PipelineEnvironment(ecsCompatibility: ecs, deadLetterQueue: dlq)
        ).compile(ast)
    }

    static func run(_ body: String, _ maps: [Value], ecs: ECSCompatibility = .disabled, dlq: DeadLetterQueueWriter = DisabledDeadLetterQueue()) throws -> [Event] {
        try compile(body, ecs: ecs, dlq: dlq).runFilters(maps.map(FilterHarness.event))
    }

    static func run(_ body: String, _ map: Value, ecs: ECSCompatibility = .disabled) throws -> Event {
        let out = try run(body, [map], ecs: ecs)
        try #require(out.count == 1)
        return out[0]
    }

    static func configError(_ body: String, ecs: ECSCompatibility = .disabled) -> String? {
        do {
            _ = try compile(body, ecs: ecs)
            return nil
        } catch {
            return String(describing: error)
        }
    }
}

/// A scratch directory removed by the caller.
func temporaryFile(_ name: String, _ contents: String) throws -> String {
    let dir = TestPaths.temporaryDirectory()
    let path = dir.appendingPathComponent(name).path
    try contents.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// Builds pipelines with the mutate, json and drop filters from config text and runs events through them.
enum FilterHarness {
    static let registry = PluginRegistry([.filter(MutateFilter.self), .filter(JsonFilter.self), .filter(DropFilter.self)])

    /// Compiles `filter { <body> }`.
    static func compile(_ body: String) throws -> PipelineProgram {
        let ast = try ConfigParser.parse(ConfigSource(name: "t.conf", text: "filter {\n\(body)\n}"))
        return try ProgramCompiler(registry: registry, environment: PipelineEnvironment()).compile(ast)
    }

    /// Runs events built from `maps` through `filter { <body> }`; returns the events that leave the filters.
    static func run(_ body: String, _ maps: [Value]) throws -> [Event] {
        try compile(body).runFilters(maps.map(event))
    }

    /// Runs one event through the filters and returns it (fails the test when the event was dropped).
    static func run(_ body: String, _ map: Value) throws -> Event {
        let out = try run(body, [map])
        try #require(out.count == 1)
        return out[0]
    }

    /// An event built as codecs build them (`Event(fromMap:)`).
    static func event(_ map: Value) -> Event {
        Event(fromMap: map.objectValue ?? Object())
    }

    /// The message of the config error that compiling `body` raises, or nil when it compiles.
    static func configError(_ body: String) -> String? {
        do {
            _ = try compile(body)
            return nil
        } catch {
            return String(describing: error)
        }
    }
}

extension Event {
    /// The value at a field reference written as in a config (`a`, `[a][b]`).
    func at(_ reference: String) -> Value? {
        get(try! FieldReference(parsing: reference))
    }

    /// The event's tags as strings (empty when there are none).
    var tagList: [String] {
        switch at("tags") {
        case .array(let a)?: return a.compactMap(\.stringValue)
        case .string(let s)?: return [s]
        default: return []
        }
    }
}

/// The namespace of the filter plugin suites (`swift test --filter Filters`).
@Suite enum Filters {}

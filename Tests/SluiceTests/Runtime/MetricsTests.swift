import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// `metric.collect` and `enable_metric`: counters are kept by default and skipped entirely when turned off.
struct MetricsTests {
    func pipeline(_ text: String, collect: Bool) throws -> Pipeline {
        let ast = try ConfigParser.parse(ConfigSource(name: "t", text: text))
        var env = PipelineEnvironment()
        env.collectMetrics = collect
        let program = try ProgramCompiler(registry: builtinRegistry, environment: env).compile(ast)
        return Pipeline(settings: PipelineRuntimeSettings(workers: 1), program: program, shutdown: ShutdownFlag())
    }

    let config = #"filter { mutate { id => "counted" add_tag => ["a"] } mutate { id => "quiet" enable_metric => false } } output { null { id => "out" } }"#

    @Test func countersAreKeptByDefaultAndSkippedPerPlugin() throws {
        let p = try pipeline(config, collect: true)
        p.process([Event(), Event(), Event()])
        let m = p.program.metrics
        #expect(m.eventsFiltered.load(ordering: .relaxed) == 3)
        #expect(m.eventsOut.load(ordering: .relaxed) == 3)
        #expect(m.plugins["counted"]?.inCount == 3)
        #expect(m.plugins["out"]?.outCount == 3)
        #expect(m.plugins["quiet"]?.inCount == 0)
    }

    @Test func metricCollectFalseSkipsEveryCounter() throws {
        let p = try pipeline(config, collect: false)
        p.process([Event(), Event()])
        let m = p.program.metrics
        #expect(m.eventsFiltered.load(ordering: .relaxed) == 0)
        #expect(m.plugins["counted"]?.inCount == 0)
        #expect(m.plugins["out"]?.outCount == 0)
    }
}

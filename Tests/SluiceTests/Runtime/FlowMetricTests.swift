import Synchronization
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// Flow metrics with an injected clock: captures fed at chosen times, rates asserted exactly.
struct FlowMetricTests {
    static let second = 1_000_000_000

    /// An events counter and a flow of it per uptime second, as `input_throughput` is made.
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func store(_ n: Int, ordering: AtomicStoreOrdering) { value.store(n, ordering: .relaxed) }
    }

    final class Fixture: Sendable {
        let count = Counter()
        let metric: FlowMetric
        init() {
            let count = self.count
            metric = FlowMetric(name: "throughput", startNanos: 0) { uptime in
                (Double(count.value.load(ordering: .relaxed)), Double(uptime) / 1e9)
            }
        }
        func capture(at seconds: Int, count n: Int) {
            count.store(n, ordering: .relaxed)
            metric.capture(at: seconds * FlowMetricTests.second)
        }
        func rates(at seconds: Int, count n: Int) -> [String: Double] {
            count.store(n, ordering: .relaxed)
            return Dictionary(uniqueKeysWithValues: metric.rates(at: seconds * FlowMetricTests.second).map { ($0.window, $0.rate) })
        }
        func windows(at seconds: Int, count n: Int) -> [String] {
            count.store(n, ordering: .relaxed)
            return metric.rates(at: seconds * FlowMetricTests.second).map(\.window)
        }
    }

    /// Idle for 10 s, then 10 events/s until 40 s, then 20 events/s.
    static func events(at t: Int) -> Int { t <= 10 ? 0 : t <= 40 ? (t - 10) * 10 : 300 + (t - 40) * 20 }

    @Test func windowsUseTheYoungestCaptureOlderThanTheirSpan() {
        let f = Fixture()
        for t in stride(from: 0, through: 55, by: 5) { f.capture(at: t, count: Self.events(at: t)) }
        // At 57 s: current compares with the capture at 45 s (the youngest older than 47 s); one minute has no
        // capture old enough yet.
        #expect(f.windows(at: 57, count: Self.events(at: 57)) == ["current", "lifetime"])
        #expect(f.rates(at: 57, count: Self.events(at: 57)) == ["current": 20.0, "lifetime": 11.23])  // 640 / 57

        for t in stride(from: 60, through: 65, by: 5) { f.capture(at: t, count: Self.events(at: t)) }
        // At 65 s the capture at 5 s sits exactly on one minute's edge; as in Logstash the baseline is the youngest
        // capture strictly older than the edge, the one at 0 s: 800 / 65 = 12.307…
        #expect(f.rates(at: 65, count: 800)["last_1_minute"] == 12.31)
        // At 67 s: current against 55 s (240 events / 12 s), last_1_minute against 5 s (840 / 62 = 13.548…),
        // lifetime against 0 s (840 / 67 = 12.537…), each to 4 significant digits.
        #expect(f.windows(at: 67, count: 840) == ["current", "last_1_minute", "lifetime"])
        #expect(f.rates(at: 67, count: 840) == ["current": 20.0, "last_1_minute": 13.55, "lifetime": 12.54])
    }

    @Test func currentReportsAgainstTheLifetimeBaselineUntilItsWindowFills() {
        let f = Fixture()
        #expect(f.rates(at: 1, count: 5).isEmpty)  // nothing captured yet
        f.capture(at: 0, count: 0)
        #expect(f.rates(at: 0, count: 0).isEmpty)  // the denominator has not moved
        #expect(f.rates(at: 4, count: 10) == ["current": 2.5, "lifetime": 2.5])
    }

    @Test func retentionIsBoundedAndEveryWindowAppearsOnceOldEnough() {
        let f = Fixture()
        let hours25 = 25 * 3600
        for t in stride(from: 0, through: 3 * 3600, by: 5) { f.capture(at: t, count: t) }
        #expect(f.windows(at: 3 * 3600 + 1, count: 3 * 3600 + 1)
            == ["current", "last_1_minute", "last_5_minutes", "last_15_minutes", "last_1_hour", "lifetime"])
        for t in stride(from: 3 * 3600 + 5, through: hours25, by: 5) { f.capture(at: t, count: t) }
        let rates = f.rates(at: hours25 + 1, count: hours25 + 1)
        #expect(rates.keys.sorted() == ["current", "last_15_minutes", "last_1_hour", "last_1_minute", "last_24_hours",
                                        "last_5_minutes", "lifetime"])
        #expect(rates.values.allSatisfy { $0 == 1.0 })
        // Commits are a resolution step apart, so each window keeps about span / max(step, 5 s) captures.
        let retained = f.metric.retainedCaptures
        #expect(retained["current"]! <= 4)
        #expect(retained["last_1_minute"]! <= 14)
        #expect(retained["last_5_minutes"]! <= 22)
        #expect(retained["last_24_hours"]! <= 98)
        for policy in FlowRetentionPolicy.all { #expect(retained[policy.name]! <= policy.capacity) }
    }

    @Test func ratesKeepFourSignificantDigitsRoundingHalfUp() {
        #expect(FlowMetric.significant(123_456, digits: 4) == 123_500)
        #expect(FlowMetric.significant(2.0 / 3.0, digits: 4) == 0.6667)
        #expect(FlowMetric.significant(-0.00123456, digits: 4) == -0.001235)
        #expect(FlowMetric.significant(9.9996, digits: 4) == 10.0)
        #expect(FlowMetric.significant(1, digits: 4) == 1)
    }

    @Test func pipelineFlowsDivideTheStageCountersByUptime() throws {
        let text = #"input { generator { id => "gen" count => 1 } } filter { mutate { id => "m" } } output { null { id => "out" } }"#
        let ast = try ConfigParser.parse(ConfigSource(name: "t", text: text))
        let program = try ProgramCompiler(registry: builtinRegistry, environment: PipelineEnvironment()).compile(ast)
        let p = Pipeline(settings: PipelineRuntimeSettings(workers: 2), program: program, shutdown: ShutdownFlag())
        let flow = PipelineFlow(metrics: p.program.metrics, workers: 2, startNanos: 0)
        flow.capture(at: 0)
        p.process((0..<10).map { _ in Event() })
        let o = flow.pipeline.object(at: 2 * Self.second)
        #expect(o.map(\.0) == ["input_throughput", "filter_throughput", "output_throughput", "queue_backpressure",
                               "worker_concurrency", "worker_utilization"])
        #expect(o["filter_throughput"] == ["current": .double(5), "lifetime": .double(5)])
        #expect(o["output_throughput"] == ["current": .double(5), "lifetime": .double(5)])
        #expect(o["input_throughput"] == ["current": .double(0), "lifetime": .double(0)])
        #expect(flow.plugins["gen"]?.object(at: 2 * Self.second).map(\.0) == ["throughput"])
        #expect(flow.plugins["m"]?.object(at: 2 * Self.second).map(\.0) == ["worker_utilization", "worker_millis_per_event"])
        #expect(flow.plugins["out"]?.object(at: 2 * Self.second).map(\.0) == ["worker_utilization", "worker_millis_per_event"])
    }
}

/// The event counters the flow metrics are made from, summed over one or more pipelines.
public struct EventCounts: Sendable, Equatable {
    public var `in` = 0
    public var filtered = 0
    public var out = 0
    public var durationNanos = 0
    public var queuePushNanos = 0

    public init() {}

    public init(_ m: PipelineMetrics) {
        `in` = m.eventsIn.load(ordering: .relaxed)
        filtered = m.eventsFiltered.load(ordering: .relaxed)
        out = m.eventsOut.load(ordering: .relaxed)
        durationNanos = m.durationNanos.load(ordering: .relaxed)
        queuePushNanos = m.queuePushNanos.load(ordering: .relaxed)
    }

    /// The sum over `pipelines` (the node-level `events`).
    public init(summing pipelines: [Pipeline]) {
        for p in pipelines {
            let c = EventCounts(p.program.metrics)
            `in` += c.in
            filtered += c.filtered
            out += c.out
            durationNanos += c.durationNanos
            queuePushNanos += c.queuePushNanos
        }
    }
}

private func seconds(_ nanos: Int) -> Double { Double(nanos) / 1e9 }
private func millis(_ nanos: Int) -> Double { Double(nanos) / 1e6 }

/// A named group of flow metrics captured together; each reads its counters through a closure, so a capture costs
/// a few atomic loads and nothing runs per event.
public final class FlowMetricSet: Sendable {
    public let metrics: [FlowMetric]

    init(_ metrics: [FlowMetric]) { self.metrics = metrics }

    /// Captures every metric at `nanos` (monotonic).
    public func capture(at nanos: Int) {
        for m in metrics { m.capture(at: nanos) }
    }

    /// `{ name: { window: rate } }` at `nanos`, in declaration order.
    public func object(at nanos: Int) -> Object {
        var o = Object()
        for m in metrics {
            var windows = Object()
            for (window, rate) in m.rates(at: nanos) { windows[window] = .double(rate) }
            o[m.name] = .object(windows)
        }
        return o
    }

    /// Logstash's node- and pipeline-level flows over summed counters: events per second through each stage,
    /// and the share of time inputs wait on the queue and workers are busy.
    static func stages(startNanos: Int, _ counts: @escaping @Sendable () -> EventCounts) -> [FlowMetric] {
        func flow(_ name: String, _ f: @escaping @Sendable (EventCounts, Int) -> (Double, Double)) -> FlowMetric {
            FlowMetric(name: name, startNanos: startNanos) { uptime in f(counts(), uptime) }
        }
        return [
            flow("input_throughput") { c, up in (Double(c.in), seconds(up)) },
            flow("filter_throughput") { c, up in (Double(c.filtered), seconds(up)) },
            flow("output_throughput") { c, up in (Double(c.out), seconds(up)) },
            flow("queue_backpressure") { c, up in (millis(c.queuePushNanos), millis(up)) },
            flow("worker_concurrency") { c, up in (millis(c.durationNanos), millis(up)) },
        ]
    }
}

/// The flow metrics of one pipeline (`pipelines.<id>.flow`) and of its inputs, filters and outputs
/// (`plugins.*[].flow`), captured by the agent's flow ticker and once when the pipeline starts.
public final class PipelineFlow: Sendable {
    public let pipeline: FlowMetricSet
    /// By plugin id; plugins with `enable_metric => false` have none.
    public let plugins: [String: FlowMetricSet]

    /// - Parameter persistedQueue: the queue's gauges when the pipeline has a persisted queue, which adds Logstash's
    ///   `queue_persisted_growth_bytes` and `queue_persisted_growth_events`.
    public init(metrics: PipelineMetrics, workers: Int, startNanos: Int, persistedQueue: PersistedQueueGauges? = nil) {
        let workers = Double(max(1, workers))
        var stages = FlowMetricSet.stages(startNanos: startNanos) { EventCounts(metrics) }
        // Percent of the workers' available time spent in filters and outputs.
        stages.append(FlowMetric(name: "worker_utilization", startNanos: startNanos) { up in
            (millis(metrics.durationNanos.load(ordering: .relaxed)) * 100, millis(up) * workers)
        })
        if let gauges = persistedQueue {
            // The change of a gauge per second: bytes on the live pages, and unread events.
            stages.append(FlowMetric(name: "queue_persisted_growth_bytes", startNanos: startNanos) { up in
                (Double(gauges.current.bytes), seconds(up))
            })
            stages.append(FlowMetric(name: "queue_persisted_growth_events", startNanos: startNanos) { up in
                (Double(gauges.current.events), seconds(up))
            })
        }
        pipeline = FlowMetricSet(stages)
        var plugins: [String: FlowMetricSet] = [:]
        for (id, m) in metrics.plugins {
            switch m.kind {
            case .input:
                plugins[id] = FlowMetricSet([
                    FlowMetric(name: "throughput", startNanos: startNanos) { up in (Double(m.outCount), seconds(up)) }
                ])
            case .filter, .output:
                plugins[id] = FlowMetricSet([
                    FlowMetric(name: "worker_utilization", startNanos: startNanos) { up in
                        (millis(m.durationNanoseconds) * 100, millis(up) * workers)
                    },
                    FlowMetric(name: "worker_millis_per_event", startNanos: startNanos) { _ in
                        (millis(m.durationNanoseconds), Double(m.inCount))
                    },
                ])
            case .codec:
                break
            }
        }
        self.plugins = plugins
    }

    /// Captures the pipeline's and every plugin's metrics at `nanos`.
    public func capture(at nanos: Int) {
        pipeline.capture(at: nanos)
        for set in plugins.values { set.capture(at: nanos) }
    }
}

/// The node-level flow (`GET /_node/stats/flow`): the stage flows over the events of every running pipeline.
public final class NodeFlow: Sendable {
    public let metrics: FlowMetricSet

    /// - Parameter counts: the node's event counters, read on each capture and request.
    public init(startNanos: Int, counts: @escaping @Sendable () -> EventCounts) {
        metrics = FlowMetricSet(FlowMetricSet.stages(startNanos: startNanos, counts))
    }

    public func capture(at nanos: Int) { metrics.capture(at: nanos) }
}

/// The persisted queue's size gauges its flow metrics read: bytes on the live pages and unread events. Attached once
/// the queue is open (zero before); read by the flow ticker and the API, on any thread.
public final class PersistedQueueGauges: @unchecked Sendable {
    private let lock = Lock()
    private var queue: (any PipelineQueue)?

    public init() {}

    func attach(_ queue: any PipelineQueue) { lock.withLock { self.queue = queue } }

    var current: (bytes: Int64, events: Int) {
        guard let snapshot = lock.withLock({ queue })?.snapshot else { return (0, 0) }
        return (snapshot.persistedBytes, snapshot.unread)
    }
}

/// The executable form of a pipeline: built plugins and the filter/output step trees that move a batch through them.
/// Immutable once compiled; workers run it concurrently.
public final class PipelineProgram: @unchecked Sendable {
    public let inputs: [BuiltPlugin]
    public let filters: [BuiltPlugin]
    public let outputs: [BuiltPlugin]
    let filterSteps: [Step]
    let outputSteps: [Step]
    let conditionFailure: ConditionFailureHandler
    /// Warnings collected while compiling (and/or chains, …), for the log.
    public let warnings: [Diagnostic]
    /// Counters per plugin id.
    public let metrics: PipelineMetrics
    /// `metric.collect`: false skips every counter and clock read.
    public var collectsMetrics = true

    init(
        inputs: [BuiltPlugin], filters: [BuiltPlugin], outputs: [BuiltPlugin], filterSteps: [Step], outputSteps: [Step],
        conditionFailure: ConditionFailureHandler, warnings: [Diagnostic], metrics: PipelineMetrics
    ) {
        self.inputs = inputs
        self.filters = filters
        self.outputs = outputs
        self.filterSteps = filterSteps
        self.outputSteps = outputSteps
        self.conditionFailure = conditionFailure
        self.warnings = warnings
        self.metrics = metrics
    }

    /// Whether any input cannot be reloaded (stdin).
    public var isReloadable: Bool { inputs.allSatisfy { ($0.instance as? any Input).map { type(of: $0).isReloadable } ?? true } }

    /// Runs a batch through the filters, returning the events that go on to the outputs (cancelled ones removed).
    public func runFilters(_ batch: [Event]) -> [Event] {
        for (i, e) in batch.enumerated() {
            e.ordinal = i
            e.subOrdinal = 0
        }
        return Step.run(filterSteps, batch, self)
    }

    /// Hands the events to the outputs their conditions select.
    public func runOutputs(_ events: [Event]) {
        guard !events.isEmpty else { return }
        Step.deliver(outputSteps, events, self)
    }

    /// Closes every plugin (filters' flush first, then outputs, codecs are closed by their owners).
    public func close() {
        for f in filters { f.instance.close() }
        for o in outputs { o.instance.close() }
    }
}

/// What happens to an event whose condition cannot be evaluated: DLQ entry (`if-statement`) or a warning, and the
/// event leaves the pipeline, as Logstash 8.16+.
struct ConditionFailureHandler: Sendable {
    let deadLetterQueue: DeadLetterQueueWriter
    let logger: Logger

    func handle(_ event: Event, _ error: ConditionEvaluationError) {
        event.cancelled = true
        if deadLetterQueue.isEnabled && !event.isFromDeadLetterQueue {
            deadLetterQueue.write(
                event, pluginType: "if-statement", pluginID: "if-statement",
                reason: "condition evaluation error, \(error.cause)")
            logger.rateLimited(.warn, key: error.cause, "\(error.cause). Failing event was sent to dead letter queue")
        } else {
            logger.rateLimited(.warn, key: error.cause, "\(error.cause). Event was dropped, enable debug logging to see the event's payload")
            logger.debug("dropped event: \(JSONWriter.string(.object(event.fields)))")
        }
    }
}

/// One node of a compiled step tree.
indirect enum Step: @unchecked Sendable {
    case filter(FilterStage)
    case output(OutputStage)
    case branch([(CompiledCondition, [Step])], otherwise: [Step])

    /// Runs filter steps over `events`, keeping input order across branches.
    static func run(_ steps: [Step], _ events: [Event], _ program: PipelineProgram) -> [Event] {
        var current = events
        for step in steps {
            if current.isEmpty { break }
            switch step {
            case .filter(let stage): current = stage.apply(current)
            case .branch(let clauses, let otherwise):
                let buckets = partition(current, clauses, program)
                var merged: [Event] = []
                merged.reserveCapacity(current.count)
                var nonEmpty = 0
                for (k, bucket) in buckets.enumerated() where !bucket.isEmpty {
                    nonEmpty += 1
                    let body = k < clauses.count ? clauses[k].1 : otherwise
                    merged += run(body, bucket, program)
                }
                if nonEmpty > 1 {
                    merged.sort { $0.ordinal != $1.ordinal ? $0.ordinal < $1.ordinal : $0.subOrdinal < $1.subOrdinal }
                }
                current = merged
            case .output: break
            }
        }
        return current
    }

    /// Sends events to the outputs of `steps`, following conditions.
    static func deliver(_ steps: [Step], _ events: [Event], _ program: PipelineProgram) {
        for step in steps {
            switch step {
            case .output(let stage): stage.send(events)
            case .branch(let clauses, let otherwise):
                let buckets = partition(events, clauses, program)
                for (k, bucket) in buckets.enumerated() where !bucket.isEmpty {
                    deliver(k < clauses.count ? clauses[k].1 : otherwise, bucket, program)
                }
            case .filter: break
            }
        }
    }

    /// Puts each event in the bucket of the first clause whose condition holds (last bucket: else). Events whose
    /// condition fails to evaluate leave the pipeline.
    static func partition(_ events: [Event], _ clauses: [(CompiledCondition, [Step])], _ program: PipelineProgram) -> [[Event]] {
        var buckets = [[Event]](repeating: [], count: clauses.count + 1)
        eventLoop: for e in events {
            for (k, clause) in clauses.enumerated() {
                do {
                    if try clause.0(e) {
                        buckets[k].append(e)
                        continue eventLoop
                    }
                } catch {
                    program.conditionFailure.handle(e, error)
                    continue eventLoop
                }
            }
            buckets[clauses.count].append(e)
        }
        return buckets
    }
}

/// A filter plugin in the step tree, with its decorations and counters.
final class FilterStage: @unchecked Sendable {
    let plugin: BuiltPlugin
    let filter: any Filter
    let decorations: FilterDecorations
    /// Nil when metrics are off (`metric.collect: false` or `enable_metric => false`): no clock reads at all.
    let metrics: PluginMetrics?

    init(_ plugin: BuiltPlugin, metrics: PluginMetrics) {
        self.plugin = plugin
        self.filter = plugin.instance as! any Filter
        self.decorations = plugin.filterDecorations ?? FilterDecorations(addField: [], removeField: [], addTag: [], removeTag: [])
        self.metrics = plugin.collectsMetrics ? metrics : nil
    }

    func apply(_ events: [Event]) -> [Event] {
        let started = metrics == nil ? 0 : Clock.nanoseconds()
        let before = plugin.onError == .dlq ? events.map(Event.init(copying:)) : nil
        var batch = FilterBatch(events: events)
        filter.filter(&batch)
        if let before { routeFailures(batch, before) }
        var out: [Event] = []
        out.reserveCapacity(events.count + batch.created.count)
        let decorate = !decorations.isEmpty
        let children = childrenByParent(batch)
        for (i, e) in events.enumerated() {
            if !e.cancelled {
                if decorate && batch.matched[i] { decorations.apply(to: e) }
                out.append(e)
            }
            guard let kids = children[i] else { continue }
            for (child, matched) in kids where !child.cancelled {
                if decorate && matched { decorations.apply(to: child) }
                out.append(child)
            }
        }
        metrics?.record(in: events.count, out: out.count, nanoseconds: Clock.nanoseconds() - started)
        return out
    }

    /// New events grouped by the event they came from, numbered to sort right after it.
    private func childrenByParent(_ batch: FilterBatch) -> [Int: [(Event, Bool)]] {
        guard !batch.created.isEmpty else { return [:] }
        var next = (batch.events.map(\.subOrdinal).max() ?? 0) + 1
        var map: [Int: [(Event, Bool)]] = [:]
        for (event, parent, matched) in batch.created {
            event.ordinal = batch.events[parent].ordinal
            event.subOrdinal = next
            next += 1
            map[parent, default: []].append((event, matched))
        }
        return map
    }

    /// `on_error => "dlq"`: each failed event leaves the pipeline and its pre-filter copy goes to the DLQ.
    /// An event that came from a DLQ is never written back; it keeps the failure tag instead.
    private func routeFailures(_ batch: FilterBatch, _ before: [Event]) {
        let dlq = plugin.context.deadLetterQueue
        for (index, reason) in batch.failures where !before[index].isFromDeadLetterQueue {
            if dlq.write(before[index], pluginType: plugin.name, pluginID: plugin.id, reason: reason) {
                batch.events[index].cancelled = true
            }
        }
    }
}

/// An output plugin in the step tree, with its counters.
final class OutputStage: @unchecked Sendable {
    let plugin: BuiltPlugin
    let output: any Output
    let metrics: PluginMetrics?

    init(_ plugin: BuiltPlugin, metrics: PluginMetrics) {
        self.plugin = plugin
        self.output = plugin.instance as! any Output
        self.metrics = plugin.collectsMetrics ? metrics : nil
    }

    func send(_ events: [Event]) {
        guard let metrics else {
            output.receive(events)
            return
        }
        let started = Clock.nanoseconds()
        output.receive(events)
        metrics.record(in: events.count, out: events.count, nanoseconds: Clock.nanoseconds() - started)
    }
}

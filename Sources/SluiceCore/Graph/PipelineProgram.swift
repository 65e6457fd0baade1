/// The executable form of a pipeline: built plugins and the filter/output step trees that move a batch through them.
/// Immutable once compiled; workers run it concurrently.
public final class PipelineProgram: @unchecked Sendable {
    /// The graph this program was compiled from (`sluice graph`, `?graph=true`).
    public let graph: PipelineGraph
    public let inputs: [BuiltPlugin]
    public let filters: [BuiltPlugin]
    public let outputs: [BuiltPlugin]
    let filterSteps: [Step]
    let outputSteps: [Step]
    let conditionFailure: ConditionFailureHandler
    /// Warnings collected while compiling (and/or chains, …), for the log.
    public var warnings: [Diagnostic] { graph.warnings }
    /// Counters per plugin id.
    public let metrics: PipelineMetrics
    /// `metric.collect`: false skips every counter and clock read.
    public var collectsMetrics = true

    init(
        graph: PipelineGraph, inputs: [BuiltPlugin], filters: [BuiltPlugin], outputs: [BuiltPlugin], filterSteps: [Step],
        outputSteps: [Step], conditionFailure: ConditionFailureHandler, metrics: PipelineMetrics
    ) {
        self.graph = graph
        self.inputs = inputs
        self.filters = filters
        self.outputs = outputs
        self.filterSteps = filterSteps
        self.outputSteps = outputSteps
        self.conditionFailure = conditionFailure
        self.metrics = metrics
    }

    /// Whether any input cannot be reloaded (stdin).
    public var isReloadable: Bool { inputs.allSatisfy { ($0.instance as? any Input).map { type(of: $0).isReloadable } ?? true } }

    /// Runs a batch through the filters, returning the events that go on to the outputs (cancelled ones removed).
    public func runFilters(_ batch: [Event]) -> [Event] {
        var ledger = BatchLedger()
        return runFilters(batch, &ledger)
    }

    func runFilters(_ batch: [Event], _ ledger: inout BatchLedger) -> [Event] {
        for (i, e) in batch.enumerated() {
            e.ordinal = i
            e.subOrdinal = 0
            e.fate = .delivered
        }
        return Step.run(filterSteps, batch, self, &ledger)
    }

    /// Hands the events to the outputs their conditions select.
    public func runOutputs(_ events: [Event]) {
        var ledger = BatchLedger()
        runOutputs(events, &ledger)
    }

    /// Hands the events to their outputs and counts what became of each: every event's strongest fate over the
    /// outputs it reached. Returns whether every event is done (none kept for a later run).
    @discardableResult
    func runOutputs(_ events: [Event], _ ledger: inout BatchLedger) -> Bool {
        sendToOutputs(events, &ledger)
        return settleOutputs(events, &ledger)
    }

    /// Hands the events to the outputs their conditions select; pipelined outputs leave their deliveries in
    /// `ledger.inFlight` when the ledger defers them.
    func sendToOutputs(_ events: [Event], _ ledger: inout BatchLedger) {
        guard !events.isEmpty else { return }
        Step.deliver(outputSteps, events, self, &ledger)
    }

    /// Finishes the deliveries still in flight (waiting for them) and counts each event's strongest fate over the
    /// outputs it reached. Returns whether every event is done (none kept for a later run).
    func settleOutputs(_ events: [Event], _ ledger: inout BatchLedger) -> Bool {
        for delivery in ledger.inFlight { delivery.finish() }
        ledger.inFlight = []
        var done = true
        for e in events where !e.cancelled {
            switch e.fate {
            case .delivered: ledger.delivered += 1
            case .dropped: ledger.dropped += 1
            case .deadLettered: ledger.deadLettered += 1
            case .retryLater:
                ledger.undelivered += 1
                done = false
            }
        }
        return done
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

    /// Takes the event out of the pipeline; counts it as dead-lettered when the DLQ stored it, dropped otherwise.
    func handle(_ event: Event, _ error: ConditionEvaluationError, _ ledger: inout BatchLedger) {
        event.cancelled = true
        if deadLetterQueue.isEnabled && !event.isFromDeadLetterQueue {
            if deadLetterQueue.write(
                event, pluginType: "if-statement", pluginID: "if-statement",
                reason: "condition evaluation error, \(error.cause)")
            {
                ledger.deadLettered += 1
                logger.rateLimited(.warn, key: error.cause, "\(error.cause). Failing event was sent to dead letter queue")
                return
            }
            logger.rateLimited(.error, key: "refused:" + error.cause,
                "\(error.cause). The dead letter queue refused the event (full or failing); it was dropped")
        } else {
            logger.rateLimited(.warn, key: error.cause, "\(error.cause). Event was dropped, enable debug logging to see the event's payload")
        }
        logger.debug("dropped event: \(JSONWriter.string(.object(event.fields)))")
        ledger.dropped += 1
    }
}

/// One node of a compiled step tree.
indirect enum Step: @unchecked Sendable {
    case filter(FilterStage)
    case output(OutputStage)
    case branch([(CompiledCondition, [Step])], otherwise: [Step])

    /// Runs filter steps over `events`, keeping input order across branches.
    static func run(_ steps: [Step], _ events: [Event], _ program: PipelineProgram, _ ledger: inout BatchLedger) -> [Event] {
        var current = events
        for step in steps {
            if current.isEmpty { break }
            switch step {
            case .filter(let stage): current = stage.apply(current, &ledger)
            case .branch(let clauses, let otherwise):
                let buckets = partition(current, clauses, program, &ledger)
                var merged: [Event] = []
                merged.reserveCapacity(current.count)
                var nonEmpty = 0
                for (k, bucket) in buckets.enumerated() where !bucket.isEmpty {
                    nonEmpty += 1
                    let body = k < clauses.count ? clauses[k].1 : otherwise
                    merged += run(body, bucket, program, &ledger)
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

    /// Sends events to the outputs of `steps`, following conditions. An event whose condition fails to evaluate
    /// leaves the pipeline there: no later output sees it, exactly as in the filter section.
    static func deliver(_ steps: [Step], _ events: [Event], _ program: PipelineProgram, _ ledger: inout BatchLedger) {
        var events = events
        for step in steps {
            if events.isEmpty { return }
            switch step {
            case .output(let stage): stage.send(events, &ledger)
            case .branch(let clauses, let otherwise):
                let failedBefore = ledger.deadLettered + ledger.dropped
                let buckets = partition(events, clauses, program, &ledger)
                for (k, bucket) in buckets.enumerated() where !bucket.isEmpty {
                    deliver(k < clauses.count ? clauses[k].1 : otherwise, bucket, program, &ledger)
                }
                if ledger.deadLettered + ledger.dropped != failedBefore { events.removeAll { $0.cancelled } }
            case .filter: break
            }
        }
    }

    /// Puts each event in the bucket of the first clause whose condition holds (last bucket: else). Events whose
    /// condition fails to evaluate leave the pipeline.
    static func partition(
        _ events: [Event], _ clauses: [(CompiledCondition, [Step])], _ program: PipelineProgram, _ ledger: inout BatchLedger
    ) -> [[Event]] {
        var buckets = [[Event]](repeating: [], count: clauses.count + 1)
        eventLoop: for e in events {
            for (k, clause) in clauses.enumerated() {
                do {
                    if try clause.0(e) {
                        buckets[k].append(e)
                        continue eventLoop
                    }
                } catch {
                    program.conditionFailure.handle(e, error, &ledger)
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

    /// Runs the filter over `events` and returns the survivors with the events it made, counting the events it
    /// made, dead-lettered (`on_error => dlq`) and dropped.
    func apply(_ events: [Event], _ ledger: inout BatchLedger) -> [Event] {
        let started = metrics == nil ? 0 : Clock.nanoseconds()
        let before = plugin.onError == .dlq ? events.map(Event.init(copying:)) : nil
        var batch = FilterBatch(events: events)
        filter.filter(&batch)
        let deadLettered = before.map { routeFailures(batch, $0) } ?? 0
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
        ledger.created += batch.created.count
        ledger.deadLettered += deadLettered
        ledger.dropped += events.count + batch.created.count - out.count - deadLettered
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
    /// An event that came from a DLQ is never written back; it keeps the failure tag instead, and so does an
    /// event the DLQ refused (full or failing), with an error in the log. Returns how many were dead-lettered.
    private func routeFailures(_ batch: FilterBatch, _ before: [Event]) -> Int {
        let dlq = plugin.context.deadLetterQueue
        var written = 0
        for (index, reason) in batch.failures where !before[index].isFromDeadLetterQueue && !batch.events[index].cancelled {
            if dlq.write(before[index], pluginType: plugin.name, pluginID: plugin.id, reason: reason) {
                batch.events[index].cancelled = true
                written += 1
            } else {
                plugin.context.logger.rateLimited(.error, key: "dlq_refused",
                    "The dead letter queue refused a failed event (full or failing); it goes on with its failure tag: \(reason)")
            }
        }
        return written
    }
}

/// An output plugin in the step tree, with its counters.
final class OutputStage: @unchecked Sendable {
    let plugin: BuiltPlugin
    let output: any Output
    /// The same output when it can leave deliveries in flight.
    let pipelined: (any PipelinedOutput)?
    let metrics: PluginMetrics?

    init(_ plugin: BuiltPlugin, metrics: PluginMetrics) {
        self.plugin = plugin
        self.output = plugin.instance as! any Output
        self.pipelined = plugin.instance as? any PipelinedOutput
        self.metrics = plugin.collectsMetrics ? metrics : nil
    }

    /// Hands `events` to the output. Its outcome is applied to the events now, or, for a pipelined output when the
    /// ledger defers deliveries, once the worker finishes the delivery left in `ledger.inFlight`.
    func send(_ events: [Event], _ ledger: inout BatchLedger) {
        let started = metrics == nil ? 0 : Clock.nanoseconds()
        if let pipelined, ledger.defersDeliveries {
            let delivery = pipelined.begin(events)
            let spent = metrics == nil ? 0 : Clock.nanoseconds() - started
            ledger.inFlight.append(OutputInFlight(stage: self, count: events.count, delivery: delivery, beginNanos: spent))
            return
        }
        let outcome = output.receive(events)
        apply(outcome, count: events.count, nanoseconds: metrics == nil ? 0 : Clock.nanoseconds() - started)
    }

    /// Keeps, on each event, the strongest fate any output reported for it, and counts the send and the time the
    /// worker spent in the output.
    func apply(_ outcome: OutputOutcome, count: Int, nanoseconds: Int) {
        for (event, fate) in outcome.exceptions where fate > event.fate { event.fate = fate }
        metrics?.record(in: count, out: count, nanoseconds: nanoseconds)
    }
}

/// A pipelined output's delivery of part of a batch, not yet finished.
struct OutputInFlight {
    let stage: OutputStage
    let count: Int
    let delivery: any OutputDelivery
    /// Time the worker spent in `begin` (0 without metrics): the output's time is that plus `finish`'s, not the
    /// wall time between them, when the worker was on other batches.
    let beginNanos: Int

    /// Waits for the delivery and applies its outcome to the events.
    func finish() {
        let started = stage.metrics == nil ? 0 : Clock.nanoseconds()
        let outcome = delivery.finish()
        stage.apply(outcome, count: count, nanoseconds: stage.metrics == nil ? 0 : beginNanos + Clock.nanoseconds() - started)
    }
}

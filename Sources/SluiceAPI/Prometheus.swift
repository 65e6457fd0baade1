import SluiceCore
import Synchronization

/// `GET /metrics`: the pipeline, plugin and DLQ counters in Prometheus's text exposition format (0.0.4).
extension MonitoringAPI {
    func prometheus() -> String {
        var out = PrometheusText()
        let pipelines = agent.runningPipelines
        let seconds = { (nanos: Int) in Double(nanos) / 1e9 }

        out.family("sluice_pipeline_events_in_total", "counter", "Events pushed into the queue by the inputs.")
        for p in pipelines { out.sample([("pipeline", p.settings.id)], p.program.metrics.eventsIn.load(ordering: .relaxed)) }
        out.family("sluice_pipeline_events_filtered_total", "counter", "Events taken by workers and run through the filters.")
        for p in pipelines { out.sample([("pipeline", p.settings.id)], p.program.metrics.eventsFiltered.load(ordering: .relaxed)) }
        out.family("sluice_pipeline_events_out_total", "counter", "Events handed to the outputs.")
        for p in pipelines { out.sample([("pipeline", p.settings.id)], p.program.metrics.eventsOut.load(ordering: .relaxed)) }
        out.family("sluice_pipeline_events_duration_seconds_total", "counter", "Time workers spent on batches.")
        for p in pipelines { out.sample([("pipeline", p.settings.id)], seconds(p.program.metrics.durationNanos.load(ordering: .relaxed))) }
        out.family("sluice_pipeline_queue_push_duration_seconds_total", "counter", "Time inputs spent blocked pushing into the queue.")
        for p in pipelines { out.sample([("pipeline", p.settings.id)], seconds(p.program.metrics.queuePushNanos.load(ordering: .relaxed))) }
        let queues = pipelines.map { ($0, $0.queue.snapshot) }
        out.family("sluice_pipeline_queue_events", "gauge", "Events waiting in the queue, not yet taken by a worker.")
        for (p, q) in queues { out.sample([("pipeline", p.settings.id), ("type", q.type)], q.unread) }
        out.family("sluice_pipeline_queue_unacked_events", "gauge", "Events in the queue not yet acknowledged by every output.")
        for (p, q) in queues { out.sample([("pipeline", p.settings.id), ("type", q.type)], q.unacknowledged) }
        out.family("sluice_pipeline_queue_size_bytes", "gauge", "Bytes written to the persisted queue's live pages.")
        for (p, q) in queues where q.type == "persisted" { out.sample([("pipeline", p.settings.id)], Int(q.persistedBytes)) }
        out.family("sluice_pipeline_queue_max_size_bytes", "gauge", "queue.max_bytes of the persisted queue.")
        for (p, q) in queues where q.type == "persisted" { out.sample([("pipeline", p.settings.id)], Int(q.maxBytes)) }
        out.family("sluice_pipeline_events_unaccounted", "gauge", "Events in minus delivered, dead-lettered, dropped, undelivered and in flight: 0 unless an event went missing.")
        for (p, q) in queues { out.sample([("pipeline", p.settings.id)], p.ledger.snapshot(queued: q.unread).unaccounted) }
        out.family("sluice_pipeline_reloads_successes_total", "counter", "Successful reloads.")
        for p in pipelines { out.sample([("pipeline", p.settings.id)], agent.reloadStats(p.settings.id).successes) }
        out.family("sluice_pipeline_reloads_failures_total", "counter", "Failed reloads.")
        for p in pipelines { out.sample([("pipeline", p.settings.id)], agent.reloadStats(p.settings.id).failures) }

        let plugins = pipelines.flatMap { p in
            [("input", p.program.inputs), ("filter", p.program.filters), ("output", p.program.outputs)].flatMap { kind, list in
                list.compactMap { b in
                    p.program.metrics.plugins[b.id].map {
                        (labels: [("pipeline", p.settings.id), ("plugin_type", kind), ("plugin", b.name), ("id", b.id)], m: $0)
                    }
                }
            }
        }
        out.family("sluice_plugin_events_in_total", "counter", "Events a filter or output received.")
        for (labels, m) in plugins where labels[1].1 != "input" { out.sample(labels, m.inCount) }
        out.family("sluice_plugin_events_out_total", "counter", "Events a plugin emitted (inputs: pushed into the queue).")
        for (labels, m) in plugins { out.sample(labels, m.outCount) }
        out.family("sluice_plugin_events_duration_seconds_total", "counter", "Time spent in the plugin (inputs: blocked on the queue).")
        for (labels, m) in plugins { out.sample(labels, Double(m.durationMillis) / 1000) }

        let dlqs = pipelines.compactMap { p in p.deadLetterQueue.flatMap { dlq in p.deadLetterQueueStatus().map { (p, dlq, $0) } } }
        let now = Timestamp.now()
        out.family("sluice_dlq_entries", "gauge", "Entries in the dead letter queue.")
        for (p, _, s) in dlqs { out.sample([("pipeline", p.settings.id)], s.occupancy.entries) }
        out.family("sluice_dlq_size_bytes", "gauge", "Bytes used by the dead letter queue's segments.")
        for (p, dlq, _) in dlqs { out.sample([("pipeline", p.settings.id)], Int(dlq.statistics.queueSizeInBytes)) }
        out.family("sluice_dlq_max_size_bytes", "gauge", "dead_letter_queue.max_bytes.")
        for (p, dlq, _) in dlqs { out.sample([("pipeline", p.settings.id)], Int(dlq.statistics.maxQueueSizeInBytes)) }
        out.family("sluice_dlq_oldest_entry_age_seconds", "gauge", "Age of the oldest entry (0 when empty).")
        for (p, _, s) in dlqs {
            let age = s.occupancy.oldestEntryTime.map { Double(now.seconds - $0.seconds) + Double(now.nanoseconds - $0.nanoseconds) / 1e9 }
            out.sample([("pipeline", p.settings.id)], max(0, age ?? 0))
        }
        out.family("sluice_dlq_writes_total", "counter", "Entries written since the pipeline started.")
        for (p, _, s) in dlqs { out.sample([("pipeline", p.settings.id)], s.occupancy.writes) }
        out.family("sluice_dlq_dropped_events_total", "counter", "Entries refused by the storage policy or an error.")
        for (p, dlq, _) in dlqs { out.sample([("pipeline", p.settings.id)], dlq.statistics.droppedEvents) }
        out.family("sluice_dlq_expired_events_total", "counter", "Entries removed by dead_letter_queue.retain.age.")
        for (p, dlq, _) in dlqs { out.sample([("pipeline", p.settings.id)], dlq.statistics.expiredEvents) }
        out.family("sluice_dlq_status", "gauge", "1 for the current alert level (green, yellow, red) of the queue.")
        for (p, _, s) in dlqs {
            for level in [DeadLetterQueueAlert.green, .yellow, .red] {
                out.sample([("pipeline", p.settings.id), ("status", level.rawValue)], s.alert == level ? 1 : 0)
            }
        }
        return out.text
    }
}

/// Builds exposition text: `# HELP`, `# TYPE`, then samples with escaped label values.
struct PrometheusText {
    var text = ""
    private var current = ""

    mutating func family(_ name: String, _ type: String, _ help: String) {
        current = name
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    mutating func sample(_ labels: [(String, String)], _ value: Int) { line(labels, String(value)) }

    mutating func sample(_ labels: [(String, String)], _ value: Double) {
        line(labels, value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value))
    }

    private mutating func line(_ labels: [(String, String)], _ value: String) {
        text += current
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + value + "\n"
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}

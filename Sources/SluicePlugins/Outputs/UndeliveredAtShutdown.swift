import SluiceCore

/// What an output does with events it could not deliver before the pipeline stopped (its retries ended with the
/// shutdown): with the persisted queue they are `retryLater` and stay queued for the next start; otherwise they go
/// to the DLQ when it is enabled, or are reported lost (and the process exits 1). Called on worker threads.
enum UndeliveredAtShutdown {
    /// Records each event's fate in `outcome` and logs; `what` completes "could not be …" (`"sent to host:port"`).
    static func record(_ events: [Event], context: PluginContext, what: String, into outcome: inout OutputOutcome) {
        if context.persistedQueue {
            context.logger.warn("\(events.count) events could not be \(what) before shutdown; they stay in the persisted queue for the next start")
            for e in events { outcome.record(e, .retryLater) }
            return
        }
        var lost = 0
        for e in events {
            let stored = context.deadLetterQueue.isEnabled && context.deadLetterQueue.write(
                e, pluginType: context.pluginName, pluginID: context.pluginID, reason: "Could not be \(what) before shutdown")
            outcome.record(e, stored ? .deadLettered : .retryLater)
            if !stored { lost += 1 }
        }
        if lost > 0 { context.logger.error("\(lost) events could not be \(what) before shutdown and were lost") }
    }
}

/// The `dead_letter_queue.*` settings of one pipeline, turned into the writer's settings.
extension Settings {
    /// The DLQ directory root: `path.dead_letter_queue`, or `<path.data>/dead_letter_queue`.
    public var deadLetterQueuePath: String {
        self["path.dead_letter_queue"] ?? ((self["path.data"] ?? "data") + "/dead_letter_queue")
    }

    /// The writer settings for `pipelineID`, or nil when `dead_letter_queue.enable` is false.
    public func deadLetterQueueSettings(pipelineID: String) throws(SettingsError) -> DeadLetterQueueSettings? {
        guard try bool("dead_letter_queue.enable") else { return nil }
        let policyName = try oneOf("dead_letter_queue.storage_policy", ["drop_newer", "drop_older"])
        let flushText = self["dead_letter_queue.flush_interval"] ?? "5000"
        guard let flushMillis = Int(flushText), flushMillis > 0 else {
            throw SettingsError("Setting \"dead_letter_queue.flush_interval\" must be a number of milliseconds, got \"\(flushText)\"")
        }
        var retain: Duration? = nil
        if let age = self["dead_letter_queue.retain.age"] {
            guard let seconds = Settings.parseAge(age) else {
                throw SettingsError("Setting \"dead_letter_queue.retain.age\" must be a number with a unit of d, h, m or s (e.g. 2d), got \"\(age)\"")
            }
            retain = .seconds(seconds)
        }
        return DeadLetterQueueSettings(
            path: deadLetterQueuePath, pipelineID: pipelineID, maxBytes: try byteSize("dead_letter_queue.max_bytes"),
            storagePolicy: DeadLetterQueueStoragePolicy(rawValue: policyName) ?? .dropNewer,
            flushInterval: .milliseconds(flushMillis), retainAge: retain)
    }
}

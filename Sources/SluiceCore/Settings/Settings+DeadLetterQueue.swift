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
        var settings = DeadLetterQueueSettings(
            path: deadLetterQueuePath, pipelineID: pipelineID, maxBytes: try byteSize("dead_letter_queue.max_bytes"),
            storagePolicy: DeadLetterQueueStoragePolicy(rawValue: policyName) ?? .dropNewer,
            flushInterval: .milliseconds(flushMillis), retainAge: try age("dead_letter_queue.retain.age"))
        settings.archive = DeadLetterQueueArchiveSettings(
            afterAttempts: try redrivePolicy().maxAttempts, maxBytes: try byteSize("dead_letter_queue.archive.max_bytes"),
            retainAge: try age("dead_letter_queue.archive.retain.age"))
        return settings
    }

    /// `dead_letter_queue.redrive.*`: the retry policy, checked (positive attempts, base delay ≤ max delay).
    public func redrivePolicy() throws(SettingsError) -> RedrivePolicy {
        let policy = RedrivePolicy(
            automatic: try bool("dead_letter_queue.redrive.automatic"),
            maxAttempts: try positiveInt("dead_letter_queue.redrive.max_attempts") ?? 5,
            baseDelayMilliseconds: try duration("dead_letter_queue.redrive.base_delay"),
            maxDelayMilliseconds: try duration("dead_letter_queue.redrive.max_delay"))
        guard policy.baseDelayMilliseconds <= policy.maxDelayMilliseconds else {
            throw SettingsError("Setting \"dead_letter_queue.redrive.base_delay\" (\(self["dead_letter_queue.redrive.base_delay"] ?? "")) must not exceed \"dead_letter_queue.redrive.max_delay\" (\(self["dead_letter_queue.redrive.max_delay"] ?? ""))")
        }
        return policy
    }

    /// An age setting (`2d`, `12h`, `30m`, `90s`); nil when unset.
    func age(_ key: String) throws(SettingsError) -> Duration? {
        guard let text = self[key] else { return nil }
        guard let seconds = Settings.parseAge(text) else {
            throw SettingsError("Setting \"\(key)\" must be a number with a unit of d, h, m or s (e.g. 2d), got \"\(text)\"")
        }
        return .seconds(seconds)
    }

    /// A positive duration setting (`60s`, `1h`, `500ms`), in milliseconds.
    func duration(_ key: String) throws(SettingsError) -> Int {
        let text = self[key] ?? ""
        guard let ms = Settings.parseDurationMillis(text), ms > 0 else {
            throw SettingsError("Setting \"\(key)\" must be a positive duration such as 60s, 10m or 1h, got \"\(text)\"")
        }
        return ms
    }
}

/// The `queue.*` settings of one pipeline, checked as Logstash checks them at start-up.
extension Settings {
    /// `path.queue`, or `<path.data>/queue`.
    public var queuePath: String { self["path.queue"] ?? ((self["path.data"] ?? "data") + "/queue") }

    /// The persisted queue's settings for `pipelineID`, or nil with `queue.type: memory`.
    public func persistedQueueSettings(pipelineID: String) throws(SettingsError) -> PersistedQueueSettings? {
        guard try oneOf("queue.type", ["memory", "persisted"]) == "persisted" else { return nil }
        var q = PersistedQueueSettings(directory: queuePath + "/" + pipelineID)
        let capacity = try byteSize("queue.page_capacity")
        guard capacity >= Int64(QueuePageFile.minimumSize), capacity < Int64(Int32.max) else {
            throw SettingsError("Setting \"queue.page_capacity\" must be at least 18 bytes and less than 2gb, got \"\(self["queue.page_capacity"] ?? "")\"")
        }
        q.pageCapacity = Int(capacity)
        q.maxBytes = try byteSize("queue.max_bytes")
        if q.maxBytes > 0 && capacity > q.maxBytes {
            throw SettingsError("Pipeline '\(pipelineID)': 'queue.page_capacity' must be less than or equal to 'queue.max_bytes'")
        }
        q.maxEvents = try nonNegativeInt("queue.max_events") ?? 0
        q.checkpointAcks = try nonNegativeInt("queue.checkpoint.acks") ?? 1024
        q.checkpointWrites = try nonNegativeInt("queue.checkpoint.writes") ?? 1024
        q.checkpointRetry = try bool("queue.checkpoint.retry")
        q.drain = try bool("queue.drain")
        if let compression = self["queue.compression"], compression != "none" {
            throw SettingsError("Setting \"queue.compression\" => \"\(compression)\" is not supported by Sluice (no ZSTD); use none")
        }
        return q
    }

    /// Settings Logstash still accepts but ignores, with the warning it logs.
    public var deprecatedQueueSettingWarnings: [String] {
        isSet("queue.checkpoint.interval")
            ? ["The setting `queue.checkpoint.interval` is deprecated and has no effect (as in Logstash 9.1+)"] : []
    }
}

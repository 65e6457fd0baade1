import Yams

/// A settings problem (unknown key, bad value, unreadable file); the message says what to fix.
public struct SettingsError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Process and pipeline settings as flat dotted keys (`pipeline.batch.size`), layered as Logstash layers them:
/// defaults, then `logstash.yml`, then command-line flags, then (per pipeline) `pipelines.yml`.
public struct Settings: Sendable {
    /// Every setting Sluice knows, with its default (nil: unset). Keys Logstash has but Sluice ignores are accepted.
    public static let defaults: [String: String?] = [
        "node.name": nil, "path.data": "data", "path.config": nil, "path.settings": "config", "path.logs": nil,
        "path.plugins": nil, "path.queue": nil, "path.dead_letter_queue": nil,
        "config.string": nil, "config.test_and_exit": "false", "config.reload.automatic": "false",
        "config.reload.interval": "3s", "config.debug": "false", "config.support_escapes": "false",
        "config.field_reference.escape_style": "none",
        "pipeline.id": "main", "pipeline.workers": nil, "pipeline.batch.size": "125", "pipeline.batch.delay": "50",
        "pipeline.unsafe_shutdown": "false", "pipeline.ordered": "auto", "pipeline.ecs_compatibility": "v8",
        "pipeline.separate_logs": "false", "pipeline.plugin_classloaders": "false", "pipeline.reloadable": "true",
        "pipeline.system": "false",
        // Sluice extension: PCRE2's match limit for `=~`/`!~` in conditions (see `regexMatchLimit()`).
        "pipeline.regex.match_limit": "10000000",
        "queue.type": "memory", "queue.page_capacity": "64mb", "queue.max_bytes": "1024mb", "queue.max_events": "0",
        "queue.checkpoint.acks": "1024", "queue.checkpoint.writes": "1024", "queue.checkpoint.retry": "true",
        "queue.checkpoint.interval": "1000", "queue.drain": "false", "queue.compression": "none",
        "dead_letter_queue.enable": "false", "dead_letter_queue.max_bytes": "1024mb",
        "dead_letter_queue.storage_policy": "drop_newer", "dead_letter_queue.flush_interval": "5000",
        "dead_letter_queue.retain.age": nil,
        "dead_letter_queue.warn_entries": nil, "dead_letter_queue.critical_entries": nil,
        // Sluice extensions: the retry policy and the archive (`redrivePolicy()`, `deadLetterQueueSettings`).
        "dead_letter_queue.redrive.automatic": "false", "dead_letter_queue.redrive.max_attempts": "5",
        "dead_letter_queue.redrive.base_delay": "60s", "dead_letter_queue.redrive.max_delay": "1h",
        "dead_letter_queue.archive.max_bytes": "1024mb", "dead_letter_queue.archive.retain.age": "7d",
        "api.enabled": "true", "api.environment": "production", "api.http.host": "127.0.0.1",
        "api.http.port": "9600-9700", "api.http.header_timeout": "10s", "api.http.max_connections": "1000", "api.ssl.enabled": "false", "api.ssl.keystore.path": nil,
        "api.ssl.keystore.password": nil, "api.ssl.supported_protocols": nil, "api.ssl.certificate": nil,
        "api.ssl.key": nil, "api.auth.type": "none", "api.auth.basic.username": nil, "api.auth.basic.password": nil,
        "api.auth.basic.password_policy.mode": "WARN", "http.host": nil, "http.port": nil,
        "log.level": "info", "log.format": "plain", "metric.collect": "true", "allow_superuser": "true",
        "slowlog.threshold.warn": "-1", "slowlog.threshold.info": "-1", "slowlog.threshold.debug": "-1",
        "slowlog.threshold.trace": "-1", "modules": nil, "cloud.id": nil, "cloud.auth": nil,
    ]

    /// The keys a `pipelines.yml` entry may set (Logstash's list).
    public static let pipelineKeys: Set<String> = [
        "pipeline.id", "path.config", "config.string", "config.debug", "config.support_escapes", "pipeline.workers",
        "pipeline.batch.size", "pipeline.batch.delay", "pipeline.ordered", "pipeline.ecs_compatibility",
        "pipeline.reloadable", "pipeline.system", "pipeline.plugin_classloaders", "queue.type", "queue.max_bytes",
        "queue.max_events", "queue.page_capacity", "queue.checkpoint.acks", "queue.checkpoint.writes",
        "queue.checkpoint.retry", "queue.checkpoint.interval", "queue.drain", "queue.compression", "path.queue", "dead_letter_queue.enable",
        "dead_letter_queue.max_bytes", "dead_letter_queue.flush_interval", "dead_letter_queue.storage_policy",
        "dead_letter_queue.retain.age", "dead_letter_queue.warn_entries", "dead_letter_queue.critical_entries",
        "path.dead_letter_queue", "metric.collect", "pipeline.regex.match_limit",
        "dead_letter_queue.redrive.automatic", "dead_letter_queue.redrive.max_attempts",
        "dead_letter_queue.redrive.base_delay", "dead_letter_queue.redrive.max_delay",
        "dead_letter_queue.archive.max_bytes", "dead_letter_queue.archive.retain.age",
    ]

    /// Values explicitly set (by a file or a flag).
    public private(set) var explicit: [String: String] = [:]

    public init() {}

    /// The effective value of `key`.
    public subscript(key: String) -> String? {
        if let v = explicit[key] { return v }
        return Settings.defaults[key] ?? nil
    }

    /// Whether `key` was set explicitly (e.g. `pipeline.workers` decides `pipeline.ordered => auto`).
    public func isSet(_ key: String) -> Bool { explicit[key] != nil }

    /// Sets `key`, rejecting unknown keys with the closest known one.
    public mutating func set(_ key: String, _ value: String, origin: String) throws(SettingsError) {
        guard Settings.defaults.keys.contains(key) else {
            let hint = Suggest.didYouMean(key, among: Array(Settings.defaults.keys)).map { " (\($0))" } ?? ""
            throw SettingsError("\(origin): Setting \"\(key)\" doesn't exist. Please check if you haven't made a typo\(hint).")
        }
        explicit[key] = value
    }

    /// Overlays `other`'s explicit values.
    public func merging(_ other: [String: String]) -> Settings {
        var s = self
        for (k, v) in other { s.explicit[k] = v }
        return s
    }

    // MARK: Typed access

    public func bool(_ key: String) throws(SettingsError) -> Bool {
        switch self[key]?.lowercased() {
        case "true"?: return true
        case "false"?, nil: return false
        case let v?: throw SettingsError("Setting \"\(key)\" must be a boolean, got \"\(v)\"")
        }
    }

    public func positiveInt(_ key: String) throws(SettingsError) -> Int? {
        guard let text = self[key] else { return nil }
        guard let v = Int(text), v > 0 else { throw SettingsError("Setting \"\(key)\" must be a positive integer, got \"\(text)\"") }
        return v
    }

    public func nonNegativeInt(_ key: String) throws(SettingsError) -> Int? {
        guard let text = self[key] else { return nil }
        guard let v = Int(text), v >= 0 else { throw SettingsError("Setting \"\(key)\" must be a non-negative integer, got \"\(text)\"") }
        return v
    }

    /// `pipeline.regex.match_limit` (Sluice): how much backtracking work PCRE2 may do for one `=~`/`!~` in a
    /// condition before the condition fails with an evaluation error (the event goes to the DLQ). PCRE2's own
    /// default, 10,000,000; from 1 to 4,294,967,295.
    public func regexMatchLimit() throws(SettingsError) -> UInt32 {
        let key = "pipeline.regex.match_limit"
        let text = self[key] ?? String(Regex.defaultMatchLimit)
        guard let v = UInt32(text), v > 0 else {
            throw SettingsError("Setting \"\(key)\" must be an integer from 1 to \(UInt32.max), got \"\(text)\"")
        }
        return v
    }

    public func oneOf(_ key: String, _ allowed: [String]) throws(SettingsError) -> String {
        let v = self[key] ?? allowed[0]
        guard allowed.contains(v) else {
            throw SettingsError("Setting \"\(key)\" must be one of \(allowed.joined(separator: ", ")), got \"\(v)\"")
        }
        return v
    }

    /// A byte size setting (`1024mb`, `1.5gb`; lowercase units, powers of 1024; a plain number is bytes).
    public func byteSize(_ key: String) throws(SettingsError) -> Int64 {
        let text = self[key] ?? "0"
        guard let b = Settings.parseByteSize(text) else {
            throw SettingsError("Setting \"\(key)\" must be a byte size such as 1024mb, got \"\(text)\"")
        }
        return b
    }

    static func parseByteSize(_ text: String) -> Int64? {
        let t = text.trimmingCharacters(" ")
        var end = t.startIndex
        while end < t.endIndex, t[end].isNumber || t[end] == "." { end = t.index(after: end) }
        guard let n = Double(t[..<end]) else { return nil }
        let units: [String: Double] = ["": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1_048_576, "mb": 1_048_576,
            "g": 1_073_741_824, "gb": 1_073_741_824, "t": 1_099_511_627_776, "tb": 1_099_511_627_776,
            "p": 1_125_899_906_842_624, "pb": 1_125_899_906_842_624]
        guard let m = units[String(t[end...]).trimmingCharacters(" ")] else { return nil }
        return Int64(n * m)
    }

    /// A duration setting (`config.reload.interval`): an integer with `nanos`, `micros`, `ms`, `s`, `m`, `h` or `d`
    /// (case and spaces ignored); a bare integer means nanoseconds, as in Logstash. Returns milliseconds.
    public static func parseDurationMillis(_ text: String) -> Int? {
        let t = text.lowercased().filter { $0 != " " }
        let digits = t.prefix { $0.isNumber }
        guard let n = Int(digits) else { return nil }
        let nanosPer: [String: Int] = [
            "": 1, "nanos": 1, "micros": 1000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
            "h": 3_600_000_000_000, "d": 86_400_000_000_000,
        ]
        guard let unit = nanosPer[String(t.dropFirst(digits.count))] else { return nil }
        return n * unit / 1_000_000
    }

    /// A duration with units for `retain.age` (`d`, `h`, `m`, `s`), in seconds.
    public static func parseAge(_ text: String) -> Int64? {
        guard let unit = text.last, let n = Int64(text.dropLast()), n >= 0 else { return nil }
        switch unit {
        case "d": return n * 86_400
        case "h": return n * 3600
        case "m": return n * 60
        case "s": return n
        default: return nil
        }
    }

    // MARK: YAML

    /// Reads `logstash.yml` (nested maps flattened with dots) and applies `${VAR}` substitution.
    public mutating func load(yamlFile path: String, substitution: Substitution) throws(SettingsError) {
        guard let text = FileSystem.readText(path) else { return }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw SettingsError("Failed to parse \(path): \(error)")
        }
        guard let node else { return }
        guard let mapping = node.mapping else { throw SettingsError("\(path) must contain a map of settings") }
        var flat: [(String, String)] = []
        Settings.flatten(mapping, prefix: "", into: &flat)
        for (k, v) in flat {
            let value: String
            do {
                value = unquote(try substitution.apply(v))
            } catch {
                throw SettingsError("\(path): \(error.description)")
            }
            try set(k, value, origin: path)
        }
    }

    static func flatten(_ mapping: Node.Mapping, prefix: String, into out: inout [(String, String)]) {
        for (k, v) in mapping {
            let key = prefix.isEmpty ? (k.string ?? "") : prefix + "." + (k.string ?? "")
            if let inner = v.mapping {
                flatten(inner, prefix: key, into: &out)
            } else {
                out.append((key, scalarText(v)))
            }
        }
    }

    static func scalarText(_ node: Node) -> String {
        if let seq = node.sequence { return "[" + seq.map(scalarText).joined(separator: ", ") + "]" }
        return node.string ?? ""
    }

    /// Reads `pipelines.yml`: a list of maps of flat pipeline keys.
    public static func loadPipelines(_ path: String, substitution: Substitution) throws(SettingsError) -> [[String: String]] {
        guard let text = FileSystem.readText(path) else {
            throw SettingsError("Failed to read pipelines yaml file. Location: \(path)")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw SettingsError("Failed to parse pipelines yaml file \(path): \(error)")
        }
        guard let node else { throw SettingsError("Pipelines YAML file is empty. Location: \(path)") }
        guard let list = node.sequence else {
            throw SettingsError("Pipelines YAML file must contain an array of pipeline configs. Found \"Hash\" in \(path)")
        }
        var pipelines: [[String: String]] = []
        for item in list {
            guard let map = item.mapping else { throw SettingsError("Each entry of \(path) must be a map of settings") }
            var entry: [String: String] = [:]
            for (k, v) in map {
                let key = k.string ?? ""
                if key == "config.reload.automatic" || key == "config.reload.interval" { continue }
                guard pipelineKeys.contains(key) else {
                    throw SettingsError(
                        "Only pipeline related settings are expected. Received \"\(key)\". Allowed settings: \(pipelineKeys.sorted().joined(separator: ", "))"
                    )
                }
                do {
                    entry[key] = unquote(try substitution.apply(scalarText(v)))
                } catch {
                    throw SettingsError("\(path): \(error.description)")
                }
            }
            pipelines.append(entry)
        }
        var seen: [String: Int] = [:]
        for p in pipelines { seen[p["pipeline.id"] ?? "main", default: 0] += 1 }
        let duplicates = seen.filter { $0.value > 1 }.keys.sorted()
        if !duplicates.isEmpty {
            throw SettingsError("Pipelines YAML file contains duplicate pipeline ids: \(duplicates.joined(separator: ", ")). Location: \(path)")
        }
        return pipelines
    }
}

extension String {
    func trimmingCharacters(_ c: Character) -> String {
        var s = Substring(self)
        while s.first == c { s = s.dropFirst() }
        while s.last == c { s = s.dropLast() }
        return String(s)
    }
}

extension Substring {
    func trimmingCharacters(_ c: Character) -> String { String(self).trimmingCharacters(c) }
}

import NIOHTTP1
import SluiceCore

/// Indexes events into Elasticsearch through the `_bulk` API (Logstash's `elasticsearch` output, 11.22.x).
///
/// `receive` blocks its worker until every event of the batch is indexed, dead-lettered or dropped: rejected
/// documents (400, 404, `dlq_custom_codes`) go to the DLQ, 409s are dropped, other per-item failures are resent,
/// and failed requests are retried whole with exponential back-off until they succeed or the pipeline shuts down.
public final class ElasticsearchOutput: Output, @unchecked Sendable {
    public static let name = "elasticsearch"
    public static let summary = "Indexes events into Elasticsearch with the bulk API; rejected documents go to the dead letter queue."

    public enum DataStreamMode: String, SettingEnum { case `true`, `false`, auto }
    public enum DataStreamType: String, SettingEnum { case logs, metrics, synthetics, traces }
    public enum VerificationMode: String, SettingEnum { case full, none }
    public enum TemplateAPI: String, SettingEnum { case auto, legacy, composable }
    public enum ILMMode: String, SettingEnum { case `true`, `false`, auto }

    public struct Settings: PluginSettings {
        @Setting("hosts", doc: "One or more Elasticsearch nodes (`host`, `host:port`, `https://host:port/path`); requests are balanced round-robin and an unreachable node is taken out until a health check succeeds.")
        var hosts = ["//127.0.0.1"]
        @Setting("index", doc: "The index to write to (sprintf). Default `logstash-%{+yyyy.MM.dd}`, or `ecs-logstash-%{+yyyy.MM.dd}` with ECS compatibility.")
        var index: String? = nil
        @Setting("data_stream", doc: "Write to a data stream: `true`, `false`, or `auto` (true when ECS is on and only data-stream-compatible settings are used).")
        var dataStream: DataStreamMode? = nil
        @Setting("data_stream_type", doc: "The data stream type (first part of the name).")
        var dataStreamType = DataStreamType.logs
        @Setting("data_stream_dataset", doc: "The data stream dataset (second part of the name).")
        var dataStreamDataset = "generic"
        @Setting("data_stream_namespace", doc: "The data stream namespace (third part of the name).")
        var dataStreamNamespace = "default"
        @Setting("data_stream_auto_routing", doc: "Take the data stream name from the event's `[data_stream][type|dataset|namespace]`.")
        var dataStreamAutoRouting = true
        @Setting("data_stream_sync_fields", doc: "Fill the document's `data_stream` fields to match the target data stream.")
        var dataStreamSyncFields = true
        @Setting("action", doc: "The bulk action: `index`, `create`, `update`, `delete`, or a sprintf resolving to one of them.")
        var action: String? = nil
        @Setting("document_id", doc: "The document id (sprintf); Elasticsearch generates one when unset.")
        var documentID: String? = nil
        @Setting("routing", doc: "The routing value (sprintf).")
        var routing: String? = nil
        @Setting("pipeline", doc: "The ingest pipeline (sprintf); an empty result sends none.")
        var pipeline: String? = nil
        @Setting("doc_as_upsert", doc: "With `action => update`, create the document from the event when it does not exist.")
        var docAsUpsert = false
        @Setting("upsert", doc: "With `action => update`, the JSON document (sprintf) to create when the document does not exist.")
        var upsert = Template("")
        @Setting("retry_on_conflict", doc: "With `action => update`, how often Elasticsearch retries a conflicting update.")
        var retryOnConflict = 1
        @Setting("version", doc: "The document version (sprintf).")
        var version: String? = nil
        @Setting("version_type", doc: "The version type: internal, external, external_gt, external_gte or force.")
        var versionType: String? = nil
        @Setting("user", doc: "User name for HTTP basic authentication.")
        var user: String? = nil
        @Setting("password", doc: "Password for HTTP basic authentication.")
        var password: String? = nil
        @Setting("api_key", doc: "An Elasticsearch API key as `id:api_key` (requires SSL).")
        var apiKey: String? = nil
        @Setting("ssl_enabled", doc: "Use https for every host (default: the scheme of the `hosts` URLs).")
        var sslEnabled: Bool? = nil
        @Setting("ssl_certificate_authorities", doc: "PEM files of the certificate authorities to trust.")
        var sslCertificateAuthorities: [String] = []
        @Setting("ssl_verification_mode", doc: "`full` checks the server certificate and host name; `none` checks nothing.")
        var sslVerificationMode = VerificationMode.full
        @Setting("timeout", doc: "Seconds before a request times out (it is then retried).")
        var timeout = 60.0
        @Setting("retry_initial_interval", doc: "Seconds to wait before the first retry; doubled after each retry up to `retry_max_interval`.")
        var retryInitialInterval = 2.0
        @Setting("retry_max_interval", doc: "The longest wait between retries, in seconds.")
        var retryMaxInterval = 64.0
        @Setting("dlq_custom_codes", doc: "Item statuses, besides 400 and 404, whose documents go to the dead letter queue.")
        var dlqCustomCodes: [Int] = []
        @Setting("dlq_on_failed_indexname_interpolation", doc: "Send events whose index still contains `%{…}` after sprintf to the DLQ (or log and drop them) instead of indexing them.")
        var dlqOnFailedIndexnameInterpolation = true
        @Setting("silence_errors_in_log", doc: "Error types (such as `version_conflict_engine_exception`) not to log.")
        var silenceErrorsInLog: [String] = []
        @Setting("failure_type_logging_whitelist", doc: "Deprecated: use `silence_errors_in_log`.")
        var failureTypeLoggingWhitelist: [String] = []
        @Setting("http_compression", doc: "Deprecated: `true` means `compression_level => 1`, `false` means 0.")
        var httpCompression: Bool? = nil
        @Setting("compression_level", doc: "Gzip level of request bodies, 1 (fastest) to 9; 0 sends them uncompressed.")
        var compressionLevel = 1
        @Setting("custom_headers", doc: "Extra HTTP headers sent with every request.")
        var customHeaders = SettingHash<String>()
        @Setting("path", doc: "The path prefix of the Elasticsearch API (when it sits behind a proxy).")
        var path: String? = nil
        @Setting("pool_max", doc: "Most open connections in all.")
        var poolMax = 1000
        @Setting("pool_max_per_route", doc: "Most open connections per host.")
        var poolMaxPerRoute = 100
        @Setting("resurrect_delay", doc: "Seconds between health checks of a host taken out of rotation.")
        var resurrectDelay = 5.0
        @Setting("healthcheck_path", doc: "The path of the health check (a HEAD request) of a dead host.")
        var healthcheckPath = "/"
        @Setting("manage_template", doc: "Install an index template at start-up (default true, false in data stream mode).")
        var manageTemplate = true
        @Setting("template", doc: "A JSON file with the index template to install (default: a built-in one).")
        var template: String? = nil
        @Setting("template_name", doc: "The name of the installed template (default `logstash`, or `ecs-logstash` with ECS).")
        var templateName: String? = nil
        @Setting("template_overwrite", doc: "Replace an existing template of the same name.")
        var templateOverwrite = false
        @Setting("template_api", doc: "`composable` (`_index_template`), `legacy` (`_template`), or `auto` (composable from Elasticsearch 8).")
        var templateAPI = TemplateAPI.auto
        @Setting("ilm_enabled", doc: "Index lifecycle management. Sluice writes to `index` directly: `auto` and `false` are accepted, `true` is not supported.")
        var ilmEnabled = ILMMode.auto
        public init() {}

        static let validActions = ["index", "delete", "create", "update"]

        public func validate() throws(SettingsValidationError) {
            if let action {
                if action.isEmpty { throw SettingsValidationError("No action specified!", setting: "action") }
                if !Self.validActions.contains(action) && !action.hasSprintfReference {
                    throw SettingsValidationError(
                        "Action '\(action)' is invalid! Pick one of \(Ruby.inspect(.array(Self.validActions.map { .string($0) }))) or use a sprintf style statement",
                        setting: "action")
                }
            }
            for (codes, message) in [
                ([400, 404], "are already defined as standard DLQ error codes"),
                ([200, 201], "are success codes which cannot be redefined in dlq_custom_codes"),
                ([409], "are error codes already defined as conflict which cannot be redefined in dlq_custom_codes"),
            ] {
                let clash = dlqCustomCodes.filter { codes.contains($0) }
                if !clash.isEmpty {
                    throw SettingsValidationError("[\(clash.map(String.init).joined(separator: ", "))] \(message)", setting: "dlq_custom_codes")
                }
            }
            for (name, value) in [("data_stream_dataset", dataStreamDataset), ("data_stream_namespace", dataStreamNamespace)] {
                if let problem = Self.identifierProblem(value) { throw SettingsValidationError(problem, setting: name) }
            }
            let authOptions = (apiKey != nil ? 1 : 0) + (user != nil || password != nil ? 1 : 0)
            if authOptions > 1 {
                throw SettingsValidationError(
                    "Multiple authentication options are specified, please only use one of user/password, cloud_auth or api_key",
                    setting: "api_key")
            }
            if !(0...9).contains(compressionLevel) {
                throw SettingsValidationError("compression_level must be between 0 and 9", setting: "compression_level")
            }
            if let versionType, !["internal", "external", "external_gt", "external_gte", "force"].contains(versionType) {
                throw SettingsValidationError("invalid version_type '\(versionType)'", setting: "version_type")
            }
            if ilmEnabled == .true {
                throw SettingsValidationError(
                    "ilm_enabled => true is not supported by Sluice; manage the rollover alias in Elasticsearch and set `index`",
                    setting: "ilm_enabled")
            }
            // A retry_max_interval below retry_initial_interval is accepted as Logstash accepts it: the first wait
            // is retry_initial_interval, every later one is capped at retry_max_interval.
            if retryInitialInterval <= 0 {
                throw SettingsValidationError("retry_initial_interval must be positive", setting: "retry_initial_interval")
            }
            let hosts = try parsedHosts()
            if apiKey != nil && !(sslEnabled ?? hosts.allSatisfy { $0.scheme == "https" }) {
                throw SettingsValidationError(
                    "Using api_key authentication requires SSL/TLS secured communication using the `ssl => true` option",
                    setting: "api_key")
            }
        }

        func parsedHosts() throws(SettingsValidationError) -> [ElasticsearchHost] {
            var out: [ElasticsearchHost] = []
            for h in hosts.isEmpty ? ["localhost"] : hosts { out.append(try ElasticsearchHost.parse(h, ssl: sslEnabled)) }
            if let path, !path.isEmpty {
                let prefix = (path.hasPrefix("/") ? path : "/" + path).trimmingTrailingSlashes
                for i in out.indices where out[i].path.isEmpty { out[i].path = prefix }
            }
            return out
        }

        /// Logstash's check of data stream dataset and namespace names.
        static func identifierProblem(_ value: String) -> String? {
            if value.isEmpty { return "Invalid identifier - empty string" }
            if value.utf8.count > 100 { return "Invalid identifier - too long (\(value.utf8.count) bytes)" }
            let invalid: [Character] = ["\\", "/", "*", "?", "\"", "<", ">", "|", " ", ",", "#", ":"]
            if value.contains(where: { invalid.contains($0) }) {
                return ##"Invalid characters detected ["\\", "/", "*", "?", "\"", "<", ">", "|", " ", ",", "#", ":"] are not allowed"##
            }
            return nil
        }

        var compressionLevelWasSet: Bool { _compressionLevel.wasSet }
        var manageTemplateWasSet: Bool { _manageTemplate.wasSet }

        /// The names of the settings given in the config (Logstash's `original_params`).
        var explicitlySet: [(name: String, value: String?)] {
            declaredSettings.filter(\.wasSet).map { ($0.name, $0.name == "action" ? action : $0.name == "data_stream" ? dataStream?.rawValue : nil) }
        }
    }

    /// Where documents go: a sprintf'd index, or a data stream.
    enum Target {
        case index(Template)
        case dataStream(type: String, dataset: String, namespace: String)
    }

    let settings: Settings
    let context: PluginContext
    let logger: Logger
    let target: Target
    /// The `index` setting as Logstash compares it with the default (for `[@metadata][_ingest_document][index]`).
    let indexIsDefault: Bool
    let actionTemplate: Template
    let documentID: Template?
    let routing: Template?
    let pipeline: Template?
    let version: Template?
    let dlqCodes: Set<Int>
    let silenced: Set<String>
    let policy: RetryPolicy
    let hostPool: HostPool
    let transport: HTTPTransport
    let baseHeaders: [(String, String)]
    let compressionLevel: Int
    let manageTemplate: Bool
    let templateName: String
    let templatePattern: String
    /// The plugin's counters (documents and bulk requests), as Logstash reports them.
    public let metrics = ElasticsearchMetrics()
    private let closed = ShutdownFlag()
    let bootstrapLock = Lock()
    var bootstrapped = false

    static let bulkEndpoint = "/_bulk?filter_path=errors,items.*.error,items.*.status"

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        logger = context.logger
        let hosts = try settings.parsedHosts()
        let ecs = context.ecsCompatibility
        let defaultIndex = ecs.isEnabled ? "ecs-logstash-%{+yyyy.MM.dd}" : "logstash-%{+yyyy.MM.dd}"

        let useDataStream = try Self.resolveDataStream(settings, ecs: ecs, logger: context.logger)
        if useDataStream {
            target = .dataStream(
                type: settings.dataStreamType.rawValue, dataset: settings.dataStreamDataset,
                namespace: settings.dataStreamNamespace)
        } else {
            target = .index(Template(settings.index ?? defaultIndex))
        }
        indexIsDefault = settings.index == nil || settings.index == defaultIndex
        actionTemplate = Template(settings.action ?? "index")
        documentID = settings.documentID.map(Template.init)
        routing = settings.routing.map(Template.init)
        pipeline = settings.pipeline.map(Template.init)
        version = settings.version.map(Template.init)

        var codes: Set<Int> = [400, 404]
        if context.deadLetterQueue.isEnabled {
            codes.formUnion(settings.dlqCustomCodes)
        } else if !settings.dlqCustomCodes.isEmpty {
            throw ElasticsearchConfigurationError("DLQ feature (dlq_custom_codes) is configured while DLQ is not enabled")
        }
        dlqCodes = codes
        if !settings.failureTypeLoggingWhitelist.isEmpty {
            context.logger.warn(
                "'failure_type_logging_whitelist' is deprecated and in a future version of Elasticsearch output plugin will be removed, please use 'silence_errors_in_log' instead.")
        }
        silenced = Set(settings.silenceErrorsInLog + settings.failureTypeLoggingWhitelist)
        policy = RetryPolicy(initialInterval: settings.retryInitialInterval, maxInterval: settings.retryMaxInterval)

        if let level = settings.httpCompression, !settings.compressionLevelWasSet {
            compressionLevel = level ? 1 : 0
        } else {
            compressionLevel = settings.compressionLevel
        }
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if let user = settings.user {
            headers.append(("Authorization", "Basic " + Base64.encode("\(user):\(settings.password ?? "")")))
        } else if let key = settings.apiKey {
            headers.append(("Authorization", "ApiKey " + Base64.encode(key)))
        }
        for (k, v) in settings.customHeaders { headers.append((k, v)) }
        baseHeaders = headers

        manageTemplate = settings.manageTemplateWasSet ? settings.manageTemplate : !useDataStream
        templateName = settings.templateName ?? (ecs.isEnabled ? "ecs-logstash" : "logstash")
        let indexSource = settings.index ?? defaultIndex
        let prefix = indexSource.range(of: "%{").map { String(indexSource[..<$0.lowerBound]) } ?? indexSource
        templatePattern = prefix + "*"

        let tls = HTTPTransport.TLSOptions(
            verify: settings.sslVerificationMode == .full, certificateAuthorities: settings.sslCertificateAuthorities)
        let transport = try HTTPTransport(
            poolSize: min(settings.poolMaxPerRoute, settings.poolMax), timeoutSeconds: settings.timeout, tls: tls)
        self.transport = transport
        let probeHeaders = headers
        hostPool = HostPool(
            hosts: hosts, resurrectDelay: settings.resurrectDelay, healthcheckPath: settings.healthcheckPath,
            logger: context.logger,
            probe: { host, path in
                let response = try? transport.send(.HEAD, url: host.url(path.hasPrefix("/") ? path : "/" + path), headers: probeHeaders, body: nil)
                return response.map { $0.status < 500 } ?? false
            })
        logger.info("New Elasticsearch output {:class=>\"LogStash::Outputs::ElasticSearch\", :hosts=>\(Ruby.inspect(.array(hosts.map { .string($0.description) })))}")
    }

    /// Logstash 8's `data_stream` resolution: `true`/`false` as given (after checking the other settings), and
    /// `auto` or unset meaning true when ECS is on and only data-stream-compatible settings are set.
    static func resolveDataStream(_ settings: Settings, ecs: ECSCompatibility, logger: Logger) throws -> Bool {
        let given = settings.explicitlySet
        // Settings that may accompany a data stream: connection, auth, TLS, retry and DLQ options, document_id,
        // routing, pipeline, `action => create` and `data_stream => true`. Note the upstream quirk: an explicit
        // `data_stream => auto` is not in that list, so it resolves to false just like an `index` would.
        let compatible: Set<String> = [
            "hosts", "user", "password", "api_key", "document_id", "path", "ssl_enabled", "ssl_certificate_authorities",
            "ssl_verification_mode", "timeout", "failure_type_logging_whitelist", "silence_errors_in_log", "pool_max",
            "pool_max_per_route", "healthcheck_path", "resurrect_delay", "http_compression", "compression_level",
            "custom_headers", "retry_initial_interval", "retry_max_interval", "dlq_custom_codes",
            "dlq_on_failed_indexname_interpolation", "routing", "pipeline",
        ]
        let invalid = given.filter { name, value in
            switch name {
            case "action": return value != "create"
            case "data_stream": return value != "true"
            default: return !name.hasPrefix("data_stream_") && !compatible.contains(name)
            }
        }.map(\.name)
        let dataStreamParams = given.map(\.name).filter { $0.hasPrefix("data_stream_") }
        func checkDisabled() throws {
            if !dataStreamParams.isEmpty {
                throw ElasticsearchConfigurationError(
                    "Ambiguous configuration; data stream settings must not be present when data streams are disabled: \(Ruby.inspect(.array(dataStreamParams.map { .string($0) })))")
            }
        }
        switch settings.dataStream {
        case .false?:
            try checkDisabled()
            return false
        case .true?:
            if !invalid.isEmpty {
                throw ElasticsearchConfigurationError(
                    "Invalid data stream configuration: \(Ruby.inspect(.array(invalid.map { .string($0) })))")
            }
            if !ecs.isEnabled {
                throw ElasticsearchConfigurationError("Invalid data stream configuration: `ecs_compatibility => disabled`")
            }
            return true
        default:
            let use = ecs.isEnabled && invalid.isEmpty
            if !use { try checkDisabled() }
            logger.info("Data streams auto configuration (`data_stream => auto` or unset) resolved to `\(use)`")
            return use
        }
    }

    // MARK: Receiving

    public func receive(_ events: [Event]) -> OutputOutcome {
        bootstrapIfNeeded()
        var outcome = OutputOutcome()
        var actions: [BulkAction] = []
        actions.reserveCapacity(events.count)
        var mappingErrors: [(event: Event, message: String)] = []
        for event in events {
            switch mapEvent(event) {
            case .success(let action): actions.append(action)
            case .failure(let error): mappingErrors.append((event, error.message))
            }
        }
        retryingSubmit(actions, &outcome)
        if !mappingErrors.isEmpty { handleMappingErrors(mappingErrors, &outcome) }
        return outcome
    }

    public func close() {
        closed.request()
        hostPool.close()
        transport.shutdown()
    }

    /// Whether retry loops should give up: the pipeline is shutting down or the plugin was closed.
    var shouldStop: Bool { context.shutdown.isRequested || closed.isRequested }

    struct MappingError: Error { let message: String }

    /// Logstash's `event_action_tuple` / `data_stream_event_action_tuple`.
    func mapEvent(_ event: Event) -> Result<BulkAction, MappingError> {
        var ingestID: Value?, ingestPipeline: Value?, ingestIndex: Value?, ingestRouting: Value?
        if case .object(let control)? = event.metadata["_ingest_document"] {
            ingestID = control["id"]
            ingestPipeline = control["pipeline"]
            ingestIndex = control["index"]
            ingestRouting = control["routing"]
        }
        let id: Value = documentID.map { .string($0.render(event)) } ?? ingestID ?? .null

        let rendered: String
        switch target {
        case .index(let template): rendered = template.render(event)
        case .dataStream(let type, let dataset, let namespace):
            if settings.dataStreamAutoRouting, case .object(let ds)? = event.fields["data_stream"] {
                rendered = "\(ds["type"]?.interpolatedOrNil ?? type)-\(ds["dataset"]?.interpolatedOrNil ?? dataset)-\(ds["namespace"]?.interpolatedOrNil ?? namespace)"
            } else {
                rendered = "\(type)-\(dataset)-\(namespace)"
            }
        }
        if settings.dlqOnFailedIndexnameInterpolation && Template.hasUnresolvedReference(rendered) {
            return .failure(MappingError(message: "Badly formatted index, after interpolation still contains placeholder: [\(rendered)]"))
        }
        var index: Value = .string(rendered)
        if case .index = target, indexIsDefault, let ingestIndex, !ingestIndex.isNull { index = ingestIndex }

        let routingValue: Value
        if let routing { routingValue = .string(routing.render(event)) } else { routingValue = ingestRouting ?? .null }
        var params: [(key: String, value: Value)] = [("_id", id), ("_index", index), ("routing", routingValue)]
        let pipelineValue: String?
        if let pipeline {
            pipelineValue = pipeline.render(event)
        } else if let ingestPipeline, !ingestPipeline.isNull {
            pipelineValue = ingestPipeline.interpolated
        } else if let target = event.metadata["target_ingest_pipeline"], !target.isNull {
            pipelineValue = Template(target.interpolated).render(event)
        } else {
            pipelineValue = nil
        }
        if let pipelineValue, !pipelineValue.isEmpty { params.append(("pipeline", .string(pipelineValue))) }

        if case .dataStream(let type, let dataset, let namespace) = target {
            var document = event.fields
            if settings.dataStreamSyncFields { syncDataStreamFields(&document, type: type, dataset: dataset, namespace: namespace) }
            return .success(BulkAction(action: "create", params: params, document: document, event: event))
        }

        let action = actionTemplate.render(event)
        guard Settings.validActions.contains(action) else {
            return .failure(MappingError(message: "Elasticsearch doesn't support [\(action)] action"))
        }
        var upsert: Value?
        if action == "update" {
            if !settings.upsert.source.isEmpty {
                upsert = try? JSONParser.parse(settings.upsert.render(event))
            }
            params.append(("retry_on_conflict", .int(settings.retryOnConflict)))
        }
        if let version { params.append(("version", .string(version.render(event)))) }
        if let versionType = settings.versionType { params.append(("version_type", .string(versionType))) }
        var bulk = BulkAction(action: action, params: params, document: event.fields, event: event)
        bulk.upsert = upsert
        bulk.docAsUpsert = settings.docAsUpsert
        return .success(bulk)
    }

    /// `data_stream_sync_fields`: the document's `data_stream.{type,dataset,namespace}` match the target.
    func syncDataStreamFields(_ document: inout Object, type: String, dataset: String, namespace: String) {
        var ds: Object
        if case .object(let existing)? = document["data_stream"] {
            ds = existing
            if !settings.dataStreamAutoRouting {
                let defaults = ["type": type, "dataset": dataset, "namespace": namespace]
                let outOfSync = ["type", "dataset", "namespace"].filter { name in
                    if let v = ds[name] { return v != .string(defaults[name]!) }
                    return false
                }
                if !outOfSync.isEmpty {
                    logger.rateLimited(.warn, key: "data_stream_sync",
                        "Some data_stream fields are out of sync, these will be updated to reflect data-stream name \(outOfSync)")
                    for name in outOfSync { ds[name] = .string(defaults[name]!) }
                }
            }
        } else {
            if let v = document["data_stream"], !v.isNull {
                logger.rateLimited(.warn, key: "data_stream_type", "Invalid 'data_stream' field type, due fields sync will overwrite {:value=>\(Ruby.inspect(v))}")
            }
            ds = Object()
        }
        if ds["type"]?.isTruthy != true { ds["type"] = .string(type) }
        if ds["dataset"]?.isTruthy != true { ds["dataset"] = .string(dataset) }
        if ds["namespace"]?.isTruthy != true { ds["namespace"] = .string(namespace) }
        document["data_stream"] = .object(ds)
    }

    func handleMappingErrors(_ errors: [(event: Event, message: String)], _ outcome: inout OutputOutcome) {
        let dlq = context.deadLetterQueue
        if dlq.isEnabled { logger.warn("Events could not be indexed and routing to DLQ, count: \(errors.count)") }
        for (event, message) in errors {
            var withMetadata = event.fields
            if !event.metadata.isEmpty { withMetadata["@metadata"] = .object(event.metadata) }
            let detailed = "\(message); event: `\(Ruby.inspect(.object(withMetadata)))`"
            if dlq.isEnabled {
                outcome.record(event, writeDeadLetter(event, reason: detailed))
            } else {
                logger.rateLimited(.warn, key: "mapping", detailed)
                outcome.record(event, .dropped)
            }
        }
        metrics.documentNonRetryableFailures.add(errors.count, ordering: .relaxed)
    }

    /// Writes `event` to the DLQ; an event the DLQ does not take is dropped, with an error in the log.
    func writeDeadLetter(_ event: Event, reason: String) -> EventFate {
        if context.deadLetterQueue.write(event, pluginType: Self.name, pluginID: context.pluginID, reason: reason) { return .deadLettered }
        let why = event.isFromDeadLetterQueue ? "it came from a DLQ" : "the dead letter queue refused it (full or failing)"
        logger.rateLimited(.error, key: "dlq_write", "Event dropped: \(why): \(reason)")
        return .dropped
    }
}

/// A configuration Logstash rejects when the plugin registers (`LogStash::ConfigurationError`).
struct ElasticsearchConfigurationError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

extension Value {
    /// The sprintf form of a value, nil for null (Ruby's `||` fallback).
    var interpolatedOrNil: String? { isNull ? nil : interpolated }
}

extension String {
    var hasSprintfReference: Bool {
        guard let r = range(of: "%{") else { return false }
        return self[r.upperBound...].dropFirst().contains("}")
    }

    var trimmingTrailingSlashes: String {
        var s = self
        while s.hasSuffix("/") && s.count > 1 { s.removeLast() }
        return s
    }
}

import SluiceCore

/// Parses JSON text in a field into the event (Logstash's `json` filter, version 3.2.1).
///
/// With `target` the parsed value (any JSON type) replaces the target field. Without it the value must be an object
/// whose keys are set one by one as field references; an `@timestamp` key becomes the event's timestamp
/// (`_timestampparsefailure` when it cannot be parsed). Decorations apply only after a successful parse.
public final class JsonFilter: Filter {
    public static let name = "json"
    public static let summary = "Parses a JSON string field into event fields."

    public struct Settings: PluginSettings {
        @Setting("source", doc: "The field holding the JSON text.", required: true)
        var source = FieldReference("message")
        @Setting("target", doc: "The field that receives the parsed value; when unset, the keys of the parsed object are set at the top level of the event.")
        var target: FieldReference? = nil
        @Setting("skip_on_invalid_json", doc: "Leaves events whose source is not valid JSON untouched: no tag, no warning.")
        var skipOnInvalidJSON = false
        @Setting("tag_on_failure", doc: "Tags added when the source cannot be parsed or the result cannot be set.")
        var tagOnFailure = ["_jsonparsefailure"]
        public init() {}
    }

    let source: FieldReference
    let target: FieldReference?
    let skipOnInvalidJSON: Bool
    let tagOnFailure: [String]
    let logger: Logger

    public init(settings: Settings, context: PluginContext) throws {
        source = settings.source
        target = settings.target
        skipOnInvalidJSON = settings.skipOnInvalidJSON
        tagOnFailure = settings.tagOnFailure
        logger = context.logger
        if target == nil && context.ecsCompatibility.isEnabled {
            logger.info(
                "ECS compatibility is enabled but `target` option was not specified. This may cause fields to be set at the top-level of the event where they are likely to clash with the Elastic Common Schema. It is recommended to set the `target` option to avoid potential schema conflicts (if your data is ECS compliant or non-conflicting, feel free to ignore this message)"
            )
        }
    }

    public static let canFail = true

    /// What happened to one event.
    enum Outcome {
        /// Parsed and applied: decorations apply.
        case matched
        /// Nothing to do (missing source, or invalid JSON with skip_on_invalid_json).
        case skipped
        /// Tagged with the failure tags; the reason goes to the DLQ with `on_error => "dlq"`.
        case failed(String)
    }

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            switch process(event) {
            case .matched: batch.matched[i] = true
            case .skipped: break
            case .failed(let reason): batch.failed(i, reason: reason)
            }
        }
    }

    /// Parses and applies the source of one event.
    func process(_ event: Event) -> Outcome {
        // Ruby's `return unless source`: a missing, null or false source does nothing.
        guard let raw = event.get(source) else { return .skipped }
        switch raw {
        case .null, .bool(false): return .skipped
        default: break
        }
        let parsed: Value
        do throws(EventOperationError) {
            guard case .string(let text) = raw else {
                throw EventOperationError("expected a String to parse, got \(Ruby.className(raw))")
            }
            do {
                parsed = try JSONParser.parse(text)
            } catch {
                throw EventOperationError(error.description)
            }
        } catch {
            if skipOnInvalidJSON { return .skipped }
            tagFailure(event)
            logger.rateLimited(
                .warn, key: "parse",
                "Error parsing json {:source=>\"\(source.text)\", :raw=>\(Ruby.inspect(raw)), :exception=>\(Ruby.inspect(string: error.description))}")
            return .failed("json: cannot parse field [\(source.text)] as JSON: \(error.description)")
        }
        do {
            if let target {
                try event.strictSet(target, parsed)
            } else {
                guard case .object(let object) = parsed else {
                    tagFailure(event)
                    logger.rateLimited(
                        .warn, key: "target",
                        "Parsed JSON object/hash requires a target configuration option {:source=>\"\(source.text)\", :raw=>\(Ruby.inspect(raw))}")
                    return .failed("json: field [\(source.text)] holds JSON that is not an object and no target is set")
                }
                try setTopLevel(object, on: event)
            }
            return .matched
        } catch {
            tagFailure(event)
            logger.rateLimited(
                .warn, key: "exception",
                "Exception caught in json filter {:source=>\"\(source.text)\", :raw=>\(Ruby.inspect(raw)), :exception=>\(Ruby.inspect(string: error.description))}")
            return .failed("json: cannot set the parsed fields of [\(source.text)]: \(error.description)")
        }
    }

    /// Sets each key of `object` with `event.set` (keys are field references), then coerces `@timestamp`.
    func setTopLevel(_ object: Object, on event: Event) throws(EventOperationError) {
        var object = object
        let parsedTimestamp = object.removeValue(forKey: "@timestamp")
        for (key, value) in object {
            try event.strictSet(referenceText: key, value)
        }
        // Ruby's `if parsed_timestamp`: null and false leave @timestamp alone.
        switch parsedTimestamp {
        case nil, .null?, .bool(false)?:
            return
        case .string(let s)? where Timestamp.parseISO8601(s) != nil:
            event.fields["@timestamp"] = .timestamp(Timestamp.parseISO8601(s)!)
        case let original?:
            // LogStash::Timestamp.coerce accepts strings only; anything else is a failure too.
            event.fields["@timestamp"] = .timestamp(.now())
            logger.rateLimited(
                .warn, key: "timestamp",
                "Unrecognized @timestamp value, setting current time to @timestamp, original in _@timestamp field {:value=>\(Ruby.inspect(string: Ruby.inspect(original)))}")
            event.tag("_timestampparsefailure")
            try event.strictSet(FieldReference("_@timestamp"), .string(Ruby.toS(original)))
        }
    }

    func tagFailure(_ event: Event) {
        for tag in tagOnFailure { event.tag(tag) }
    }
}

/// Everything a plugin may see of the runtime: identity, logger, DLQ writer, codec, ECS mode, shutdown state.
/// Plugins see nothing else of the pipeline.
public final class PluginContext: @unchecked Sendable {
    public let pipelineID: String
    public let pluginID: String
    public let pluginName: String
    public let kind: PluginKind
    public let logger: Logger
    /// The pipeline's dead letter queue (a disabled writer when the DLQ is off).
    public let deadLetterQueue: DeadLetterQueueWriter
    /// The codec of an input or output (nil for filters and codecs).
    public let codec: (any Codec)?
    /// `pipeline.ecs_compatibility`, or the plugin's own `ecs_compatibility` when it has one.
    public let ecsCompatibility: ECSCompatibility
    /// `path.data`, for plugins that keep state (sincedb).
    public let dataPath: String
    /// Set when the pipeline is shutting down; long-running loops check it.
    public let shutdown: ShutdownFlag
    /// The process's pipeline-to-pipeline bus (for the `pipeline` input and output).
    public let bus: PipelineBus
    /// Whether the pipeline's queue is persisted: an output that cannot deliver before shutdown reports the
    /// events `retryLater` so they stay queued for the next start, instead of writing them to the DLQ.
    public internal(set) var persistedQueue = false
    /// Input decorations (type, tags, add_field); nil for other kinds.
    let inputDecoration: InputDecoration?
    /// Builds another instance of `codec` from the same settings (inputs and outputs).
    var codecFactory: (@Sendable () throws -> any Codec)?
    /// Builds a codec by name with its default settings (the http input's `additional_codecs`).
    var namedCodecFactory: (@Sendable (String) throws -> any Codec)?

    init(
        pipelineID: String, pluginID: String, pluginName: String, kind: PluginKind,
        deadLetterQueue: DeadLetterQueueWriter, codec: (any Codec)?, ecsCompatibility: ECSCompatibility,
        dataPath: String, shutdown: ShutdownFlag, bus: PipelineBus = PipelineBus(), inputDecoration: InputDecoration? = nil
    ) {
        self.bus = bus
        self.pipelineID = pipelineID
        self.pluginID = pluginID
        self.pluginName = pluginName
        self.kind = kind
        self.logger = Logger("\(kind.rawValue)s.\(pluginName)", pipelineID: pipelineID, pluginID: pluginID)
        self.deadLetterQueue = deadLetterQueue
        self.codec = codec
        self.ecsCompatibility = ecsCompatibility
        self.dataPath = dataPath
        self.shutdown = shutdown
        self.inputDecoration = inputDecoration
    }

    /// A context for tests and tools: no DLQ, ECS v8, a fresh shutdown flag.
    public static func standalone(
        name: String, kind: PluginKind, codec: (any Codec)? = nil, ecs: ECSCompatibility = .v8,
        deadLetterQueue: DeadLetterQueueWriter = DisabledDeadLetterQueue()
    ) -> PluginContext {
        PluginContext(
            pipelineID: "main", pluginID: name, pluginName: name, kind: kind, deadLetterQueue: deadLetterQueue,
            codec: codec, ecsCompatibility: ecs, dataPath: "data", shutdown: ShutdownFlag())
    }

    /// A fresh instance of the plugin's codec, built from the same settings: inputs keep one per connection or file,
    /// because a streaming codec's state (a partial line, a multiline buffer) belongs to one source. Falls back to
    /// the shared `codec` where no factory exists (standalone contexts in tests).
    public func makeCodec() throws -> any Codec {
        if let codecFactory { return try codecFactory() }
        guard let codec else { throw SettingsValidationError("\(pluginName) has no codec") }
        return codec
    }

    /// A codec by its Logstash name, with default settings (the http input's `additional_codecs`); throws when no
    /// such codec exists.
    public func makeCodec(named name: String) throws -> any Codec {
        guard let namedCodecFactory else { throw SettingsValidationError("no codec named '\(name)' can be built here") }
        return try namedCodecFactory(name)
    }

    /// Applies the input's `type`, `add_field` and `tags` to an event, in Logstash's order.
    public func decorate(_ event: Event) {
        inputDecoration?.apply(to: event)
    }
}

/// A flag set once when shutdown is requested, readable from any thread.
public final class ShutdownFlag: @unchecked Sendable {
    private let lock = Lock()
    private var requested = false
    public init() {}
    public var isRequested: Bool { lock.withLock { requested } }
    public func request() { lock.withLock { requested = true } }
}

/// The common input options applied to every event an input produces.
public struct InputDecoration: Sendable {
    let type: String?
    let addField: [(key: Template, value: ValueTemplate)]
    let tags: [String]

    var isEmpty: Bool { type == nil && addField.isEmpty && tags.isEmpty }

    @usableFromInline func apply(to event: Event) {
        if isEmpty { return }
        if let type, event.fields["type"] == nil { event.fields["type"] = .string(type) }
        for (key, value) in addField {
            Decorations.addField(event, key: key, value.render(event))
        }
        if !tags.isEmpty {
            var current: [Value]
            switch event.fields["tags"] {
            case .array(let a)?: current = a
            case .string(let s)?: current = [.string(s)]
            default: current = []
            }
            current += tags.map { .string($0) }
            event.fields["tags"] = .array(current)
        }
    }
}

/// The shared semantics of `add_field`, `add_tag`, `remove_field` and `remove_tag` (Logstash's decorators).
public enum Decorations {
    /// The field an `add_field` key names: parsed once when the key has no `%{…}` (templates cache their
    /// parsed reference), rendered and parsed per event otherwise.
    public static func reference(_ key: Template, _ event: Event) -> FieldReference {
        if let fixed = key.constantReference { return fixed }
        return FieldReference(key.render(event))
    }

    /// The tag an event gets when an `add_field` key rendered from its data names a field nested deeper than
    /// `FieldReference.maximumDepth` (a Sluice extension: Logstash's worker would fail on the event).
    public static let fieldReferenceFailureTag = "_fieldreferencefailure"

    /// `add_field` with a key that may hold `%{…}`: a key rendered as an invalid reference names a top-level field
    /// of that literal text; one nested too deep adds nothing and tags the event `_fieldreferencefailure`.
    public static func addField(_ event: Event, key: Template, _ value: Value) {
        if let fixed = key.constantReference { return addField(event, fixed, value) }
        let text = key.render(event)
        do {
            addField(event, try FieldReference(parsing: text), value)
        } catch where error.isTooDeep {
            event.tag(fieldReferenceFailureTag)
        } catch {
            addField(event, FieldReference(path: [text], text: text), value)
        }
    }

    /// `add_field`: sets the field, or turns an existing value into a list and appends.
    public static func addField(_ event: Event, _ ref: FieldReference, _ value: Value) {
        guard let existing = event.get(ref) else {
            event.set(ref, value)
            return
        }
        var list: [Value]
        switch existing {
        case .array(let a): list = a
        case .object(let o): list = o.map { .array([.string($0.0), $0.1]) }
        default: list = [existing]
        }
        if case .array(let more) = value { list += more } else { list.append(value) }
        event.set(ref, .array(list))
    }

    /// `add_tag`: appends, even duplicates; a string `tags` becomes a list.
    public static func addTag(_ event: Event, _ tag: String) {
        switch event.fields["tags"] {
        case .array?:
            event.fields.withExistingValue(forKey: "tags") { v in
                var a = v.takeArray()
                a.append(.string(tag))
                v = .array(a)
            }
        case .string(let s)?:
            event.fields["tags"] = .array([.string(s), .string(tag)])
        default:
            event.fields["tags"] = .array([.string(tag)])
        }
    }

    /// `remove_tag`: removes every equal element (may leave `tags: []`); a string `tags` becomes a list first, as
    /// Logstash's `Array(tags)` makes it.
    public static func removeTag(_ event: Event, _ tag: String) {
        switch event.fields["tags"] {
        case .array(let a)?:
            event.fields["tags"] = .array(a.filter { $0 != .string(tag) })
        case .string(let s)?:
            event.fields["tags"] = .array(s == tag ? [] : [.string(s)])
        default: break
        }
    }
}

/// What a plugin needs from its pipeline when it is built.
public struct PipelineEnvironment: Sendable {
    public var pipelineID: String
    public var ecsCompatibility: ECSCompatibility
    public var dataPath: String
    public var deadLetterQueue: DeadLetterQueueWriter
    public var shutdown: ShutdownFlag
    public var substitution: Substitution
    /// The process's pipeline-to-pipeline bus.
    public var bus: PipelineBus = PipelineBus()
    /// `metric.collect`: whether event counters and timings are kept at all.
    public var collectMetrics = true
    /// Whether settings that need the DLQ (on_error => dlq) are checked against `deadLetterQueue.isEnabled`;
    /// off for `-t`, which does not open the DLQ.
    public var requiresEnabledDLQ = true
    /// `queue.type: persisted`: outputs keep what they cannot deliver at shutdown for the next run.
    public var persistedQueue = false
    /// `pipeline.regex.match_limit`: PCRE2's match limit for regular expressions in conditions.
    public var regexMatchLimit = Regex.defaultMatchLimit

    public init(
        pipelineID: String = "main", ecsCompatibility: ECSCompatibility = .v8, dataPath: String = "data",
        deadLetterQueue: DeadLetterQueueWriter = DisabledDeadLetterQueue(), shutdown: ShutdownFlag = ShutdownFlag(),
        substitution: Substitution = .environment
    ) {
        self.pipelineID = pipelineID
        self.ecsCompatibility = ecsCompatibility
        self.dataPath = dataPath
        self.deadLetterQueue = deadLetterQueue
        self.shutdown = shutdown
        self.substitution = substitution
    }
}

/// A built plugin with the common options the runtime applies around it.
public struct BuiltPlugin: @unchecked Sendable {
    public let name: String
    public let id: String
    public let kind: PluginKind
    public let span: SourceSpan
    public let instance: any Plugin
    /// Filter decorations (add_field, remove_field, add_tag, remove_tag), applied on success.
    public let filterDecorations: FilterDecorations?
    public let context: PluginContext
    /// A filter's `on_error`.
    public var onError: OnError = .tag
    /// `metric.collect` and the plugin's `enable_metric`: whether its counters are kept.
    public var collectsMetrics = true
}

/// A plugin decoded and validated from its config block but not created yet: what the pipeline graph shows, and
/// what `ProgramCompiler` instantiates last, once the whole graph is known to be valid. Made and used on the
/// compiling thread.
public struct PluginPlan: @unchecked Sendable {
    public let name: String
    public let id: String
    /// Whether the config sets `id` (Logstash's `explicit_id` in the graph API).
    public let explicitID: Bool
    public let kind: PluginKind
    public let span: SourceSpan
    private let make: () throws(ConfigError) -> BuiltPlugin

    init(
        _ name: String, id: String, explicit: Bool, _ kind: PluginKind, _ span: SourceSpan,
        make: @escaping () throws(ConfigError) -> BuiltPlugin
    ) {
        self.name = name
        self.id = id
        self.explicitID = explicit
        self.kind = kind
        self.span = span
        self.make = make
    }

    /// Creates the plugin (this may open clients, register on the pipeline bus, read files).
    public func instantiate() throws(ConfigError) -> BuiltPlugin { try make() }
}

/// The common filter options, compiled.
public struct FilterDecorations: Sendable {
    public let addField: [(key: Template, value: ValueTemplate)]
    public let removeField: [Template]
    public let addTag: [Template]
    public let removeTag: [Template]

    public var isEmpty: Bool { addField.isEmpty && removeField.isEmpty && addTag.isEmpty && removeTag.isEmpty }

    /// Applies the decorations in Logstash's order: add_field, remove_field, add_tag, remove_tag.
    public func apply(to event: Event) {
        for (key, value) in addField {
            Decorations.addField(event, key: key, value.render(event))
        }
        for field in removeField {
            if let ref = try? FieldReference(parsing: field.render(event)) { event.remove(ref) }
        }
        for tag in addTag { Decorations.addTag(event, tag.render(event)) }
        for tag in removeTag { Decorations.removeTag(event, tag.render(event)) }
    }
}

/// One registered plugin type: its name, kind, documentation and how to build it from a config block.
public struct PluginDescriptor: Sendable {
    public let name: String
    public let kind: PluginKind
    public let summary: String
    /// Fresh declared settings (the plugin's own, then the common ones), for docs and validation.
    public let settings: @Sendable () -> [AnySetting]
    let plan: @Sendable (PluginDecl, PluginRegistry, PipelineEnvironment) throws(ConfigError) -> PluginPlan

    public static func input<P: Input>(_ type: P.Type) -> PluginDescriptor {
        PluginDescriptor(
            name: P.name, kind: .input, summary: P.summary,
            settings: { P.Settings().declaredSettings + CommonInputSettings().declaredSettings },
            plan: { decl, registry, env throws(ConfigError) in try registry.planInput(P.self, decl, env) })
    }

    public static func filter<P: Filter>(_ type: P.Type) -> PluginDescriptor {
        PluginDescriptor(
            name: P.name, kind: .filter, summary: P.summary,
            settings: { P.Settings().declaredSettings + CommonFilterSettings().declaredSettings },
            plan: { decl, registry, env throws(ConfigError) in try registry.planFilter(P.self, decl, env) })
    }

    public static func output<P: Output>(_ type: P.Type) -> PluginDescriptor {
        PluginDescriptor(
            name: P.name, kind: .output, summary: P.summary,
            settings: { P.Settings().declaredSettings + CommonOutputSettings().declaredSettings },
            plan: { decl, registry, env throws(ConfigError) in try registry.planOutput(P.self, decl, env) })
    }

    public static func codec<P: Codec>(_ type: P.Type) -> PluginDescriptor {
        PluginDescriptor(
            name: P.name, kind: .codec, summary: P.summary,
            settings: { P.Settings().declaredSettings + CommonCodecSettings().declaredSettings },
            plan: { decl, registry, env throws(ConfigError) in try registry.planCodec(P.self, decl, env) })
    }
}

/// Plugins that Logstash has but Sluice does not (yet): named in the error so users know it is not a typo.
public let knownUnsupportedPlugins: Set<String> = [
    "jdbc", "jdbc_streaming", "jdbc_static", "aggregate", "elapsed", "throttle", "http_poller", "s3", "sqs",
    "kafka", "redis", "exec", "pipe", "xml", "memcached", "metrics",
]

/// All plugin types by kind and name; builds plugins from config blocks.
public struct PluginRegistry: Sendable {
    let byKind: [PluginKind: [String: PluginDescriptor]]

    public init(_ descriptors: [PluginDescriptor]) {
        var map: [PluginKind: [String: PluginDescriptor]] = [:]
        for d in descriptors { map[d.kind, default: [:]][d.name] = d }
        byKind = map
    }

    /// The registered descriptors, sorted by kind then name.
    public var all: [PluginDescriptor] {
        PluginKind.allCases.flatMap { kind in (byKind[kind] ?? [:]).values.sorted { $0.name < $1.name } }
    }

    public func descriptor(_ kind: PluginKind, _ name: String) -> PluginDescriptor? { byKind[kind]?[name] }

    /// Builds the plugin a config block declares, or throws diagnostics (unknown plugin, unknown setting, …).
    public func build(_ kind: PluginKind, _ decl: PluginDecl, _ env: PipelineEnvironment) throws(ConfigError) -> BuiltPlugin {
        try plan(kind, decl, env).instantiate()
    }

    /// Decodes and validates the plugin a config block declares without creating it (no side effects), or throws
    /// every problem found in the block (unknown plugin, unknown setting, bad value, …).
    public func plan(_ kind: PluginKind, _ decl: PluginDecl, _ env: PipelineEnvironment) throws(ConfigError) -> PluginPlan {
        guard let d = descriptor(kind, decl.name) else {
            let names = Array((byKind[kind] ?? [:]).keys)
            var help = Suggest.didYouMean(decl.name, among: names)
            if help == nil && knownUnsupportedPlugins.contains(decl.name) {
                help = "Sluice does not support the '\(decl.name)' \(kind.rawValue) plugin"
            }
            throw ConfigError(
                Diagnostic(
                    code: "unknown_plugin", span: decl.span,
                    "Couldn't find any \(kind.rawValue) plugin named '\(decl.name)'",
                    help: help ?? "available \(kind.rawValue)s: \(names.sorted().joined(separator: ", "))"))
        }
        return try d.plan(decl, self, env)
    }

    // MARK: Planning each kind: decode and validate now, create in `instantiate`

    func planInput<P: Input>(_ type: P.Type, _ decl: PluginDecl, _ env: PipelineEnvironment) throws(ConfigError) -> PluginPlan {
        let common = CommonInputSettings()
        let settings = try decode(P.Settings.self, decl, common: common.declaredSettings, env)
        try validate(common, decl)
        let codecSpec = common.codec ?? PluginSpec(name: P.defaultCodec, span: decl.span)
        let codec = try plan(.codec, codecSpec.decl, env)
        let ecs = common.ecsCompatibility ?? env.ecsCompatibility
        let decoration = InputDecoration(
            type: common.type, addField: common.addField.map { (Template($0.key), ValueTemplate(sprintfLeaves: $0.value)) }, tags: common.tags)
        let id = pluginID(common.id, decl, env)
        let collectsMetrics = env.collectMetrics && common.enableMetric
        return PluginPlan(P.name, id: id, explicit: common.id != nil, .input, decl.span) { [self] () throws(ConfigError) in
            let context = PluginContext(
                .input, P.name, id: id, env, codec: try codec.instantiate().instance as? any Codec, ecs: ecs, inputDecoration: decoration)
            context.codecFactory = { [self] in try buildCodec(codecSpec, env) }
            context.namedCodecFactory = { [self] name in
                do {
                    return try buildCodec(PluginSpec(name: name, span: decl.span), env)
                } catch let error as ConfigError {
                    throw SettingsValidationError(error.diagnostics.first?.message ?? "unknown codec '\(name)'")
                }
            }
            let instance = try instantiate(P.self, settings, context, decl)
            var built = BuiltPlugin(name: P.name, id: id, kind: .input, span: decl.span, instance: instance, filterDecorations: nil, context: context)
            built.collectsMetrics = collectsMetrics
            return built
        }
    }

    func planFilter<P: Filter>(_ type: P.Type, _ decl: PluginDecl, _ env: PipelineEnvironment) throws(ConfigError) -> PluginPlan {
        let common = CommonFilterSettings()
        let settings = try decode(P.Settings.self, decl, common: common.declaredSettings, env)
        try validate(common, decl)
        let id = pluginID(common.id, decl, env)
        let decorations = FilterDecorations(
            addField: common.addField.map { (Template($0.key), ValueTemplate(sprintfLeaves: $0.value)) }, removeField: common.removeField.map(Template.init),
            addTag: common.addTag.map(Template.init), removeTag: common.removeTag.map(Template.init))
        try checkOnError(common.onError, canFail: P.canFail, decl, env)
        let onError = common.onError, collectsMetrics = env.collectMetrics && common.enableMetric, ecs = common.ecsCompatibility
        return PluginPlan(P.name, id: id, explicit: common.id != nil, .filter, decl.span) { [self] () throws(ConfigError) in
            let context = PluginContext(.filter, P.name, id: id, env, ecs: ecs)
            let instance = try instantiate(P.self, settings, context, decl)
            var built = BuiltPlugin(name: P.name, id: id, kind: .filter, span: decl.span, instance: instance, filterDecorations: decorations, context: context)
            built.onError = onError
            built.collectsMetrics = collectsMetrics
            return built
        }
    }

    func planOutput<P: Output>(_ type: P.Type, _ decl: PluginDecl, _ env: PipelineEnvironment) throws(ConfigError) -> PluginPlan {
        let common = CommonOutputSettings()
        let settings = try decode(P.Settings.self, decl, common: common.declaredSettings, env)
        try validate(common, decl)
        let codec = try plan(.codec, (common.codec ?? PluginSpec(name: P.defaultCodec, span: decl.span)).decl, env)
        let id = pluginID(common.id, decl, env)
        let collectsMetrics = env.collectMetrics && common.enableMetric, ecs = common.ecsCompatibility
        return PluginPlan(P.name, id: id, explicit: common.id != nil, .output, decl.span) { [self] () throws(ConfigError) in
            let context = PluginContext(.output, P.name, id: id, env, codec: try codec.instantiate().instance as? any Codec, ecs: ecs)
            let instance = try instantiate(P.self, settings, context, decl)
            var built = BuiltPlugin(name: P.name, id: id, kind: .output, span: decl.span, instance: instance, filterDecorations: nil, context: context)
            built.collectsMetrics = collectsMetrics
            return built
        }
    }

    func planCodec<P: Codec>(_ type: P.Type, _ decl: PluginDecl, _ env: PipelineEnvironment) throws(ConfigError) -> PluginPlan {
        let common = CommonCodecSettings()
        let settings = try decode(P.Settings.self, decl, common: common.declaredSettings, env)
        let id = common.id ?? "\(P.name)_\(SHA256.hex(of: decl.span.description + P.name).prefix(36))"
        let ecs = common.ecsCompatibility
        return PluginPlan(P.name, id: id, explicit: common.id != nil, .codec, decl.span) { [self] () throws(ConfigError) in
            let context = PluginContext(.codec, P.name, id: id, env, ecs: ecs)
            let instance = try instantiate(P.self, settings, context, decl)
            return BuiltPlugin(name: P.name, id: id, kind: .codec, span: decl.span, instance: instance, filterDecorations: nil, context: context)
        }
    }

    func buildCodec(_ spec: PluginSpec, _ env: PipelineEnvironment) throws(ConfigError) -> any Codec {
        let built = try build(.codec, spec.decl, env)
        return built.instance as! any Codec
    }

    /// `on_error => "dlq"` needs a filter that can fail and an enabled DLQ.
    func checkOnError(_ onError: OnError, canFail: Bool, _ decl: PluginDecl, _ env: PipelineEnvironment) throws(ConfigError) {
        guard onError == .dlq else { return }
        let span = decl.attributes.first { $0.name == "on_error" }?.span ?? decl.span
        if !canFail {
            throw ConfigError(Diagnostic(code: "invalid_settings", span: span, "\(decl.name) never fails, so on_error has no effect", help: "remove on_error"))
        }
        if !env.deadLetterQueue.isEnabled && env.requiresEnabledDLQ {
            throw ConfigError(
                Diagnostic(
                    code: "invalid_settings", span: span, "on_error => \"dlq\" is configured while the dead letter queue is not enabled",
                    help: "set dead_letter_queue.enable: true for this pipeline"))
        }
    }

    /// The explicit id (after `${VAR}`), or a stable digest of the pipeline and the plugin's position.
    func pluginID(_ explicit: String?, _ decl: PluginDecl, _ env: PipelineEnvironment) -> String {
        if let explicit { return explicit }
        return SHA256.hex(of: "\(env.pipelineID)|\(decl.span.source)|\(decl.span.line)|\(decl.span.column)|\(decl.name)")
    }

    func instantiate<P: Plugin>(_ type: P.Type, _ settings: P.Settings, _ context: PluginContext, _ decl: PluginDecl)
        throws(ConfigError) -> P
    {
        do {
            return try P(settings: settings, context: context)
        } catch let e as ConfigError {
            throw e
        } catch let d as Diagnostic {
            throw ConfigError(d)
        } catch let e as SettingsValidationError {
            // A setting that start-up checks rejected (a missing file, a bad pattern): point at that setting.
            let span = e.setting.flatMap { name in decl.attributes.first { $0.name == name }?.span } ?? decl.span
            let named = e.message.lowercased().hasPrefix(decl.name.lowercased()) ? e.message : "\(decl.name): \(e.message)"
            throw ConfigError(Diagnostic(code: "invalid_settings", span: span, named))
        } catch {
            throw ConfigError(
                Diagnostic(code: "plugin_error", span: decl.span, "\(context.kind.rawValue) '\(decl.name)' could not be created: \(error)"))
        }
    }

    func validate(_ settings: some PluginSettings, _ decl: PluginDecl) throws(ConfigError) {
        do {
            for group in SettingsReflection.groups(in: settings) { try group.validate() }
            try settings.validate()
        } catch {
            let span = error.setting.flatMap { name in decl.attributes.first { $0.name == name }?.span } ?? decl.span
            throw ConfigError(Diagnostic(code: "invalid_settings", span: span, "\(decl.name): \(error.message)"))
        }
    }

    /// Assigns a block's attributes to the declared settings (the plugin's own first, then the common ones).
    /// Collects every problem before throwing.
    func decode<S: PluginSettings>(_ type: S.Type, _ decl: PluginDecl, common: [AnySetting], _ env: PipelineEnvironment)
        throws(ConfigError) -> S
    {
        let settings = S()
        let own = settings.declaredSettings
        var byName: [String: AnySetting] = [:]
        for s in common { byName[s.name] = s }
        for s in own { byName[s.name] = s }
        var diagnostics: [Diagnostic] = []
        var seen: Set<String> = []
        for (name, value, span) in PluginRegistry.mergeRepeated(decl.attributes) {
            guard let setting = byName[name] else {
                let all = byName.keys.sorted()
                diagnostics.append(
                    Diagnostic(
                        code: "unknown_setting", span: span, "Unknown setting '\(name)' for \(decl.name)",
                        help: Suggest.didYouMean(name, among: all) ?? "valid settings: \(all.joined(separator: ", "))"))
                continue
            }
            if let obsolete = setting.obsoleteMessage {
                diagnostics.append(Diagnostic(code: "obsolete_setting", span: span, "The setting '\(name)' in \(decl.name) is obsolete: \(obsolete)"))
                continue
            }
            if name == "codec" && seen.contains(name) {
                diagnostics.append(Diagnostic(code: "duplicate_codec", span: span, "\(decl.name) declares 'codec' more than once"))
                continue
            }
            seen.insert(name)
            do {
                try setting.assign(value, CoercionContext(pluginName: decl.name, settingName: name, substitution: env.substitution))
            } catch {
                diagnostics.append(error)
            }
        }
        for s in own + common where s.isRequired && !s.wasSet {
            diagnostics.append(
                Diagnostic(code: "missing_setting", span: decl.span, "Missing a required setting for the \(decl.name) plugin: '\(s.name)'"))
        }
        if !diagnostics.isEmpty { throw ConfigError(diagnostics) }
        try validate(settings, decl)
        return settings
    }

    /// The same option written twice merges hashes and otherwise collects the values into a list (Logstash).
    static func mergeRepeated(_ attributes: [Attribute]) -> [(String, ConfigValue, SourceSpan)] {
        var order: [String] = []
        var values: [String: [Attribute]] = [:]
        for a in attributes {
            if values[a.name] == nil { order.append(a.name) }
            values[a.name, default: []].append(a)
        }
        return order.flatMap { name -> [(String, ConfigValue, SourceSpan)] in
            let group = values[name]!
            if group.count == 1 || name == "codec" { return group.map { (name, $0.value, $0.span) } }
            let hashes = group.compactMap { a -> [HashEntry]? in
                if case .hash(let h, _) = a.value { return h }
                return nil
            }
            if hashes.count == group.count {
                return [(name, .hash(hashes.flatMap { $0 }, group[0].value.span), group[0].span)]
            }
            let items = group.flatMap { a -> [ConfigValue] in
                if case .array(let xs, _) = a.value { return xs }
                return [a.value]
            }
            return [(name, .array(items, group[0].value.span), group[0].span)]
        }
    }
}

extension PluginContext {
    /// The context of a plugin built into the pipeline `env` describes; `ecs` is the plugin's own
    /// `ecs_compatibility`, when set, over the pipeline's.
    convenience init(
        _ kind: PluginKind, _ name: String, id: String, _ env: PipelineEnvironment, codec: (any Codec)? = nil,
        ecs: ECSCompatibility?, inputDecoration: InputDecoration? = nil
    ) {
        self.init(
            pipelineID: env.pipelineID, pluginID: id, pluginName: name, kind: kind, deadLetterQueue: env.deadLetterQueue,
            codec: codec, ecsCompatibility: ecs ?? env.ecsCompatibility, dataPath: env.dataPath, shutdown: env.shutdown,
            bus: env.bus, inputDecoration: inputDecoration)
        persistedQueue = env.persistedQueue
    }
}

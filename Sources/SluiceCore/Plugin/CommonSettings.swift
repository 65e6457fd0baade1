/// The options every input accepts (Logstash's `inputs/base.rb` and `plugin.rb`).
public struct CommonInputSettings: PluginSettings {
    @Setting("id", doc: "A unique id for this plugin in the pipeline; generated from its position when absent.")
    var id: String? = nil
    @Setting("enable_metric", doc: "Whether this plugin's metrics are collected.")
    var enableMetric = true
    @Setting("type", doc: "Sets the event's `type` field when the event has none.")
    var type: String? = nil
    @Setting("tags", doc: "Tags appended to every event (duplicates are kept).")
    var tags: [String] = []
    @Setting("add_field", doc: "Fields added to every event; keys and values are sprintf templates.")
    var addField = SettingHash<Value>()
    @Setting("codec", doc: "The codec that decodes the input's bytes.")
    var codec: PluginSpec? = nil
    @Setting("ecs_compatibility", doc: "Overrides `pipeline.ecs_compatibility` for this plugin.")
    var ecsCompatibility: ECSCompatibility? = nil
    public init() {}
}

/// The options every filter accepts (Logstash's `filters/base.rb`), applied by the runtime on success.
public struct CommonFilterSettings: PluginSettings {
    @Setting("id", doc: "A unique id for this plugin in the pipeline; generated from its position when absent.")
    var id: String? = nil
    @Setting("enable_metric", doc: "Whether this plugin's metrics are collected.")
    var enableMetric = true
    @Setting("add_field", doc: "Fields added when the filter succeeds; keys and values are sprintf templates.")
    var addField = SettingHash<Value>()
    @Setting("remove_field", doc: "Fields removed when the filter succeeds (sprintf templates).")
    var removeField: [String] = []
    @Setting("add_tag", doc: "Tags added when the filter succeeds (sprintf templates).")
    var addTag: [String] = []
    @Setting("remove_tag", doc: "Tags removed when the filter succeeds (sprintf templates).")
    var removeTag: [String] = []
    @Setting("periodic_flush", doc: "Call the filter's flush every 5 seconds.")
    var periodicFlush = false
    @Setting("on_error", doc: "Sluice extension: `tag` (Logstash's failure tag) or `dlq` (the event as it was before the filter goes to the dead letter queue and leaves the pipeline).")
    var onError = OnError.tag
    @Setting("ecs_compatibility", doc: "Overrides `pipeline.ecs_compatibility` for this plugin.")
    var ecsCompatibility: ECSCompatibility? = nil
    public init() {}
}

/// The options every output accepts (Logstash's `outputs/base.rb`).
public struct CommonOutputSettings: PluginSettings {
    @Setting("id", doc: "A unique id for this plugin in the pipeline; generated from its position when absent.")
    var id: String? = nil
    @Setting("enable_metric", doc: "Whether this plugin's metrics are collected.")
    var enableMetric = true
    @Setting("codec", doc: "The codec that encodes events.")
    var codec: PluginSpec? = nil
    @Setting("workers", doc: "Obsolete in Logstash 8: any value but 1 is an error.")
    var workers = 1
    @Setting("ecs_compatibility", doc: "Overrides `pipeline.ecs_compatibility` for this plugin.")
    var ecsCompatibility: ECSCompatibility? = nil
    public init() {}

    public func validate() throws(SettingsValidationError) {
        if workers != 1 {
            throw SettingsValidationError(
                "You are using a plugin that doesn't support workers but have set the workers value explicitly! This plugin uses the shared and doesn't need this option",
                setting: "workers")
        }
    }
}

/// The options every codec accepts.
public struct CommonCodecSettings: PluginSettings {
    @Setting("id", doc: "A unique id for this codec.")
    var id: String? = nil
    @Setting("enable_metric", doc: "Whether this plugin's metrics are collected.")
    var enableMetric = true
    @Setting("ecs_compatibility", doc: "Overrides `pipeline.ecs_compatibility` for this plugin.")
    var ecsCompatibility: ECSCompatibility? = nil
    public init() {}
}

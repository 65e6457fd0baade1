import SluiceCore

/// Makes copies of each event (Logstash's `clone` filter, 4.2.x).
///
/// Each name in `clones` gives one copy: with ECS compatibility disabled the copy's `type` is set to the name, with
/// ECS enabled the name is added to the copy's `tags` instead. The original event goes on unchanged and undecorated;
/// the copies follow it.
public final class CloneFilter: Filter {
    public static let name = "clone"
    public static let summary = "Duplicates events, one copy per configured name."

    public struct Settings: PluginSettings {
        @Setting("clones", doc: "One copy is made per name; the name becomes the copy's `type` (ECS disabled) or a tag (ECS enabled).")
        var clones: [String] = []
        public init() {}
    }

    let clones: [String]
    let ecs: Bool

    public init(settings: Settings, context: PluginContext) throws {
        clones = settings.clones
        ecs = context.ecsCompatibility.isEnabled
        if clones.isEmpty {
            context.logger.warn("The parameter 'clones' is empty, so no clones will be created.")
        }
    }

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            for name in clones {
                let copy = Event(copying: event)
                if ecs { copy.tag(name) } else { copy.fields["type"] = .string(name) }
                batch.emit(copy, from: i)
            }
        }
    }
}

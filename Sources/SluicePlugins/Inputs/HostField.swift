import SluiceCore

/// The host-name field an input adds to its events: `host` in legacy mode, `[host][<key>]` in ECS mode.
///
/// The value for an event without any `host` is built once and shared by every event (copy-on-write), so that the
/// common case costs no allocation per event.
struct HostField: Sendable {
    let reference: FieldReference
    private let wholeHost: Value

    /// `ecsKey` is the key under `[host]` in ECS mode (`hostname` for stdin, `name` for the generator).
    init(ecs: Bool, ecsKey: String) {
        let name = Value.string(System.hostname)
        if ecs {
            reference = FieldReference(path: ["host", ecsKey])
            var host = Object(minimumCapacity: 1)
            host[ecsKey] = name
            wholeHost = .object(host)
        } else {
            reference = FieldReference("host")
            wholeHost = name
        }
    }

    /// Adds the host name unless the event already has a value there.
    func addIfAbsent(to event: Event) {
        if event.fields.addIfAbsent("host", wholeHost) { return }
        if event.get(reference) == nil {
            event.set(reference, .string(System.hostname))
        }
    }

    /// Sets the host name, replacing any value there.
    func set(on event: Event) {
        if event.fields["host"] == nil {
            event.fields["host"] = wholeHost
        } else {
            event.set(reference, .string(System.hostname))
        }
    }
}

extension FieldReference {
    /// The field an input writes under its legacy name, or under its ECS name when ECS compatibility is on; built
    /// once at start-up.
    static func named(ecs: Bool, legacy: String, ecsName: String) -> FieldReference {
        FieldReference(ecs ? ecsName : legacy)
    }
}

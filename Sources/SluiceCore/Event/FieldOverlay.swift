/// The same fields set on many events — what an input adds to every event of one request, window or connection —
/// prepared once so that each event takes them in one step per top-level field.
///
/// Applying it gives exactly what `Event.set` would for each `(field, value)` in order: a top-level field the
/// event does not have yet receives the whole subtree built beforehand (one lookup, one retain); one it has already
/// gets the sets one by one. Built on whichever thread makes the events (an event loop, an input's thread) and used
/// there; immutable, so it may be shared.
public struct FieldOverlay: Sendable {
    /// One top-level key of the fields or the metadata: its prepared subtree and the sets it stands for.
    struct Group: Sendable {
        let key: String
        let isMetadata: Bool
        let subtree: Value
        let sets: [(field: FieldReference, value: Value)]
    }

    let groups: [Group]
    /// How many top-level metadata keys the overlay sets.
    let metadataGroups: Int
    /// Whether each field is set only where the event has no value yet.
    let onlyWhereAbsent: Bool

    /// `sets` in order; a set that `Event.set` would refuse (a path through a scalar set earlier) is refused the
    /// same way. With `onlyWhereAbsent`, a field the event already has keeps its value. `@timestamp` is not
    /// supported (its string conversion belongs to `Event.set`).
    public init(_ sets: [(field: FieldReference, value: Value)], onlyWhereAbsent: Bool = false) {
        self.onlyWhereAbsent = onlyWhereAbsent
        var order: [(key: String, isMetadata: Bool)] = []
        var byKey: [String: [(field: FieldReference, value: Value)]] = [:]
        for set in sets {
            guard let first = set.field.path.first else { continue }
            precondition(set.field.isMetadata || set.field.path != ["@timestamp"], "FieldOverlay cannot set @timestamp")
            let id = (set.field.isMetadata ? "m" : "f") + first
            if byKey[id] == nil { order.append((first, set.field.isMetadata)) }
            byKey[id, default: []].append(set)
        }
        groups = order.map { key, isMetadata in
            let groupSets = byKey[(isMetadata ? "m" : "f") + key]!
            let scratch = Event()
            scratch.fields = Object()
            for set in groupSets { scratch.set(set.field, set.value) }
            let subtree = (isMetadata ? scratch.metadata[key] : scratch.fields[key]) ?? .null
            return Group(key: key, isMetadata: isMetadata, subtree: subtree, sets: groupSets)
        }
        metadataGroups = groups.count { $0.isMetadata }
    }

    /// Sets the overlay's fields on `event`.
    public func apply(to event: Event) {
        // Metadata usually starts empty: give it its final size at once instead of growing it key by key.
        if metadataGroups > 1 && event.metadata.isEmpty { event.metadata = Object(minimumCapacity: metadataGroups) }
        for group in groups {
            let absent = group.isMetadata ? event.metadata[group.key] == nil : event.fields[group.key] == nil
            if absent && group.subtree != .null {
                if group.isMetadata { event.metadata[group.key] = group.subtree } else { event.fields[group.key] = group.subtree }
            } else {
                for set in group.sets where !onlyWhereAbsent || event.get(set.field) == nil { event.set(set.field, set.value) }
            }
        }
    }
}

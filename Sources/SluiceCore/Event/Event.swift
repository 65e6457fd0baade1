/// One log event: fields, metadata and a cancelled flag, mutated in place as it moves through a pipeline.
///
/// A reference type, so that a batch can be passed through filters without copies; each event is owned by one
/// worker at a time, which is why it is `@unchecked Sendable`.
public final class Event: @unchecked Sendable {
    /// The event's fields (`@timestamp` included), as written by outputs.
    public var fields: Object
    /// `@metadata`: readable by conditions and sprintf, never written by codecs.
    public var metadata: Object
    /// Set by `drop`, by a failed condition or after a DLQ write: the event leaves the pipeline.
    public var cancelled = false
    /// Read again from the persisted queue after a restart: it may have been through the pipeline before the crash
    /// (the DLQ writes no second entry for it). Set by the persisted queue only.
    public internal(set) var redelivered = false
    /// Position within the batch being processed, used to keep order across conditional branches.
    public var ordinal = 0
    /// Orders events created from the same batch event (split pieces, clones) after it.
    public var subOrdinal = 0
    /// What the outputs made of the event in the batch being processed; the worker accounts for it and decides
    /// whether the batch can be acknowledged. Set by the runtime only.
    public internal(set) var fate = EventFate.delivered
    /// The input push this event belongs to, when its input waits to acknowledge its source (memory queue only).
    var acknowledgement: InputAcknowledgement?
    /// Lines still to decode, when this is a queue entry standing for them (`Event(carrying:)`).
    var undecoded: UndecodedLines?

    /// Room for the top-level fields of a typical parsed event (codec fields plus a grok pattern's captures), so
    /// that filters adding fields do not regrow the key and value arrays.
    public static let initialCapacity = 16

    /// A new event with `@timestamp` = now and `@version` = "1", as Logstash's `Event.new`.
    public convenience init() {
        self.init(timestamp: Timestamp.now())
    }

    /// An event with no field at all, not even `@timestamp`: the shell of a queue entry.
    init(emptyFields: ()) {
        fields = Object()
        metadata = Object()
    }

    /// An event with `@timestamp` = `timestamp` and `@version` = "1".
    public init(timestamp: Timestamp) {
        fields = Object(minimumCapacity: Event.initialCapacity)
        fields.appendNew("@timestamp", .timestamp(timestamp))
        fields.appendNew("@version", "1")
        metadata = Object()
    }

    /// An event built from a decoded map, as Logstash's `Event.new(hash)`: `@metadata` moves into the metadata,
    /// `@version` is added when absent, a string `@timestamp` is parsed (tag `_timestampparsefailure` on failure),
    /// and an invalid `tags` value moves to `_tags`.
    /// `now` is the time given to an event without `@timestamp` (the time its input received it; now by default).
    public init(fromMap map: Object, now: Timestamp? = nil) {
        fields = map
        metadata = Object()
        if let meta = fields.removeValue(forKey: "@metadata"), case .object(let m) = meta { metadata = m }
        normalizeTimestamp(now: now)
        fields.addIfAbsent("@version", "1")
        normalizeTags()
    }

    /// An exact copy (fields and metadata are values, so this is a deep copy).
    public init(copying other: Event) {
        fields = other.fields
        metadata = other.metadata
        cancelled = other.cancelled
        redelivered = other.redelivered
        ordinal = other.ordinal
        subOrdinal = other.subOrdinal
    }

    /// Whether the event came out of a dead letter queue (and must never be written to one again).
    public var isFromDeadLetterQueue: Bool { metadata["dead_letter_queue"] != nil }

    /// The event's `@timestamp`, if it holds a timestamp.
    public var timestamp: Timestamp? {
        if case .timestamp(let t)? = fields["@timestamp"] { return t }
        return nil
    }

    private func normalizeTimestamp(now: Timestamp?) {
        guard let ts = fields["@timestamp"] else {
            fields.appendNew("@timestamp", .timestamp(now ?? .now()))
            return
        }
        switch ts {
        case .timestamp: break
        case .string(let s):
            if let t = Timestamp.parseISO8601(s) {
                fields["@timestamp"] = .timestamp(t)
            } else {
                timestampParseFailed(original: ts)
            }
        case .int(let ms):
            fields["@timestamp"] = .timestamp(Timestamp(epochMilliseconds: Int64(ms)))
        default:
            timestampParseFailed(original: ts)
        }
    }

    private func timestampParseFailed(original: Value) {
        fields["@timestamp"] = .timestamp(.now())
        fields["_@timestamp"] = original
        tag("_timestampparsefailure")
    }

    private func normalizeTags() {
        guard let tags = fields["tags"] else { return }
        switch tags {
        case .string: return
        case .array(let a) where a.allSatisfy({ $0.stringValue != nil }): return
        default:
            fields.removeValue(forKey: "tags")
            fields["_tags"] = tags
            tag("_tagsparsefailure")
        }
    }

    // MARK: Field access

    /// The value at `ref`, or nil when absent.
    @inlinable public func get(_ ref: FieldReference) -> Value? {
        let path = ref.path
        if ref.isMetadata {
            if path.isEmpty { return metadata.isEmpty ? nil : .object(metadata) }
            return Event.lookup(metadata, path)
        }
        if path.isEmpty { return nil }
        return Event.lookup(fields, path)
    }

    @usableFromInline static func lookup(_ root: Object, _ path: [String]) -> Value? {
        guard var current = root[path[0]] else { return nil }
        var i = 1
        while i < path.count {
            switch current {
            case .object(let o):
                guard let next = o[path[i]] else { return nil }
                current = next
            case .array(let a):
                guard let idx = Int(path[i]) else { return nil }
                let j = idx < 0 ? a.count + idx : idx
                guard j >= 0 && j < a.count else { return nil }
                current = a[j]
            default:
                return nil
            }
            i += 1
        }
        return current
    }

    /// Whether a value (null included) exists at `ref`.
    @inlinable public func includes(_ ref: FieldReference) -> Bool { get(ref) != nil }

    /// Sets `value` at `ref`, creating intermediate objects. Returns false when an intermediate value is a scalar
    /// or the path is deeper than `FieldReference.maximumDepth` (a reference built with `init(path:)`).
    /// Setting `@timestamp` to a string parses it; to anything but a timestamp fails.
    @discardableResult
    public func set(_ ref: FieldReference, _ value: Value) -> Bool {
        let path = ref.path
        if path.count > FieldReference.maximumDepth { return false }  // the walk below recurses per level
        if ref.isMetadata {
            if path.isEmpty {
                guard case .object(let o) = value else { return false }
                metadata = o
                return true
            }
            return Event.update(&metadata, path, 0) { $0 = value }
        }
        if path.isEmpty { return false }
        if path.count == 1 && path[0] == "@timestamp" {
            switch value {
            case .timestamp: break
            case .string(let s):
                guard let t = Timestamp.parseISO8601(s) else { return false }
                fields["@timestamp"] = .timestamp(t)
                return true
            default: return false
            }
        }
        return Event.update(&fields, path, 0) { $0 = value }
    }

    /// Changes the value at `ref` in place with a single walk of its path: `body` receives the current value
    /// (`.null` when absent) and may replace it; an absent field is created with what `body` leaves there. Missing
    /// intermediate objects are created. Returns false, changing nothing, when the path runs through a scalar.
    /// Unlike `set`, no `@timestamp` conversion applies.
    @discardableResult
    public func update(_ ref: FieldReference, _ body: (inout Value) -> Void) -> Bool {
        let path = ref.path
        if path.isEmpty || path.count > FieldReference.maximumDepth { return false }
        if ref.isMetadata { return Event.update(&metadata, path, 0, body) }
        return Event.update(&fields, path, 0, body)
    }

    static func update(_ obj: inout Object, _ path: [String], _ i: Int, _ body: (inout Value) -> Void) -> Bool {
        if i == path.count - 1 {
            obj.withValue(forKey: path[i], default: .null, body)
            return true
        }
        // An existing scalar on the path makes the inner call fail without changing it.
        return obj.withValue(forKey: path[i], default: .object(Object(minimumCapacity: Object.nestedCapacity))) { child in
            update(&child, path, i + 1, body)
        }
    }

    static func update(_ v: inout Value, _ path: [String], _ i: Int, _ body: (inout Value) -> Void) -> Bool {
        // Containers are moved out of `v` before they change, so that they are uniquely referenced and change in
        // place (a `switch` binding would hold a second reference and make every nested write copy the object).
        if case .object = v {
            var o = v.takeObject()
            let ok = update(&o, path, i, body)
            v = .object(o)
            return ok
        }
        if case .array = v {
            guard let idx = Int(path[i]) else { return false }
            var a = v.takeArray()
            defer { v = .array(a) }
            let j = idx < 0 ? a.count + idx : idx
            guard j >= 0 && j < a.count else { return false }
            if i == path.count - 1 {
                body(&a[j])
                return true
            }
            return update(&a[j], path, i + 1, body)
        }
        guard case .null = v else { return false }
        var o = Object(minimumCapacity: Object.nestedCapacity)
        let ok = update(&o, path, i, body)
        v = .object(o)
        return ok
    }

    /// Removes the value at `ref`, returning it.
    @discardableResult
    public func remove(_ ref: FieldReference) -> Value? {
        let path = ref.path
        if path.count > FieldReference.maximumDepth { return nil }  // the walk below recurses per level
        if ref.isMetadata {
            if path.isEmpty {
                let old = metadata
                metadata = Object()
                return old.isEmpty ? nil : .object(old)
            }
            return Event.remove(&metadata, path, 0)
        }
        if path.isEmpty { return nil }
        return Event.remove(&fields, path, 0)
    }

    static func remove(_ obj: inout Object, _ path: [String], _ i: Int) -> Value? {
        if i == path.count - 1 { return obj.removeValue(forKey: path[i]) }
        let removed: Value?? = obj.withExistingValue(forKey: path[i]) { child -> Value? in
            if case .object = child {
                var o = child.takeObject()
                defer { child = .object(o) }
                return remove(&o, path, i + 1)
            }
            guard case .array = child, let idx = Int(path[i + 1]) else { return nil }
            var a = child.takeArray()
            defer { child = .array(a) }
            let j = idx < 0 ? a.count + idx : idx
            guard j >= 0 && j < a.count else { return nil }
            if i + 1 == path.count - 1 { return a.remove(at: j) }
            guard case .object = a[j], i + 2 < path.count else { return nil }
            var inner = a[j].takeObject()
            defer { a[j] = .object(inner) }
            return remove(&inner, path, i + 2)
        }
        return removed ?? nil
    }

    // MARK: Tags

    /// Adds `tag` to `tags` unless present (Logstash's `event.tag`, used for failure tags).
    public func tag(_ tag: String) {
        switch fields["tags"] {
        case nil, .null?:
            fields["tags"] = .array([.string(tag)])
        case .string(let s)?:
            if s != tag { fields["tags"] = .array([.string(s), .string(tag)]) }
        case .array(let a)?:
            if !a.contains(.string(tag)) {
                fields.withExistingValue(forKey: "tags") { v in
                    guard case .array = v else { return }
                    var arr = v.takeArray()
                    arr.append(.string(tag))
                    v = .array(arr)
                }
            }
        default:
            fields["tags"] = .array([.string(tag)])
        }
    }

    /// The event as a hash without metadata (Logstash's `to_hash`).
    public var toMap: Object { fields }
}

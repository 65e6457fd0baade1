/// One dead letter queue entry: the event as it was when it failed, which plugin failed it, why, and when
/// (`DLQ-FORMAT.md` §4). What the writer stores and the reader returns.
public struct DeadLetterQueueEntry: Sendable {
    /// Wall-clock time the entry was made (not the event's `@timestamp`).
    public var entryTime: Timestamp
    /// The event, fields and `@metadata`.
    public var event: Event
    /// The failing plugin's config name (`elasticsearch`), or `if-statement` for condition errors.
    public var pluginType: String
    /// The failing plugin's id.
    public var pluginID: String
    /// Free-text reason.
    public var reason: String
    /// True when the entry was read with fields 3 and 4 swapped (the pre-8.8 order, §4 pitfall).
    public var pluginFieldsSwapped: Bool

    public init(entryTime: Timestamp, event: Event, pluginType: String, pluginID: String, reason: String,
                pluginFieldsSwapped: Bool = false) {
        self.entryTime = entryTime
        self.event = event
        self.pluginType = pluginType
        self.pluginID = pluginID
        self.reason = reason
        self.pluginFieldsSwapped = pluginFieldsSwapped
    }

    /// The event as the `dead_letter_queue` input emits it: a copy whose `[@metadata][dead_letter_queue]` holds
    /// `plugin_type`, `plugin_id`, `reason` and `entry_time` (§6.6). Such an event is never written to a DLQ again.
    public func eventForReplay() -> Event {
        let copy = Event(copying: event)
        var info = Object(minimumCapacity: 4)
        info["plugin_type"] = .string(pluginType)
        info["plugin_id"] = .string(pluginID)
        info["reason"] = .string(reason)
        info["entry_time"] = .timestamp(entryTime)
        copy.metadata["dead_letter_queue"] = .object(info)
        return copy
    }
}

/// The order of entry fields 3 and 4 when reading (§4 pitfall: the bytes cannot tell).
public enum PluginFieldOrder: Sendable {
    /// Swap when field 4 looks like a plugin type and field 3 like an id (see `DLQEntryCodec.looksSwapped`).
    case automatic
    /// Logstash 8.8+ order: plugin_type, then plugin_id.
    case typeThenID
    /// Pre-8.8 order of Ruby plugins: plugin_id, then plugin_type.
    case idThenType
}

/// Why an entry's bytes are not a valid entry.
public struct DLQEntryDecodingError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Serializes and parses the five length-prefixed fields of an entry (§4).
enum DLQEntryCodec {
    /// Ruby plugins that wrote to the DLQ before 8.8 (with fields 3 and 4 swapped).
    static let rubyDLQPluginTypes: Set<String> = [
        "elasticsearch", "opensearch", "amazon_es", "http", "google_bigquery", "elastic_app_search",
        "elastic_workplace_search",
    ]

    /// Appends the entry bytes to `out` (reusing its capacity).
    static func encode(
        event: Event, pluginType: String, pluginID: String, reason: String, entryTime: Timestamp,
        options: CBOREventCodec.EncodingOptions, appendingTo out: inout [UInt8]
    ) {
        BigEndian.append(UInt32(LogstashTimestampText.byteCount(entryTime)), to: &out)
        LogstashTimestampText.append(entryTime, to: &out)
        let eventLengthAt = out.count
        BigEndian.append(UInt32(0), to: &out)
        CBOREventCodec.encode(event, options: options, appendingTo: &out)
        BigEndian.store(UInt32(out.count - eventLengthAt - 4), in: &out, at: eventLengthAt)
        appendField(pluginType, to: &out)
        appendField(pluginID, to: &out)
        appendField(reason, to: &out)
    }

    private static func appendField(_ s: String, to out: inout [UInt8]) {
        BigEndian.append(UInt32(s.utf8.count), to: &out)
        out.append(contentsOf: s.utf8)
    }

    /// Parses an entry; the event's CBOR is decoded too unless `decodeEvent` is false (then the event is empty).
    static func decode(_ bytes: [UInt8], range: Range<Int>, order: PluginFieldOrder = .automatic,
                       decodeEvent: Bool = true) throws(DLQEntryDecodingError) -> DeadLetterQueueEntry {
        var cursor = range.lowerBound
        let timeField = try field(bytes, &cursor, range, "entry_time")
        let eventField = try field(bytes, &cursor, range, "event")
        let third = String(decoding: bytes[try field(bytes, &cursor, range, "plugin_type")], as: UTF8.self)
        let fourth = String(decoding: bytes[try field(bytes, &cursor, range, "plugin_id")], as: UTF8.self)
        let reason = String(decoding: bytes[try field(bytes, &cursor, range, "reason")], as: UTF8.self)
        guard let entryTime = Timestamp.parseISO8601(utf8: Array(bytes[timeField])) else {
            let timeText = String(decoding: bytes[timeField], as: UTF8.self)
            throw DLQEntryDecodingError(message: "invalid entry_time \"\(timeText.prefix(40))\"")
        }
        let event: Event
        do {
            event = decodeEvent ? try CBOREventCodec.decode(bytes, range: eventField) : Event(timestamp: entryTime)
        } catch {
            throw DLQEntryDecodingError(message: "invalid event: \(error)")
        }
        let swapped = isSwapped(third: third, fourth: fourth, order: order)
        return DeadLetterQueueEntry(entryTime: entryTime, event: event, pluginType: swapped ? fourth : third,
                                    pluginID: swapped ? third : fourth, reason: reason, pluginFieldsSwapped: swapped)
    }

    /// Only the entry time (field 1), for searches and retention.
    static func entryTime(_ bytes: [UInt8], range: Range<Int>) -> Timestamp? {
        var cursor = range.lowerBound
        guard let timeField = try? field(bytes, &cursor, range, "entry_time") else { return nil }
        return Timestamp.parseISO8601(String(decoding: bytes[timeField], as: UTF8.self))
    }

    private static func field(_ bytes: [UInt8], _ cursor: inout Int, _ range: Range<Int>,
                              _ name: String) throws(DLQEntryDecodingError) -> Range<Int> {
        guard range.upperBound - cursor >= 4 else { throw DLQEntryDecodingError(message: "entry ends before \(name)") }
        let length = BigEndian.int32(bytes, at: cursor)
        cursor += 4
        guard length >= 0 && length <= range.upperBound - cursor else {
            throw DLQEntryDecodingError(message: "invalid \(name) length \(length)")
        }
        defer { cursor += length }
        return cursor..<(cursor + length)
    }

    static func isSwapped(third: String, fourth: String, order: PluginFieldOrder) -> Bool {
        switch order {
        case .typeThenID: return false
        case .idThenType: return true
        case .automatic: return looksSwapped(third: third, fourth: fourth)
        }
    }

    /// The heuristic for `.automatic`: field 4 is a Ruby plugin that wrote DLQ entries before 8.8 while field 3 is
    /// not, or field 3 is a Logstash-generated id (32+ hex digits, as the 2022 fixture's SHA-256) while field 4 is not.
    static func looksSwapped(third: String, fourth: String) -> Bool {
        if rubyDLQPluginTypes.contains(fourth) && !rubyDLQPluginTypes.contains(third) { return true }
        return looksGenerated(third) && !looksGenerated(fourth) && !rubyDLQPluginTypes.contains(third)
    }

    private static func looksGenerated(_ id: String) -> Bool {
        var hexDigits = 0
        for c in id.utf8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): hexDigits += 1
            case UInt8(ascii: "-"), UInt8(ascii: "_"): continue
            default: return false
            }
        }
        return hexDigits >= 32
    }
}

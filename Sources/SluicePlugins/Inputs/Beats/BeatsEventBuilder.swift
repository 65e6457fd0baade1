import SluiceCore

/// Turns one beats message (the JSON object, or v1's key/value pairs) into events as Logstash's beats input does:
/// a message with `message` (or v1 `line`) goes through the connection's codec and the beat's other keys are set
/// on each decoded event (a hash merges shallowly into one the codec made, the beat's keys winning); any other
/// message becomes an event as it is. Then the sender's address, TLS facts, decorations and the codec tag.
/// Shared by every connection; called on event loops.
struct BeatsEventBuilder: Sendable {
    let context: PluginContext
    let ecs: Bool
    let sourceMetadata: Bool
    let peerMetadata: Bool
    let codecTag: String?
    let rawTag: String?
    let addHostname: Bool
    /// Without codec metadata, the default plain codec sets no [event][original] (Logstash swaps in a plain codec
    /// with ECS disabled).
    let plainWithoutOriginal: Bool
    /// Where the sender's address, the `add_hostname` copy and the TLS facts go (legacy or ECS names).
    let sourceIPField, hostNameField, peerStatusField, peerSubjectField, peerProtocolField: FieldReference
    static let beatHostname = FieldReference("[beat][hostname]")

    init(settings: BeatsInput.Settings, context: PluginContext) {
        self.context = context
        ecs = context.ecsCompatibility.isEnabled
        sourceMetadata = settings.enriches(.sourceMetadata)
        peerMetadata = settings.enriches(.sslPeerMetadata)
        let tags = settings.enriches(.codecMetadata) && settings.includeCodecTag
        let codecName = context.codec.map { type(of: $0).name } ?? "plain"
        codecTag = tags ? "beats_input_codec_\(codecName)_applied" : nil
        rawTag = tags ? "beats_input_raw_event" : nil
        addHostname = settings.addHostname
        plainWithoutOriginal = !settings.enriches(.codecMetadata) && codecName == "plain"
        let ecs = self.ecs
        let pick = { FieldReference.named(ecs: ecs, legacy: $0, ecsName: $1) }
        sourceIPField = pick("[@metadata][ip_address]", "[@metadata][input][beats][host][ip]")
        hostNameField = pick("host", "[host][name]")
        peerStatusField = FieldReference("[@metadata][tls_peer][status]")
        peerSubjectField = pick("[@metadata][tls_peer][subject]", "[@metadata][input][beats][tls][client][subject]")
        peerProtocolField = pick("[@metadata][tls_peer][protocol]", "[@metadata][input][beats][tls][version_protocol]")
    }

    func makeCodec() throws -> any Codec {
        if plainWithoutOriginal {
            return try PlainCodec(settings: PlainCodec.Settings(), context: .standalone(name: "plain", kind: .codec, ecs: .disabled))
        }
        return try context.makeCodec()
    }

    func events(from message: Object, codec: any Codec, peerIP: String, peer: BeatsPeer?, into events: inout [Event]) {
        var map = message
        let line = map["message"].flatMap { $0 == .null ? nil : $0 } != nil ? "message" : (map["line"].flatMap { $0 == .null ? nil : $0 } != nil ? "line" : nil)
        guard let line, let text = map.removeValue(forKey: line) else {
            let event = Event(fromMap: map)
            finish(event, peerIP, peer, tag: rawTag)
            events.append(event)
            return
        }
        let timestamp = map.removeValue(forKey: "@timestamp")
        codec.decode(Self.text(text)) { event in
            if let timestamp { setTimestamp(event, timestamp) }
            for (key, value) in map { merge(event, key, value) }
            finish(event, peerIP, peer, tag: codecTag)
            events.append(event)
        }
    }

    /// The message as the codec's input: a string as is, anything else as its JSON.
    private static func text(_ value: Value) -> String {
        if case .string(let s) = value { return s }
        return JSONWriter.string(value)
    }

    /// `LogStash::Timestamp.coerce`: a parsable string or a timestamp replaces the event's; anything else is
    /// logged and the current time kept (no tag).
    private func setTimestamp(_ event: Event, _ value: Value) {
        switch value {
        case .timestamp: event.fields["@timestamp"] = value
        case .string(let s) where Timestamp.parseISO8601(s) != nil: event.fields["@timestamp"] = .timestamp(Timestamp.parseISO8601(s)!)
        default: context.logger.warn("Unrecognized @timestamp value \(JSONWriter.string(value)), setting current time to @timestamp")
        }
    }

    /// `event.set(k, v)`, merging into a hash that is already there (`@metadata` into the metadata).
    private func merge(_ event: Event, _ key: String, _ value: Value) {
        if key == "@metadata" {
            if case .object(let incoming) = value { for (k, v) in incoming { event.metadata[k] = v } }
            return
        }
        if case .object(var existing)? = event.fields[key], case .object(let incoming) = value {
            for (k, v) in incoming { existing[k] = v }
            event.fields[key] = .object(existing)
        } else {
            event.fields[key] = value
        }
    }

    private func finish(_ event: Event, _ peerIP: String, _ peer: BeatsPeer?, tag: String?) {
        if sourceMetadata { event.set(sourceIPField, .string(peerIP)) }
        if peerMetadata, let peer { setPeer(event, peer) }
        if addHostname, event.fields["host"] == nil, let name = event.get(Self.beatHostname) { event.set(hostNameField, name) }
        context.decorate(event)
        if let tag { event.tag(tag) }
    }

    private func setPeer(_ event: Event, _ peer: BeatsPeer) {
        event.set(peerStatusField, .string(peer.verified ? "verified" : "unverified"))
        guard peer.verified else { return }
        if let subject = peer.subject { event.set(peerSubjectField, .string(subject)) }
        if let tlsProtocol = peer.tlsProtocol { event.set(peerProtocolField, .string(tlsProtocol)) }
    }
}

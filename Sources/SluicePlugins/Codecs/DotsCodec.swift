import SluiceCore

/// Writes one `.` per event, for watching throughput (Logstash's `dots` codec).
public final class DotsCodec: Codec {
    public static let name = "dots"
    public static let summary = "Writes a single dot per event."

    public struct Settings: PluginSettings {
        public init() {}
    }

    public init(settings: Settings, context: PluginContext) throws {}

    public func encode(_ event: Event, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "."))
    }
}

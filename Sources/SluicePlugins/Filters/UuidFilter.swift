import SluiceCore

/// Adds a random UUID (version 4, lowercase) to each event (Logstash's `uuid` filter, 3.0.x).
///
/// Without `overwrite` an existing value in `target` is kept. Decorations apply to every event.
public final class UuidFilter: Filter {
    public static let name = "uuid"
    public static let summary = "Adds a random version 4 UUID to each event."

    public struct Settings: PluginSettings {
        @Setting("target", doc: "The field that receives the UUID.", required: true)
        var target = FieldReference("uuid")
        @Setting("overwrite", doc: "Replaces an existing value in `target`; when false, events that already have it keep it.")
        var overwrite = false
        public init() {}
    }

    let target: FieldReference
    let overwrite: Bool

    public init(settings: Settings, context: PluginContext) throws {
        target = settings.target
        overwrite = settings.overwrite
    }

    public func filter(_ batch: inout FilterBatch) {
        var generator = SystemRandomNumberGenerator()
        for (i, event) in batch.events.enumerated() {
            if overwrite || !event.includes(target) {
                event.set(target, .string(UuidFilter.randomUUID(using: &generator)))
            }
            batch.matched[i] = true
        }
    }

    /// A random RFC 4122 version 4 UUID in lowercase hex, as Ruby's `SecureRandom.uuid`.
    static func randomUUID(using generator: inout some RandomNumberGenerator) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let high = generator.next() as UInt64, low = generator.next() as UInt64
        for k in 0..<8 {
            bytes[k] = UInt8(truncatingIfNeeded: high >> (8 * UInt64(k)))
            bytes[8 + k] = UInt8(truncatingIfNeeded: low >> (8 * UInt64(k)))
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (k, b) in bytes.enumerated() {
            if k == 4 || k == 6 || k == 8 || k == 10 { out.append(UInt8(ascii: "-")) }
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

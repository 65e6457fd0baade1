import SluiceCore

/// Computes a consistent hash of one or more fields (Logstash's `fingerprint` filter, 3.4.x).
///
/// Values are hashed as Ruby's `to_s` prints them, with hash keys sorted at every level (`{"a"=>1, "b"=>[1, "x"]}`).
/// With `concatenate_sources` the input is `|name|value|name|value|` over the sorted source names; with
/// `concatenate_all_fields` it is the same over every field of the event (metadata excluded). A list source gives a
/// list of fingerprints. `MURMUR3` gives an integer, the other methods strings.
public final class FingerprintFilter: Filter {
    public static let name = "fingerprint"
    public static let summary = "Computes consistent hashes (fingerprints) of event fields."

    /// The fingerprint methods, with Logstash's names.
    enum Method: String, SettingEnum {
        case sha1 = "SHA1", sha256 = "SHA256", sha384 = "SHA384", sha512 = "SHA512", md5 = "MD5"
        case murmur3 = "MURMUR3", murmur3_128 = "MURMUR3_128", ipv4Network = "IPV4_NETWORK", uuid = "UUID"
        case punctuation = "PUNCTUATION"

        var digest: Digest? {
            switch self {
            case .sha1: return .sha1
            case .sha256: return .sha256
            case .sha384: return .sha384
            case .sha512: return .sha512
            case .md5: return .md5
            default: return nil
            }
        }
    }

    public struct Settings: PluginSettings {
        @Setting("source", doc: "The fields to fingerprint.")
        var source = ["message"]
        @Setting("target", doc: "The field that receives the fingerprint; defaults to `fingerprint`, or `[event][hash]` with ECS compatibility.")
        var target: FieldReference? = nil
        @Setting("key", doc: "With a digest method: the HMAC key. With `IPV4_NETWORK`: the prefix length to keep.")
        var key: String? = nil
        @Setting("base64encode", doc: "Encodes digests (and MURMUR3_128) in Base64 instead of hex.")
        var base64encode = false
        @Setting("method", doc: "How to fingerprint: SHA1, SHA256, SHA384, SHA512, MD5, MURMUR3, MURMUR3_128, IPV4_NETWORK (network address, needs `key`), UUID (random), PUNCTUATION (keeps only punctuation and symbols).")
        var method = Method.sha1
        @Setting("concatenate_sources", doc: "Fingerprints `|name|value|…|` over all `source` fields (sorted by name) instead of each field alone.")
        var concatenateSources = false
        @Setting("concatenate_all_fields", doc: "Fingerprints `|name|value|…|` over all the event's fields (sorted by name).")
        var concatenateAllFields = false
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if method == .ipv4Network && key == nil {
                throw SettingsValidationError("Key value is empty. please fill in a subnet prefix length", setting: "method")
            }
        }
    }

    let sources: [String]
    /// `source` in Ruby's sort order, each name with its reference (nil for a name that is not a valid one).
    let sortedSources: [(name: String, ref: FieldReference?)]
    let sourceRefs: [(name: String, ref: FieldReference)]
    let target: FieldReference
    let key: [UInt8]?
    let prefixLength: Int
    let base64: Bool
    let method: Method
    let concatenateSources: Bool
    let concatenateAllFields: Bool
    let logger: Logger

    public init(settings: Settings, context: PluginContext) throws {
        sources = settings.source
        sortedSources = settings.source.sorted(by: FingerprintFilter.rubyLess).map { ($0, try? FieldReference(parsing: $0)) }
        sourceRefs = settings.source.compactMap { name in (try? FieldReference(parsing: name)).map { (name, $0) } }
        target = settings.target ?? FieldReference(context.ecsCompatibility.isEnabled ? "[event][hash]" : "fingerprint")
        key = settings.key.map { Array($0.utf8) }
        prefixLength = settings.key.map { Ruby.toI($0) } ?? 0
        base64 = settings.base64encode
        method = settings.method
        concatenateSources = settings.concatenateSources
        concatenateAllFields = settings.concatenateAllFields
        logger = context.logger
    }

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            apply(event)
            batch.matched[i] = true
        }
    }

    func apply(_ event: Event) {
        switch method {
        case .uuid:
            var generator = SystemRandomNumberGenerator()
            event.set(target, .string(UuidFilter.randomUUID(using: &generator)))
        case .punctuation:
            for (name, ref) in sortedSources {
                guard let ref, let value = event.get(ref) else { continue }
                guard case .string(let s) = value else {
                    logger.rateLimited(.warn, key: "punctuation", "fingerprint: PUNCTUATION needs a string, field [\(name)] holds a \(Ruby.className(value))")
                    continue
                }
                event.set(target, .string(FingerprintFilter.punctuation(s)))
            }
        default:
            if concatenateSources || concatenateAllFields {
                var text = ""
                if concatenateAllFields {
                    let fields = event.fields
                    for key in fields.orderedKeys.sorted(by: FingerprintFilter.rubyLess) {
                        text += "|\(key)|\(Ruby.toS(FingerprintFilter.sortedHashes(fields[key]!)))"
                    }
                } else {
                    for (name, ref) in sortedSources {
                        let value = ref.flatMap { event.get($0) } ?? .null
                        text += "|\(name)|\(Ruby.toS(FingerprintFilter.sortedHashes(value)))"
                    }
                }
                text += "|"
                if let result = fingerprint(.string(text)) { event.set(target, result) }
            } else {
                for (_, ref) in sourceRefs {
                    guard let value = event.get(ref) else { continue }
                    if case .array(let elements) = value {
                        event.set(target, .array(elements.map { fingerprint(FingerprintFilter.sortedHashes($0)) ?? .null }))
                    } else if let result = fingerprint(FingerprintFilter.sortedHashes(value)) {
                        event.set(target, result)
                    }
                }
            }
        }
    }

    /// The fingerprint of one (hash-sorted) value.
    func fingerprint(_ value: Value) -> Value? {
        switch method {
        case .murmur3:
            if case .int(let n) = value {
                return .int(Int(MurmurHash3.x86_32(MurmurHash3.littleEndian(n, bytes: 8))))
            }
            return .int(Int(MurmurHash3.x86_32(Array(Ruby.toS(value).utf8))))
        case .murmur3_128:
            let input: [UInt8]
            if case .int(let n) = value {
                input = MurmurHash3.littleEndian(n, bytes: Int32(exactly: n) != nil ? 4 : 8)
            } else {
                input = Array(Ruby.toS(value).utf8)
            }
            let (h1, h2) = MurmurHash3.x64_128(input, seed: 2)
            let bytes = MurmurHash3.littleEndian(Int(Int64(bitPattern: h1)), bytes: 8)
                + MurmurHash3.littleEndian(Int(Int64(bitPattern: h2)), bytes: 8)
            return .string(base64 ? Base64.encode(bytes) : Hex.lowercase(bytes))
        case .ipv4Network:
            let text = Ruby.toS(value)
            guard let network = IPNetwork(text) else {
                logger.rateLimited(.warn, key: "ip", "fingerprint: invalid IP address \(Ruby.inspect(string: text)), field left unchanged")
                return nil
            }
            let prefix = min(max(prefixLength, 0), network.bytes.count * 8)
            return .string(IPNetwork.format(IPNetwork.mask(network.bytes, prefix)))
        default:
            guard let digest = method.digest else { return nil }
            let data = Array(Ruby.toS(value).utf8)
            let bytes = key.map { digest.hmac(key: $0, data) } ?? digest.hash(data)
            return .string(base64 ? Base64.encode(bytes) : Hex.lowercase(bytes))
        }
    }

    /// Ruby's `deep_sort_hashes`: hash keys sorted at every level.
    static func sortedHashes(_ value: Value) -> Value {
        switch value {
        case .object(let o):
            var out = Object(minimumCapacity: o.count)
            for key in o.orderedKeys.sorted(by: rubyLess) { out[key] = sortedHashes(o[key]!) }
            return .object(out)
        case .array(let a):
            return .array(a.map(sortedHashes))
        default:
            return value
        }
    }

    /// Ruby's `String#<=>`: byte order.
    static func rubyLess(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// `gsub(/[^[\p{P}\p{S}]]/, '')`: keeps only punctuation and symbol characters.
    static func punctuation(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
                .finalPunctuation, .otherPunctuation, .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
                out.unicodeScalars.append(scalar)
            default:
                break
            }
        }
        return out
    }
}

extension IPNetwork {
    /// Ruby's `IPAddr#to_s`: dotted IPv4, or IPv6 with leading zeros dropped and the first longest run of two or
    /// more zero groups written `::` (IPv4-compatible and IPv4-mapped forms end in dotted IPv4).
    static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map { String($0) }.joined(separator: ".") }
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        var bestStart = -1, bestLength = 0, k = 0
        while k < 8 {
            if groups[k] == 0 {
                var end = k
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - k > bestLength && end - k >= 2 { bestStart = k; bestLength = end - k }
                k = end
            } else {
                k += 1
            }
        }
        if bestStart == 0 && (bestLength == 6 || (bestLength == 5 && groups[5] == 0xFFFF)) && groups[6] != 0 {
            let prefix = bestLength == 5 ? "::ffff:" : "::"
            return prefix + bytes[12...].map { String($0) }.joined(separator: ".")
        }
        let hex = groups.map { String($0, radix: 16) }
        if bestStart < 0 { return hex.joined(separator: ":") }
        return hex[..<bestStart].joined(separator: ":") + "::" + hex[(bestStart + bestLength)...].joined(separator: ":")
    }
}

import SluiceCore

/// Checks IP addresses against network blocks (Logstash's `cidr` filter, 3.1.x); the event matches (and is
/// decorated) when any address is inside any network. IPv4 and IPv6; invalid addresses and networks are skipped.
///
/// Networks come from `network` (sprintf'd per event, comma-separated lists allowed) or from the file at
/// `network_path`, re-read every `refresh_interval` seconds by one worker while the others keep using the previous
/// list.
public final class CidrFilter: Filter {
    public static let name = "cidr"
    public static let summary = "Matches events whose IP addresses fall inside given networks."

    public struct Settings: PluginSettings {
        @Setting("address", doc: "The IP addresses to check (sprintf templates such as `%{src_ip}`).", required: true)
        var address: [String] = []
        @Setting("network", doc: "The networks to check against (`192.0.2.0/24`, `fe80::/64`; sprintf templates; comma-separated lists allowed).")
        var network: [String] = []
        @Setting("network_path", doc: "A file listing the networks, one per `separator`; excludes `network`.")
        var networkPath: String? = nil
        @Setting("refresh_interval", doc: "Seconds between re-reads of `network_path`.")
        var refreshInterval = 600
        @Setting("separator", doc: "The separator between networks in `network_path`.")
        var separator = "\n"
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if networkPath != nil && !network.isEmpty {
                throw SettingsValidationError(
                    "The configuration options 'network' and 'network_path' are mutually exclusive", setting: "network_path")
            }
        }
    }

    /// A configured network: parsed at start-up when constant, else rendered and parsed per event.
    enum NetworkSource {
        case fixed([IPNetwork])
        case template(Template)
    }

    let addresses: [Template]
    let networks: [NetworkSource]
    let file: PeriodicFileReload<[IPNetwork]>?
    let logger: Logger

    public init(settings: Settings, context: PluginContext) throws {
        logger = context.logger
        addresses = settings.address.map(Template.init)
        var sources: [NetworkSource] = []
        for text in settings.network {
            let template = Template(text)
            if template.isConstant {
                sources.append(.fixed(CidrFilter.parseList(text, logger)))
            } else {
                sources.append(.template(template))
            }
        }
        networks = sources
        if let path = settings.networkPath {
            file = try NetworkFile.open(
                path: path, separator: settings.separator, refreshSeconds: settings.refreshInterval, logger: logger)
        } else {
            file = nil
        }
    }

    static func parseList(_ text: String, _ logger: Logger) -> [IPNetwork] {
        text.split(separator: ",", omittingEmptySubsequences: false).compactMap { part in
            let trimmed = Ruby.strip(String(part))
            guard let network = IPNetwork(trimmed) else {
                logger.rateLimited(.warn, key: "network", "Invalid IP network, skipping {:network=>\(Ruby.inspect(string: String(part)))}")
                return nil
            }
            return network
        }
    }

    public func filter(_ batch: inout FilterBatch) {
        let fileNetworks = file?.current()
        for (i, event) in batch.events.enumerated() {
            let candidates = addresses.compactMap { template -> IPNetwork? in
                let text = template.render(event)
                guard let address = IPNetwork(text) else {
                    logger.rateLimited(.warn, key: "address", "Invalid IP address, skipping {:address=>\(Ruby.inspect(string: template.source))}")
                    return nil
                }
                return address
            }
            if candidates.isEmpty { continue }
            var list: [IPNetwork] = fileNetworks ?? []
            for source in networks {
                switch source {
                case .fixed(let parsed): list += parsed
                case .template(let template): list += CidrFilter.parseList(template.render(event), logger)
                }
            }
            if candidates.contains(where: { address in list.contains { $0.contains(address) } }) {
                batch.matched[i] = true
            }
        }
    }
}

/// An IPv4 or IPv6 network (an address is a network of full length), as Ruby's `IPAddr`.
struct IPNetwork: Sendable, Equatable {
    /// 4 or 16 bytes, masked to the prefix.
    let bytes: [UInt8]
    let prefix: Int

    /// Parses `1.2.3.4`, `10.0.0.0/8`, `::1`, `[fe80::1]`, `fe80::/64`, `::ffff:1.2.3.4`, or a dotted IPv4 mask
    /// (`10.0.0.0/255.0.0.0`).
    init?(_ text: String) {
        var address = Substring(text)
        var prefixText: Substring? = nil
        if let slash = address.firstIndex(of: "/") {
            prefixText = address[address.index(after: slash)...]
            address = address[..<slash]
        }
        if address.hasPrefix("[") && address.hasSuffix("]") { address = address.dropFirst().dropLast() }
        guard let raw = IPNetwork.parseIPv4(address) ?? IPNetwork.parseIPv6(address) else { return nil }
        let bits = raw.count * 8
        var prefix = bits
        if let prefixText {
            if let n = Int(prefixText), prefixText.allSatisfy(\.isASCII), n >= 0, n <= bits {
                prefix = n
            } else if raw.count == 4, let mask = IPNetwork.parseIPv4(prefixText), let n = IPNetwork.prefixLength(mask) {
                prefix = n
            } else {
                return nil
            }
        }
        bytes = IPNetwork.mask(raw, prefix)
        self.prefix = prefix
    }

    /// Whether `other` (an address or network of the same family) lies entirely inside this network.
    func contains(_ other: IPNetwork) -> Bool {
        guard other.bytes.count == bytes.count, other.prefix >= prefix else { return false }
        return IPNetwork.mask(other.bytes, prefix) == bytes
    }

    static func mask(_ raw: [UInt8], _ prefix: Int) -> [UInt8] {
        var out = raw
        for k in 0..<out.count {
            let keep = max(0, min(8, prefix - 8 * k))
            out[k] &= keep == 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
        return out
    }

    static func prefixLength(_ mask: [UInt8]) -> Int? {
        var n = 0
        var ended = false
        for byte in mask {
            for bit in (0..<8).reversed() {
                if byte & (1 << bit) != 0 {
                    if ended { return nil }
                    n += 1
                } else {
                    ended = true
                }
            }
        }
        return n
    }

    static func parseIPv4(_ s: Substring) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                part.count == 1 || part.first != "0", let n = Int(part), n <= 255
            else { return nil }
            out.append(UInt8(n))
        }
        return out
    }

    static func parseIPv6(_ s: Substring) -> [UInt8]? {
        guard s.contains(":") else { return nil }
        var text = s
        var tail: [UInt8] = []
        // An embedded IPv4 address in the last 32 bits.
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard let v4 = parseIPv4(text[text.index(after: lastColon)...]) else { return nil }
            tail = v4
            text = text[...lastColon]
            if text.hasSuffix("::") == false { text = text.dropLast() }
            if text.isEmpty { return nil }
        }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            for g in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
                out.append(v)
            }
            return out
        }
        let wanted = (16 - tail.count) / 2
        var values: [UInt16]
        if halves.count == 2 {
            guard let head = groups(halves[0]), let rest = groups(halves[1]), head.count + rest.count < wanted else { return nil }
            values = head + [UInt16](repeating: 0, count: wanted - head.count - rest.count) + rest
        } else {
            guard let all = groups(halves[0]), all.count == wanted else { return nil }
            values = all
        }
        var out: [UInt8] = []
        for v in values { out += [UInt8(v >> 8), UInt8(v & 0xFF)] }
        return out + tail
    }
}

extension Substring {
    /// Splits on a separator string (used for IPv6 `::`).
    func components(separatedBy separator: String) -> [String] {
        String(self).split(separator: separator, omittingEmptySubsequences: false).map(String.init)
    }
}

/// The networks of `network_path`.
enum NetworkFile {
    /// Opens the file and reads it once; fails the config when the first read fails, as Logstash's register does.
    static func open(path: String, separator: String, refreshSeconds: Int, logger: Logger) throws -> PeriodicFileReload<[IPNetwork]> {
        guard let list = load(path, separator, logger) else {
            throw SettingsValidationError(
                "The file containing the network list is invalid, please check the separator character or permissions for the file.",
                setting: "network_path")
        }
        return PeriodicFileReload(initial: list, refreshSeconds: refreshSeconds) { previous in
            guard let loaded = load(path, separator, logger) else {
                logger.error("Error while opening/parsing the file")
                return previous
            }
            // An empty file keeps the previous list, as Logstash does.
            return loaded.isEmpty ? previous : loaded
        }
    }

    static func load(_ path: String, _ separator: String, _ logger: Logger) -> [IPNetwork]? {
        guard let bytes = FileSystem.readBytes(path) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        return SplitFilter.split(text, separator).compactMap { entry in
            if entry.isEmpty { return nil }
            guard let network = IPNetwork(entry) else {
                logger.rateLimited(.warn, key: "network", "Invalid IP network, skipping {:network=>\(Ruby.inspect(string: entry))}")
                return nil
            }
            return network
        }
    }
}

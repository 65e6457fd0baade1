#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Adds the geographical location (or AS) of an IP address from a MaxMind DB file (Logstash's `geoip` filter, 7.x).
///
/// `database` names any MMDB file — GeoLite2/GeoIP2 City, Country, ASN, ISP, Domain, Enterprise, Anonymous-IP, or
/// DB-IP's lite editions — read with Sluice's own MMDB reader (memory-mapped, shared by every geoip filter of the
/// process that names the same file). Without it a City lookup uses `$SLUICE_GEOIP_DATABASE` or the bundled, outdated
/// GeoLite2 City of 2019-12-24 with a start-up warning (`GeoipDefaultDatabase`); there is no bundled ASN database.
/// The kind of database (from its metadata) decides the fields; `fields` narrows them. Legacy field names go under `target` (default `geoip`); ECS names (`geo.*`, `as.*`,
/// `ip`) under `target`, which defaults to the parent of a `[…][ip]` source.
///
/// As in Logstash: a missing, null or blank source adds the failure tags only; an address that is invalid, not in
/// the database, or whose City record has no coordinates also sets `target` to `{}`. A source that is neither a
/// string nor a list (Logstash raises) is tagged too. Each of these is a failure for `on_error => "dlq"`.
public final class GeoipFilter: Filter {
    public static let name = "geoip"
    public static let summary = "Adds geographical or AS information about an IP address from a MaxMind DB file."

    enum DatabaseType: String, SettingEnum {
        case City, ASN
    }

    public struct Settings: PluginSettings {
        @Setting("source", doc: "The field holding the IP address or hostname (the first element when it is a list).", required: true)
        var source = FieldReference("message")
        @Setting("target", doc: "The field that receives the data; `geoip` with ECS disabled, else the parent of a `[…][ip]` source (required otherwise).")
        var target: String? = nil
        @Setting("database", doc: "The MaxMind DB (.mmdb) file: GeoLite2/GeoIP2 City, Country, ASN, ISP, Domain, Enterprise, Anonymous-IP, or DB-IP lite. Unset: `$SLUICE_GEOIP_DATABASE`, else the bundled GeoLite2 City of 2019-12-24 (outdated; `make deps` installs it).")
        var database: String? = nil
        @Setting("default_database_type", doc: "Which of Logstash's bundled databases (City or ASN) to use without `database`; Sluice bundles the City one only (an outdated GeoLite2 City), so ASN needs `database`.")
        var defaultDatabaseType = DatabaseType.City
        @Setting("fields", doc: "The fields to write (e.g. `city_name`, `location`, `autonomous_system_number`); all of the database's by default.")
        var fields: [String]? = nil
        @Setting("cache_size", doc: "How many decoded database records are cached (no eviction: once full, further records are decoded each time, as Logstash's cache).")
        var cacheSize = 1000
        @Setting("tag_on_failure", doc: "Tags added when the lookup fails.")
        var tagOnFailure = ["_geoip_lookup_failure"]
        public init() {}
    }

    /// Where ECS expects `geo` fields (Logstash warns about other targets).
    static let ecsTargets: Set<String> = ["client", "destination", "host", "observer", "server", "source"]

    public static let canFail = true

    let source: FieldReference
    let target: FieldReference
    let database: MaxMindDB
    let kind: GeoipDatabaseKind
    let fields: Set<GeoipField>
    /// Each written field's reference (`target` + its legacy or ECS path), resolved once; ECS-incompatible fields
    /// have none and are skipped.
    let references: [GeoipField: FieldReference]
    /// The same fields' paths under `target`.
    let relativePaths: [GeoipField: [String]]
    let tagOnFailure: [String]
    let cache: RecordCache
    let logger: Logger

    public init(settings: Settings, context: PluginContext) throws {
        logger = context.logger
        let ecs = context.ecsCompatibility.isEnabled
        let path: String
        var bundled = false
        if let configured = settings.database {
            path = configured
        } else if settings.defaultDatabaseType == .ASN {
            throw SettingsValidationError(
                "no `database` is set, and Sluice bundles no GeoIP ASN database (Logstash would use its bundled GeoLite2-ASN; "
                    + "Sluice bundles only an outdated GeoLite2-City). Download an MMDB file — MaxMind's GeoLite2-ASN.mmdb "
                    + "(free account: https://dev.maxmind.com/geoip/geolite2-free-geolocation-data) or DB-IP's lite "
                    + "databases (https://db-ip.com/db/lite.php) — and set `database => \"/path/to/file.mmdb\"`")
        } else {
            switch GeoipDefaultDatabase.resolve() {
            case .environment(let file):
                path = file
            case .bundled(let file):
                path = file
                bundled = true
            case .notFound(let searched):
                throw SettingsValidationError(GeoipDefaultDatabase.notFoundMessage(searched: searched))
            }
        }
        func reference(_ text: String, _ setting: String) throws -> FieldReference {
            do {
                return try FieldReference(parsing: text)
            } catch {
                throw SettingsValidationError("geoip: \(setting): \(error.description)", setting: setting)
            }
        }
        source = settings.source
        let targetText: String
        if let configured = settings.target {
            targetText = configured
        } else if !ecs {
            targetText = "geoip"
        } else if source.path.count > 1 && source.path.last == "ip" {
            // Logstash: a source ending in `[ip]` puts the data beside it.
            targetText = FieldReference(path: Array(source.path.dropLast()), isMetadata: source.isMetadata).text
        } else {
            throw SettingsValidationError(
                "GeoIP Filter in ECS-Compatiblity mode requires a `target` when `source` is not an `ip` sub-field, eg. [client][ip]",
                setting: "source")
        }
        if ecs {
            var normalized = Substring(targetText)
            if normalized.hasPrefix("[") && normalized.hasSuffix("]") && !normalized.dropFirst().dropLast().contains(where: { $0 == "[" || $0 == "]" }) {
                normalized = normalized.dropFirst().dropLast()
            }
            if !GeoipFilter.ecsTargets.contains(String(normalized)) {
                logger.warn("ECS expect `target` value `\(normalized)` in \(GeoipFilter.ecsTargets.sorted())")
            }
        }
        // Logstash writes `[<target>]<field>`; a bracketed or nested target flattens.
        target = try reference("[\(targetText)]", "target")
        do {
            database = try GeoipFilter.open(path)
        } catch let error as SettingsValidationError where settings.database == nil && !bundled {
            throw SettingsValidationError("\(error.message) (the file \(GeoipDefaultDatabase.environmentVariable) names)")
        }
        kind = GeoipDatabaseKind(databaseType: database.metadata.databaseType)
        guard kind != .unknown else {
            throw SettingsValidationError(
                "the database type \(Ruby.inspect(string: database.metadata.databaseType)) of \(path) is not supported "
                    + "(City, Country, ASN, ISP, Domain, Enterprise and Anonymous-IP databases are)",
                setting: "database")
        }
        if let list = settings.fields, !list.isEmpty {
            var chosen = Set<GeoipField>()
            for text in list {
                guard let field = GeoipField.parse(text) else {
                    throw SettingsValidationError(
                        "illegal field value \(text). valid values are [\(GeoipField.allCases.map(\.constantName).joined(separator: ", "))]",
                        setting: "fields")
                }
                chosen.insert(field)
            }
            fields = chosen
        } else {
            fields = kind.defaultFields(ecs: ecs)
        }
        var references: [GeoipField: FieldReference] = [:]
        var relativePaths: [GeoipField: [String]] = [:]
        for field in fields {
            guard let path = ecs ? field.ecsPath : field.legacyPath else { continue }
            references[field] = FieldReference(path: target.path + path, isMetadata: target.isMetadata)
            relativePaths[field] = path
        }
        self.references = references
        self.relativePaths = relativePaths
        tagOnFailure = settings.tagOnFailure
        cache = RecordCache(capacity: settings.cacheSize)
        if bundled { logger.warn(GeoipDefaultDatabase.warning(path: path, buildEpoch: database.metadata.buildEpoch)) }
        logger.info("Using geoip database {:path=>\(Ruby.inspect(string: path)), :database_type=>\(Ruby.inspect(string: database.metadata.databaseType))}")
    }

    /// Opened databases: several geoip filters (or a reload) naming the same file share one mapping.
    static let databases = SharedFileResource<MaxMindDB>()

    static func open(_ path: String) throws -> MaxMindDB {
        try databases.resource(at: path) { path throws(SettingsValidationError) in
            do {
                return try MaxMindDB(path: path)
            } catch {
                throw SettingsValidationError("geoip: cannot use the database: \(error)", setting: "database")
            }
        }
    }

    /// The outcome of one event's lookup.
    enum Outcome {
        case found([(GeoipField, Value)])
        /// Tags only: no usable source value.
        case noSource(reason: String)
        /// `target` becomes `{}` (when absent) and the tags are added.
        case notFound(reason: String)
    }

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            switch lookup(event) {
            case .found(let data):
                if event.get(target) == nil {
                    // The usual case: build the whole target and set it once (the same result as field by field).
                    var object = Object()
                    for (field, value) in data {
                        guard let path = relativePaths[field] else { continue }
                        GeoipFilter.insert(&object, path[...], value)
                    }
                    event.set(target, .object(object))
                } else {
                    for (field, value) in data {
                        guard let reference = references[field] else { continue }
                        event.set(reference, value)
                    }
                }
                batch.matched[i] = true
            case .noSource(let reason):
                fail(event, i, reason, &batch)
            case .notFound(let reason):
                if event.get(target) == nil { event.set(target, .object(Object())) }
                fail(event, i, reason, &batch)
            }
        }
    }

    /// Sets `value` at `path` inside `object`, creating (or replacing non-object values with) objects on the way,
    /// as `Event.set` does.
    static func insert(_ object: inout Object, _ path: ArraySlice<String>, _ value: Value) {
        guard let key = path.first else { return }
        if path.count == 1 {
            object[key] = value
            return
        }
        object.withValue(forKey: key, default: .object(Object())) { slot in
            var inner: Object
            if case .object = slot { inner = slot.takeObject() } else { inner = Object() }
            insert(&inner, path.dropFirst(), value)
            slot = .object(inner)
        }
    }

    private func fail(_ event: Event, _ i: Int, _ reason: String, _ batch: inout FilterBatch) {
        for tag in tagOnFailure { event.tag(tag) }
        batch.failed(i, reason: "geoip: \(reason)")
    }

    func lookup(_ event: Event) -> Outcome {
        let text: String
        switch event.get(source) {
        case nil, .null?:
            return .noSource(reason: "field [\(source.text)] is missing")
        case .string(let s)?:
            text = s
        case .array(let list)?:
            guard case .string(let s)? = list.first else {
                logger.rateLimited(.error, key: "type", "Expected input field value to be String or List type {:field=>\(Ruby.inspect(string: source.text))}")
                return .noSource(reason: "field [\(source.text)] is a list whose first element is not a String")
            }
            text = s
        case let other?:
            logger.rateLimited(.error, key: "type", "Expected input field value to be String or List type {:field=>\(Ruby.inspect(string: source.text))}")
            return .noSource(reason: "field [\(source.text)] is a \(Ruby.className(other)), not a String or a List")
        }
        if Ruby.strip(text).isEmpty { return .noSource(reason: "field [\(source.text)] is blank") }
        guard let address = GeoipFilter.address(text) else {
            logger.debug("IP Field contained invalid IP address or hostname {:field=>\(Ruby.inspect(string: source.text)), :value=>\(Ruby.inspect(string: text))}")
            return .notFound(reason: "\(Ruby.inspect(string: text)) is not an IP address or a resolvable hostname")
        }
        let location: MaxMindDB.Location
        let record: [(GeoipField, Value)]
        do {
            location = try database.locate(address)
            guard let offset = location.offset else {
                return .notFound(reason: "\(GeoipFilter.hostAddress(address)) was not found in the database")
            }
            record = try cache.value(for: offset) { () throws(MMDBError) in
                try kind.extract(try database.record(at: offset), fields)
            }
        } catch {
            logger.rateLimited(.error, key: "database", "Error from GeoIP database {:field=>\(Ruby.inspect(string: source.text)), :value=>\(Ruby.inspect(string: text)), :error=>\(Ruby.inspect(string: error.description))}")
            return .notFound(reason: "database error: \(error.description)")
        }
        // City records without coordinates yield nothing, not even the address.
        if kind == .city && record.isEmpty { return .notFound(reason: "\(GeoipFilter.hostAddress(address)) has no location in the database") }
        var data = record
        if fields.contains(.ip) { data.append((.ip, .string(GeoipFilter.hostAddress(address)))) }
        if fields.contains(.network) && kind.hasNetwork {
            data.append((.network, .string(GeoipFilter.network(address, prefixLength: location.prefixLength))))
        }
        if data.isEmpty { return .notFound(reason: "\(GeoipFilter.hostAddress(address)) has none of the requested fields") }
        data.sort { $0.0 < $1.0 }
        return .found(data)
    }

    /// The address of an IP literal (IPv4, IPv6, `[IPv6]`; IPv4-mapped IPv6 becomes IPv4, as Java's InetAddress
    /// does) or of a hostname, resolved as Logstash resolves it.
    static func address(_ text: String) -> [UInt8]? {
        var literal = Substring(text)
        if literal.hasPrefix("[") && literal.hasSuffix("]") { literal = literal.dropFirst().dropLast() }
        if let v4 = IPNetwork.parseIPv4(literal) { return v4 }
        if let v6 = IPNetwork.parseIPv6(literal) {
            if v6[0..<10].allSatisfy({ $0 == 0 }) && v6[10] == 0xFF && v6[11] == 0xFF { return Array(v6[12...]) }
            return v6
        }
        guard isHostname(text) else { return nil }
        return resolve(text)
    }

    /// Host names worth asking the resolver about: dot-separated labels of letters, digits and hyphens.
    static func isHostname(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    /// The first IPv4 address of a hostname, else its first IPv6 address.
    static func resolve(_ host: String) -> [UInt8]? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>? = nil
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        var v6: [UInt8]? = nil
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let info = node {
            if info.pointee.ai_family == AF_INET, let sa = info.pointee.ai_addr {
                return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    withUnsafeBytes(of: sin.pointee.sin_addr) { Array($0) }
                }
            }
            if info.pointee.ai_family == AF_INET6, v6 == nil, let sa = info.pointee.ai_addr {
                v6 = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    withUnsafeBytes(of: sin6.pointee.sin6_addr) { Array($0) }
                }
            }
            node = info.pointee.ai_next
        }
        return v6
    }

    /// Java's `InetAddress.getHostAddress`: dotted IPv4, or eight hexadecimal groups without `::` compression.
    static func hostAddress(_ address: [UInt8]) -> String {
        if address.count == 4 { return address.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]), radix: 16) }
            .joined(separator: ":")
    }

    /// The network an address was found in, as `address/prefix` (the address masked to the prefix).
    static func network(_ address: [UInt8], prefixLength: Int) -> String {
        let prefix = min(prefixLength, address.count * 8)
        return "\(hostAddress(IPNetwork.mask(address, prefix)))/\(prefix)"
    }

    /// Decoded records by data-section offset, up to a fixed number of entries; once full nothing more is added
    /// (Logstash's geoip cache has no eviction either).
    final class RecordCache: @unchecked Sendable {
        let capacity: Int
        private let lock = Lock()
        private var entries: [Int: [(GeoipField, Value)]] = [:]

        init(capacity: Int) { self.capacity = max(0, capacity) }

        func value(for offset: Int, _ make: () throws(MMDBError) -> [(GeoipField, Value)]) throws(MMDBError) -> [(GeoipField, Value)] {
            if let hit = lock.withLock({ entries[offset] }) { return hit }
            let made = try make()
            lock.withLock {
                if entries.count < capacity { entries[offset] = made }
            }
            return made
        }

        var count: Int { lock.withLock { entries.count } }
    }
}

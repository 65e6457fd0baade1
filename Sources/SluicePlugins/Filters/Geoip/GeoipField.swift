import SluiceCore

/// The fields the geoip filter can write, in Logstash's order (its `Field` enum), with their legacy and ECS names.
enum GeoipField: Int, CaseIterable, Sendable, Comparable {
    case autonomousSystemNumber, autonomousSystemOrganization, cityName, countryName, continentCode, continentName
    case countryCode2, countryCode3, domain, ip, isp, postalCode, dmaCode, regionName, regionCode, regionISOCode
    case timezone, location, latitude, longitude, organization, network
    case hostingProvider, torExitNode, anonymousVPN, anonymous, publicProxy, residentialProxy

    static func < (a: GeoipField, b: GeoipField) -> Bool { a.rawValue < b.rawValue }

    /// The name `fields` accepts (case-insensitively) and error messages list: Logstash's enum constant.
    var constantName: String {
        switch self {
        case .autonomousSystemNumber: return "AUTONOMOUS_SYSTEM_NUMBER"
        case .autonomousSystemOrganization: return "AUTONOMOUS_SYSTEM_ORGANIZATION"
        case .cityName: return "CITY_NAME"
        case .countryName: return "COUNTRY_NAME"
        case .continentCode: return "CONTINENT_CODE"
        case .continentName: return "CONTINENT_NAME"
        case .countryCode2: return "COUNTRY_CODE2"
        case .countryCode3: return "COUNTRY_CODE3"
        case .domain: return "DOMAIN"
        case .ip: return "IP"
        case .isp: return "ISP"
        case .postalCode: return "POSTAL_CODE"
        case .dmaCode: return "DMA_CODE"
        case .regionName: return "REGION_NAME"
        case .regionCode: return "REGION_CODE"
        case .regionISOCode: return "REGION_ISO_CODE"
        case .timezone: return "TIMEZONE"
        case .location: return "LOCATION"
        case .latitude: return "LATITUDE"
        case .longitude: return "LONGITUDE"
        case .organization: return "ORGANIZATION"
        case .network: return "NETWORK"
        case .hostingProvider: return "HOSTING_PROVIDER"
        case .torExitNode: return "TOR_EXIT_NODE"
        case .anonymousVPN: return "ANONYMOUS_VPN"
        case .anonymous: return "ANONYMOUS"
        case .publicProxy: return "PUBLIC_PROXY"
        case .residentialProxy: return "RESIDENTIAL_PROXY"
        }
    }

    /// The key under `target` with ECS disabled.
    var legacyPath: [String] {
        switch self {
        case .autonomousSystemNumber: return ["asn"]
        case .autonomousSystemOrganization: return ["as_org"]
        default: return [constantName.lowercased()]
        }
    }

    /// The path under `target` in ECS mode; nil for `country_code3`, which has no ECS field and is skipped.
    var ecsPath: [String]? {
        switch self {
        case .autonomousSystemNumber: return ["as", "number"]
        case .autonomousSystemOrganization: return ["as", "organization", "name"]
        case .cityName: return ["geo", "city_name"]
        case .countryName: return ["geo", "country_name"]
        case .continentCode: return ["geo", "continent_code"]
        case .continentName: return ["geo", "continent_name"]
        case .countryCode2: return ["geo", "country_iso_code"]
        case .countryCode3: return nil
        case .domain: return ["domain"]
        case .ip: return ["ip"]
        case .isp: return ["mmdb", "isp"]
        case .postalCode: return ["geo", "postal_code"]
        case .dmaCode: return ["mmdb", "dma_code"]
        case .regionName: return ["geo", "region_name"]
        case .regionCode: return ["geo", "region_code"]
        case .regionISOCode: return ["geo", "region_iso_code"]
        case .timezone: return ["geo", "timezone"]
        case .location: return ["geo", "location"]
        case .latitude: return ["geo", "location", "lat"]
        case .longitude: return ["geo", "location", "lon"]
        case .organization: return ["mmdb", "organization"]
        case .network: return ["ip_traits", "network"]
        case .hostingProvider: return ["ip_traits", "hosting_provider"]
        case .torExitNode: return ["ip_traits", "tor_exit_node"]
        case .anonymousVPN: return ["ip_traits", "anonymous_vpn"]
        case .anonymous: return ["ip_traits", "anonymous"]
        case .publicProxy: return ["ip_traits", "public_proxy"]
        case .residentialProxy: return ["ip_traits", "residential_proxy"]
        }
    }

    /// Parses a `fields` entry as Logstash does (the constant's name in any case).
    static func parse(_ text: String) -> GeoipField? {
        let upper = text.uppercased()
        return allCases.first { $0.constantName == upper }
    }
}

/// The kind of database, from its metadata's `database_type` (Logstash's `Database.fromDatabaseType`).
enum GeoipDatabaseKind: Sendable {
    case city, country, domain, asn, isp, enterprise, anonymousIP, unknown

    init(databaseType type: String) {
        if type.contains("City") {
            self = .city
        } else if type.contains("Country") {
            self = .country
        } else if type.contains("GeoIP2-Domain") {
            self = .domain
        } else if type.contains("GeoLite2-ASN") || type.contains("ASN") {
            self = .asn
        } else if type.contains("GeoIP2-ISP") {
            self = .isp
        } else if type.contains("Enterprise") {
            self = .enterprise
        } else if type.contains("GeoIP2-Anonymous-IP") {
            self = .anonymousIP
        } else {
            self = .unknown
        }
    }

    /// The fields written when `fields` is not set.
    func defaultFields(ecs: Bool) -> Set<GeoipField> {
        switch self {
        case .city:
            // With ECS disabled the region is `region_code` (the subdivision's code), as before ECS.
            return [
                .ip, .cityName, .continentCode, .countryName, .countryCode2, .countryCode3, .postalCode, .dmaCode,
                .regionName, ecs ? .regionISOCode : .regionCode, .timezone, .location, .latitude, .longitude,
            ]
        case .country: return [.ip, .countryCode2, .countryName, .continentName]
        case .domain: return [.domain]
        case .asn: return [.ip, .autonomousSystemNumber, .autonomousSystemOrganization]
        case .isp: return [.ip, .autonomousSystemNumber, .autonomousSystemOrganization, .isp, .organization]
        case .anonymousIP: return [.hostingProvider, .torExitNode, .anonymousVPN, .anonymous, .publicProxy, .residentialProxy]
        case .enterprise:
            return [.ip, .countryCode2, .countryName, .continentName, .regionISOCode, .regionName, .cityName, .location]
        case .unknown: return []
        }
    }

    /// The values of `fields` that a record of this kind has, in Logstash's order. `ip` and `network` are
    /// added by the caller (they depend on the address, not the record).
    func extract(_ record: MMDBValue, _ fields: Set<GeoipField>) -> [(GeoipField, Value)] {
        var out: [(GeoipField, Value)] = []
        func string(_ field: GeoipField, _ value: MMDBValue?) {
            if fields.contains(field), let s = value?.string { out.append((field, .string(s))) }
        }
        func name(_ value: MMDBValue?) -> MMDBValue? { value?["names"]?["en"] }
        let subdivision = record["subdivisions"]?.array?.last
        func regionISOCode() {
            if fields.contains(.regionISOCode), let country = record["country"]?["iso_code"]?.string,
                let region = subdivision?["iso_code"]?.string
            {
                out.append((.regionISOCode, .string("\(country)-\(region)")))
            }
        }
        func coordinates() -> (Double, Double)? {
            guard let lat = record["location"]?["latitude"]?.double, let lon = record["location"]?["longitude"]?.double else { return nil }
            return (lat, lon)
        }
        func location() {
            if fields.contains(.location), let (lat, lon) = coordinates() {
                out.append((.location, ["lat": .double(lat), "lon": .double(lon)]))
            }
        }
        func flag(_ field: GeoipField, _ key: String, in source: MMDBValue?) {
            if fields.contains(field) { out.append((field, .bool(source?[key]?.bool ?? false))) }
        }
        func number(_ field: GeoipField, _ value: MMDBValue?) {
            if fields.contains(field), let n = value?.integer { out.append((field, .int(n))) }
        }
        switch self {
        case .city:
            // No coordinates: nothing at all, as Logstash ("most likely all other fields are empty as well").
            if record["location"]?["latitude"] == nil && record["location"]?["longitude"] == nil { return [] }
            string(.cityName, name(record["city"]))
            string(.countryName, name(record["country"]))
            string(.continentCode, record["continent"]?["code"])
            string(.continentName, name(record["continent"]))
            string(.countryCode2, record["country"]?["iso_code"])
            // Logstash fills country_code3 with the two-letter code.
            string(.countryCode3, record["country"]?["iso_code"])
            string(.postalCode, record["postal"]?["code"])
            number(.dmaCode, record["location"]?["metro_code"])
            string(.regionName, name(subdivision))
            string(.regionCode, subdivision?["iso_code"])
            regionISOCode()
            string(.timezone, record["location"]?["time_zone"])
            location()
            if fields.contains(.latitude), let lat = record["location"]?["latitude"]?.double { out.append((.latitude, .double(lat))) }
            if fields.contains(.longitude), let lon = record["location"]?["longitude"]?.double { out.append((.longitude, .double(lon))) }
        case .country:
            string(.countryName, name(record["country"]))
            string(.continentName, name(record["continent"]))
            string(.countryCode2, record["country"]?["iso_code"])
        case .domain:
            string(.domain, record["domain"])
        case .asn:
            number(.autonomousSystemNumber, record["autonomous_system_number"])
            string(.autonomousSystemOrganization, record["autonomous_system_organization"])
        case .isp:
            number(.autonomousSystemNumber, record["autonomous_system_number"])
            string(.autonomousSystemOrganization, record["autonomous_system_organization"])
            string(.isp, record["isp"])
            string(.organization, record["organization"])
        case .enterprise:
            let traits = record["traits"]
            number(.autonomousSystemNumber, traits?["autonomous_system_number"])
            string(.autonomousSystemOrganization, traits?["autonomous_system_organization"])
            string(.cityName, name(record["city"]))
            string(.countryName, name(record["country"]))
            string(.continentName, name(record["continent"]))
            string(.countryCode2, record["country"]?["iso_code"])
            string(.regionName, name(subdivision))
            regionISOCode()
            string(.timezone, record["location"]?["time_zone"])
            location()
            flag(.hostingProvider, "is_hosting_provider", in: traits)
            flag(.torExitNode, "is_tor_exit_node", in: traits)
            flag(.anonymousVPN, "is_anonymous_vpn", in: traits)
            flag(.anonymous, "is_anonymous", in: traits)
            flag(.publicProxy, "is_public_proxy", in: traits)
            flag(.residentialProxy, "is_residential_proxy", in: traits)
        case .anonymousIP:
            flag(.hostingProvider, "is_hosting_provider", in: record)
            flag(.torExitNode, "is_tor_exit_node", in: record)
            flag(.anonymousVPN, "is_anonymous_vpn", in: record)
            flag(.anonymous, "is_anonymous", in: record)
            flag(.publicProxy, "is_public_proxy", in: record)
            flag(.residentialProxy, "is_residential_proxy", in: record)
        case .unknown:
            break
        }
        return out
    }

    /// Whether the kind reports the network for `fields => ["network"]`.
    var hasNetwork: Bool { self == .asn || self == .enterprise }
}

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

    /// The values of `fields` that a record of this kind has, in Logstash's order, read from the record's bytes
    /// (only what `fields` needs is decoded). `ip` and `network` are added by the caller (they depend on the
    /// address, not the record).
    func extract(_ record: MMDBRecord, _ fields: Set<GeoipField>) throws(MMDBError) -> [(GeoipField, Value)] {
        var out: [(GeoipField, Value)] = []
        func string(_ field: GeoipField, _ value: MMDBRecord?) throws(MMDBError) {
            if fields.contains(field), let s = try value?.string { out.append((field, .string(s))) }
        }
        func name(_ value: MMDBRecord?) throws(MMDBError) -> MMDBRecord? { try value?.path("names", "en") }
        func flag(_ field: GeoipField, _ key: StaticString, in source: MMDBRecord?) throws(MMDBError) {
            if fields.contains(field) { out.append((field, .bool(try source?.member(key)?.bool ?? false))) }
        }
        func number(_ field: GeoipField, _ value: MMDBRecord?) throws(MMDBError) {
            if fields.contains(field), let n = try value?.integer { out.append((field, .int(n))) }
        }
        let top = try record.members("city", "continent", "country", "location", "postal", "subdivisions", "traits")
        let (city, continent, country, location, postal, traits) = (top[0], top[1], top[2], top[3], top[4], top[6])
        let subdivision = try top[5]?.lastElement()
        let latitude = try location?.member("latitude")
        let longitude = try location?.member("longitude")
        let countryCode = try country?.member("iso_code")
        func regionISOCode() throws(MMDBError) {
            if fields.contains(.regionISOCode), let code = try countryCode?.string,
                let region = try subdivision?.member("iso_code")?.string
            {
                out.append((.regionISOCode, .string("\(code)-\(region)")))
            }
        }
        func locationPoint() throws(MMDBError) {
            if fields.contains(.location), let lat = try latitude?.double, let lon = try longitude?.double {
                out.append((.location, ["lat": .double(lat), "lon": .double(lon)]))
            }
        }
        switch self {
        case .city:
            // No coordinates: nothing at all, as Logstash ("most likely all other fields are empty as well").
            if latitude == nil && longitude == nil { return [] }
            try string(.cityName, name(city))
            try string(.countryName, name(country))
            try string(.continentCode, continent?.member("code"))
            try string(.continentName, name(continent))
            try string(.countryCode2, countryCode)
            // Logstash fills country_code3 with the two-letter code.
            try string(.countryCode3, countryCode)
            try string(.postalCode, postal?.member("code"))
            try number(.dmaCode, location?.member("metro_code"))
            try string(.regionName, name(subdivision))
            try string(.regionCode, subdivision?.member("iso_code"))
            try regionISOCode()
            try string(.timezone, location?.member("time_zone"))
            try locationPoint()
            if fields.contains(.latitude), let lat = try latitude?.double { out.append((.latitude, .double(lat))) }
            if fields.contains(.longitude), let lon = try longitude?.double { out.append((.longitude, .double(lon))) }
        case .country:
            try string(.countryName, name(country))
            try string(.continentName, name(continent))
            try string(.countryCode2, countryCode)
        case .domain:
            try string(.domain, record.member("domain"))
        case .asn:
            try number(.autonomousSystemNumber, record.member("autonomous_system_number"))
            try string(.autonomousSystemOrganization, record.member("autonomous_system_organization"))
        case .isp:
            try number(.autonomousSystemNumber, record.member("autonomous_system_number"))
            try string(.autonomousSystemOrganization, record.member("autonomous_system_organization"))
            try string(.isp, record.member("isp"))
            try string(.organization, record.member("organization"))
        case .enterprise:
            try number(.autonomousSystemNumber, traits?.member("autonomous_system_number"))
            try string(.autonomousSystemOrganization, traits?.member("autonomous_system_organization"))
            try string(.cityName, name(city))
            try string(.countryName, name(country))
            try string(.continentName, name(continent))
            try string(.countryCode2, countryCode)
            try string(.regionName, name(subdivision))
            try regionISOCode()
            try string(.timezone, location?.member("time_zone"))
            try locationPoint()
            try flag(.hostingProvider, "is_hosting_provider", in: traits)
            try flag(.torExitNode, "is_tor_exit_node", in: traits)
            try flag(.anonymousVPN, "is_anonymous_vpn", in: traits)
            try flag(.anonymous, "is_anonymous", in: traits)
            try flag(.publicProxy, "is_public_proxy", in: traits)
            try flag(.residentialProxy, "is_residential_proxy", in: traits)
        case .anonymousIP:
            try flag(.hostingProvider, "is_hosting_provider", in: record)
            try flag(.torExitNode, "is_tor_exit_node", in: record)
            try flag(.anonymousVPN, "is_anonymous_vpn", in: record)
            try flag(.anonymous, "is_anonymous", in: record)
            try flag(.publicProxy, "is_public_proxy", in: record)
            try flag(.residentialProxy, "is_residential_proxy", in: record)
        case .unknown:
            break
        }
        return out
    }

    /// Whether the kind reports the network for `fields => ["network"]`.
    var hasNetwork: Bool { self == .asn || self == .enterprise }
}

import SluiceCore

/// The `api.*` settings, validated.
public struct APIConfiguration: Sendable {
    public var enabled: Bool
    public var host: String
    /// Ports tried in order; the first free one is used (`api.http.port`: `9600` or `9600-9700`).
    public var ports: ClosedRange<Int>
    /// `api.auth.type: basic` credentials; nil when auth is off.
    public var basicAuth: (username: String, password: String)?
    /// `api.ssl.enabled`: where the server's certificate and key come from; nil for plain HTTP.
    public var tls: TLSSource?
    /// `api.http.header_timeout` (Sluice): a connection that has not sent a request line and its headers within
    /// this time is closed (slowloris); so is a kept-alive connection idle that long between requests.
    public var headerTimeoutMilliseconds = 10_000
    /// `api.http.max_connections` (Sluice): connections served at once; further ones are closed when accepted,
    /// so that a flood of connections degrades the API, never the pipelines' descriptors.
    public var maxConnections = 1000

    /// The server identity for `api.ssl.enabled`: Logstash's keystore (PKCS#12, `api.ssl.keystore.path` and
    /// `.password`) or, as a Sluice extension, PEM files (`api.ssl.certificate` and `api.ssl.key`).
    public enum TLSSource: Sendable, Equatable {
        case keystore(path: String, password: String)
        case pem(certificate: String, key: String)
    }

    public init(enabled: Bool = true, host: String = "127.0.0.1", ports: ClosedRange<Int> = 9600...9700,
                basicAuth: (username: String, password: String)? = nil, tls: TLSSource? = nil) {
        self.enabled = enabled
        self.host = host
        self.ports = ports
        self.basicAuth = basicAuth
        self.tls = tls
    }

    /// Reads `api.enabled`, `api.http.host`/`http.host`, `api.http.port`/`http.port` and `api.auth.*`.
    /// - Throws: a `SettingsError` naming the bad setting.
    public init(_ s: Settings) throws(SettingsError) {
        enabled = try s.bool("api.enabled")
        host = (s.isSet("api.http.host") ? s["api.http.host"] : s["http.host"]) ?? s["api.http.host"] ?? "127.0.0.1"
        let portText = (s.isSet("api.http.port") ? s["api.http.port"] : s["http.port"]) ?? s["api.http.port"] ?? "9600-9700"
        ports = try Self.parsePorts(portText)
        switch try s.oneOf("api.auth.type", ["none", "basic"]) {
        case "basic":
            guard let user = s["api.auth.basic.username"], !user.isEmpty,
                  let password = s["api.auth.basic.password"], !password.isEmpty
            else {
                throw SettingsError("api.auth.type is basic: api.auth.basic.username and api.auth.basic.password are required")
            }
            basicAuth = (user, password)
        default:
            basicAuth = nil
        }
        tls = try Self.tlsSource(s)
        let timeoutText = s["api.http.header_timeout"] ?? "10s"
        guard let timeout = Settings.parseDurationMillis(timeoutText), timeout > 0 else {
            throw SettingsError("Setting \"api.http.header_timeout\" must be a positive duration such as 10s, got \"\(timeoutText)\"")
        }
        headerTimeoutMilliseconds = timeout
        maxConnections = try s.positiveInt("api.http.max_connections") ?? 1000
        // Logstash: with SSL and basic auth on and no host set, the API listens on every interface.
        if tls != nil && basicAuth != nil && !s.isSet("api.http.host") && !s.isSet("http.host") {
            host = "0.0.0.0"
        }
    }

    static func tlsSource(_ s: Settings) throws(SettingsError) -> TLSSource? {
        guard try s.bool("api.ssl.enabled") else { return nil }
        if let path = s["api.ssl.keystore.path"] {
            guard let password = s["api.ssl.keystore.password"] else {
                throw SettingsError("api.ssl.keystore.path is set: api.ssl.keystore.password is required")
            }
            return .keystore(path: path, password: password)
        }
        if let certificate = s["api.ssl.certificate"], let key = s["api.ssl.key"] {
            return .pem(certificate: certificate, key: key)
        }
        throw SettingsError(
            "api.ssl.enabled is true: set api.ssl.keystore.path and api.ssl.keystore.password (PKCS#12), or api.ssl.certificate and api.ssl.key (PEM)")
    }

    static func parsePorts(_ text: String) throws(SettingsError) -> ClosedRange<Int> {
        let parts = text.split(separator: "-", maxSplits: 1).map { Int($0.trimmingCharacters(in: " ")) }
        guard let low = parts.first ?? nil, (1...65535).contains(low) else {
            throw SettingsError("Setting \"api.http.port\" must be a port or a range such as 9600-9700, got \"\(text)\"")
        }
        guard parts.count == 2 else { return low...low }
        guard let high = parts[1], high >= low, high <= 65535 else {
            throw SettingsError("Setting \"api.http.port\" must be a port or a range such as 9600-9700, got \"\(text)\"")
        }
        return low...high
    }

    /// Whether the host is a loopback address (binding elsewhere without auth is worth a warning).
    public var isLoopback: Bool {
        host == "localhost" || host.hasPrefix("127.") || host == "::1" || host == "[::1]"
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> Substring {
        var s = self
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return s
    }
}

import SluiceCore

/// One Elasticsearch node as written in `hosts` (`127.0.0.1`, `es:9200`, `https://es:9200/prefix`, `//127.0.0.1`).
struct ElasticsearchHost: Sendable, Equatable, CustomStringConvertible {
    var scheme: String
    var host: String
    var port: Int
    /// The path prefix, without a trailing slash ("" or "/prefix").
    var path: String

    /// Parses a `hosts` entry. `ssl` forces the scheme when set (`ssl_enabled`); an explicit scheme that
    /// contradicts it is a configuration error, as in Logstash.
    static func parse(_ text: String, ssl: Bool?) throws(SettingsValidationError) -> ElasticsearchHost {
        var rest = Substring(text)
        var scheme: String?
        if let r = rest.range(of: "://") {
            scheme = String(rest[..<r.lowerBound]).lowercased()
            rest = rest[r.upperBound...]
        } else if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
        }
        if let scheme, scheme != "http" && scheme != "https" {
            throw SettingsValidationError("Bad scheme '\(scheme)' found should be one of http/https", setting: "hosts")
        }
        if let scheme, let ssl, (scheme == "https") != ssl {
            throw SettingsValidationError(
                "SSL option was explicitly set to \(ssl) but a URL was also declared with a scheme of '\(scheme)'. Please reconcile this",
                setting: "hosts")
        }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }  // credentials: use user/password
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
            while path.hasSuffix("/") { path.removeLast() }
        }
        var host = String(rest)
        var port = 9200
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {  // [::1]:9200
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":"), let p = Int(after.dropFirst()) { port = p }
            host = String(host[...close])
        } else if let colon = host.lastIndex(of: ":"), let p = Int(host[host.index(after: colon)...]) {
            port = p
            host = String(host[..<colon])
        }
        if host.isEmpty { throw SettingsValidationError("invalid host '\(text)'", setting: "hosts") }
        return ElasticsearchHost(scheme: scheme ?? (ssl == true ? "https" : "http"), host: host, port: port, path: path)
    }

    /// The URL of `endpoint` (which starts with "/") on this host.
    func url(_ endpoint: String) -> String { "\(scheme)://\(host):\(port)\(path)\(endpoint)" }

    var description: String { "\(scheme)://\(host):\(port)\(path)" }
}

/// The hosts of one output: requests go round-robin to the live ones; a host that cannot be reached is taken out
/// and checked again in the background every `resurrect_delay` seconds (a HEAD of the health-check path), as
/// Logstash's connection pool does.
final class HostPool: @unchecked Sendable {
    let hosts: [ElasticsearchHost]
    private let lock = Lock()
    private var dead: [Bool]
    private var next = 0
    private let resurrectDelay: Double
    private let healthcheckPath: String
    private let logger: Logger
    private let stopped = ShutdownFlag()
    private var resurrector: Thread?
    /// Sends a health check; returns whether the host answered.
    private let probe: @Sendable (ElasticsearchHost, String) -> Bool

    init(
        hosts: [ElasticsearchHost], resurrectDelay: Double, healthcheckPath: String, logger: Logger,
        probe: @escaping @Sendable (ElasticsearchHost, String) -> Bool
    ) {
        self.hosts = hosts
        self.dead = [Bool](repeating: false, count: hosts.count)
        self.resurrectDelay = resurrectDelay
        self.healthcheckPath = healthcheckPath
        self.logger = logger
        self.probe = probe
    }

    /// The next live host, or nil when every host is marked dead.
    func pick() -> ElasticsearchHost? {
        lock.withLock {
            for _ in 0..<hosts.count {
                let i = next % hosts.count
                next = (next + 1) % hosts.count
                if !dead[i] { return hosts[i] }
            }
            return nil
        }
    }

    /// How many hosts are live.
    var aliveCount: Int { lock.withLock { dead.filter { !$0 }.count } }

    /// Takes `host` out of rotation and starts the background checks.
    func markDead(_ host: ElasticsearchHost, error: String) {
        let newlyDead = lock.withLock { () -> Bool in
            guard let i = hosts.firstIndex(of: host), !dead[i] else { return false }
            dead[i] = true
            if resurrector == nil && !stopped.isRequested {
                do {
                    resurrector = try Thread(name: "es-resurrect") { [self] in resurrectLoop() }
                } catch {
                    // Tried again at the next host marked dead.
                    logger.error("Dead hosts are not checked for resurrection: \(error)")
                }
            }
            return true
        }
        guard newlyDead else { return }
        logger.warn(
            "Marking url as dead. Last error: [HostUnreachableError] Elasticsearch Unreachable: [\(host)] \(error) {:url=>\"\(host)/\"}")
    }

    private func resurrectLoop() {
        while RetryPolicy.sleep(resurrectDelay, shouldStop: { stopped.isRequested }) {
            let candidates = lock.withLock { hosts.indices.filter { dead[$0] } }
            for i in candidates where probe(hosts[i], healthcheckPath) {
                lock.withLock { dead[i] = false }
                logger.warn("Restored connection to ES instance {:url=>\"\(hosts[i])/\"}")
            }
        }
    }

    /// Stops the background checks.
    func close() {
        stopped.request()
        let thread = lock.withLock { resurrector }
        thread?.join()
    }
}

import NIOCore
import NIOPosix
import NIOSSL
import SluiceCore

/// Reads events from TCP connections (Logstash's `tcp` input): a server on `host:port`, or a client that connects
/// out and reconnects. Each connection has its own codec (`line` by default; `plain` and `json` become `line` and
/// `json_lines`), so a partial line never mixes with another sender's. Connections are read on the shared event
/// loops; `run` blocks the input's thread until the pipeline stops.
public final class TcpInput: Input, @unchecked Sendable {
    public static let name = "tcp"
    public static let summary = "Reads events from TCP connections, as a server or as a client; one codec per connection."
    public static let defaultCodec = "line"


    public struct Settings: PluginSettings {
        @Setting("host", doc: "The address to listen on (server) or connect to (client).") var host = "0.0.0.0"
        @Setting("port", doc: "The port to listen on or connect to.", required: true) var port = 0
        @Setting("mode", doc: "`server` listens; `client` connects to host:port and reconnects.") var mode = NetworkMode.server
        @Setting("proxy_protocol", doc: "Each connection starts with a PROXY protocol v1 header.") var proxyProtocol = false
        @Setting("tcp_keep_alive", doc: "Enable SO_KEEPALIVE on accepted connections.") var tcpKeepAlive = false
        @Setting("dns_reverse_lookup_enabled", doc: "Record the peer's DNS name; otherwise its address.") var reverseLookup = true
        var tls = TLSSettings(clientAuthentication: .required, protocols: [])
        @Setting("ssl_verification_mode", doc: "Client mode: `full` checks the server's certificate and name, `none` nothing.")
        var verificationMode = TLSVerificationMode.full
        @Setting("ssl_extra_chain_certs", doc: "PEM files of intermediate certificates sent after ssl_certificate.")
        var extraChainCertificates: [String] = []
        @Setting("ssl_enable", doc: "Replaced by ssl_enabled.", obsolete: "Use 'ssl_enabled' instead.") var sslEnable = false
        @Setting("ssl_cert", doc: "Replaced by ssl_certificate.", obsolete: "Use 'ssl_certificate' instead.") var sslCert = ""
        @Setting(
            "ssl_verify", doc: "Replaced by ssl_client_authentication / ssl_verification_mode.",
            obsolete: "Use 'ssl_client_authentication' when mode is 'server' or 'ssl_verification_mode' when mode is 'client'")
        var sslVerify = false

        public init() {}

        public func validate() throws(SettingsValidationError) {
            if !(1...65535).contains(port) { throw SettingsValidationError("port must be between 1 and 65535, got \(port)", setting: "port") }
            switch mode {
            case .server:
                if _verificationMode.wasSet {
                    throw SettingsValidationError("ssl_verification_mode is a client-mode setting; use ssl_client_authentication", setting: "ssl_verification_mode")
                }
                try tls.validateServer()
            case .client:
                if tls.clientAuthenticationWasSet {
                    throw SettingsValidationError("ssl_client_authentication is a server-mode setting; use ssl_verification_mode", setting: "ssl_client_authentication")
                }
            }
        }
    }

    let settings: Settings
    let context: PluginContext
    private let fields: TcpFields
    private let server: NetworkServer
    private let tlsContext: NIOSSLContext?

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        fields = TcpFields(ecs: context.ecsCompatibility.isEnabled)
        server = NetworkServer(shutdown: context.shutdown)
        switch settings.mode {
        case .server: tlsContext = try settings.tls.makeContext(extraChain: settings.extraChainCertificates)
        case .client: tlsContext = try settings.tls.enabled ? settings.tls.makeClientContext(verify: settings.verificationMode == .full) : nil
        }
    }

    public func run(_ sink: EventSink) throws {
        switch settings.mode {
        case .server: try listen(sink)
        case .client: connectRepeatedly(sink)
        }
    }

    public func stop() { server.stop() }

    // MARK: Server mode

    private func listen(_ sink: EventSink) throws {
        try server.bindTCP(host: settings.host, port: settings.port) { [self] channel in
            if settings.tcpKeepAlive { try channel.syncOptions?.setOption(ChannelOptions.socketOption(.so_keepalive), value: 1) }
            try addHandlers(to: channel, sink)
        }
        context.logger.info("Starting tcp input listener {:address=>\"\(settings.host):\(settings.port)\", :ssl_enabled=>\(settings.tls.enabled)}")
        server.serve()
    }

    private func addHandlers(to channel: Channel, _ sink: EventSink) throws {
        let reader = StreamSourceHandler(
            codec: try StreamingCodecs.lineOriented(context.makeCodec(), context), sink: sink,
            options: StreamSourceOptions(
                proxyProtocol: settings.proxyProtocol, reverseLookup: settings.reverseLookup, decodesOnWorkers: true),
            logger: context.logger
        ) { [fields, context] event, facts in
            fields.apply(to: event, facts)
            context.decorate(event)
        }
        let pipeline = channel.pipeline.syncOperations
        if let tlsContext {
            try pipeline.addHandler(NIOSSLServerHandler(context: tlsContext))
            if settings.tls.verifiesPeer {
                try pipeline.addHandler(PeerCertificateHandler { certificate, _ in reader.setSSLSubject(certificate.flatMap(PeerCertificate.subject)) })
            }
        }
        try pipeline.addHandler(reader)
    }

    // MARK: Client mode

    private func connectRepeatedly(_ sink: EventSink) {
        while !context.shutdown.isRequested && !server.isStopping {
            do {
                let channel = try ClientBootstrap(group: NetworkEventLoops.group)
                    .connectTimeout(.seconds(10))
                    .channelInitializer { [self] channel in
                        channel.eventLoop.makeCompletedFuture {
                            if let tlsContext {
                                try channel.pipeline.syncOperations.addHandler(
                                    try NIOSSLClientHandler(context: tlsContext, serverHostname: settings.verificationMode == .full ? settings.host : nil))
                            }
                            try addHandlers(to: channel, sink)
                        }
                    }
                    .connect(host: settings.host, port: settings.port).wait()
                server.track(channel)
                context.logger.info("Connected to \(settings.host):\(settings.port)")
                server.serve(until: channel)
            } catch {
                context.logger.warn("Could not connect to \(settings.host):\(settings.port), retrying in 1 s: \(error)")
                server.pause(milliseconds: 1000)
            }
        }
        server.serve()
    }
}

/// The fields the tcp input adds, only where the event has none: legacy `host`, `port`, `[@metadata][ip_address]`,
/// `proxy_host`/`proxy_port`, `sslsubject`; in ECS mode the same facts under `[@metadata][input][tcp]`.
struct TcpFields: Sendable {
    let host, ip, port, proxyHost, proxyPort, sslSubject: FieldReference

    init(ecs: Bool) {
        let pick = { FieldReference.named(ecs: ecs, legacy: $0, ecsName: $1) }
        host = pick("host", "[@metadata][input][tcp][source][name]")
        ip = pick("[@metadata][ip_address]", "[@metadata][input][tcp][source][ip]")
        port = pick("port", "[@metadata][input][tcp][source][port]")
        proxyHost = pick("proxy_host", "[@metadata][input][tcp][proxy][ip]")
        proxyPort = pick("proxy_port", "[@metadata][input][tcp][proxy][port]")
        sslSubject = pick("sslsubject", "[@metadata][input][tcp][tls][client][subject]")
    }

    func apply(to event: Event, _ facts: ConnectionFacts) {
        if let proxy = facts.proxy {
            event.setIfAbsent(proxyHost, .string(proxy.ip))
            event.setIfAbsent(proxyPort, .string(String(proxy.port)))
        }
        event.setIfAbsent(host, .string(facts.hostName))
        event.setIfAbsent(ip, .string(facts.peer.ip))
        event.setIfAbsent(port, facts.proxy == nil ? .int(facts.peer.port) : .string(String(facts.peer.port)))
        if let subject = facts.sslSubject { event.setIfAbsent(sslSubject, .string(subject)) }
    }
}

extension Event {
    /// Sets `ref` unless the event already has a value there (Logstash's `event.set(f, v) unless event.get(f)`).
    func setIfAbsent(_ ref: FieldReference, _ value: Value) {
        if get(ref) == nil { set(ref, value) }
    }
}

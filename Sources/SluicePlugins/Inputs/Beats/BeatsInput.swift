import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import SluiceCore

/// Receives events from Beats and other lumberjack senders (Logstash's `beats` input): protocol v2 (JSON and
/// compressed frames) and v1 data frames. A window is acknowledged only once all of its events are in the
/// pipeline's queue (written to the persisted queue when it is persisted), with ACK 0 every 5 s while the queue
/// holds a window back; a sender that disconnects before its ACK resends the window. Connections are read and
/// decoded on the input's event loops (`executor_threads`); `run` blocks the input's thread until the pipeline
/// stops.
public final class BeatsInput: Input, @unchecked Sendable {
    public static let name = "beats"
    public static let summary = "Receives events from Beats (lumberjack v1/v2); ACKs a window once its events are queued."

    /// `enrich`: what the input adds besides the beat's own fields.
    enum Enrichment: String, SettingEnum, Sendable {
        case codecMetadata = "codec_metadata", sourceMetadata = "source_metadata", sslPeerMetadata = "ssl_peer_metadata"
        case all, none
    }

    public struct Settings: PluginSettings {
        @Setting("host", doc: "The address to listen on.") var host = "0.0.0.0"
        @Setting("port", doc: "The port to listen on.", required: true) var port = 0
        var tls = TLSSettings(clientAuthentication: .none, protocols: [.tls12, .tls13])
        @Setting("ssl_handshake_timeout", doc: "Milliseconds a TLS handshake may take.") var sslHandshakeTimeout = 10000
        @Setting("client_inactivity_timeout", doc: "Seconds without traffic after which a connection is closed.")
        var clientInactivityTimeout = 60
        @Setting("executor_threads", doc: "Threads reading and decoding connections.") var executorThreads = System.cpuCount
        @Setting("event_loop_threads", doc: "When above 0, the number of threads instead of executor_threads (Sluice reads and decodes on the same threads).")
        var eventLoopThreads = 0
        @Setting("include_codec_tag", doc: "Deprecated: tag events with the codec applied (use enrich).") var includeCodecTag = true
        @Setting("enrich", doc: "What to add: codec_metadata, source_metadata, ssl_peer_metadata, or all / none.")
        var enrich: [Enrichment] = [.codecMetadata, .sourceMetadata]
        @Setting("add_hostname", doc: "Deprecated: copy [beat][hostname] to the host field when it is absent.") var addHostname = false
        @Setting("ssl", doc: "Replaced by ssl_enabled.", obsolete: "Use 'ssl_enabled' instead.") var ssl = false
        @Setting("ssl_verify_mode", doc: "Replaced.", obsolete: "Use 'ssl_client_authentication' instead.") var sslVerifyMode = ""
        @Setting("ssl_peer_metadata", doc: "Replaced.", obsolete: "Use 'enrich' instead.") var sslPeerMetadata = false
        @Setting("cipher_suites", doc: "Replaced.", obsolete: "Use 'ssl_cipher_suites' instead.") var cipherSuites = ""
        @Setting("tls_min_version", doc: "Replaced.", obsolete: "Use 'ssl_supported_protocols' instead.") var tlsMinVersion = ""
        @Setting("tls_max_version", doc: "Replaced.", obsolete: "Use 'ssl_supported_protocols' instead.") var tlsMaxVersion = ""

        public init() {}

        public func validate() throws(SettingsValidationError) {
            if !(1...65535).contains(port) { throw SettingsValidationError("port must be between 1 and 65535, got \(port)", setting: "port") }
            if (enrich.contains(.all) || enrich.contains(.none)) && enrich.count > 1 {
                throw SettingsValidationError("enrich: 'all' and 'none' must be the only value", setting: "enrich")
            }
            if _includeCodecTag.wasSet && _enrich.wasSet {
                throw SettingsValidationError("include_codec_tag cannot be combined with enrich; use enrich only", setting: "include_codec_tag")
            }
            if executorThreads < 1 { throw SettingsValidationError("executor_threads must be at least 1", setting: "executor_threads") }
            if clientInactivityTimeout < 1 {
                throw SettingsValidationError("client_inactivity_timeout must be at least 1 second", setting: "client_inactivity_timeout")
            }
            try tls.validateServer()
        }

        func enriches(_ what: Enrichment) -> Bool {
            if enrich == [.all] { return true }
            if enrich == [.none] { return false }
            return enrich.contains(what)
        }
    }

    let settings: Settings
    let context: PluginContext
    let builder: BeatsEventBuilder
    private let tlsContext: NIOSSLContext?
    private let server: NetworkServer

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        if let codec = context.codec, type(of: codec).joinsLines {
            throw SettingsValidationError(
                "Multiline codec with beats input is not supported. Please refer to the beats documentation for how to best manage multiline data.",
                setting: "codec")
        }
        builder = BeatsEventBuilder(settings: settings, context: context)
        tlsContext = try settings.tls.makeContext()
        server = NetworkServer(shutdown: context.shutdown)
    }

    public func run(_ sink: EventSink) throws {
        let threads = settings.eventLoopThreads > 0 ? settings.eventLoopThreads : settings.executorThreads
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        defer { try? group.syncShutdownGracefully() }
        try server.bindTCP(group: group, host: settings.host, port: settings.port) { [self] channel in try addHandlers(to: channel, sink) }
        context.logger.info("Starting beats input listener {:address=>\"\(settings.host):\(settings.port)\", :ssl_enabled=>\(settings.tls.enabled)}")
        server.serve()
    }

    public func stop() { server.stop() }

    private func addHandlers(to channel: Channel, _ sink: EventSink) throws {
        let pipeline = channel.pipeline.syncOperations
        let connection = BeatsConnection(input: self, sink: sink, codec: try builder.makeCodec())
        if let tlsContext {
            try pipeline.addHandler(NIOSSLServerHandler(context: tlsContext))
            try pipeline.addHandler(TLSHandshakeDeadline(milliseconds: settings.sslHandshakeTimeout))
            if settings.tls.verifiesPeer && settings.enriches(.sslPeerMetadata) {
                try pipeline.addHandler(PeerCertificateHandler { certificate, version in
                    connection.peer = BeatsPeer(
                        verified: certificate != nil, subject: certificate.flatMap(PeerCertificate.subject), tlsProtocol: BeatsPeer.javaName(version))
                })
            }
        }
        let idle = TimeAmount.seconds(Int64(settings.clientInactivityTimeout))
        try pipeline.addHandler(IdleStateHandler(readTimeout: idle, writeTimeout: .seconds(5), allTimeout: idle))
        try pipeline.addHandler(connection)
    }
}

/// Closes a connection whose TLS handshake has not finished within `ssl_handshake_timeout`. On the connection's
/// event loop.
final class TLSHandshakeDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let milliseconds: Int
    private var deadline: Scheduled<Void>?

    init(milliseconds: Int) {
        self.milliseconds = milliseconds
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: .milliseconds(Int64(milliseconds))) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { deadline?.cancel() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event { deadline?.cancel() }
        context.fireUserInboundEventTriggered(event)
    }
}

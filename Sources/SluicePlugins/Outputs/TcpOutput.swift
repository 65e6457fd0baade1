import NIOCore
import NIOPosix
import NIOSSL
import SluiceCore

/// Writes encoded events to TCP (Logstash's `tcp` output). In client mode (the default) it connects to
/// `host:port` and, on any error, reconnects every `reconnect_interval` seconds and resends the same batch until
/// it is written (so the pipeline waits, and a batch cut by the error may be sent twice); at shutdown the batch
/// stays in the persisted queue. In server mode every connected client gets every batch. The default codec is
/// `json`, which writes no delimiter: use `json_lines` to forward to another Sluice's tcp input. Called on worker
/// threads; batches are written one at a time, in order.
public final class TcpOutput: Output, @unchecked Sendable {
    public static let name = "tcp"
    public static let summary = "Writes events to a TCP server (client mode) or to every connected client (server mode)."
    public static let defaultCodec = "json"

    public struct Settings: PluginSettings {
        @Setting("host", doc: "The server to connect to (client) or the address to listen on (server).", required: true) var host = ""
        @Setting("port", doc: "The port to connect to or listen on.", required: true) var port = 0
        @Setting("mode", doc: "`client` connects to host:port; `server` listens and writes to every client.") var mode = NetworkMode.client
        @Setting("reconnect_interval", doc: "Seconds between reconnection attempts (client mode).") var reconnectInterval = 10.0
        var tls = TLSSettings(clientAuthentication: .none, protocols: [])
        @Setting("ssl_verification_mode", doc: "Client mode: `full` checks the server's certificate and name, `none` nothing.")
        var verificationMode = TLSVerificationMode.full
        @Setting("ssl_enable", doc: "Replaced.", obsolete: "Use 'ssl_enabled' instead.") var sslEnable = false
        @Setting("ssl_cert", doc: "Replaced.", obsolete: "Use 'ssl_certificate' instead.") var sslCert = ""
        @Setting("ssl_cacert", doc: "Replaced.", obsolete: "Use 'ssl_certificate_authorities' instead.") var sslCacert = ""
        @Setting("ssl_verify", doc: "Replaced.", obsolete: "Use 'ssl_verification_mode' or 'ssl_client_authentication' instead.") var sslVerify = false

        public init() {}

        public func validate() throws(SettingsValidationError) {
            if !(1...65535).contains(port) { throw SettingsValidationError("port must be between 1 and 65535, got \(port)", setting: "port") }
            if reconnectInterval < 0 { throw SettingsValidationError("reconnect_interval must not be negative", setting: "reconnect_interval") }
            if mode == .server { try tls.validateServer() }
        }
    }

    let settings: Settings
    let context: PluginContext
    private let codec: any Codec
    private let lock = Lock()
    private let server: NetworkServer
    private let tlsContext: NIOSSLContext?
    // Guarded by `lock`: the client-mode connection; whether server mode is listening.
    private var connection: Channel?
    private var listening = false

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        codec = context.codec!
        server = NetworkServer(shutdown: context.shutdown)
        switch settings.mode {
        case .client: tlsContext = settings.tls.enabled ? try settings.tls.makeClientContext(verify: settings.verificationMode == .full) : nil
        case .server: tlsContext = try settings.tls.makeContext()
        }
    }

    public func receive(_ events: [Event]) -> OutputOutcome {
        var payload: [UInt8] = []
        for event in events { codec.encode(event, into: &payload) }
        guard !payload.isEmpty else { return .delivered }
        switch settings.mode {
        case .server:
            lock.withLock { listenOnce() }
            broadcast(payload)
            return .delivered
        case .client:
            return lock.withLock {
                if sendRetrying(ByteBuffer(bytes: payload)) { return .delivered }
                var outcome = OutputOutcome()
                UndeliveredAtShutdown.record(events, context: context, what: "sent to \(settings.host):\(settings.port)", into: &outcome)
                return outcome
            }
        }
    }

    public func close() {
        lock.withLock {
            try? connection?.close().wait()
            connection = nil
        }
        server.stop()
        server.serve()
    }

    // MARK: Client mode

    /// Writes `payload` on the connection, reconnecting until it is written or the pipeline stops.
    private func sendRetrying(_ payload: ByteBuffer) -> Bool {
        while true {
            do {
                try currentConnection().writeAndFlush(payload).wait()
                return true
            } catch {
                context.logger.warn("Failed to send to \(settings.host):\(settings.port), reconnecting in \(settings.reconnectInterval) s: \(error)")
                try? connection?.close().wait()
                connection = nil
                if !RetryPolicy.sleep(settings.reconnectInterval, shouldStop: { context.shutdown.isRequested }) { return false }
            }
        }
    }

    private func currentConnection() throws -> Channel {
        if let connection, connection.isActive { return connection }
        let channel = try ClientBootstrap(group: NetworkEventLoops.group)
            .connectTimeout(.seconds(10))
            .channelInitializer { [tlsContext, settings] channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let tlsContext else { return }
                    let name = settings.verificationMode == .full ? settings.host : nil
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tlsContext, serverHostname: name))
                }
            }
            .connect(host: settings.host, port: settings.port).wait()
        connection = channel
        return channel
    }

    // MARK: Server mode

    /// Binds on the first batch, not at start-up, so that `-t` and a reload that compiles the next pipeline while
    /// this one runs do not take the port; a failed bind is logged and tried again with the next batch.
    private func listenOnce() {
        guard !listening else { return }
        do {
            try listen()
            listening = true
        } catch {
            context.logger.error("could not bind to \(settings.host):\(settings.port): \(error)")
        }
    }

    private func listen() throws {
        try server.bindTCP(host: settings.host, port: settings.port) { [tlsContext] channel in
            if let tlsContext { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext)) }
        }
    }

    /// Every client connected now gets the payload; a client whose write fails is closed.
    private func broadcast(_ payload: [UInt8]) {
        for channel in server.openConnections {
            channel.writeAndFlush(ByteBuffer(bytes: payload)).whenFailure { _ in channel.close(promise: nil) }
        }
    }
}

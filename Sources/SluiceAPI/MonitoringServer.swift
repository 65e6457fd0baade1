import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import NIOSSL
import SluiceCore

/// Serves a `MonitoringAPI` over HTTP with Hummingbird on the first free port of the configured range.
///
/// `start()` blocks the calling (non-async) thread until the server is listening or every port failed; `stop()`
/// shuts it down gracefully. The server runs on Hummingbird's event loops, never on pipeline threads.
public final class MonitoringServer: @unchecked Sendable {
    public let api: MonitoringAPI
    let configuration: APIConfiguration
    let logger = SluiceCore.Logger("api.service")
    private var task: Task<Void, Never>?
    /// The port bound, once started.
    public private(set) var port: Int?

    public init(api: MonitoringAPI, configuration: APIConfiguration) {
        self.api = api
        self.configuration = configuration
        connectionLimiter = ConnectionLimiter(maximum: configuration.maxConnections)
    }

    /// Binds and starts serving. - Throws: `SettingsError` when no port of the range is free or the TLS
    /// certificate cannot be read.
    public func start() throws(SettingsError) {
        let server = try serverBuilder()
        if configuration.basicAuth == nil && !configuration.isLoopback {
            logger.warn("The API is bound to the non-loopback address \(configuration.host) without authentication (api.auth.type: none); anyone who can reach it can read the node's stats.")
        }
        for candidate in configuration.ports {
            if let task = try? bind(candidate, server) {
                self.task = task
                port = candidate
                api.httpAddress = "\(configuration.host):\(candidate)"
                logger.info("Successfully started Sluice API endpoint {:port=>\(candidate), :ssl_enabled=>\(configuration.tls != nil)}")
                return
            }
        }
        throw SettingsError("The API could not bind to \(configuration.host) on any port of \(configuration.ports.lowerBound)-\(configuration.ports.upperBound)")
    }

    /// Shared by the connections' guards: how many are open.
    let connectionLimiter: ConnectionLimiter

    /// Plain HTTP/1.1, or HTTP/1.1 over TLS with the configured certificate and key; every connection gets a
    /// `ConnectionGuard` (header deadline, connection cap).
    private func serverBuilder() throws(SettingsError) -> HTTPServerBuilder {
        let limiter = connectionLimiter
        let timeout = TimeAmount.milliseconds(Int64(configuration.headerTimeoutMilliseconds))
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ConnectionGuard(limiter: limiter, headerTimeout: timeout)])
        guard let tls = configuration.tls else { return .http1(configuration: http1) }
        do {
            let tlsConfiguration: TLSConfiguration
            switch tls {
            case .keystore(let path, let password):
                let bundle = try NIOSSLPKCS12Bundle(file: path, passphrase: Array(password.utf8))
                tlsConfiguration = .makeServerConfiguration(
                    certificateChain: bundle.certificateChain.map { .certificate($0) }, privateKey: .privateKey(bundle.privateKey))
            case .pem(let certificate, let key):
                tlsConfiguration = .makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            }
            return try .tls(.http1(configuration: http1), tlsConfiguration: tlsConfiguration)
        } catch {
            throw SettingsError("The API's TLS certificate could not be loaded: \(error)")
        }
    }

    /// Tries one port: returns the running server task, or throws when binding fails.
    private func bind(_ port: Int, _ server: HTTPServerBuilder) throws -> Task<Void, Never> {
        let outcome = Outcome()
        let api = self.api
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let response = api.respond(to: APIRequest(
                method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "",
                authorization: request.headers[.authorization],
                xsrf: request.headers.first { $0.name.canonicalName == APIRequest.xsrfHeader }?.value))
            var headers = HTTPFields()
            headers[.contentType] = response.contentType
            for (name, value) in response.headers {
                if let field = HTTPFields.Element.Name(name) { headers[field] = value }
            }
            let body = request.method == .head ? ByteBuffer() : ByteBuffer(string: response.body)
            return Response(status: .init(code: response.status), headers: headers, body: .init(byteBuffer: body))
        }
        var app = Application(
            responder: responder, server: server,
            configuration: .init(address: .hostname(configuration.host, port: port), serverName: nil, reuseAddress: true),
            onServerRunning: { _ in outcome.finish(true) })
        // Hummingbird's own info lines would land on stdout, which belongs to the pipelines' stdout outputs.
        app.logger.logLevel = type(of: app.logger.logLevel).critical
        let task = Task {
            do { try await app.run() } catch {}
            outcome.finish(false)
        }
        guard outcome.wait() else { throw SettingsError("port \(port) is in use") }
        return task
    }

    /// Stops the server and waits until it has closed its socket.
    public func stop() {
        guard let task else { return }
        self.task = nil
        task.cancel()
        let done = Semaphore()
        Task {
            await task.value
            done.signal()
        }
        done.wait()
    }
}

/// The first of "listening" or "failed" wins; `wait()` returns it.
private final class Outcome: @unchecked Sendable {
    private let lock = Lock()
    private let semaphore = Semaphore()
    private var result: Bool?

    func finish(_ ok: Bool) {
        let first = lock.withLock { () -> Bool in
            guard result == nil else { return false }
            result = ok
            return true
        }
        if first { semaphore.signal() }
    }

    func wait() -> Bool {
        semaphore.wait()
        return lock.withLock { result ?? false }
    }
}

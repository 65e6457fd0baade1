import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOSSL
import SluiceCore

/// A blocking HTTP client for outputs: keep-alive connections in a bounded pool (AsyncHTTPClient), with each call
/// blocking the calling worker until the response is complete. That blocking is the back-pressure: no request is
/// queued beyond the workers that wait for it. Safe to call from several workers at once.
final class HTTPTransport: Sendable {
    /// What a finished exchange returned.
    struct Response: Sendable {
        let status: Int
        let body: [UInt8]
        var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    /// Why an exchange produced no response.
    enum Failure: Error, CustomStringConvertible {
        /// The host could not be reached (refused, unresolvable, connection dropped): another host may work.
        case unreachable(String)
        /// The request or connection timed out.
        case timeout(String)
        /// Anything else (TLS, protocol).
        case other(String)

        var description: String {
            switch self {
            case .unreachable(let m): "host unreachable: \(m)"
            case .timeout(let m): "timed out: \(m)"
            case .other(let m): m
            }
        }
    }

    /// TLS options shared by the HTTP outputs.
    struct TLSOptions: Sendable {
        var verify = true
        var certificateAuthorities: [String] = []
    }

    private let client: HTTPClient
    let timeoutSeconds: Double
    private let isShutDown = ShutdownFlag()

    /// - Parameters:
    ///   - poolSize: most keep-alive connections per host.
    ///   - timeoutSeconds: the deadline of a whole exchange, and the connect and read timeouts unless given.
    ///   - connectTimeoutSeconds: how long establishing a connection may take.
    ///   - readTimeoutSeconds: how long to wait for data on a connection.
    ///   - tls: certificate checks for https hosts.
    ///   - retryConnect: whether AsyncHTTPClient retries a failed connection attempt until the deadline (off for
    ///     outputs that mark hosts dead and retry themselves).
    init(
        poolSize: Int, timeoutSeconds: Double, connectTimeoutSeconds: Double? = nil, readTimeoutSeconds: Double? = nil,
        tls: TLSOptions = TLSOptions(), retryConnect: Bool = false
    ) throws {
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        if !tls.verify { tlsConfiguration.certificateVerification = .none }
        if !tls.certificateAuthorities.isEmpty {
            var certificates: [NIOSSLCertificate] = []
            for path in tls.certificateAuthorities {
                certificates += try NIOSSLCertificate.fromPEMFile(path)
            }
            tlsConfiguration.trustRoots = .certificates(certificates)
        }
        func amount(_ seconds: Double) -> TimeAmount { .milliseconds(Int64(max(seconds, 0.001) * 1000)) }
        var pool = HTTPClient.Configuration.ConnectionPool(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, poolSize))
        pool.retryConnectionEstablishment = retryConnect
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tlsConfiguration, timeout: .init(
                connect: amount(connectTimeoutSeconds ?? timeoutSeconds), read: amount(readTimeoutSeconds ?? timeoutSeconds)), connectionPool: pool,
            decompression: .enabled(limit: .none))
        configuration.httpVersion = .http1Only
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        self.timeoutSeconds = timeoutSeconds
    }

    /// A request under way; `wait()` blocks until its response is complete.
    struct Pending {
        fileprivate let future: EventLoopFuture<HTTPClient.Response>?
        fileprivate let failure: Failure?

        /// Waits for the whole response. Never call from an event loop.
        func wait() throws(Failure) -> Response {
            if let failure { throw failure }
            do {
                let response = try future!.wait()
                let bytes = response.body.map { Array($0.readableBytesView) } ?? []
                return Response(status: Int(response.status.code), body: bytes)
            } catch {
                throw HTTPTransport.classify(error)
            }
        }
    }

    /// Starts one request without waiting (for outputs that send several at once).
    func start(_ method: HTTPMethod, url: String, headers: [(String, String)], body: [UInt8]?) -> Pending {
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(
                url: url, method: method, headers: HTTPHeaders(headers), body: body.map { .bytes($0) })
        } catch {
            return Pending(future: nil, failure: .other("invalid request for \(url): \(error)"))
        }
        let deadline = NIODeadline.now() + .milliseconds(Int64(max(timeoutSeconds, 0.001) * 1000))
        return Pending(future: client.execute(request: request, deadline: deadline), failure: nil)
    }

    /// Sends one request and waits for the whole response. Never call from an event loop.
    func send(
        _ method: HTTPMethod, url: String, headers: [(String, String)], body: [UInt8]?
    ) throws(Failure) -> Response {
        try start(method, url: url, headers: headers, body: body).wait()
    }

    /// Maps AsyncHTTPClient and NIO errors to what the outputs act on.
    static func classify(_ error: any Error) -> Failure {
        let text = String(describing: error)
        if let e = error as? HTTPClientError {
            switch e {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout: return .timeout(text)
            case .remoteConnectionClosed, .connectTimeout: return .unreachable(text)
            default: break
            }
        }
        if error is ChannelError || text.contains("connectionRefused") || text.contains("ECONNREFUSED")
            || text.contains("Connection refused") || text.contains("NIOConnectionError") || text.contains("connect(")
        {
            return .unreachable(text)
        }
        if text.lowercased().contains("timeout") || text.contains("timedOut") { return .timeout(text) }
        return .other(text)
    }

    /// Closes every connection; call after the last `send` (later calls do nothing).
    func shutdown() {
        guard !isShutDown.isRequested else { return }
        isShutDown.request()
        try? client.syncShutdown()
    }

    // A plugin that was built but never closed (a config check, a failed start) must not leak the client.
    deinit { shutdown() }
}

extension HTTPMethod {
    /// The method for a Logstash `http_method` value.
    init(logstashName: String) {
        switch logstashName {
        case "put": self = .PUT
        case "patch": self = .PATCH
        case "delete": self = .DELETE
        case "get": self = .GET
        case "head": self = .HEAD
        default: self = .POST
        }
    }
}


/// One HTTP request from the command line to a running Sluice's API (`sluice dlq redrive`), on a client made for
/// it and shut down after. Blocks the calling thread.
public enum APIClient {
    /// Sends `method url` with `headers` and no body; returns the status and the body's text.
    /// - Throws: a description of why no response came (refused, timed out, TLS).
    public static func send(_ method: String, url: String, headers: [(String, String)], timeoutSeconds: Double = 30)
        throws -> (status: Int, body: String)
    {
        let transport = try HTTPTransport(poolSize: 1, timeoutSeconds: timeoutSeconds)
        defer { transport.shutdown() }
        do {
            let r = try transport.send(HTTPMethod(rawValue: method), url: url, headers: headers, body: nil)
            return (r.status, r.bodyText)
        } catch {
            throw APIClientError(description: error.description)
        }
    }
}

/// Why `APIClient.send` got no response.
public struct APIClientError: Error, CustomStringConvertible {
    public let description: String
}

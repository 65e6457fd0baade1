import NIOCore
import NIOHTTP1
import NIOHTTPCompression
import NIOPosix
import NIOSSL
import SluiceCore

/// Receives events over HTTP (Logstash's `http` input): each request body is decoded by the codec for its
/// content type (`additional_codecs`, else `codec`; a JSON array makes one event per element), the events get the
/// request's headers and the client's address, and the response (`response_code`, `response_headers`, body `ok`)
/// is sent only once the events are in the pipeline's queue. A request waits while the queue is full; once one has
/// waited 10 s, or `max_pending_requests` wait, new requests get 429. Requests are read on the input's own `threads` event loops; `run` blocks the
/// input's thread until the pipeline stops.
public final class HttpInput: Input, @unchecked Sendable {
    public static let name = "http"
    public static let summary = "Receives events over HTTP(S); responds once the events are queued, 429 while the queue is full."

    /// `response_code`: one of the success codes Logstash allows.
    enum ResponseCode: String, SettingEnum, Sendable {
        case ok = "200", created = "201", accepted = "202", noContent = "204"
    }

    public struct Settings: PluginSettings {
        @Setting("host", doc: "The address to listen on.") var host = "0.0.0.0"
        @Setting("port", doc: "The port to listen on.") var port = 8080
        @Setting("user", doc: "Basic authentication user; with password, requests without them get 401.") var user: String? = nil
        @Setting("password", doc: "Basic authentication password.") var password: String? = nil
        var tls = TLSSettings(clientAuthentication: .none, protocols: [.tls12, .tls13])
        @Setting("additional_codecs", doc: "Codecs by MIME type (parameters ignored); other types use `codec`.")
        var additionalCodecs = SettingHash<String>([("application/json", "json")])
        @Setting("response_headers", doc: "Headers of every successful response.")
        var responseHeaders = SettingHash<String>([("Content-Type", "text/plain")])
        @Setting("response_code", doc: "The status of a successful response: 200, 201, 202 or 204.") var responseCode = ResponseCode.ok
        @Setting("remote_host_target_field", doc: "Where the client's address goes (default `host`, ECS `[host][ip]`).")
        var remoteHostTargetField: String? = nil
        @Setting("request_headers_target_field", doc: "Where the request headers go (default `headers`, ECS under [@metadata]).")
        var requestHeadersTargetField: String? = nil
        @Setting("threads", doc: "Event-loop threads reading requests.") var threads = System.cpuCount
        @Setting("max_pending_requests", doc: "Requests waiting for the queue before new ones get 429.") var maxPendingRequests = 200
        @Setting("max_content_length", doc: "The largest body accepted, in bytes; larger ones get 413.") var maxContentLength = 100 * 1024 * 1024
        @Setting("header_timeout", doc: "Sluice: seconds a connection may take to send a request line and headers (from connecting, or from the last response); slower ones are closed.")
        var headerTimeout = 60.0
        @Setting("max_connections", doc: "Sluice: connections served at once; further ones are closed when accepted.") var maxConnections = 10_000
        @Setting("ssl_keystore_path", doc: "Not supported by Sluice: use ssl_certificate and ssl_key (PEM).") var keystorePath: String? = nil
        @Setting("ssl_keystore_password", doc: "Not supported by Sluice (see ssl_keystore_path).") var keystorePassword: String? = nil
        @Setting("ssl_keystore_type", doc: "Not supported by Sluice (see ssl_keystore_path).") var keystoreType: String? = nil
        @Setting("ssl_truststore_path", doc: "Not supported by Sluice: use ssl_certificate_authorities (PEM).") var truststorePath: String? = nil
        @Setting("ssl_truststore_password", doc: "Not supported by Sluice (see ssl_truststore_path).") var truststorePassword: String? = nil
        @Setting("ssl", doc: "Replaced by ssl_enabled.", obsolete: "Set 'ssl_enabled' instead.") var ssl = false
        @Setting("keystore", doc: "Replaced.", obsolete: "Set 'ssl_keystore_path' instead.") var keystore = ""
        @Setting("keystore_password", doc: "Replaced.", obsolete: "Set 'ssl_keystore_password' instead.") var keystorePasswordOld = ""
        @Setting("verify_mode", doc: "Replaced.", obsolete: "Set 'ssl_client_authentication' instead.") var verifyMode = ""
        @Setting("cipher_suites", doc: "Replaced.", obsolete: "Set 'ssl_cipher_suites' instead.") var cipherSuites = ""
        @Setting("tls_min_version", doc: "Replaced.", obsolete: "Set 'ssl_supported_protocols' instead.") var tlsMinVersion = ""
        @Setting("tls_max_version", doc: "Replaced.", obsolete: "Set 'ssl_supported_protocols' instead.") var tlsMaxVersion = ""
        @Setting("ssl_verify_mode", doc: "Replaced.", obsolete: "Set 'ssl_client_authentication' instead.") var sslVerifyMode = ""

        public init() {}

        public func validate() throws(SettingsValidationError) {
            if !(1...65535).contains(port) { throw SettingsValidationError("port must be between 1 and 65535, got \(port)", setting: "port") }
            let javaStores = [
                ("ssl_keystore_path", keystorePath), ("ssl_keystore_password", keystorePassword), ("ssl_keystore_type", keystoreType),
                ("ssl_truststore_path", truststorePath), ("ssl_truststore_password", truststorePassword),
            ]
            for (name, value) in javaStores where value != nil {
                throw SettingsValidationError("\(name) (Java keystores) is not supported by Sluice; give PEM files with ssl_certificate, ssl_key and ssl_certificate_authorities", setting: name)
            }
            if (user == nil) != (password == nil) {
                throw SettingsValidationError("user and password must be set together", setting: user == nil ? "password" : "user")
            }
            if threads < 1 { throw SettingsValidationError("threads must be at least 1", setting: "threads") }
            if maxPendingRequests < 1 { throw SettingsValidationError("max_pending_requests must be at least 1", setting: "max_pending_requests") }
            if !(headerTimeout > 0) { throw SettingsValidationError("header_timeout must be more than 0 seconds", setting: "header_timeout") }
            if maxConnections < 1 { throw SettingsValidationError("max_connections must be at least 1", setting: "max_connections") }
            try tls.validateServer()
        }
    }

    let settings: Settings
    let context: PluginContext
    private let fields: HttpFields
    private let authorization: String?
    private let tlsContext: NIOSSLContext?
    private let server: NetworkServer
    private let pending = PendingRequests()
    /// The success response's headers and body, built once from `response_headers` and `response_code`.
    private let successHeaders: HTTPHeaders
    private let successBody: ByteBuffer?
    private let successStatus: HTTPResponseStatus
    /// `header_timeout`: how long a connection may wait for a request head.
    let headerTimeout: TimeAmount

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        let ecs = context.ecsCompatibility.isEnabled
        fields = HttpFields(
            ecs: ecs, remoteHost: settings.remoteHostTargetField ?? (ecs ? "[host][ip]" : "host"),
            headers: settings.requestHeadersTargetField ?? (ecs ? "[@metadata][input][http][request][headers]" : "headers"))
        if let user = settings.user, let password = settings.password {
            authorization = "Basic " + Base64.encode(Array("\(user):\(password)".utf8))
        } else {
            authorization = nil
        }
        for (_, codec) in settings.additionalCodecs { _ = try context.makeCodec(named: codec) }
        tlsContext = try settings.tls.makeContext()
        server = NetworkServer(shutdown: context.shutdown, maxConnections: settings.maxConnections, logger: context.logger)
        headerTimeout = .nanoseconds(Int64(settings.headerTimeout * 1e9))
        successBody = settings.responseCode == .noContent ? nil : ByteBuffer(string: "ok")
        var headers = HTTPHeaders(settings.responseHeaders.map { ($0.key, $0.value) })
        headers.replaceOrAdd(name: "Content-Length", value: String(successBody?.readableBytes ?? 0))
        successHeaders = headers
        successStatus = HTTPResponseStatus(statusCode: Int(settings.responseCode.rawValue)!)
    }

    public func run(_ sink: EventSink) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: settings.threads)
        defer { try? group.syncShutdownGracefully() }
        try server.bindTCP(group: group, host: settings.host, port: settings.port) { [self] channel in try addHandlers(to: channel, sink) }
        context.logger.info("Starting http input listener {:address=>\"\(settings.host):\(settings.port)\", :ssl_enabled=>\(settings.tls.enabled)}")
        server.serve()
    }

    public func stop() { server.stop() }

    private func addHandlers(to channel: Channel, _ sink: EventSink) throws {
        let pipeline = channel.pipeline.syncOperations
        if let tlsContext { try pipeline.addHandler(NIOSSLServerHandler(context: tlsContext)) }
        try pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
        try pipeline.addHandler(NIOHTTPRequestDecompressor(limit: .size(settings.maxContentLength)))
        try pipeline.addHandler(HttpRequestHandler(input: self, sink: sink, codecs: try ConnectionCodecs(settings, context)))
    }

    // MARK: What the request handler asks of the input

    /// Basic authentication: nil when the request may go on, else the 401 to answer (with the challenge when the
    /// request carried no credentials).
    func authenticate(_ head: HTTPRequestHead) -> HTTPHeaders? {
        guard let authorization else { return nil }
        guard let given = head.headers.first(name: "authorization") else {
            return ["WWW-Authenticate": "Basic realm=\"Logstash HTTP Input\"", "Content-Length": "0"]
        }
        return given == authorization ? nil : ["Content-Length": "0"]
    }

    /// Takes a slot for a request, or nil to refuse it with 429 (see `PendingRequests`).
    func admit() -> Int? { pending.take(limit: settings.maxPendingRequests) }
    func release(_ ticket: Int) { pending.release(ticket) }

    var maxContentLength: Int { settings.maxContentLength }

    func successHead(_ version: HTTPVersion, keepAlive: Bool) -> (HTTPResponseHead, ByteBuffer?) {
        var headers = successHeaders
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        return (HTTPResponseHead(version: version, status: successStatus, headers: headers), successBody)
    }

    /// The fields every event of a request gets (built once per request).
    func requestFields(_ head: HTTPRequestHead, remoteAddress: String) -> FieldOverlay {
        fields.overlay(headers: HttpFields.headerMap(head), remoteAddress: remoteAddress)
    }

    /// Adds the request's fields to one decoded event, then the input's decorations.
    func annotate(_ event: Event, _ request: FieldOverlay) {
        request.apply(to: event)
        context.decorate(event)
    }

    var logger: Logger { context.logger }
}

/// The codecs of one connection: the input's codec and one per `additional_codecs` entry, so that each connection
/// decodes with its own state. Used on the connection's event loop only.
final class ConnectionCodecs {
    private let fallback: any Codec
    private let byMimeType: [String: any Codec]

    init(_ settings: HttpInput.Settings, _ context: PluginContext) throws {
        fallback = try context.makeCodec()
        var byMimeType: [String: any Codec] = [:]
        for (mimeType, name) in settings.additionalCodecs { byMimeType[mimeType.lowercased()] = try context.makeCodec(named: name) }
        self.byMimeType = byMimeType
    }

    /// The codec for a `Content-Type` value: its MIME type without parameters picks an additional codec.
    func codec(forContentType contentType: String?) -> any Codec {
        guard let contentType else { return fallback }
        let mimeType = contentType.split(separator: ";", maxSplits: 1).first.map { String($0.filter { $0 != " " && $0 != "\t" }) } ?? ""
        return byMimeType[mimeType.lowercased()] ?? fallback
    }
}

/// The requests waiting for the queue, shared by the input's connections: Logstash answers 429 when
/// `max_pending_requests` wait, or when a request has waited 10 s for the queue (the input is blocked), and
/// otherwise lets a request wait. Called on event loops and on the hand-off's thread.
final class PendingRequests: @unchecked Sendable {
    /// How long a request may wait for the queue before new ones are refused (Logstash's 10 s).
    static let blockedAfterNanoseconds = 10_000_000_000
    private let lock = Lock()
    private var started: [Int: Int] = [:]
    private var nextID = 0

    /// A ticket for a new request, or nil when it must be refused (429).
    func take(limit: Int) -> Int? {
        let now = Clock.nanoseconds()
        return lock.withLock {
            guard started.count < limit else { return nil }
            if let oldest = started.values.min(), now - oldest >= Self.blockedAfterNanoseconds { return nil }
            defer { nextID += 1 }
            started[nextID] = now
            return nextID
        }
    }

    func release(_ ticket: Int) { _ = lock.withLock { started.removeValue(forKey: ticket) } }
}

/// Reads requests on one connection: collects the body up to `max_content_length` (413 beyond), checks basic
/// authentication (401), answers 429 when the pipeline cannot take more, decodes the body, and answers once the
/// events are queued. Called on the connection's event loop only.
final class HttpRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let input: HttpInput
    private let sink: EventSink
    private let codecs: ConnectionCodecs
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var refused = false
    /// Closes the connection when no request head arrives in time (slowloris); armed while waiting for one.
    private var headerDeadline: Scheduled<Void>?

    init(input: HttpInput, sink: EventSink, codecs: ConnectionCodecs) {
        self.input = input
        self.sink = sink
        self.codecs = codecs
    }

    func handlerAdded(context: ChannelHandlerContext) { awaitNextHead(context) }

    func handlerRemoved(context: ChannelHandlerContext) {
        headerDeadline?.cancel()
        headerDeadline = nil
    }

    /// Arms the `header_timeout` deadline: on a new connection, and after each response on a kept-alive one.
    private func awaitNextHead(_ context: ChannelHandlerContext) {
        headerDeadline?.cancel()
        let channel = context.channel
        headerDeadline = context.eventLoop.scheduleTask(in: input.headerTimeout) { channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            headerDeadline?.cancel()
            headerDeadline = nil
            self.head = head
            body.clear()
            refused = false
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > input.maxContentLength {
                refuse(.payloadTooLarge, context, close: true)
            }
        case .body(var chunk):
            guard !refused else { return }
            if body.readableBytes + chunk.readableBytes > input.maxContentLength {
                return refuse(.payloadTooLarge, context, close: true)
            }
            body.writeBuffer(&chunk)
        case .end:
            guard !refused, let head else { return }
            process(head, context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        input.logger.debug("http connection error: \(error)")
        context.close(promise: nil)
    }

    private func process(_ head: HTTPRequestHead, _ context: ChannelHandlerContext) {
        if let challenge = input.authenticate(head) {
            return respond(HTTPResponseHead(version: head.version, status: .unauthorized, headers: challenge), nil, context, keepAlive: head.isKeepAlive)
        }
        guard let ticket = input.admit() else { return refuse(.tooManyRequests, context, close: false) }
        let facts = input.requestFields(head, remoteAddress: PeerAddress(context.channel.remoteAddress)?.ip ?? "unknown")
        let codec = codecs.codec(forContentType: head.headers.first(name: "content-type"))
        var events: [Event] = []
        let collect = { [input] (event: Event) in
            input.annotate(event, facts)
            events.append(event)
        }
        body.withUnsafeReadableBytes { raw in codec.decode(raw.bindMemory(to: UInt8.self), collect) }
        codec.flush(collect)
        body.clear()
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let (response, responseBody) = input.successHead(head.version, keepAlive: head.isKeepAlive)
        ChannelBackPressure.offer(events, to: sink, from: context.channel) { [input] in
            input.release(ticket)
            loop.execute {
                let (handler, context) = bound.value
                handler.respond(response, responseBody, context, keepAlive: head.isKeepAlive)
            }
        }
    }

    private func refuse(_ status: HTTPResponseStatus, _ context: ChannelHandlerContext, close: Bool) {
        refused = true
        let version = head?.version ?? .http1_1
        let keepAlive = !close && (head?.isKeepAlive ?? false)
        var headers: HTTPHeaders = ["Content-Length": "0"]
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        respond(HTTPResponseHead(version: version, status: status, headers: headers), nil, context, keepAlive: keepAlive)
    }

    private func respond(_ head: HTTPResponseHead, _ body: ByteBuffer?, _ context: ChannelHandlerContext, keepAlive: Bool) {
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if keepAlive {
            awaitNextHead(context)
        } else {
            done.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        }
    }
}

/// The fields the http input adds: the header map (legacy `headers`, ECS under `[@metadata]`), the client address
/// (legacy `host`, ECS `[host][ip]`), and in ECS mode `[http]`, `[url]` and `[user_agent]` facts from the headers.
struct HttpFields: Sendable {
    let ecs: Bool
    let remoteHost: FieldReference
    let headers: FieldReference

    init(ecs: Bool, remoteHost: String, headers: String) {
        self.ecs = ecs
        self.remoteHost = FieldReference(remoteHost)
        self.headers = FieldReference(headers)
    }

    /// Logstash's header map: names lowercased with `-` as `_`, the last value of a repeated header, `accept`,
    /// `host` and `user_agent` renamed with an `http_` prefix (present, as null, when absent), plus the request
    /// method, path (with its query) and version.
    static func headerMap(_ head: HTTPRequestHead) -> Object {
        var map = Object(minimumCapacity: head.headers.count + 6)
        for (name, value) in head.headers {
            let key = String(name.lowercased().map { $0 == "-" ? "_" : $0 })
            if key == "authorization" { continue }
            map[key] = .string(value)
        }
        for (from, to) in [("accept", "http_accept"), ("host", "http_host"), ("user_agent", "http_user_agent")] {
            map[to] = map.removeValue(forKey: from) ?? .null
        }
        map["request_method"] = .string(head.method.rawValue)
        map["request_path"] = .string(head.uri)
        map["http_version"] = .string("HTTP/\(head.version.major).\(head.version.minor)")
        return map
    }

    /// The fields of one request's events, in the order Logstash sets them: the ECS facts, the header map, the
    /// client's address.
    func overlay(headers map: Object, remoteAddress: String) -> FieldOverlay {
        var sets: [(field: FieldReference, value: Value)] = []
        if ecs { sets += Self.ecsFields(map) }
        sets.append((headers, .object(map)))
        sets.append((remoteHost, .string(remoteAddress)))
        return FieldOverlay(sets)
    }

    /// The ECS fields copied from the header map: (header key, field).
    private static let ecsCopies: [(key: String, field: FieldReference)] = [
        ("http_version", "[http][version]"), ("http_user_agent", "[user_agent][original]"), ("request_method", "[http][method]"),
        ("request_path", "[url][path]"), ("content_length", "[http][request][body][bytes]"),
        ("content_type", "[http][request][mime_type]"),
    ].map { ($0.0, FieldReference($0.1)) }
    private static let urlDomain = FieldReference("[url][domain]")
    private static let urlPort = FieldReference("[url][port]")

    private static func ecsFields(_ map: Object) -> [(field: FieldReference, value: Value)] {
        var sets: [(field: FieldReference, value: Value)] = []
        for (key, field) in ecsCopies {
            if let value = map[key], value != .null { sets.append((field, value)) }
        }
        if case .string(let host)? = map["http_host"] {
            let (domain, port) = domainAndPort(host)
            sets.append((urlDomain, .string(domain)))
            if let port { sets.append((urlPort, .int(port))) }
        }
        return sets
    }

    /// `host:port` or `[v6]:port` → (host, port); anything else is the domain alone.
    static func domainAndPort(_ host: String) -> (String, Int?) {
        guard let colon = host.lastIndex(of: ":"), let port = Int(host[host.index(after: colon)...]) else { return (host, nil) }
        var domain = host[..<colon]
        if domain.first == "[" && domain.last == "]" {
            domain = domain.dropFirst().dropLast()
        } else if domain.utf8.contains(UInt8(ascii: ":")) || domain.isEmpty {
            return (host, nil)
        }
        return (String(domain), port)
    }
}

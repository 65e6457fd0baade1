#if canImport(Glibc)
import Glibc
#endif
import NIOHTTP1
import SluiceCore

/// Sends events to an HTTP endpoint (Logstash's `http` output, 5.x): one request per event, or one per batch with
/// `json_batch` (and Sluice's `ndjson`). Retryable statuses and I/O errors are retried with back-off; any other
/// non-2xx status that is not in `ignorable_codes` is logged as Logstash does and, a Sluice addition, the event
/// goes to the dead letter queue with the status and the start of the response body.
public final class HttpOutput: Output, @unchecked Sendable {
    public static let name = "http"
    public static let summary = "Sends events to an HTTP(S) endpoint as JSON, a JSON array, NDJSON, a form or a message."

    public enum Method: String, SettingEnum { case put, post, patch, delete, get, head }
    public enum Format: String, SettingEnum { case json, json_batch, ndjson, form, message }
    public enum VerificationMode: String, SettingEnum { case full, none }

    public struct Settings: PluginSettings {
        @Setting("url", doc: "The URL to send to (sprintf).", required: true)
        var url = Template("")
        @Setting("http_method", doc: "The HTTP method.", required: true)
        var httpMethod = Method.post
        @Setting("format", doc: "The body: `json` (one event), `json_batch` (a JSON array of the batch), `ndjson` (Sluice: one JSON line per event of the batch), `form` (URL-encoded fields) or `message` (the `message` sprintf).")
        var format = Format.json
        @Setting("headers", doc: "Extra headers; values are sprintf'd per event.")
        var headers = SettingHash<String>()
        @Setting("content_type", doc: "The Content-Type (default from `format`: application/json, application/x-www-form-urlencoded, text/plain).")
        var contentType: String? = nil
        @Setting("mapping", doc: "The structure to send instead of the whole event; string values are sprintf'd.")
        var mapping: Value? = nil
        @Setting("message", doc: "The body for `format => message` (sprintf).")
        var message: String? = nil
        @Setting("retry_failed", doc: "Retry requests that got a `retryable_codes` status or a retryable I/O error, indefinitely.")
        var retryFailed = true
        @Setting("retryable_codes", doc: "Statuses that are retried.")
        var retryableCodes = [429, 500, 502, 503, 504]
        @Setting("ignorable_codes", doc: "Non-2xx statuses that count as success.")
        var ignorableCodes: [Int] = []
        @Setting("automatic_retries", doc: "Immediate retries after an I/O failure, before the plugin's own back-off.")
        var automaticRetries = 1
        @Setting("retry_non_idempotent", doc: "Also retry POST and PATCH requests automatically after an I/O failure.")
        var retryNonIdempotent = false
        @Setting("pool_max", doc: "Most requests in flight at once.")
        var poolMax = 50
        @Setting("pool_max_per_route", doc: "Most connections per host.")
        var poolMaxPerRoute = 25
        @Setting("request_timeout", doc: "Seconds before a request times out.")
        var requestTimeout = 60.0
        @Setting("connect_timeout", doc: "Seconds to wait for a connection.")
        var connectTimeout = 10.0
        @Setting("socket_timeout", doc: "Seconds to wait for data on a connection.")
        var socketTimeout = 10.0
        @Setting("keepalive", doc: "Reuse connections.")
        var keepalive = true
        @Setting("http_compression", doc: "Gzip request bodies.")
        var httpCompression = false
        @Setting("ssl_verification_mode", doc: "`full` checks the server certificate and host name; `none` checks nothing.")
        var sslVerificationMode = VerificationMode.full
        @Setting("ssl_certificate_authorities", doc: "PEM files of the certificate authorities to trust.")
        var sslCertificateAuthorities: [String] = []
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if format == .message && message == nil {
                throw SettingsValidationError("message must be set if message format is used", setting: "message")
            }
            if let mapping, !mapping.isObjectOrArray {
                throw SettingsValidationError("mapping must be a hash", setting: "mapping")
            }
            if poolMax < 1 { throw SettingsValidationError("pool_max must be at least 1", setting: "pool_max") }
        }
    }

    let settings: Settings
    let context: PluginContext
    let logger: Logger
    let method: HTTPMethod
    let contentType: String
    let headers: [(key: String, value: Template)]
    let mapping: ValueTemplate?
    let message: Template?
    let retryable: Set<Int>
    let ignorable: Set<Int>
    let transport: HTTPTransport
    private let closed = ShutdownFlag()

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        logger = context.logger
        method = HTTPMethod(logstashName: settings.httpMethod.rawValue)
        switch settings.format {
        case .form: contentType = settings.contentType ?? "application/x-www-form-urlencoded"
        case .message: contentType = settings.contentType ?? "text/plain"
        case .ndjson: contentType = settings.contentType ?? "application/x-ndjson"
        case .json, .json_batch: contentType = settings.contentType ?? "application/json"
        }
        headers = settings.headers.map { ($0.key, Template($0.value)) }
        if settings.format == .message && settings.mapping != nil {
            context.logger.warn("mapping is not supported and will be ignored if message format is used")
        }
        mapping = settings.mapping.map { ValueTemplate(sprintfLeaves: $0) }
        message = settings.message.map(Template.init)
        retryable = Set(settings.retryableCodes)
        ignorable = Set(settings.ignorableCodes)
        transport = try HTTPTransport(
            poolSize: settings.keepalive ? settings.poolMaxPerRoute : 1, timeoutSeconds: settings.requestTimeout,
            connectTimeoutSeconds: settings.connectTimeout, readTimeoutSeconds: settings.socketTimeout,
            tls: .init(verify: settings.sslVerificationMode == .full, certificateAuthorities: settings.sslCertificateAuthorities),
            retryConnect: false)
    }

    public func close() {
        closed.request()
        transport.shutdown()
    }

    var shouldStop: Bool { context.shutdown.isRequested || closed.isRequested }

    /// One request to make: its URL, headers, body and the events it carries.
    struct Request {
        let url: String
        let headers: [(String, String)]
        let body: [UInt8]
        let events: [Event]
    }

    public func receive(_ events: [Event]) -> OutputOutcome {
        var outcome = OutputOutcome()
        var pending: [Request]
        switch settings.format {
        case .json_batch, .ndjson:
            // One request per distinct URL, events in order.
            var groups: [(url: String, events: [Event])] = []
            for e in events {
                let url = settings.url.render(e)
                if let i = groups.firstIndex(where: { $0.url == url }) { groups[i].events.append(e) } else { groups.append((url, [e])) }
            }
            pending = groups.map { group in
                var body: [UInt8] = []
                if settings.format == .json_batch {
                    JSONWriter.write(.array(group.events.map(mapEvent)), to: &body)
                } else {
                    for e in group.events {
                        JSONWriter.write(mapEvent(e), to: &body)
                        body.append(UInt8(ascii: "\n"))
                    }
                }
                return Request(url: group.url, headers: requestHeaders(group.events[0]), body: body, events: group.events)
            }
        default:
            pending = events.map { Request(url: settings.url.render($0), headers: requestHeaders($0), body: body(for: $0), events: [$0]) }
        }
        var attempt = 0
        while !pending.isEmpty {
            var again: [Request] = []
            // At most pool_max requests in flight; each worker waits for its own.
            var start = 0
            while start < pending.count {
                let slice = pending[start..<min(start + settings.poolMax, pending.count)]
                let started = slice.map { r in (r, transport.start(method, url: r.url, headers: r.headers, body: compressed(r.body))) }
                for (request, inFlight) in started {
                    if !finish(request, inFlight, &outcome) { again.append(request) }
                }
                start += settings.poolMax
            }
            if again.isEmpty { return outcome }
            attempt += 1
            let delay = Self.sleepForAttempt(attempt)
            logger.info("Retrying http request, will sleep for \(delay) seconds")
            if !RetryPolicy.sleep(delay, shouldStop: { shouldStop }) {
                for r in again {
                    fail(r, reason: "the pipeline shut down while the request was being retried", &outcome)
                }
                return outcome
            }
            pending = again
        }
        return outcome
    }

    /// Waits for one request and handles its outcome; returns false when it must be retried.
    private func finish(_ request: Request, _ inFlight: HTTPTransport.Pending, _ outcome: inout OutputOutcome) -> Bool {
        var automatic = (method == .POST || method == .PATCH) && !settings.retryNonIdempotent ? 0 : settings.automaticRetries
        var inFlight = inFlight
        while true {
            do {
                let response = try inFlight.wait()
                if (200..<300).contains(response.status) || ignorable.contains(response.status) { return true }
                if retryable.contains(response.status) && settings.retryFailed {
                    if response.status == 429 {
                        logger.debug("Encountered a 429 response, will retry. This is not serious, just flow control via HTTP")
                    } else {
                        logger.rateLimited(.warn, key: "retry\(response.status)",
                            "Encountered a retryable HTTP request in HTTP output, will retry {:code=>\(response.status), :body=>\(Ruby.inspect(string: excerpt(response.bodyText)))}")
                    }
                    return false
                }
                logger.rateLimited(.error, key: "status\(response.status)",
                    "[HTTP Output Failure] Encountered non-2xx HTTP code \(response.status) {:response_code=>\(response.status), :url=>\"\(request.url)\", :event=>\(request.events.count == 1 ? Ruby.inspect(.object(request.events[0].fields)) : "\(request.events.count) events")}")
                deadLetter(request, reason: "HTTP output: non-2xx HTTP code \(response.status) from \(request.url); response body: \(excerpt(response.bodyText))", &outcome)
                return true
            } catch {
                if automatic > 0 {
                    automatic -= 1
                    inFlight = transport.start(method, url: request.url, headers: request.headers, body: compressed(request.body))
                    continue
                }
                let willRetry = settings.retryFailed && { if case .other = error { return false } else { return true } }()
                logger.rateLimited(.error, key: "fetch",
                    "[HTTP Output Failure] Could not fetch URL {:url=>\"\(request.url)\", :method=>:\(settings.httpMethod.rawValue), :message=>\(Ruby.inspect(string: error.description)), :will_retry=>\(willRetry)}")
                if willRetry { return false }
                deadLetter(request, reason: "HTTP output: could not fetch \(request.url): \(error.description)", &outcome)
                return true
            }
        }
    }

    /// Shutdown stopped the retries: with a persisted queue the events stay queued for the next start,
    /// otherwise they go to the DLQ (or are lost with the memory queue, with an error in the log).
    private func fail(_ request: Request, reason: String, _ outcome: inout OutputOutcome) {
        if context.persistedQueue {
            logger.warn("\(reason); \(request.events.count) events stay in the persisted queue for the next start (\(request.url))")
            for e in request.events { outcome.record(e, .retryLater) }
            return
        }
        logger.error("[HTTP Output Failure] \(reason) {:url=>\"\(request.url)\", :events=>\(request.events.count)}")
        deadLetter(request, reason: "HTTP output: \(reason) (\(request.url))", &outcome, otherwise: .retryLater)
    }

    /// Writes the request's events to the DLQ; events it cannot take are `otherwise` (dropped by default, as
    /// Logstash drops a failed request it does not retry).
    private func deadLetter(_ request: Request, reason: String, _ outcome: inout OutputOutcome, otherwise: EventFate = .dropped) {
        for e in request.events {
            let stored = context.deadLetterQueue.isEnabled
                && context.deadLetterQueue.write(e, pluginType: Self.name, pluginID: context.pluginID, reason: reason)
            outcome.record(e, stored ? .deadLettered : otherwise)
        }
    }

    private func excerpt(_ text: String) -> String {
        text.count > 500 ? String(text.prefix(500)) + "…" : text
    }

    private func compressed(_ body: [UInt8]) -> [UInt8]? {
        if settings.httpCompression, let gz = Gzip.compress(body) { return gz }
        return body
    }

    private func requestHeaders(_ event: Event) -> [(String, String)] {
        var out: [(String, String)] = headers.map { ($0.key, $0.value.render(event)) }
        out.append(("Content-Type", contentType))
        if settings.httpCompression { out.append(("Content-Encoding", "gzip")) }
        return out
    }

    /// The body of a single-event request.
    func body(for event: Event) -> [UInt8] {
        switch settings.format {
        case .message:
            return Array((message?.render(event) ?? "").utf8)
        case .form:
            guard case .object(let o) = mapEvent(event) else { return [] }
            let pairs = o.map { key, value in Self.formEscape(key) + "=" + Self.formEscape(Ruby.toS(value)) }
            return Array(pairs.joined(separator: "&").utf8)
        default:
            var out: [UInt8] = []
            JSONWriter.write(mapEvent(event), to: &out)
            return out
        }
    }

    /// The event as sent: `mapping` with its strings sprintf'd, or the whole event (no `@metadata`).
    func mapEvent(_ event: Event) -> Value {
        guard let mapping else { return .object(event.fields) }
        return mapping.render(event)
    }

    /// Ruby's `CGI.escape`: unreserved characters stay, a space becomes `+`, the rest is %-encoded.
    static func formEscape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case UInt8(ascii: " "): out += "+"
            default:
                let hex = String(b, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }

    /// Logstash's `sleep_for_attempt` in its integer arithmetic: attempt², at most 60, halved, plus a random
    /// half (so the first retry is immediate and the second waits 2 to 4 s).
    static func sleepForAttempt(_ attempt: Int) -> Double {
        let full = min(attempt * attempt, 60)
        return Double(full / 2 + Int.random(in: 0...full) / 2)
    }
}

extension Value {
    var isObjectOrArray: Bool {
        switch self {
        case .object, .array: true
        default: false
        }
    }
}

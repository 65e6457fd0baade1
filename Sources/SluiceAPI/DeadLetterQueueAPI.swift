import SluiceCore

/// The DLQ admin API, a Sluice namespace beside Logstash's paths on the same server (same auth and TLS). It reads the
/// running pipelines' queues while they write, streaming one segment at a time:
///
/// ```
/// GET /_sluice/dlq                              every pipeline's DLQ statistics
/// GET /_sluice/dlq/<pipeline>                   statistics and failure signatures
/// GET /_sluice/dlq/<pipeline>/entries           a page: ?since ?until ?plugin ?reason ?signature ?after ?size
/// GET /_sluice/dlq/<pipeline>/entries/<id>      one entry with its event
/// DELETE /_sluice/dlq/<pipeline>/entries/<id>   remove one entry
/// POST /_sluice/dlq/<pipeline>/entries/<id>/_redrive
///                                               send that entry back into the pipeline; removed once its event is
///                                               safe
/// POST /_sluice/dlq/<pipeline>/_remove          remove every entry the query selects (at least one condition)
/// POST /_sluice/dlq/<pipeline>/_redrive         send the selected entries (all without a condition) back into
///                                               the pipeline; each is removed once its event is safe
/// DELETE /_sluice/dlq/<pipeline>                purge the queue
/// ```
///
/// Every path takes `?archive=true` to work on the pipeline's archive instead (entries whose attempts were used up;
/// a redrive from there sends them through the pipeline once more).
///
/// Requests that change something must carry the `sluice-xsrf` header (any value).
///
/// Called on the API server's event loops; holds nothing but the directory it reads.
struct DeadLetterQueueAPI {
    let directory: any PipelineDirectory

    /// The most entries a page holds (`?size`); 100 by default.
    static let maximumPageSize = 1_000

    /// Whether `request` is one of the API's changes (other methods than GET are refused elsewhere).
    static func takes(_ request: APIRequest) -> Bool {
        (request.method == "DELETE" || request.method == "POST") && request.path.hasPrefix("/_sluice/dlq/")
    }

    func route(_ parts: ArraySlice<String>, _ request: APIRequest) throws -> Value {
        let parts = Array(parts)
        guard let id = parts.first else { return .object(everyPipeline()) }
        let (p, admin) = try pipeline(id, request)
        if request.method == "DELETE" || request.method == "POST" { return try change(parts, p, admin, request) }
        switch parts.count {
        case 1:
            return .object(stats(admin, p))
        case 2 where parts[1] == "entries":
            return try page(admin, request)
        case 3 where parts[1] == "entries":
            guard let at = DeadLetterQueueEntryID(parts[2]), let entry = admin.entry(at) else { throw NotFound(path: request.path) }
            return .object(Self.json(at, entry, signature: FailureSignature(entry).id))
        default:
            throw NotFound(path: request.path)
        }
    }

    /// DELETE of an entry or of the whole queue, POST `_remove`.
    func change(_ parts: [String], _ p: Pipeline, _ admin: DeadLetterQueueAdmin, _ request: APIRequest) throws -> Value {
        guard request.xsrf != nil else {
            throw BadRequest(path: request.path, message: "a request that changes the queue needs the \(APIRequest.xsrfHeader) header")
        }
        var o = Object()
        do {
            switch (request.method, parts.count) {
            case ("DELETE", 1):
                o["removed"] = .int(try admin.purge())
            case ("DELETE", 3) where parts[1] == "entries":
                guard let at = DeadLetterQueueEntryID(parts[2]), try admin.remove([at]).count == 1 else {
                    throw NotFound(path: request.path)
                }
                o["removed"] = .int(1)
            case ("POST", 4) where parts[1] == "entries" && parts[3] == "_redrive":
                guard let at = DeadLetterQueueEntryID(parts[2]), admin.entry(at) != nil else { throw NotFound(path: request.path) }
                // Pushing may wait for room in the queue: never on the server's event loop.
                let fromArchive = Self.archive(request)
                _ = try SluiceCore.Thread(name: "dlq-redrive") { p.redrive(entry: at, fromArchive: fromArchive) }
                o["selected"] = .int(1)
            case ("POST", 2) where parts[1] == "_redrive":
                let selection = try Self.selection(request)
                var selected = 0
                var signatures = FailureSignature.Cache()
                admin.scan(decodeEvents: false) { _, entry in
                    if selection.matches(entry, signatures: &signatures) { selected += 1 }
                    return true
                }
                // Pushing may wait for room in the queue: never on the server's event loop.
                let fromArchive = Self.archive(request)
                _ = try SluiceCore.Thread(name: "dlq-redrive") { p.redrive(selection, fromArchive: fromArchive) }
                o["selected"] = .int(selected)
            case ("POST", 2) where parts[1] == "_remove":
                let selection = try Self.selection(request)
                guard selection.isRestricted else {
                    throw BadRequest(path: request.path, message: "_remove needs a selection (since, until, plugin, reason or signature); DELETE the queue to purge it")
                }
                o["removed"] = .int(try admin.remove(selection))
            default:
                throw MethodNotAllowed(path: request.path)
            }
        } catch let error as DeadLetterQueueError {
            throw ServerError(path: request.path, message: error.message)
        }
        return .object(o)
    }

    func everyPipeline() -> Object {
        var out = Object()
        for p in directory.runningPipelines {
            if let writer = p.deadLetterQueue { out[p.settings.id] = .object(stats(DeadLetterQueueAdmin(directory: writer.directory), p)) }
        }
        var o = Object()
        o["pipelines"] = .object(out)
        return o
    }

    /// `?archive=true`.
    static func archive(_ request: APIRequest) -> Bool { request.value("archive") == "true" }

    /// The pipeline `id` and the queue the request is about: its DLQ, or with `?archive=true` its archive.
    func pipeline(_ id: String, _ request: APIRequest) throws -> (Pipeline, DeadLetterQueueAdmin) {
        guard let p = directory.runningPipelines.first(where: { $0.settings.id == id }) else { throw NotFound(path: request.path) }
        guard let writer = p.deadLetterQueue else {
            throw BadRequest(path: request.path, message: "the dead letter queue of pipeline '\(id)' is not enabled")
        }
        return (p, DeadLetterQueueAdmin(directory: Self.archive(request) ? writer.archiveDirectory : writer.directory))
    }

    func stats(_ admin: DeadLetterQueueAdmin, _ p: Pipeline) -> Object {
        admin.stats(warnEntries: p.deadLetterQueueThresholds.warn, criticalEntries: p.deadLetterQueueThresholds.critical)
    }

    func page(_ admin: DeadLetterQueueAdmin, _ request: APIRequest) throws -> Value {
        let selection = try Self.selection(request)
        var cursor: DeadLetterQueueEntryID?
        if let after = request.value("after") {
            guard let id = DeadLetterQueueEntryID(after) else {
                throw BadRequest(path: request.path, message: "after must be an entry id such as 3-4097")
            }
            cursor = id
        }
        var size = 100
        if let text = request.value("size") {
            guard let n = Int(text), n >= 1, n <= Self.maximumPageSize else {
                throw BadRequest(path: request.path, message: "size must be between 1 and \(Self.maximumPageSize)")
            }
            size = n
        }
        let (entries, next) = admin.page(selection, after: cursor, limit: size)
        var o = Object()
        var signatures = FailureSignature.Cache()
        o["entries"] = .array(entries.map { .object(Self.json($0.id, $0.entry, signature: signatures.id(of: $0.entry))) })
        o["next"] = next.map { .string($0.description) } ?? .null
        return .object(o)
    }

    /// `?since`, `?until` (ISO-8601), `?plugin`, `?reason`, `?signature`.
    static func selection(_ request: APIRequest) throws -> DeadLetterQueueSelection {
        func time(_ name: String) throws -> Timestamp? {
            guard let text = request.value(name) else { return nil }
            guard let t = Timestamp.parseISO8601(text) else {
                throw BadRequest(path: request.path, message: "\(name) must be an ISO-8601 time such as 2026-11-22T10:00:00Z")
            }
            return t
        }
        return DeadLetterQueueSelection(
            since: try time("since"), until: try time("until"), plugin: request.value("plugin"),
            reason: request.value("reason"), signature: request.value("signature"))
    }

    /// An entry: its id, when and why it failed, its signature and the event (with `@metadata`).
    static func json(_ id: DeadLetterQueueEntryID, _ entry: DeadLetterQueueEntry, signature: String) -> Object {
        var o = Object()
        o["id"] = .string(id.description)
        o["entry_time"] = .timestamp(entry.entryTime)
        o["plugin_type"] = .string(entry.pluginType)
        o["plugin_id"] = .string(entry.pluginID)
        o["reason"] = .string(entry.reason)
        o["signature"] = .string(signature)
        o["failure"] = .string(FailureKind(entry).rawValue)
        o["attempts"] = .int(entry.attempts)
        var event = entry.event.fields
        if !entry.event.metadata.isEmpty { event["@metadata"] = .object(entry.event.metadata) }
        o["event"] = .object(event)
        return o
    }
}

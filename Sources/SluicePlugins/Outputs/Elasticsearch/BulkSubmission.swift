import NIOHTTP1
import SluiceCore

/// The two retry loops of Logstash's `common.rb`: `retrying_submit` resends the items that failed with a
/// retryable status, `safe_bulk` resends a whole request that got no bulk response. Both back off
/// exponentially and stop when the pipeline shuts down.
extension ElasticsearchOutput {
    /// What one round of `submit` left to do.
    enum SubmitResult {
        case done
        /// These actions failed with a retryable status (or could not be matched to a response).
        case retry([BulkAction])
        /// Shutdown stopped a request retry; these actions were not accepted.
        case aborted([BulkAction], lastError: String)
    }

    /// What `safeBulk` got for one request.
    enum RequestResult {
        case response(BulkResponse)
        /// HTTP 413: every action of the request is treated as a retryable item failure.
        case tooLarge
        case aborted(lastError: String)
    }

    /// Sends `actions` until each one is accepted, dead-lettered or dropped.
    func retryingSubmit(_ actions: [BulkAction], _ outcome: inout OutputOutcome) {
        var pending = actions
        var interval = policy.initialInterval
        while !pending.isEmpty {
            switch submit(pending, &outcome) {
            case .done:
                return
            case .retry(let again):
                pending = again
                logger.info(
                    "Retrying individual bulk actions that failed or were rejected by the previous bulk request {:count=>\(again.count)}")
            case .aborted(let left, let lastError):
                abandon(left, lastError: lastError, &outcome)
                return
            }
            if !RetryPolicy.sleep(interval, shouldStop: { shouldStop }) {
                abandon(pending, lastError: "items were still being retried", &outcome)
                return
            }
            interval = policy.next(after: interval)
        }
    }

    /// One round: every chunk of at most 20 MiB is sent (retried whole until a bulk response comes back), and
    /// each item is handled by its status.
    func submit(_ actions: [BulkAction], _ outcome: inout OutputOutcome) -> SubmitResult {
        var toRetry: [BulkAction] = []
        let chunks = BulkRequestBuilder.chunks(actions)
        for (n, chunk) in chunks.enumerated() {
            switch safeBulk(chunk) {
            case .aborted(let lastError):
                let unsent = chunks[n...].flatMap { actions[$0.actions] }
                return .aborted(toRetry + unsent, lastError: lastError)
            case .tooLarge:
                metrics.documentRetryableFailures.add(chunk.actions.count, ordering: .relaxed)
                toRetry += actions[chunk.actions]
            case .response(let response):
                toRetry += handle(response, for: actions[chunk.actions], &outcome)
            }
        }
        return toRetry.isEmpty ? .done : .retry(toRetry)
    }

    /// Applies the per-item status table; returns the actions to resend.
    func handle(_ response: BulkResponse, for actions: ArraySlice<BulkAction>, _ outcome: inout OutputOutcome) -> [BulkAction] {
        guard response.errors else {
            metrics.bulkSuccesses.add(1, ordering: .relaxed)
            metrics.documentSuccesses.add(actions.count, ordering: .relaxed)
            return []
        }
        metrics.bulkWithErrors.add(1, ordering: .relaxed)
        guard response.items.count == actions.count else {
            // An Elasticsearch bug (7.10.2, 7.11.1) can return more items than actions: nothing can be matched,
            // so the whole request is sent again.
            logger.error(
                "Encountered an unexpected error submitting a bulk request, will retry {:message=>\"Sent \(actions.count) documents but Elasticsearch returned \(response.items.count) responses (likely a bug with _bulk endpoint)\"}")
            return Array(actions)
        }
        var toRetry: [BulkAction] = []
        for (item, action) in zip(response.items, actions) {
            switch ItemOutcome.of(status: item.status, dlqCodes: dlqCodes) {
            case .success:
                metrics.documentSuccesses.add(1, ordering: .relaxed)
            case .conflict:
                metrics.documentNonRetryableFailures.add(1, ordering: .relaxed)
                outcome.record(action.event, .dropped)
                if logsFailure(item) {
                    logger.rateLimited(.warn, key: "409",
                        "Failed action {:status=>\(item.status), :action=>\(action.rubyInspect), :response=>\(Ruby.inspect(item.raw))}")
                }
            case .deadLetter:
                outcome.record(action.event, deadLetter(action, item: item))
                metrics.documentDLQRouted.add(1, ordering: .relaxed)
            case .retry:
                metrics.documentRetryableFailures.add(1, ordering: .relaxed)
                if logsFailure(item) {
                    logger.rateLimited(.info, key: "retry\(item.status)",
                        "Retrying failed action {:status=>\(item.status), :action=>\(action.rubyInspect), :error=>\(Ruby.inspect(item.raw))}")
                }
                toRetry.append(action)
            }
        }
        return toRetry
    }

    private func logsFailure(_ item: BulkResponse.Item) -> Bool {
        guard let type = item.errorType else { return true }
        return !silenced.contains(type)
    }

    /// Logstash's `handle_dlq_response`: the DLQ when enabled, otherwise a log line (ERROR for an invalid index
    /// name, WARN otherwise) and the event is dropped.
    func deadLetter(_ action: BulkAction, item: BulkResponse.Item) -> EventFate {
        let reason =
            "Could not index event to Elasticsearch. status: \(item.status), action: \(action.rubyInspect), response: \(Ruby.inspect(item.raw))"
        if context.deadLetterQueue.isEnabled { return writeDeadLetter(action.event, reason: reason) }
        let level: LogLevel = item.errorType == "invalid_index_name_exception" ? .error : .warn
        logger.rateLimited(level, key: "dlq\(item.status)", reason)
        return .dropped
    }

    /// Shutdown ended the retries before Elasticsearch accepted these actions. With a persisted queue they stay
    /// queued for the next start (their batch is not acknowledged). With the memory queue Logstash loses them;
    /// Sluice writes them to the DLQ when it is enabled, so the repair flow can replay them, and logs them
    /// otherwise.
    func abandon(_ actions: [BulkAction], lastError: String, _ outcome: inout OutputOutcome) {
        guard !actions.isEmpty else { return }
        if context.persistedQueue {
            logger.warn("Shutdown requested while retrying; \(actions.count) events stay in the persisted queue for the next start (last error: \(lastError))")
            for action in actions { outcome.record(action.event, .retryLater) }
            return
        }
        if context.deadLetterQueue.isEnabled {
            logger.warn("Shutdown requested while retrying; \(actions.count) events go to the dead letter queue")
        } else {
            logger.error(
                "Shutdown requested while retrying: \(actions.count) events were not indexed by Elasticsearch (last error: \(lastError)); enable the dead letter queue or the persisted queue to keep them")
        }
        for action in actions {
            let reason =
                "Could not index event to Elasticsearch: the pipeline shut down before the event was accepted (\(lastError)). action: \(action.rubyInspect)"
            if context.deadLetterQueue.isEnabled
                && context.deadLetterQueue.write(action.event, pluginType: Self.name, pluginID: context.pluginID, reason: reason)
            {
                metrics.documentDLQRouted.add(1, ordering: .relaxed)
                outcome.record(action.event, .deadLettered)
            } else {
                outcome.record(action.event, .retryLater)
            }
        }
    }

    /// Logstash's `safe_bulk`: sends one request to a live host, retrying the same request with back-off on any
    /// failure (unreachable host, no live host, a non-2xx status other than 413, an unreadable response) until a
    /// bulk response arrives or shutdown is requested.
    func safeBulk(_ chunk: BulkRequestBuilder.Chunk) -> RequestResult {
        var interval = policy.initialInterval
        let body: [UInt8]
        var headers = baseHeaders
        if compressionLevel > 0, let gz = Gzip.compress(chunk.body, level: Int32(compressionLevel)) {
            body = gz
            headers.append(("Content-Encoding", "gzip"))
        } else {
            body = chunk.body
        }
        headers.append(("X-Elastic-Event-Count", String(chunk.actions.count)))
        headers.append(("X-Elastic-Uncompressed-Request-Length", String(chunk.body.count)))
        while true {
            let lastError: String
            if let host = hostPool.pick() {
                do {
                    let started = Clock.nanoseconds()
                    let response = try transport.send(.POST, url: host.url(Self.bulkEndpoint), headers: headers, body: body)
                    metrics.countResponse(response.status)
                    logger.debug(
                        "Bulk request answered {:status=>\(response.status), :actions=>\(chunk.actions.count), :bytes=>\(chunk.body.count), :duration_ms=>\((Clock.nanoseconds() - started) / 1_000_000)}")
                    if (200..<300).contains(response.status) {
                        do {
                            return .response(try BulkResponse.parse(response.body))
                        } catch {
                            metrics.bulkFailures.add(1, ordering: .relaxed)
                            lastError = "\(error.description) (HTTP \(response.status), \(response.body.count) bytes: \(String(response.bodyText.prefix(80))))"
                            logger.error(
                                "An unknown error occurred sending a bulk request to Elasticsearch (will retry indefinitely) {:message=>\(Ruby.inspect(string: lastError))}")
                        }
                    } else if response.status == 413 {
                        logger.warn(
                            "Bulk request rejected: `413 Payload Too Large` {:action_count=>\(chunk.actions.count), :content_length=>\(body.count)}")
                        return .tooLarge
                    } else {
                        metrics.bulkFailures.add(1, ordering: .relaxed)
                        lastError = "HTTP \(response.status)"
                        let message =
                            "Encountered a retryable error (will retry with exponential backoff) {:code=>\(response.status), :url=>\"\(host.url("/_bulk"))\", :content_length=>\(body.count), :body=>\(Ruby.inspect(string: String(response.bodyText.prefix(1000))))}"
                        // 429 is flow control, not an error.
                        logger.rateLimited(response.status == 429 ? .debug : .error, key: "bulk\(response.status)", message)
                    }
                } catch {
                    metrics.bulkFailures.add(1, ordering: .relaxed)
                    lastError = error.description
                    switch error {
                    case .unreachable, .timeout:
                        hostPool.markDead(host, error: error.description)
                        logger.rateLimited(.error, key: "unreachable",
                            "Attempted to send a bulk request but Elasticsearch appears to be unreachable or down {:message=>\(Ruby.inspect(string: error.description)), :will_retry_in_seconds=>\(interval)}")
                    case .other:
                        logger.rateLimited(.error, key: "unknown",
                            "An unknown error occurred sending a bulk request to Elasticsearch (will retry indefinitely) {:message=>\(Ruby.inspect(string: error.description))}")
                    }
                }
            } else {
                metrics.bulkFailures.add(1, ordering: .relaxed)
                lastError = "no living connections"
                logger.rateLimited(.error, key: "noconnection",
                    "Attempted to send a bulk request but there are no living connections in the pool (perhaps Elasticsearch is unreachable or down?) {:will_retry_in_seconds=>\(interval)}")
            }
            if shouldStop || !RetryPolicy.sleep(interval, shouldStop: { shouldStop }) {
                return .aborted(lastError: lastError)
            }
            interval = policy.next(after: interval)
        }
    }
}

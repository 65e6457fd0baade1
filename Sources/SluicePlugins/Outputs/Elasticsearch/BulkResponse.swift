import SluiceCore

/// A parsed `_bulk` response (`filter_path=errors,items.*.error,items.*.status`).
struct BulkResponse {
    /// One item: its action, status and error, and the item as Elasticsearch sent it (for DLQ reasons and logs).
    struct Item {
        let action: String
        let status: Int
        let errorType: String?
        let raw: Value
    }

    let errors: Bool
    let items: [Item]

    enum ParseError: Error, CustomStringConvertible {
        case invalid(String)
        var description: String { switch self { case .invalid(let m): m } }
    }

    static func parse(_ body: [UInt8]) throws(ParseError) -> BulkResponse {
        let value: Value
        do {
            value = try JSONParser.parse(body)
        } catch {
            throw .invalid("unparsable bulk response: \(error)")
        }
        guard case .object(let root) = value else { throw .invalid("bulk response is not a JSON object") }
        let errors = root["errors"] == .bool(true)
        var items: [Item] = []
        if case .array(let list)? = root["items"] {
            items.reserveCapacity(list.count)
            for entry in list {
                guard case .object(let o) = entry, let pair = o.first(where: { _ in true }),
                    case .object(let d) = pair.1
                else { throw .invalid("unexpected bulk item \(JSONWriter.string(entry))") }
                let status: Int
                switch d["status"] {
                case .int(let s)?: status = s
                case .double(let s)?: status = Int(s)
                default: status = 0
                }
                var errorType: String?
                if case .object(let e)? = d["error"] { errorType = e["type"]?.stringValue }
                items.append(Item(action: pair.0, status: status, errorType: errorType, raw: entry))
            }
        }
        return BulkResponse(errors: errors, items: items)
    }
}

/// What happens to one document after a bulk response (Logstash's per-item status table, §10).
enum ItemOutcome: Equatable {
    case success
    /// 409: dropped with a warning.
    case conflict
    /// 400, 404 or a `dlq_custom_codes` code: dead letter queue, or logged and dropped.
    case deadLetter
    /// Anything else (429, 5xx, 413 …): resent in the next round.
    case retry

    static func of(status: Int, dlqCodes: Set<Int>) -> ItemOutcome {
        switch status {
        case 200, 201: .success
        case 409: .conflict
        case _ where dlqCodes.contains(status): .deadLetter
        default: .retry
        }
    }
}

import SluiceCore

/// One bulk action: Logstash's `[action, params, document]` tuple plus the event it came from.
struct BulkAction {
    /// `index`, `create`, `update` or `delete`.
    let action: String
    /// The action-line parameters in Logstash's order (`_id`, `_index`, `routing`, then `pipeline`,
    /// `retry_on_conflict`, …); nil values are kept for the DLQ reason but not sent.
    let params: [(key: String, value: Value)]
    /// The source document: `event.to_hash` (never `@metadata`), with data stream fields synced when enabled.
    let document: Object
    /// For `update`: `upsert` content (the `upsert` setting) and whether the document is the upsert.
    var upsert: Value? = nil
    var docAsUpsert = false
    let event: Event

    /// Ruby 3.1 `inspect` of `[action, params, document]`, as Logstash's DLQ reasons print it:
    /// `["index", {:_id=>nil, :_index=>"logs", :routing=>nil}, {"message"=>"x"}]`.
    var rubyInspect: String {
        let p = params.map { ":\($0.key)=>\(Ruby.inspect($0.value))" }.joined(separator: ", ")
        return "[\(Ruby.inspect(string: action)), {\(p)}, \(Ruby.inspect(.object(document)))]"
    }

    /// Appends the action line and (except for `delete`) the source line, each ending in "\n".
    func write(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        JSONWriter.writeString(action, to: &out)
        out.append(contentsOf: ":{".utf8)
        var first = true
        for (key, value) in params where !value.isNull {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            JSONWriter.writeString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            JSONWriter.write(value, to: &out)
        }
        out.append(contentsOf: "}}\n".utf8)
        switch action {
        case "delete":
            return
        case "update":
            out.append(contentsOf: "{\"doc\":".utf8)
            JSONWriter.write(document, to: &out)
            if docAsUpsert {
                out.append(contentsOf: ",\"doc_as_upsert\":true".utf8)
            } else if let upsert {
                out.append(contentsOf: ",\"upsert\":".utf8)
                JSONWriter.write(upsert, to: &out)
            }
            out.append(contentsOf: "}\n".utf8)
        default:
            JSONWriter.write(document, to: &out)
            out.append(UInt8(ascii: "\n"))
        }
    }
}

/// Turns actions into NDJSON `_bulk` bodies of at most `targetBytes` (20 MiB, Logstash's `TARGET_BULK_BYTES`)
/// each, uncompressed; a single action larger than that goes alone.
enum BulkRequestBuilder {
    static let targetBulkBytes = 20 * 1024 * 1024

    /// One request body and the range of the actions it carries.
    struct Chunk {
        var body: [UInt8]
        var actions: Range<Int>
    }

    static func chunks(_ actions: [BulkAction], targetBytes: Int = targetBulkBytes) -> [Chunk] {
        var chunks: [Chunk] = []
        var body: [UInt8] = []
        body.reserveCapacity(min(targetBytes, 64 * 1024))
        var start = 0
        for (i, action) in actions.enumerated() {
            let mark = body.count
            action.write(to: &body)
            if body.count > targetBytes && mark > 0 {
                // This action does not fit: close the chunk before it and start a new one with it.
                let tail = Array(body[mark...])
                body.removeSubrange(mark...)
                chunks.append(Chunk(body: body, actions: start..<i))
                body = tail
                start = i
            }
        }
        if !body.isEmpty { chunks.append(Chunk(body: body, actions: start..<actions.count)) }
        return chunks
    }
}

/// The pipeline graph written out: Graphviz dot and Mermaid for people (`sluice graph`), Logstash's LIR JSON for
/// the API's `?graph=true` (what Kibana's pipeline viewer reads).
extension PipelineGraph {
    /// The output formats of `sluice graph`.
    public enum Format: String, CaseIterable, Sendable {
        case dot, mermaid, json
    }

    /// The graph in `format`; `hash` is the config hash the JSON form carries.
    public func rendered(as format: Format, hash: String = "") -> String {
        switch format {
        case .dot: return dot
        case .mermaid: return mermaid
        case .json: return JSONWriter.string(.object(lir(hash: hash)))
        }
    }

    /// A short human label: `filter: mutate (my_id)` with the explicit id, the condition of an `if`.
    func label(_ v: Vertex) -> String {
        switch v.kind {
        case .queue: return "queue"
        case .condition(let text): return "if \(text)"
        case .plugin(let kind, let name): return "\(kind.rawValue): \(name)" + (v.explicitID ? " (\(v.id))" : "")
        }
    }

    /// Graphviz dot text; each node is named by its vertex id (the plugin id of `/_node/stats`).
    public var dot: String {
        var out = "digraph \"\(PipelineGraph.escape(pipelineID))\" {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n"
        for v in vertices {
            let location = v.span.map { "\\n" + PipelineGraph.escape($0.description) } ?? ""
            let shape: String
            switch v.kind {
            case .queue: shape = "cylinder"
            case .condition: shape = "diamond"
            case .plugin: shape = "box"
            }
            out += "  \"\(PipelineGraph.escape(v.id))\" [label=\"\(PipelineGraph.escape(label(v)))\(location)\", shape=\(shape)];\n"
        }
        for e in edges {
            let attributes = e.when.map { " [label=\"\($0)\"]" } ?? ""
            out += "  \"\(PipelineGraph.escape(vertices[e.from].id))\" -> \"\(PipelineGraph.escape(vertices[e.to].id))\"\(attributes);\n"
        }
        return out + "}"
    }

    /// A Mermaid flowchart, for READMEs and pull requests (GitHub renders ```mermaid blocks).
    public var mermaid: String {
        var lines = ["flowchart LR"]
        for (i, v) in vertices.enumerated() {
            let text = PipelineGraph.mermaidText(label(v))
            switch v.kind {
            case .queue: lines.append("  v\(i)[(\"\(text)\")]")
            case .condition: lines.append("  v\(i){\"\(text)\"}")
            case .plugin: lines.append("  v\(i)[\"\(text)\"]")
            }
        }
        for e in edges {
            let arrow = e.when.map { "-->|\($0)|" } ?? "-->"
            lines.append("  v\(e.from) \(arrow) v\(e.to)")
        }
        return lines.joined(separator: "\n")
    }

    /// Logstash's serialised LIR (`LIRSerializer`): `hash`, `type`, `version` and the vertices and edges.
    public func lir(hash: String) -> Object {
        var graph = Object()
        graph["vertices"] = .array(vertices.map { .object(json($0)) })
        graph["edges"] = .array(edges.map { .object(json($0)) })
        var o = Object()
        o["hash"] = .string(hash)
        o["type"] = .string("lir")
        o["version"] = .string("0.0.0")
        o["graph"] = .object(graph)
        return o
    }

    func json(_ v: Vertex) -> Object {
        var o = Object()
        switch v.kind {
        case .plugin(let kind, let name):
            o["config_name"] = .string(name)
            o["plugin_type"] = .string(kind.rawValue)
        case .condition(let text):
            o["condition"] = .string(text)
        case .queue:
            break
        }
        o["meta"] = v.span.map { .object(PipelineGraph.meta($0)) } ?? .null
        o["id"] = .string(v.id)
        o["explicit_id"] = .bool(v.explicitID)
        switch v.kind {
        case .plugin: o["type"] = .string("plugin")
        case .condition: o["type"] = .string("if")
        case .queue: o["type"] = .string("queue")
        }
        return o
    }

    func json(_ e: Edge) -> Object {
        var o = Object()
        let from = vertices[e.from].id, to = vertices[e.to].id
        o["from"] = .string(from)
        o["to"] = .string(to)
        o["id"] = .string(String(SHA256.hex(of: "\(from)|\(to)|\(e.when.map(String.init) ?? "")").prefix(32)))
        if let when = e.when {
            o["when"] = .bool(when)
            o["type"] = .string("boolean")
        } else {
            o["type"] = .string("plain")
        }
        return o
    }

    /// Where a vertex was declared; like Logstash, without the source text (it may hold passwords).
    static func meta(_ span: SourceSpan) -> Object {
        var source = Object()
        source["protocol"] = .string(span.source == "config_string" ? "string" : "file")
        source["id"] = .string(span.source)
        source["line"] = .int(span.line)
        source["column"] = .int(span.column)
        var o = Object()
        o["source"] = .object(source)
        return o
    }

    static func escape(_ s: String) -> String {
        s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
    }

    /// Mermaid labels are quoted; a double quote inside one is written as `#quot;`.
    static func mermaidText(_ s: String) -> String {
        s.replacing("\"", with: "#quot;")
    }
}

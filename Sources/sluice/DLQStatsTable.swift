import SluiceCore

/// `sluice dlq stats` for people: a summary line and the failure signatures as a table, most frequent first.
/// Built from the same object `--json` prints, so the two never disagree.
struct DLQStatsTable {
    let stats: Object

    init(_ stats: Object) { self.stats = stats }

    /// The longest reason shown; `--json` has the whole pattern.
    static let reasonWidth = 100

    var text: String {
        var lines = [header, summary]
        guard case .array(let signatures)? = stats["signatures"], !signatures.isEmpty else {
            return (lines + ["", "No entries."]).joined(separator: "\n")
        }
        let rows = signatures.compactMap { value -> [String]? in
            guard case .object(let s) = value else { return nil }
            return [
                string(s["id"]), string(s["count"]), string(s["first_seen"]), string(s["last_seen"]),
                s["plugin_type"] == nil ? "" : "\(string(s["plugin_type"])):\(string(s["plugin_id"]))",
                String(string(s["reason"]).prefix(Self.reasonWidth)),
            ]
        }
        lines.append("")
        lines += Self.table(["SIGNATURE", "COUNT", "FIRST SEEN", "LAST SEEN", "PLUGIN", "REASON"], rows, rightAligned: [1])
        return lines.joined(separator: "\n")
    }

    var header: String { "Dead letter queue \(string(stats["path"])): status \(string(stats["status"]))" }

    var summary: String {
        let bytes = Int(string(stats["queue_size_in_bytes"])) ?? 0
        return "  \(string(stats["entries"])) entries, \(Self.humanBytes(bytes)), oldest \(string(stats["oldest_entry_time"], or: "-")), "
            + "newest \(string(stats["newest_entry_time"], or: "-")), damaged records \(string(stats["damaged_records"]))"
    }

    func string(_ v: Value?, or fallback: String = "") -> String {
        switch v {
        case .string(let s)?: return s
        case .int(let n)?: return String(n)
        case .timestamp(let t)?: return t.iso8601
        case nil, .null?: return fallback
        case let other?: return JSONWriter.string(other)
        }
    }

    static func humanBytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(Int((value * 10).rounded()) / 10) + "." + String(Int((value * 10).rounded()) % 10) + " " + units[unit]
    }

    /// Columns padded to their widest cell; the last column is not padded.
    static func table(_ header: [String], _ rows: [[String]], rightAligned: Set<Int>) -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { c -> String in
                let pad = String(repeating: " ", count: widths[c] - row[c].count)
                if c == row.count - 1 { return row[c] }
                return rightAligned.contains(c) ? pad + row[c] : row[c] + pad
            }.joined(separator: "  ")
        }.map { "  " + $0 }
    }
}

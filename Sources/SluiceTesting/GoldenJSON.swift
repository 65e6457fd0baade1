import Foundation
import SluiceCore

/// Semantic comparison of JSON events, shared by the golden fixture tests and `sluice test`: expected values are
/// matched against actual ones with the `"<any>"` wildcard (any present value), and a mismatch is explained field by
/// field. Parsed with Sluice's own JSON parser, which keeps integers and floats apart.
public enum GoldenJSON {
    /// The wildcard an expected value may hold to accept any present actual value.
    public static let wildcard = "<any>"

    /// The JSON values of non-blank lines.
    public static func parseLines(_ text: String) throws -> [Value] {
        try text.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map {
            try JSONParser.parse(String($0))
        }
    }

    /// Whether `actual` matches `expected`. With `numeric`, an integer and a float of the same value are equal (as in
    /// logstash-filter-verifier, which compares decoded JSON numbers); golden fixtures keep them apart.
    public static func matches(_ actual: Value, _ expected: Value, numeric: Bool = false) -> Bool {
        if case .string(wildcard) = expected { return true }
        switch (actual, expected) {
        case (.object(let a), .object(let e)):
            return a.count == e.count && e.allSatisfy { k, v in a[k].map { matches($0, v, numeric: numeric) } ?? false }
        case (.array(let a), .array(let e)):
            return a.count == e.count && zip(a, e).allSatisfy { matches($0, $1, numeric: numeric) }
        default:
            if numeric, let x = number(actual), let y = number(expected) { return x == y }
            return actual == expected
        }
    }

    /// An integer or float as a Double, for numeric comparison.
    static func number(_ v: Value) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// The compact JSON text of a value.
    public static func render(_ v: Value) -> String { JSONWriter.string(v) }

    /// The entries of a DLQ directory as JSON lines: plugin type, id, reason and the event.
    public static func deadLetterEntries(in directory: String) -> String {
        DeadLetterQueueReader.readAll(directory: directory, includeHead: true).entries.map { entry in
            var o = Object()
            o["plugin_type"] = .string(entry.pluginType)
            o["plugin_id"] = .string(entry.pluginID)
            o["reason"] = .string(entry.reason)
            o["event"] = .object(entry.event.fields)
            return render(.object(o)) + "\n"
        }.joined()
    }

    /// Actual output with volatile values (`host`, generated `@timestamp`s) replaced by `"<any>"`.
    public static func record(_ text: String) throws -> String {
        try parseLines(text).map { line -> String in
            guard case .object(var o) = line else { return render(line) }
            for key in ["host", "@timestamp"] where o[key] != nil { o[key] = .string(wildcard) }
            if case .object(var inner)? = o["event"] {
                for key in ["host", "@timestamp"] where inner[key] != nil { inner[key] = .string(wildcard) }
                o["event"] = .object(inner)
            }
            return render(.object(o))
        }.joined(separator: "\n") + "\n"
    }
}

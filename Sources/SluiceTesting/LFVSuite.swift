import Foundation
import SluiceCore
import Yams

/// A logstash-filter-verifier test-case file (JSON or YAML), as LFV 2's standalone mode reads it: `codec` (the
/// input codec, verbatim config such as `line`, `json_lines` or `plain { charset => "ISO-8859-1" }`; default
/// `line`), `fields` (added to every input event; keys may be field references such as `[log][file][path]`),
/// `ignore` (fields removed from the actual events before comparing; `@version` always is), `export_metadata`
/// (compare `@metadata` too) and `testcases`, each with `input` (lines), `expected` (events), `fields` (overriding the
/// file's) and `description`.
public struct LFVSuite: Sendable {
    /// The path the suite was read from, as given.
    public let file: String
    public var codec = "line"
    public var fields: [(key: String, value: Value)] = []
    public var ignore: [String] = ["@version"]
    public var exportMetadata = false
    public var testcases: [LFVTestCase] = []

    /// Reads and validates a `.json`, `.yml` or `.yaml` file.
    public init(file: String) throws(LFVFileError) {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw LFVFileError(file, "cannot read the file: \(error.localizedDescription)")
        }
        try self.init(file: file, document: try Self.parse(text, file: file))
    }

    /// A suite from a parsed document (a JSON object or YAML mapping).
    public init(file: String, document: Value) throws(LFVFileError) {
        self.file = file
        guard case .object(let top) = document else { throw LFVFileError(file, "the file must hold one object (a mapping)") }
        for (key, value) in top { try apply(key, value) }
    }

    static let knownKeys = ["codec", "fields", "ignore", "export_metadata", "testcases", "description"]

    mutating func apply(_ key: String, _ value: Value) throws(LFVFileError) {
        switch key {
        case "codec": codec = try string(value, key)
        case "fields": fields = try object(value, key)
        case "ignore": ignore += try strings(value, key)
        case "export_metadata": exportMetadata = try bool(value, key)
        case "description": break
        case "testcases":
            guard case .array(let items) = value else { throw LFVFileError(file, "\"testcases\" must be a list") }
            for (i, item) in items.enumerated() { testcases.append(try LFVTestCase(item, index: i, file: file)) }
        case "input", "expected":
            // LFV refuses the pre-1.0 layout the same way.
            throw LFVFileError(file, "the deprecated top-level \"\(key)\" key: put input and expected events in a list under \"testcases\"")
        case "input_plugin", "export_outputs":
            throw LFVFileError(file, "\"\(key)\" (LFV's daemon mode) is not supported by sluice test")
        default:
            throw LFVFileError(file, "unknown key \"\(key)\"; known keys: \(Self.knownKeys.joined(separator: ", "))")
        }
    }
}

/// One entry of a suite's `testcases`.
public struct LFVTestCase: Sendable {
    public var description: String?
    public var input: [String] = []
    public var fields: [(key: String, value: Value)] = []
    public var expected: [Value] = []

    init(_ item: Value, index: Int, file: String) throws(LFVFileError) {
        guard case .object(let o) = item else { throw LFVFileError(file, "testcases[\(index)] must be an object") }
        for (key, value) in o {
            switch key {
            case "description": description = try string(value, key, file)
            case "input": input = try strings(value, key, file)
            case "fields": fields = try object(value, key, file)
            case "expected":
                guard case .array(let events) = value else { throw LFVFileError(file, "testcases[\(index)].expected must be a list of events") }
                expected = events
            default:
                throw LFVFileError(file, "unknown key \"\(key)\" in testcases[\(index)]; known keys: description, input, fields, expected")
            }
        }
    }

    /// The name a report gives the case: its description, or its position.
    public func name(index: Int) -> String {
        let number = "testcase \(index + 1)"
        guard let description, !description.isEmpty else { return number }
        return "\(number): \(description)"
    }
}

/// A test-case file that cannot be read or does not follow the format.
public struct LFVFileError: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let message: String

    init(_ file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

// MARK: Reading values

extension LFVSuite {
    /// JSON when the file name ends in `.json`, YAML otherwise.
    static func parse(_ text: String, file: String) throws(LFVFileError) -> Value {
        if file.lowercased().hasSuffix(".json") {
            do {
                return try JSONParser.parse(text)
            } catch {
                throw LFVFileError(file, "not valid JSON: \(error)")
            }
        }
        do {
            guard let node = try Yams.compose(yaml: text) else { throw LFVFileError(file, "the YAML document is empty") }
            return yamlValue(node)
        } catch let e as LFVFileError {
            throw e
        } catch {
            throw LFVFileError(file, "not valid YAML: \(error)")
        }
    }

    /// A YAML node as a value: mappings keep their order, scalars get the type their tag resolves to.
    static func yamlValue(_ node: Node) -> Value {
        if let mapping = node.mapping {
            var o = Object()
            for (k, v) in mapping { o[k.string ?? ""] = yamlValue(v) }
            return .object(o)
        }
        if let sequence = node.sequence { return .array(sequence.map(yamlValue)) }
        switch Tag.Name(rawValue: node.tag.rawValue) {
        case Tag.Name.null: return .null
        case Tag.Name.bool: return node.bool.map(Value.bool) ?? .string(node.string ?? "")
        case Tag.Name.int: return node.int.map(Value.int) ?? .string(node.string ?? "")
        case Tag.Name.float: return node.float.map(Value.double) ?? .string(node.string ?? "")
        default: return .string(node.string ?? "")
        }
    }

    func string(_ v: Value, _ key: String) throws(LFVFileError) -> String { try SluiceTesting.string(v, key, file) }
    func strings(_ v: Value, _ key: String) throws(LFVFileError) -> [String] { try SluiceTesting.strings(v, key, file) }
    func object(_ v: Value, _ key: String) throws(LFVFileError) -> [(key: String, value: Value)] { try SluiceTesting.object(v, key, file) }

    func bool(_ v: Value, _ key: String) throws(LFVFileError) -> Bool {
        guard case .bool(let b) = v else { throw LFVFileError(file, "\"\(key)\" must be true or false") }
        return b
    }
}

func string(_ v: Value, _ key: String, _ file: String) throws(LFVFileError) -> String {
    guard case .string(let s) = v else { throw LFVFileError(file, "\"\(key)\" must be a string") }
    return s
}

func strings(_ v: Value, _ key: String, _ file: String) throws(LFVFileError) -> [String] {
    guard case .array(let items) = v else { throw LFVFileError(file, "\"\(key)\" must be a list of strings") }
    var out: [String] = []
    for item in items {
        guard case .string(let s) = item else { throw LFVFileError(file, "\"\(key)\" must be a list of strings") }
        out.append(s)
    }
    return out
}

func object(_ v: Value, _ key: String, _ file: String) throws(LFVFileError) -> [(key: String, value: Value)] {
    if case .null = v { return [] }
    guard case .object(let o) = v else { throw LFVFileError(file, "\"\(key)\" must be an object (a mapping)") }
    return o.map { (key: $0.0, value: $0.1) }
}

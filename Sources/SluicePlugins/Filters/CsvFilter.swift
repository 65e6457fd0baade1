import SluiceCore

/// Parses a line of comma-separated values into fields (Logstash's `csv` filter, 3.1.x).
///
/// The line is read as Ruby's `CSV.parse_line` reads it: only the first row counts, quoted fields may hold the
/// separator, doubled quotes and line breaks, an empty unquoted field is null and an empty quoted one "". Malformed
/// quoting tags the event `_csvparsefailure`. Columns without a name get `column<N>` (or are dropped when
/// `autogenerate_column_names` is false).
public final class CsvFilter: Filter {
    public static let name = "csv"
    public static let summary = "Parses comma-separated values into fields."

    enum Conversion: String, SettingEnum {
        case integer, float, date, date_time, boolean
    }

    public struct Settings: PluginSettings {
        @Setting("source", doc: "The field holding the CSV text.")
        var source = FieldReference("message")
        @Setting("target", doc: "The field under which the columns are set; top level when unset.")
        var target: FieldReference? = nil
        @Setting("columns", doc: "The column names, in order.")
        var columns: [String] = []
        @Setting("separator", doc: "The column separator (one or more characters).")
        var separator = ","
        @Setting("quote_char", doc: "The character that quotes fields; `\\x00` for none in practice.")
        var quoteChar = "\""
        @Setting("autogenerate_column_names", doc: "Names columns beyond `columns` `column<N>`; when false they are dropped.")
        var autogenerateColumnNames = true
        @Setting("autodetect_column_names", doc: "Takes the column names from the first line seen (which is then dropped). Needs a single pipeline worker.")
        var autodetectColumnNames = false
        @Setting("skip_header", doc: "Drops lines equal to the column names.")
        var skipHeader = false
        @Setting("skip_empty_columns", doc: "Does not set columns whose value is empty.")
        var skipEmptyColumns = false
        @Setting("skip_empty_rows", doc: "Drops events whose line is empty.")
        var skipEmptyRows = false
        @Setting("convert", doc: "Column name => integer, float, date, date_time or boolean.")
        var convert = SettingHash<Conversion>()
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if quoteChar.count != 1 && quoteChar != "\\x00" {
                throw SettingsValidationError("csv: quote_char must be a single character", setting: "quote_char")
            }
            if separator.isEmpty {
                throw SettingsValidationError("csv: separator must not be empty", setting: "separator")
            }
        }
    }

    static let failureTag = "_csvparsefailure"

    let source: FieldReference
    let targetPath: [String]
    let targetIsMetadata: Bool
    let separator: [UInt8]
    let quote: [UInt8]
    let autogenerate: Bool
    let autodetect: Bool
    let skipHeader: Bool
    let skipEmptyColumns: Bool
    let skipEmptyRows: Bool
    let conversions: [String: Conversion]
    let configuredColumns: [String]
    /// The paths of configured columns written as field references (`[test][one]`), parsed once.
    let referenceColumns: [String: [String]]
    /// Columns learnt from the first line with `autodetect_column_names`.
    let detected = DetectedColumns()
    let logger: Logger

    public static let canFail = true

    public init(settings: Settings, context: PluginContext) throws {
        source = settings.source
        targetPath = settings.target?.path ?? []
        targetIsMetadata = settings.target?.isMetadata ?? false
        separator = Array(settings.separator.utf8)
        quote = settings.quoteChar == "\\x00" ? [0] : Array(settings.quoteChar.utf8)
        autogenerate = settings.autogenerateColumnNames
        autodetect = settings.autodetectColumnNames
        skipHeader = settings.skipHeader
        skipEmptyColumns = settings.skipEmptyColumns
        skipEmptyRows = settings.skipEmptyRows
        var conversions: [String: Conversion] = [:]
        for (column, type) in settings.convert { conversions[column] = type }
        self.conversions = conversions
        configuredColumns = settings.columns
        referenceColumns = Dictionary(
            settings.columns.filter { $0.hasPrefix("[") }.map { ($0, CsvFilter.columnPath($0)) }, uniquingKeysWith: { a, _ in a })
        logger = context.logger
    }

    final class DetectedColumns: @unchecked Sendable {
        private let lock = Lock()
        private var columns: [String?]? = nil
        func get() -> [String?]? { lock.withLock { columns } }
        /// Stores `columns` unless another worker already did; returns whether this call stored them.
        func setIfEmpty(_ new: [String?]) -> Bool {
            lock.withLock {
                if let columns, !columns.isEmpty { return false }
                columns = new
                return true
            }
        }
    }

    public func filter(_ batch: inout FilterBatch) {
        for (i, event) in batch.events.enumerated() {
            guard let raw = event.get(source), raw != .null, raw != .bool(false) else { continue }
            guard case .string(let text) = raw else {
                failed(&batch, i, event, raw, "Cannot parse a \(Ruby.className(raw)) as CSV")
                continue
            }
            let row: [String?]?
            do throws(CSVParseError) {
                row = try CsvFilter.parseLine(Array(text.utf8), separator: separator, quote: quote)
            } catch {
                failed(&batch, i, event, raw, error.message)
                continue
            }
            var columns: [String?] = configuredColumns
            if autodetect {
                if let learnt = detected.get() {
                    columns = learnt
                } else if configuredColumns.isEmpty {
                    _ = detected.setIfEmpty(row ?? [])
                    event.cancelled = true
                    continue
                }
            }
            if skipHeader && !columns.isEmpty && row.map({ $0 == columns }) == true {
                event.cancelled = true
                continue
            }
            guard let values = row else {
                if skipEmptyRows {
                    event.cancelled = true
                } else {
                    // Ruby: `nil.each_index` raises, which the filter rescues as a parse failure.
                    failed(&batch, i, event, raw, "undefined method `each_index' for nil:NilClass")
                }
                continue
            }
            var ok = true
            for (index, value) in values.enumerated() {
                if skipEmptyColumns && (value == nil || value!.isEmpty) { continue }
                let name: String
                if index < columns.count, let column = columns[index] {
                    name = column
                } else if autogenerate {
                    name = "column\(index + 1)"
                } else {
                    continue
                }
                let converted: Value
                do throws(EventOperationError) {
                    converted = try convert(name, value)
                } catch {
                    failed(&batch, i, event, raw, error.description)
                    ok = false
                    break
                }
                let path = name.utf8.first == UInt8(ascii: "[") ? referenceColumns[name] ?? CsvFilter.columnPath(name) : [name]
                event.set(FieldReference(path: targetPath + path, isMetadata: targetIsMetadata), converted)
            }
            if ok { batch.matched[i] = true }
        }
    }

    /// Logstash's `field_ref`: a column name that starts with `[` is a field reference nested under the target;
    /// any other name (or one that does not parse) is one key.
    static func columnPath(_ name: String) -> [String] {
        guard name.hasPrefix("["), let ref = try? FieldReference(parsing: name), !ref.isMetadata, !ref.path.isEmpty else { return [name] }
        return ref.path
    }

    func failed(_ batch: inout FilterBatch, _ i: Int, _ event: Event, _ raw: Value, _ message: String) {
        event.tag(CsvFilter.failureTag)
        logger.rateLimited(.warn, key: "parse", "Error parsing csv {:field=>\(Ruby.inspect(string: source.text)), :source=>\(Ruby.inspect(raw)), :exception=>\(Ruby.inspect(string: message))}")
        batch.failed(i, reason: "csv: cannot parse field [\(source.text)]: \(message)")
    }

    /// The `convert` of one column; unconvertible values stay strings, as Ruby's CSV converters leave them.
    func convert(_ column: String, _ value: String?) throws(EventOperationError) -> Value {
        guard let conversion = conversions[column] else { return value.map(Value.string) ?? .null }
        guard let value else {
            if conversion == .boolean { throw EventOperationError("undefined method `strip' for nil:NilClass") }
            return .null
        }
        switch conversion {
        case .integer:
            return CsvFilter.rubyInteger(value).map(Value.int) ?? .string(value)
        case .float:
            return CsvFilter.rubyFloat(value).map(Value.double) ?? .string(value)
        case .boolean:
            let t = Ruby.strip(value).lowercased()
            if t == "true" { return .bool(true) }
            if t == "false" { return .bool(false) }
            return .string(t)
        case .date:
            return CsvFilter.isoDate(value, withTime: false).map(Value.timestamp) ?? .string(value)
        case .date_time:
            return CsvFilter.isoDate(value, withTime: true).map(Value.timestamp) ?? .string(value)
        }
    }

    /// Ruby's `Integer(string)`: surrounding whitespace, a sign, `0x`/`0b`/`0o`/leading-`0` (octal) prefixes and
    /// single underscores between digits.
    static func rubyInteger(_ s: String) -> Int? {
        var t = Substring(Ruby.strip(s))
        var negative = false
        if let f = t.first, f == "+" || f == "-" {
            negative = f == "-"
            t = t.dropFirst()
        }
        var radix = 10
        let lower = t.lowercased()
        if lower.hasPrefix("0x") { radix = 16; t = t.dropFirst(2) }
        else if lower.hasPrefix("0b") { radix = 2; t = t.dropFirst(2) }
        else if lower.hasPrefix("0o") { radix = 8; t = t.dropFirst(2) }
        else if lower.hasPrefix("0d") { radix = 10; t = t.dropFirst(2) }
        else if t.count > 1 && t.hasPrefix("0") { radix = 8; t = t.dropFirst() }
        guard let first = t.first, first != "_", t.last != "_", !t.contains("__") else { return nil }
        guard let magnitude = Int(t.filter { $0 != "_" }, radix: radix) else { return nil }
        return negative ? -magnitude : magnitude
    }

    /// Ruby's `Float(string)`: decimal notation with optional exponent, surrounding whitespace and single
    /// underscores between digits.
    static func rubyFloat(_ s: String) -> Double? {
        let t = Ruby.strip(s)
        guard !t.isEmpty, !t.hasPrefix("_"), !t.hasSuffix("_"), !t.contains("__"), !t.hasSuffix("."),
            t.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE_".contains($0)) })
        else {
            if let i = rubyInteger(s) { return Double(i) }
            return nil
        }
        return Double(t.filter { $0 != "_" })
    }

    /// The ISO forms of Ruby's `CSV::Converters[:date]` (`yyyy-mm-dd`) and `[:date_time]` (with a `T` or space and a
    /// time, optional fraction and zone); no zone means UTC.
    static func isoDate(_ s: String, withTime: Bool) -> Timestamp? {
        let b = Array(s.utf8)
        func digits(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for k in from..<(from + count) {
                guard Ruby.isDigit(b[k]) else { return nil }
                v = v * 10 + Int(b[k] - 48)
            }
            return v
        }
        guard let year = digits(0, 4), b.count >= 10, b[4] == UInt8(ascii: "-"), let month = digits(5, 2),
            b[7] == UInt8(ascii: "-"), let day = digits(8, 2), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        if !withTime {
            guard b.count == 10 else { return nil }
            return Timestamp.from(year: year, month: month, day: day, hour: 0, minute: 0, second: 0, nanosecond: 0, offsetSeconds: 0)
        }
        if b.count == 10 {
            return Timestamp.from(year: year, month: month, day: day, hour: 0, minute: 0, second: 0, nanosecond: 0, offsetSeconds: 0)
        }
        guard b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " "), let hour = digits(11, 2), b.count >= 16,
            b[13] == UInt8(ascii: ":"), let minute = digits(14, 2)
        else { return nil }
        var k = 16
        var second = 0, nanos = 0, offset = 0
        if k < b.count && b[k] == UInt8(ascii: ":") {
            guard let sec = digits(k + 1, 2) else { return nil }
            second = sec
            k += 3
            if k < b.count && b[k] == UInt8(ascii: ".") {
                k += 1
                var scale = 100_000_000
                let start = k
                while k < b.count && Ruby.isDigit(b[k]) {
                    nanos += Int(b[k] - 48) * scale
                    scale /= 10
                    k += 1
                }
                if k == start { return nil }
            }
            if k < b.count {
                if b[k] == UInt8(ascii: "Z") {
                    k += 1
                } else if b[k] == UInt8(ascii: "+") || b[k] == UInt8(ascii: "-") {
                    guard let oh = digits(k + 1, 2), k + 3 < b.count, b[k + 3] == UInt8(ascii: ":"), let om = digits(k + 4, 2)
                    else { return nil }
                    offset = (oh * 3600 + om * 60) * (b[k] == UInt8(ascii: "-") ? -1 : 1)
                    k += 6
                }
            }
        }
        guard k == b.count, hour < 24, minute < 60, second < 61 else { return nil }
        return Timestamp.from(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: nanos,
            offsetSeconds: offset)
    }

    struct CSVParseError: Error {
        let message: String
    }

    /// Ruby's `CSV.parse_line(line, col_sep:, quote_char:)`: the first row of `line`, nil when there is none.
    static func parseLine(_ b: [UInt8], separator: [UInt8], quote: [UInt8]) throws(CSVParseError) -> [String?]? {
        if b.isEmpty { return nil }
        // The row separator is the first line break in the text: \r\n, \n or \r.
        var rowSeparator: [UInt8] = [10]
        if let k = b.firstIndex(where: { $0 == 10 || $0 == 13 }) {
            rowSeparator = b[k] == 10 ? [10] : (k + 1 < b.count && b[k + 1] == 10 ? [13, 10] : [13])
        }
        func starts(_ needle: [UInt8], at i: Int) -> Bool {
            !needle.isEmpty && i + needle.count <= b.count && b[i..<(i + needle.count)].elementsEqual(needle)
        }
        if starts(rowSeparator, at: 0) { return [] }
        var fields: [String?] = []
        var i = 0
        while true {
            if starts(quote, at: i) {
                // A quoted field: doubled quotes are literal, anything else up to the closing quote.
                var value: [UInt8] = []
                i += quote.count
                var closed = false
                while i < b.count {
                    if starts(quote, at: i) {
                        if starts(quote, at: i + quote.count) {
                            value += quote
                            i += 2 * quote.count
                            continue
                        }
                        i += quote.count
                        closed = true
                        break
                    }
                    value.append(b[i])
                    i += 1
                }
                guard closed else { throw CSVParseError(message: "Unclosed quoted field in line 1.") }
                fields.append(String(decoding: value, as: UTF8.self))
                if i >= b.count || starts(rowSeparator, at: i) { return fields }
                guard starts(separator, at: i) else {
                    throw CSVParseError(message: "Any value after quoted field isn't allowed in line 1.")
                }
                i += separator.count
            } else {
                let start = i
                while i < b.count && !starts(separator, at: i) && !starts(rowSeparator, at: i) {
                    if starts(quote, at: i) { throw CSVParseError(message: "Illegal quoting in line 1.") }
                    if b[i] == 10 || b[i] == 13 {
                        let shown = b[i] == 10 ? "\\n" : "\\r"
                        throw CSVParseError(message: "Unquoted fields do not allow new line <\"\(shown)\"> in line 1.")
                    }
                    i += 1
                }
                fields.append(i == start ? nil : String(decoding: b[start..<i], as: UTF8.self))
                if i >= b.count || starts(rowSeparator, at: i) { return fields }
                i += separator.count
                if i >= b.count || starts(rowSeparator, at: i) {
                    // A separator at the end of the row leaves one more, empty field.
                    fields.append(nil)
                    return fields
                }
            }
        }
    }
}

/// Parses Logstash's config language (LSCL) into a `PipelineAST`.
///
/// A scannerless recursive-descent parser that mirrors `grammar/lscl.peg` rule by rule; each method is named after
/// the rule it implements. Soft failures backtrack (returning nil) and record what was expected at the furthest
/// position, which becomes the error message when nothing matches; a few constructs Logstash rejects get their own,
/// more helpful error.
public struct ConfigParser {
    /// Parser switches that come from settings.
    public struct Options: Sendable {
        /// `config.support_escapes`: interpret `\n`, `\"`, … inside quoted strings.
        public var supportEscapes: Bool
        public init(supportEscapes: Bool = false) { self.supportEscapes = supportEscapes }
    }

    /// The deepest nesting accepted, counting `if` blocks, parentheses (`(` and `!(`), arrays, hashes, plugin
    /// blocks and method-call arguments together. Far beyond real configs; the parser and everything after it
    /// (graph building, the condition compiler, `sluice graph`) walk the tree recursively, so a deeper file is a
    /// `too_deep` diagnostic instead of a stack overflow (10,000 nested `if`s, 100,000 nested `[`).
    public static let maximumNestingDepth = 256

    /// The most operands one unparenthesised chain may have when it mixes `and` and `or`: Logstash's grouping of
    /// such chains nests one level per operator. A chain of one operator has no limit (it is grouped balanced).
    public static let maximumMixedChainLength = maximumNestingDepth

    /// From this many operators on, a chain of one operator is grouped balanced (shorter ones keep the right-nested
    /// grouping `sluice graph` has always shown).
    static let balancedChainLength = 64

    /// Parses one config part.
    public static func parse(_ source: ConfigSource, options: Options = Options()) throws(ConfigError) -> PipelineAST {
        var p = ConfigParser(source: source, options: options)
        do {
            return try p.config()
        } catch let d {
            throw ConfigError(d)
        }
    }

    /// Parses and merges several parts in order, as Logstash concatenates config files.
    public static func parse(_ sources: [ConfigSource], options: Options = Options()) throws(ConfigError) -> PipelineAST {
        var ast = PipelineAST()
        for s in sources { ast.merge(try parse(s, options: options)) }
        return ast
    }

    let source: ConfigSource
    let options: Options
    let b: [UInt8]
    var i = 0
    var furthest = 0
    var expected: [String] = []
    var warnings: [Diagnostic] = []
    /// How many nested constructs enclose the position (see `maximumNestingDepth`).
    var depth = 0
    /// Line start offsets, for turning offsets into line:column.
    let lineStarts: [Int]
    /// The last offset turned into a span, so that spans asked for in order along one long line cost only the text
    /// between them (a 20,000-term condition on one line would otherwise recount the line for each term).
    let cursor = SpanCursor()

    final class SpanCursor {
        var offset = 0
        var line = 0
        var column = 1
    }

    init(source: ConfigSource, options: Options) {
        self.source = source
        self.options = options
        b = Array(source.text.utf8)
        var starts = [0]
        for (k, c) in b.enumerated() where c == 10 { starts.append(k + 1) }
        lineStarts = starts
    }

    // MARK: Positions and errors

    func span(_ offset: Int) -> SourceSpan {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        let lineStart = lineStarts[lo]
        let end = min(offset, b.count)
        let column: Int
        if cursor.line == lo, cursor.offset >= lineStart, cursor.offset <= end {
            column = cursor.column + String(decoding: b[cursor.offset..<end], as: UTF8.self).count
        } else {
            column = String(decoding: b[lineStart..<end], as: UTF8.self).count + 1
        }
        (cursor.offset, cursor.line, cursor.column) = (end, lo, column)
        return SourceSpan(source: source.name, line: lo + 1, column: column, offset: offset)
    }

    mutating func expect(_ what: String) {
        if i > furthest {
            furthest = i
            expected = [what]
        } else if i == furthest && !expected.contains(what) {
            expected.append(what)
        }
    }

    func fail(_ code: String, at offset: Int, _ message: String, help: String? = nil) -> Diagnostic {
        Diagnostic(code: code, span: span(offset), message, help: help)
    }

    func syntaxError() -> Diagnostic {
        let found: String
        if furthest >= b.count {
            found = "end of input"
        } else {
            let c = String(decoding: b[furthest..<min(furthest + 1, b.count)], as: UTF8.self)
            found = c == "\n" ? "end of line" : "'\(c)'"
        }
        let list = expected.count == 1 ? expected[0] : "one of " + expected.joined(separator: ", ")
        return fail("parse_error", at: furthest, "syntax error: expected \(list), found \(found)")
    }

    /// Enters one nesting level opened at `offset`; the caller leaves it with `depth -= 1`.
    mutating func enterNesting(at offset: Int) throws(Diagnostic) {
        depth += 1
        guard depth <= ConfigParser.maximumNestingDepth else {
            throw fail(
                "too_deep", at: offset,
                "nesting deeper than \(ConfigParser.maximumNestingDepth) levels (blocks, parentheses, arrays and hashes count together)",
                help: "flatten the config: combine conditions with 'and'/'or' or split the pipeline")
        }
    }

    // MARK: Character helpers

    var atEnd: Bool { i >= b.count }
    var peek: UInt8 { i < b.count ? b[i] : 0 }

    mutating func literal(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard i + u.count <= b.count else {
            expect("'\(s)'")
            return false
        }
        for k in 0..<u.count where b[i + k] != u[k] {
            expect("'\(s)'")
            return false
        }
        i += u.count
        return true
    }

    /// A keyword: the literal not followed by a name character.
    mutating func keyword(_ s: String) -> Bool {
        let save = i
        guard literal(s) else { return false }
        if i < b.count && ConfigParser.isNameChar(b[i]) {
            i = save
            return false
        }
        return true
    }

    static func isNameChar(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95
    }

    // MARK: Whitespace and comments — `_`, `whitespace`, `comment`

    /// `_ <- (whitespace / comment)*`
    mutating func ws() {
        while i < b.count {
            let c = b[i]
            if c == 32 || c == 9 || c == 10 || c == 13 {
                i += 1
            } else if c == UInt8(ascii: "#") {
                while i < b.count && b[i] != 10 { i += 1 }
            } else {
                break
            }
        }
    }

    /// `whitespace <- [ \t\r\n]+ / comment` (mandatory separator); returns whether any was consumed.
    mutating func mandatoryWS() -> Bool {
        let save = i
        ws()
        return i > save
    }

    // MARK: config <- _ plugin_section (_ plugin_section)* _

    mutating func config() throws(Diagnostic) -> PipelineAST {
        var ast = PipelineAST()
        ws()
        while !atEnd {
            let start = i
            guard let kind = pluginType() else {
                i = start
                // One entry for the three section names, not the three words again.
                if furthest == start { expected.removeAll { ["'input'", "'filter'", "'output'"].contains($0) } }
                expect("'input', 'filter' or 'output'")
                throw sectionError()
            }
            ws()
            guard literal("{") else { throw syntaxError() }
            let body = try sectionBody(kind: kind)
            switch kind {
            case .input: ast.inputs += body
            case .filter: ast.filters += body
            case .output: ast.outputs += body
            case .codec: break
            }
            ws()
        }
        ast.warnings = warnings
        return ast
    }

    func sectionError() -> Diagnostic {
        var d = syntaxError()
        if furthest < b.count {
            var e = furthest
            while e < b.count && ConfigParser.isNameChar(b[e]) { e += 1 }
            let word = String(decoding: b[furthest..<e], as: UTF8.self)
            if !word.isEmpty, let hint = Suggest.didYouMean(word, among: ["input", "filter", "output"]) {
                d = fail("parse_error", at: furthest, "unknown section '\(word)': a config holds 'input', 'filter' and 'output' sections", help: hint)
            }
        }
        return d
    }

    /// `plugin_type <- "input" / "filter" / "output"`
    mutating func pluginType() -> PluginKind? {
        if keyword("input") { return .input }
        if keyword("filter") { return .filter }
        if keyword("output") { return .output }
        return nil
    }

    /// `plugin_section <- plugin_type _ "{" _ (branch_or_plugin _)* "}"`
    mutating func sectionBody(kind: PluginKind) throws(Diagnostic) -> [Statement] {
        var body: [Statement] = []
        ws()
        while true {
            if literal("}") { return body }
            if atEnd { throw fail("parse_error", at: i, "unexpected end of input: the '\(kind.rawValue)' section is not closed with '}'") }
            body.append(try branchOrPlugin(kind: kind))
            ws()
        }
    }

    /// `branch_or_plugin <- branch / plugin`
    mutating func branchOrPlugin(kind: PluginKind) throws(Diagnostic) -> Statement {
        let start = i
        if keyword("if") {
            if kind == .input {
                throw fail("parse_error", at: start, "conditionals are not allowed in the input section")
            }
            return .branch(try branch(start: start, kind: kind))
        }
        if keyword("else") {
            throw fail("parse_error", at: start, "'else' without a preceding 'if'")
        }
        guard let p = try plugin() else { throw syntaxError() }
        return .plugin(p)
    }

    // MARK: plugin <- name _ "{" _ attributes? _ "}"

    mutating func plugin() throws(Diagnostic) -> PluginDecl? {
        let start = i
        guard let name = name() else {
            expect("a plugin name")
            return nil
        }
        ws()
        guard literal("{") else {
            i = start
            return nil
        }
        let attributes = try attributes()
        return PluginDecl(name: name, span: span(start), attributes: attributes)
    }

    /// `attributes <- attribute (whitespace _ attribute)*` then `_ "}"`
    mutating func attributes() throws(Diagnostic) -> [Attribute] {
        try enterNesting(at: i)
        defer { depth -= 1 }
        var attrs: [Attribute] = []
        ws()
        while true {
            if literal("}") { return attrs }
            if atEnd { throw fail("parse_error", at: i, "unexpected end of input: plugin block is not closed with '}'") }
            if !attrs.isEmpty && !(b[i - 1] == 32 || b[i - 1] == 9 || b[i - 1] == 10 || b[i - 1] == 13) {
                if peek == UInt8(ascii: ",") {
                    throw fail("parse_error", at: i, "settings are separated by whitespace, not commas", help: "remove the ','")
                }
                expect("whitespace")
                throw syntaxError()
            }
            if peek == UInt8(ascii: ",") {
                throw fail("parse_error", at: i, "settings are separated by whitespace, not commas", help: "remove the ','")
            }
            attrs.append(try attribute())
            ws()
        }
    }

    /// `attribute <- name _ "=>" _ value`
    mutating func attribute() throws(Diagnostic) -> Attribute {
        let start = i
        guard let name = name() else {
            expect("a setting name")
            expect("'}'")
            throw syntaxError()
        }
        ws()
        guard literal("=>") else { throw syntaxError() }
        ws()
        guard let v = try value() else {
            expect("a value")
            throw syntaxError()
        }
        return Attribute(name: name, span: span(start), value: v)
    }

    /// `name <- [A-Za-z0-9_-]+ / string`
    mutating func name() -> String? {
        let start = i
        while i < b.count && (ConfigParser.isNameChar(b[i]) || b[i] == UInt8(ascii: "-")) { i += 1 }
        if i > start { return String(decoding: b[start..<i], as: UTF8.self) }
        if let s = try? quotedString() { return s }
        return nil
    }

    // MARK: value <- plugin / bareword / string / number / array / hash

    mutating func value() throws(Diagnostic) -> ConfigValue? {
        let start = i
        if let p = try plugin() { return .plugin(p) }
        i = start
        if let w = bareword() { return .bareword(w, span(start)) }
        if peek == 34 || peek == 39 {
            return .string(try quotedStringOrThrow(), span(start))
        }
        if let n = number() { return n }
        if peek == UInt8(ascii: "[") { return try array() }
        if peek == UInt8(ascii: "{") { return try hash() }
        expect("a value")
        return nil
    }

    /// `bareword <- [A-Za-z_] [A-Za-z0-9_]+`
    mutating func bareword() -> String? {
        guard i < b.count else { return nil }
        let c = b[i]
        guard (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 else { return nil }
        var j = i + 1
        while j < b.count && ConfigParser.isNameChar(b[j]) { j += 1 }
        guard j - i >= 2 else { return nil }
        defer { i = j }
        return String(decoding: b[i..<j], as: UTF8.self)
    }

    /// `number <- "-"? [0-9]+ ("." [0-9]*)?`
    mutating func number() -> ConfigValue? {
        let start = i
        var j = i
        if j < b.count && b[j] == UInt8(ascii: "-") { j += 1 }
        let digitsStart = j
        while j < b.count && b[j] >= 48 && b[j] <= 57 { j += 1 }
        guard j > digitsStart else {
            expect("a number")
            return nil
        }
        var isFloat = false
        if j < b.count && b[j] == UInt8(ascii: ".") {
            isFloat = true
            j += 1
            while j < b.count && b[j] >= 48 && b[j] <= 57 { j += 1 }
        }
        i = j
        let text = String(decoding: b[start..<j], as: UTF8.self)
        if !isFloat, let n = Int(text) { return .integer(n, span(start)) }
        return .float(Double(text) ?? 0, span(start))
    }

    /// `array <- "[" _ (value (_ "," _ value)*)? _ "]"`
    mutating func array() throws(Diagnostic) -> ConfigValue {
        let start = i
        try enterNesting(at: start)
        defer { depth -= 1 }
        i += 1
        var elements: [ConfigValue] = []
        ws()
        if literal("]") { return .array([], span(start)) }
        while true {
            ws()
            guard let v = try value() else { throw syntaxError() }
            elements.append(v)
            ws()
            if literal(",") { continue }
            if literal("]") { return .array(elements, span(start)) }
            throw syntaxError()
        }
    }

    /// `hash <- "{" _ hashentries? _ "}"`, `hashentries <- hashentry (whitespace hashentry)*`
    mutating func hash() throws(Diagnostic) -> ConfigValue {
        let start = i
        try enterNesting(at: start)
        defer { depth -= 1 }
        i += 1
        var entries: [HashEntry] = []
        var seen: Set<String> = []
        ws()
        while true {
            if literal("}") { return .hash(entries, span(start)) }
            if peek == UInt8(ascii: ",") {
                throw fail(
                    "parse_error", at: i, "hash entries are separated by whitespace, not commas (Logstash rejects commas here)",
                    help: "remove the ','")
            }
            if atEnd { throw fail("parse_error", at: i, "unexpected end of input: hash is not closed with '}'") }
            let keyStart = i
            let key: ConfigValue
            if let n = number() {
                key = n
            } else if let w = bareword() {
                key = .bareword(w, span(keyStart))
            } else if peek == 34 || peek == 39 {
                key = .string(try quotedStringOrThrow(), span(keyStart))
            } else {
                expect("a hash key")
                expect("'}'")
                throw syntaxError()
            }
            let keyText = key.scalarText ?? ""
            if !seen.insert(keyText).inserted {
                throw fail("duplicate_key", at: keyStart, "Duplicate keys found in your configuration: [\(keyText)]")
            }
            ws()
            guard literal("=>") else { throw syntaxError() }
            ws()
            guard let v = try value() else { throw syntaxError() }
            entries.append(HashEntry(key: key, value: v))
            let beforeWS = i
            ws()
            if i == beforeWS && peek != UInt8(ascii: "}") {
                if peek == UInt8(ascii: ",") { continue }  // reported at the top of the loop
                expect("whitespace")
                expect("'}'")
                throw syntaxError()
            }
        }
    }

    // MARK: Strings — `double_quoted_string`, `single_quoted_string`

    mutating func quotedStringOrThrow() throws(Diagnostic) -> String {
        let start = i
        do {
            return try quotedString()
        } catch {
            throw fail("parse_error", at: start, "unterminated string", help: "close it with a matching quote")
        }
    }

    struct Unterminated: Error {}

    /// `'"' ('\"' / !'"' .)* '"'` or the single-quoted form; escapes interpreted only with `config.support_escapes`.
    mutating func quotedString() throws(Unterminated) -> String {
        let quote = peek
        guard quote == 34 || quote == 39 else { throw Unterminated() }
        let start = i
        i += 1
        var raw: [UInt8] = []
        while i < b.count {
            let c = b[i]
            if c == 92 && i + 1 < b.count && b[i + 1] == quote {
                raw.append(92)
                raw.append(quote)
                i += 2
                continue
            }
            if c == quote {
                i += 1
                let text = String(decoding: raw, as: UTF8.self)
                return options.supportEscapes ? ConfigParser.unescape(text) : text
            }
            raw.append(c)
            i += 1
        }
        i = start
        throw Unterminated()
    }

    /// Logstash's `StringEscape.process_escapes`.
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = ""
        var it = s.makeIterator()
        while let c = it.next() {
            guard c == "\\" else {
                out.append(c)
                continue
            }
            guard let n = it.next() else {
                out.append("\\")
                break
            }
            switch n {
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "0": out.append("\0")
            case "\\": out.append("\\")
            case "\"": out.append("\"")
            case "'": out.append("'")
            default:
                out.append("\\")
                out.append(n)
            }
        }
        return out
    }

    // MARK: branch <- if (_ else_if)* (_ else)?

    mutating func branch(start: Int, kind: PluginKind) throws(Diagnostic) -> Branch {
        try enterNesting(at: start)
        defer { depth -= 1 }
        var clauses: [Branch.Clause] = []
        var clauseStart = start
        ws()
        while true {
            let cond = try condition()
            ws()
            guard literal("{") else { throw syntaxError() }
            let body = try sectionBody(kind: kind)
            clauses.append(Branch.Clause(condition: cond, body: body, span: span(clauseStart)))
            let save = i
            ws()
            clauseStart = i
            if keyword("else") {
                ws()
                if keyword("if") {
                    ws()
                    continue
                }
                guard literal("{") else { throw syntaxError() }
                let elseBody = try sectionBody(kind: kind)
                return Branch(clauses: clauses, elseBody: elseBody)
            }
            i = save
            return Branch(clauses: clauses, elseBody: nil)
        }
    }

    // MARK: condition <- expression (_ boolean_operator _ expression)*

    mutating func condition() throws(Diagnostic) -> ConditionExpr {
        let start = i
        var operands: [ConditionExpr] = [try expression()]
        var operators: [(BooleanOperator, Int)] = []
        while true {
            let save = i
            ws()
            let opStart = i
            guard let op = booleanOperator() else {
                i = save
                break
            }
            ws()
            operators.append((op, opStart))
            operands.append(try expression())
        }
        if operators.isEmpty { return operands[0] }
        return try groupChain(operands, operators, start: start)
    }

    /// `boolean_operator <- "and" / "or" / "xor" / "nand"`
    mutating func booleanOperator() -> BooleanOperator? {
        for op in [BooleanOperator.and, .or, .xor, .nand] where keyword(op.rawValue) { return op }
        return nil
    }

    /// Groups an unparenthesised chain exactly as Logstash's compiler (lscl.rb) does: a shunting-yard where `and`
    /// binds tighter than `or` but at most one stacked operator is popped when a lower-precedence one arrives, so
    /// `a and b and c or d` means `a and ((b and c) or d)`. `xor`/`nand` only work alone.
    mutating func groupChain(_ operands: [ConditionExpr], _ operators: [(BooleanOperator, Int)], start: Int) throws(Diagnostic)
        -> ConditionExpr
    {
        if operators.count == 1 {
            return .boolean(operators[0].0, operands[0], operands[1], span(operators[0].1))
        }
        let kinds = Set(operators.map(\.0))
        if operators.count >= ConfigParser.balancedChainLength, kinds.count == 1, let op = kinds.first, op == .and || op == .or {
            return balancedChain(op, operands, operators.map(\.1))
        }
        if operators.count >= ConfigParser.maximumMixedChainLength {
            throw fail(
                "too_deep", at: operators[ConfigParser.maximumMixedChainLength - 1].1,
                "this chain mixes 'and' and 'or' in more than \(ConfigParser.maximumMixedChainLength) operands",
                help: "add parentheses to group it")
        }
        func precedence(_ op: BooleanOperator, _ at: Int) throws(Diagnostic) -> Int {
            switch op {
            case .and: return 2
            case .or: return 1
            case .xor, .nand:
                throw fail(
                    "parse_error", at: at, "Unexpected operator \(op.rawValue): '\(op.rawValue)' cannot be chained with other operators",
                    help: "put parentheses around the '\(op.rawValue)' expression")
            }
        }
        enum Item { case operand(ConditionExpr), op(BooleanOperator, Int) }
        var output: [Item] = []
        var stack: [(BooleanOperator, Int)] = []
        output.append(.operand(operands[0]))
        for (k, (op, at)) in operators.enumerated() {
            if let top = stack.last, try precedence(top.0, top.1) > precedence(op, at) {
                output.append(.op(top.0, top.1))
                stack.removeLast()
            }
            _ = try precedence(op, at)
            stack.append((op, at))
            output.append(.operand(operands[k + 1]))
        }
        while let top = stack.popLast() { output.append(.op(top.0, top.1)) }
        var eval: [ConditionExpr] = []
        for item in output {
            switch item {
            case .operand(let e): eval.append(e)
            case .op(let op, let at):
                let r = eval.removeLast(), l = eval.removeLast()
                eval.append(.boolean(op, l, r, span(at)))
            }
        }
        let grouped = eval[0]
        if kinds.count > 1 {
            warnings.append(
                Diagnostic(
                    .warning, code: "ambiguous_boolean_chain", span: span(start),
                    "this chain of 'and'/'or' is grouped as \(grouped.sourceText), as Logstash groups it",
                    help: "add parentheses to make the grouping explicit"))
        }
        return grouped
    }

    /// A chain of one associative operator (`a and b and … and z`), grouped as a balanced tree so that its depth is
    /// logarithmic: short-circuit evaluation still runs the operands left to right and stops at the same one, so
    /// the result and the evaluation errors are those of Logstash's left-to-right grouping. Built bottom-up without
    /// recursion; each node's span is its operator's.
    func balancedChain(_ op: BooleanOperator, _ operands: [ConditionExpr], _ operatorOffsets: [Int]) -> ConditionExpr {
        // Level by level: pair neighbours; the operator between two groups is the one after the left group's last
        // operand, so each level keeps, per group, the offset of the operator that follows it.
        var level = operands
        var following: [SourceSpan?] = operatorOffsets.map { span($0) } + [nil]
        while level.count > 1 {
            var next: [ConditionExpr] = []
            var nextFollowing: [SourceSpan?] = []
            next.reserveCapacity((level.count + 1) / 2)
            var k = 0
            while k + 1 < level.count {
                next.append(.boolean(op, level[k], level[k + 1], following[k]!))
                nextFollowing.append(following[k + 1])
                k += 2
            }
            if k < level.count {
                next.append(level[k])
                nextFollowing.append(following[k])
            }
            level = next
            following = nextFollowing
        }
        return level[0]
    }

    /// `expression <- "(" _ condition _ ")" / negative_expression / in_expression / not_in_expression /
    ///                compare_expression / regexp_expression / rvalue`
    mutating func expression() throws(Diagnostic) -> ConditionExpr {
        let start = i
        if literal("(") {
            try enterNesting(at: start)
            defer { depth -= 1 }
            ws()
            let inner = try condition()
            ws()
            guard literal(")") else { throw syntaxError() }
            return inner
        }
        if literal("!") {
            ws()
            if literal("(") {
                try enterNesting(at: start)
                defer { depth -= 1 }
                ws()
                let inner = try condition()
                ws()
                guard literal(")") else { throw syntaxError() }
                return .not(inner, span(start))
            }
            guard let sel = selector() else {
                throw fail("parse_error", at: i, "'!' must be followed by a field reference or a parenthesised condition")
            }
            return .not(.value(sel), span(start))
        }
        guard let lhs = try rvalue() else {
            expect("a condition")
            throw syntaxError()
        }
        let save = i
        ws()
        let opStart = i
        if keyword("in") {
            ws()
            guard let rhs = try rvalue() else { throw syntaxError() }
            return .membership(negated: false, lhs, rhs, span(opStart))
        }
        if keyword("not") {
            ws()
            guard keyword("in") else { throw syntaxError() }
            ws()
            guard let rhs = try rvalue() else { throw syntaxError() }
            return .membership(negated: true, lhs, rhs, span(opStart))
        }
        if literal("=~") || literal("!~") {
            let negated = b[i - 2] == UInt8(ascii: "!")
            ws()
            let rs = i
            guard let rhs = try rvalue() else { throw syntaxError() }
            switch rhs {
            case .regex, .string: break
            default: throw fail("parse_error", at: rs, "the right side of '\(negated ? "!~" : "=~")' must be a /regex/ or a string")
            }
            return .regex(negated: negated, lhs, rhs, span(opStart))
        }
        if let op = compareOperator() {
            ws()
            let rs = i
            guard let rhs = try rvalue() else {
                if keyword("true") || keyword("false") {
                    throw fail(
                        "parse_error", at: rs, "conditions have no boolean literals",
                        help: "test the field itself: `if [field]` or `if ![field]`")
                }
                throw syntaxError()
            }
            return .compare(op, lhs, rhs, span(opStart))
        }
        i = save
        return .value(lhs)
    }

    /// `compare_operator <- "==" / "!=" / "<=" / ">=" / "<" / ">"`
    mutating func compareOperator() -> CompareOperator? {
        for op in [CompareOperator.eq, .ne, .le, .ge, .lt, .gt] where literal(op.rawValue) { return op }
        return nil
    }

    /// `rvalue <- string / number / selector / array / method_call / regexp`
    mutating func rvalue() throws(Diagnostic) -> Rvalue? {
        let start = i
        if peek == 34 || peek == 39 { return .string(try quotedStringOrThrow(), span(start)) }
        if let n = number() {
            switch n {
            case .integer(let v, let s): return .integer(v, s)
            case .float(let v, let s): return .float(v, s)
            default: return nil
            }
        }
        if let sel = selector() { return sel }
        if peek == UInt8(ascii: "[") { return try rvalueArray() }
        if peek == UInt8(ascii: "/") { return try regexp() }
        if let m = try methodCall() { return m }
        expect("a field reference, string, number, array or /regex/")
        return nil
    }

    /// `selector <- selector_element+`, `selector_element <- "[" [^\]\[,]+ "]"`
    mutating func selector() -> Rvalue? {
        let start = i
        var j = i
        while j < b.count && b[j] == UInt8(ascii: "[") {
            var k = j + 1
            while k < b.count && b[k] != UInt8(ascii: "]") && b[k] != UInt8(ascii: "[") && b[k] != UInt8(ascii: ",") { k += 1 }
            guard k > j + 1, k < b.count, b[k] == UInt8(ascii: "]") else { break }
            j = k + 1
        }
        guard j > start else { return nil }
        i = j
        return .selector(String(decoding: b[start..<j], as: UTF8.self), span(start))
    }

    /// `array <- "[" _ (rvalue (_ "," _ rvalue)*)? _ "]"` in conditions.
    mutating func rvalueArray() throws(Diagnostic) -> Rvalue {
        let start = i
        try enterNesting(at: start)
        defer { depth -= 1 }
        i += 1
        var elements: [Rvalue] = []
        ws()
        if literal("]") { return .array([], span(start)) }
        while true {
            ws()
            guard let v = try rvalue() else { throw syntaxError() }
            elements.append(v)
            ws()
            if literal(",") { continue }
            if literal("]") { return .array(elements, span(start)) }
            throw syntaxError()
        }
    }

    /// `regexp <- "/" ("\/" / !"/" .)* "/"`
    mutating func regexp() throws(Diagnostic) -> Rvalue {
        let start = i
        i += 1
        var raw: [UInt8] = []
        while i < b.count {
            let c = b[i]
            if c == 92 && i + 1 < b.count && b[i + 1] == UInt8(ascii: "/") {
                raw.append(UInt8(ascii: "/"))
                i += 2
                continue
            }
            if c == UInt8(ascii: "/") {
                i += 1
                return .regex(String(decoding: raw, as: UTF8.self), span(start))
            }
            raw.append(c)
            i += 1
        }
        throw fail("parse_error", at: start, "unterminated regular expression", help: "close it with '/'")
    }

    /// `method_call <- method _ "(" _ (rvalue (_ "," _ rvalue)*)? _ ")"`
    mutating func methodCall() throws(Diagnostic) -> Rvalue? {
        let start = i
        guard let name = bareword() else { return nil }
        ws()
        guard literal("(") else {
            i = start
            return nil
        }
        try enterNesting(at: start)
        defer { depth -= 1 }
        var args: [Rvalue] = []
        ws()
        if !literal(")") {
            while true {
                ws()
                guard let a = try rvalue() else { throw syntaxError() }
                args.append(a)
                ws()
                if literal(",") { continue }
                guard literal(")") else { throw syntaxError() }
                break
            }
        }
        return .methodCall(name, args, span(start))
    }
}

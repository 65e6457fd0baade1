/// A condition that could not be evaluated for an event (Logstash 8.16+'s evaluation errors); the message is
/// Logstash's `<cause>`.
public struct ConditionEvaluationError: Error, Sendable {
    public let cause: String
}

/// A compiled condition: evaluated per event with no parsing.
public typealias CompiledCondition = @Sendable (Event) throws(ConditionEvaluationError) -> Bool

/// Compiles condition expressions into closures, resolving field references, literals and regexes once.
public struct ConditionCompiler {
    /// Settings that change how conditions are compiled.
    public struct Options: Sendable {
        /// `pipeline.regex.match_limit`: PCRE2's match limit for `=~`/`!~`; a match that reaches it is an
        /// evaluation error (the event goes to the DLQ), not a silent non-match.
        public var regexMatchLimit: UInt32
        /// `${VAR}` in string literals (Logstash 8.1+), resolved once at compile time; nil leaves them as written.
        public var substitution: Substitution?
        public init(regexMatchLimit: UInt32 = Regex.defaultMatchLimit, substitution: Substitution? = nil) {
            self.regexMatchLimit = regexMatchLimit
            self.substitution = substitution
        }
    }

    /// Compiles `expr`, or throws a diagnostic for constructs Logstash rejects (method calls, bad regexes).
    public static func compile(_ expr: ConditionExpr, options: Options = Options()) throws(Diagnostic) -> CompiledCondition {
        switch expr {
        case .boolean(let op, let l, let r, _):
            let lhs = try compile(l, options: options), rhs = try compile(r, options: options)
            switch op {
            case .and:
                return { e throws(ConditionEvaluationError) in
                    if try !lhs(e) { return false }
                    return try rhs(e)
                }
            case .or:
                return { e throws(ConditionEvaluationError) in
                    if try lhs(e) { return true }
                    return try rhs(e)
                }
            case .xor:
                return { e throws(ConditionEvaluationError) in
                    let a = try lhs(e)
                    return try a != rhs(e)
                }
            case .nand:
                return { e throws(ConditionEvaluationError) in
                    if try !lhs(e) { return true }
                    return try !rhs(e)
                }
            }
        case .not(let inner, _):
            let c = try compile(inner, options: options)
            return { e throws(ConditionEvaluationError) in try !c(e) }
        case .value(let rv):
            let operand = try Operand(rv, options.substitution)
            return { e in operand.truthy(e) }
        case .compare(let op, let l, let r, _):
            return try compileComparison(op, try Operand(l, options.substitution), try Operand(r, options.substitution))
        case .regex(let negated, let l, let r, let span):
            let operand = try Operand(l, options.substitution)
            let regex = try compileRegex(r, span, matchLimit: options.regexMatchLimit)
            return { e throws(ConditionEvaluationError) in
                guard case .string(let s)? = operand.value(e) else { return negated }
                switch regex.test(s) {
                case .matched: return !negated
                case .notMatched: return negated
                case .gaveUp(let reason): throw regexGaveUp(regex, s, reason, options.regexMatchLimit)
                }
            }
        case .membership(let negated, let l, let r, _):
            let lhs = try Operand(l, options.substitution), rhs = try Operand(r, options.substitution)
            return { e in Membership.test(lhs, rhs, e) != negated }
        }
    }

    /// The evaluation error for a regex PCRE2 gave up on (usually catastrophic backtracking).
    static func regexGaveUp(_ regex: Regex, _ value: String, _ reason: String, _ limit: UInt32) -> ConditionEvaluationError {
        ConditionEvaluationError(
            cause: "regular expression /\(regex.pattern)/ could not be evaluated against a value of \(value.utf8.count) bytes: "
                + "\(reason) (pipeline.regex.match_limit is \(limit))")
    }

    static func compileRegex(_ r: Rvalue, _ span: SourceSpan, matchLimit: UInt32) throws(Diagnostic) -> Regex {
        let pattern: String
        switch r {
        case .regex(let p, _), .string(let p, _): pattern = p
        default: throw Diagnostic(code: "invalid_condition", span: span, "the right side of a regex match must be a /regex/ or a string")
        }
        do {
            return try Regex(pattern, matchLimit: matchLimit)
        } catch {
            throw Diagnostic(code: "invalid_regex", span: r.span, error.description)
        }
    }

    static func compileComparison(_ op: CompareOperator, _ l: Operand, _ r: Operand) throws(Diagnostic) -> CompiledCondition {
        switch op {
        case .eq: return { e in Equality.equal(l.value(e), r.value(e)) }
        case .ne: return { e in !Equality.equal(l.value(e), r.value(e)) }
        case .lt, .gt, .le, .ge:
            return { e throws(ConditionEvaluationError) in
                let order = try Ordering.compare(l, r, e)
                switch op {
                case .lt: return order < 0
                case .gt: return order > 0
                case .le: return order <= 0
                default: return order >= 0
                }
            }
        }
    }
}

/// One side of a comparison: a field reference or a constant, resolved at compile time.
struct Operand: Sendable {
    enum Kind: Sendable {
        case field(FieldReference)
        case constant(Value)
        case list([Value])
    }
    let kind: Kind

    /// - Parameter substitution: resolves `${VAR}` in string literals; an undefined variable is a diagnostic.
    init(_ rv: Rvalue, _ substitution: Substitution? = nil) throws(Diagnostic) {
        switch rv {
        case .string(let s, let span):
            guard let substitution, s.contains("${") else {
                kind = .constant(.string(s))
                return
            }
            do {
                kind = .constant(.string(try substitution.apply(s)))
            } catch {
                throw Diagnostic(code: "undefined_variable", span: span, error.description)
            }
        case .integer(let i, _): kind = .constant(.int(i))
        case .float(let d, _): kind = .constant(.double(d))
        case .regex(let p, _): kind = .constant(.string(p))
        case .selector(let text, let span):
            do {
                kind = .field(try FieldReference(parsing: text))
            } catch {
                throw Diagnostic(code: "invalid_field_reference", span: span, error.description)
            }
        case .array(let items, _):
            var values: [Value] = []
            for item in items {
                let o = try Operand(item, substitution)
                guard case .constant(let v) = o.kind else {
                    throw Diagnostic(code: "invalid_condition", span: item.span, "a list in a condition may hold only literals")
                }
                values.append(v)
            }
            kind = .list(values)
        case .methodCall(let name, _, let span):
            throw Diagnostic(code: "unsupported_method", span: span, "method calls in conditions are not supported: '\(name)(…)'")
        }
    }

    var isField: Bool {
        if case .field = kind { return true }
        return false
    }

    @inline(__always) func value(_ e: Event) -> Value? {
        switch kind {
        case .field(let ref): return e.get(ref)
        case .constant(let v): return v
        case .list(let l): return .array(l)
        }
    }

    func truthy(_ e: Event) -> Bool {
        switch kind {
        case .field(let ref): return e.get(ref)?.isTruthy ?? false
        case .constant(let v): return v.isTruthy
        case .list: return true
        }
    }
}

/// `==` / `!=`: Ruby equality; numbers compare across integer and float; a missing field equals nothing.
enum Equality {
    /// Logstash's `==`: two missing (or null) values are equal — `[foo] == [bar]` holds on an event with neither
    /// (CompiledPipelineTest#conditionalWithNullField) —, a missing value equals nothing else.
    static func equal(_ a: Value?, _ b: Value?) -> Bool {
        let aMissing = a == nil || a == .null, bMissing = b == nil || b == .null
        if aMissing || bMissing { return aMissing && bMissing }
        return same(a!, b!)
    }

    static func same(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.int(let x), .double(let y)): return Double(x) == y
        case (.double(let x), .int(let y)): return x == Double(y)
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        default: return a == b
        }
    }
}

/// `<` `>` `<=` `>=`: numbers numerically, strings byte-wise; everything else is an evaluation error.
enum Ordering {
    static func compare(_ l: Operand, _ r: Operand, _ e: Event) throws(ConditionEvaluationError) -> Int {
        let a = l.value(e), b = r.value(e)
        switch (a, b) {
        case (.int(let x)?, .int(let y)?): return x < y ? -1 : (x > y ? 1 : 0)
        case (let x?, let y?) where x.numberValue != nil && y.numberValue != nil:
            let p = x.numberValue!, q = y.numberValue!
            return p < q ? -1 : (p > q ? 1 : 0)
        case (.string(let x)?, .string(let y)?):
            return x.utf8.lexicographicallyPrecedes(y.utf8) ? -1 : (x == y ? 0 : 1)
        case (.timestamp(let x)?, .timestamp(let y)?): return x < y ? -1 : (x == y ? 0 : 1)
        default:
            throw ConditionEvaluationError(cause: cause(l, a, r, b))
        }
    }

    /// Logstash reports the event's value on the left, whichever side it was written on.
    static func cause(_ l: Operand, _ a: Value?, _ r: Operand, _ b: Value?) -> String {
        let (eventValue, other) = (!l.isField && r.isField) ? (b, a) : (a, b)
        let scalarMismatch: Bool
        switch (eventValue, other) {
        case (.string?, .int?), (.string?, .double?), (.int?, .string?), (.double?, .string?), (.bool?, _?), (_?, .bool?):
            scalarMismatch = true
        default:
            scalarMismatch = false
        }
        if scalarMismatch { return "(TypeError) no implicit conversion from nil to integer" }
        return "Unexpected conditional input combination of '\(javaDescription(eventValue))' (left) and '\(javaDescription(other))' (right)"
    }

    /// How Logstash's Java side prints a value's class and contents.
    static func javaDescription(_ v: Value?) -> String {
        guard let v, !v.isNull else { return "<no-class>:<null-value>" }
        switch v {
        case .int(let i): return "class org.jruby.RubyFixnum:\(i)"
        case .double(let d): return "class org.jruby.RubyFloat:\(RubyFloat.format(d))"
        case .bigNumber(let n): return n.isInteger ? "class org.jruby.RubyBignum:\(n.text)" : "class org.jruby.ext.bigdecimal.RubyBigDecimal:\(n.text)"
        case .string(let s): return "class org.jruby.RubyString:\(s)"
        case .bool(let b): return "class org.jruby.RubyBoolean:\(b)"
        case .timestamp(let t): return "class org.logstash.Timestamp:\(t.iso8601)"
        case .array: return "class org.logstash.ConvertedList:\(javaToString(v))"
        case .object: return "class org.logstash.ConvertedMap:\(javaToString(v))"
        case .null: return "<no-class>:<null-value>"
        }
    }

    static func javaToString(_ v: Value) -> String {
        switch v {
        case .array(let a): return "[" + a.map(javaToString).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.map { "\($0.0)=\(javaToString($0.1))" }.joined(separator: ", ") + "}"
        case .double(let d): return RubyFloat.format(d)
        default: return v.interpolated
        }
    }
}

/// `in` / `not in`, with Logstash's rules for each combination of field and literal operands.
enum Membership {
    static func test(_ l: Operand, _ r: Operand, _ e: Event) -> Bool {
        let left = l.value(e), right = r.value(e)
        switch (l.kind, r.kind) {
        case (.field, .constant(.string(let literal))):
            // field in "literal": the field is a string contained in the literal.
            if case .string(let s)? = left { return literal.contains(s) }
            return false
        case (.constant(.string(let literal)), .field):
            switch right {
            case .string(let s)?: return s.contains(literal)
            case .array(let a)?: return a.contains(.string(literal))
            default: return false
            }
        case (.constant(let n), .field) where n.numberValue != nil:
            if case .array(let a)? = right { return a.contains { Equality.same($0, n) } }
            return false  // a scalar field never matches (upstream behaviour)
        case (.field, .list(let items)):
            guard let left, !left.isNull else { return false }
            let text = left.interpolated
            return items.contains { $0.interpolated == text }
        default:
            return general(left, right)
        }
    }

    static func general(_ left: Value?, _ right: Value?) -> Bool {
        guard let left, let right else { return false }
        switch (left, right) {
        case (.array, _), (.object, _): return false
        case (.string(let a), .string(let b)): return b.contains(a)
        case (_, .array(let items)): return items.contains { Equality.same($0, left) }
        case (_, .object(let o)):
            if case .string(let k) = left { return o[k] != nil }
            return false
        default: return Equality.same(left, right)
        }
    }
}

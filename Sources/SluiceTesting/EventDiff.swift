import SluiceCore

/// One way an actual event differs from the expected one, at a field path written as a Logstash field reference.
public enum FieldDifference: Equatable, Sendable {
    /// The expected event has the field; the actual one does not.
    case missing(path: String, expected: Value)
    /// The actual event has a field the expected one does not list.
    case unexpected(path: String, actual: Value)
    /// Both have the field with different values.
    case different(path: String, actual: Value, expected: Value)

    /// One line for a report: `different [status]: actual 200, expected 404`.
    public var description: String {
        switch self {
        case .missing(let path, let expected):
            return "missing    \(path): expected \(GoldenJSON.render(expected))"
        case .unexpected(let path, let actual):
            return "unexpected \(path): actual \(GoldenJSON.render(actual))"
        case .different(let path, let actual, let expected):
            return "different  \(path): actual \(GoldenJSON.render(actual)), expected \(GoldenJSON.render(expected))"
        }
    }
}

/// Explains why two events do not match: walks objects key by key (and arrays of equal length index by index) and
/// reports each leaf that differs, so a reader sees `[response][status]` rather than two whole events.
public enum EventDiff {
    /// The differences between `actual` and `expected`; empty when `GoldenJSON.matches` holds.
    public static func differences(_ actual: Value, _ expected: Value, numeric: Bool = false) -> [FieldDifference] {
        var out: [FieldDifference] = []
        // An explicit stack, not recursion: expected events are user data of any depth.
        var pending: [(path: String, actual: Value, expected: Value)] = [("", actual, expected)]
        while let (path, a, e) = pending.popLast() {
            if GoldenJSON.matches(a, e, numeric: numeric) { continue }
            switch (a, e) {
            case (.object(let ao), .object(let eo)):
                var children: [(String, Value, Value)] = []
                for (k, ev) in eo {
                    if let av = ao[k] { children.append((path + "[\(k)]", av, ev)) } else { out.append(.missing(path: path + "[\(k)]", expected: ev)) }
                }
                for (k, av) in ao where eo[k] == nil { out.append(.unexpected(path: path + "[\(k)]", actual: av)) }
                pending += children.reversed()
            case (.array(let aa), .array(let ea)) where aa.count == ea.count:
                pending += zip(aa, ea).enumerated().map { (path + "[\($0.offset)]", $0.element.0, $0.element.1) }.reversed()
            default:
                out.append(.different(path: path.isEmpty ? "(event)" : path, actual: a, expected: e))
            }
        }
        return out
    }
}

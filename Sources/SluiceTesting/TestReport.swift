import Foundation

/// The result of one test case run by `sluice test`: a golden fixture folder or one test case of a
/// logstash-filter-verifier file.
public struct TestCaseResult: Sendable {
    /// How a case ended.
    public enum Status: Sendable, Equatable {
        case passed
        /// The explanation: a field-by-field diff, an exit code, a missing stderr line.
        case failed(String)
        /// Why `sluice test` could not run the case.
        case skipped(String)
    }

    /// The suite the case belongs to: the fixture tree or the LFV file.
    public let suite: String
    /// The case's name within its suite.
    public let name: String
    public let status: Status
    public let seconds: Double

    public init(suite: String, name: String, status: Status, seconds: Double) {
        self.suite = suite
        self.name = name
        self.status = status
        self.seconds = seconds
    }
}

/// Renders results for people (one line per case, diffs indented, a summary) and for CI (JUnit XML).
public struct TestReport: Sendable {
    public let results: [TestCaseResult]

    public init(_ results: [TestCaseResult]) { self.results = results }

    public var passed: Int { results.filter { $0.status == .passed }.count }
    public var failed: Int { results.filter { if case .failed = $0.status { true } else { false } }.count }
    public var skipped: Int { results.filter { if case .skipped = $0.status { true } else { false } }.count }

    /// `N passed, M failed, K skipped`.
    public var summary: String { "\(passed) passed, \(failed) failed, \(skipped) skipped" }

    /// The exit status of `sluice test`: 0 when nothing failed, 1 otherwise.
    public var exitCode: Int32 { failed == 0 ? 0 : 1 }

    /// One result as text: `PASS suite: name`, or `FAIL …` followed by the indented explanation.
    public static func line(_ r: TestCaseResult) -> String {
        let title = r.suite.isEmpty ? r.name : "\(r.suite): \(r.name)"
        switch r.status {
        case .passed: return "PASS \(title)\n"
        case .skipped(let reason): return "SKIP \(title): \(reason)\n"
        case .failed(let explanation):
            let body = explanation.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }
            return "FAIL \(title)\n" + body.joined(separator: "\n") + "\n"
        }
    }

    /// JUnit XML: one `testsuite` per suite (in first-seen order), `failure` bodies holding the diff.
    public var junitXML: String {
        var suites: [String] = []
        var bySuite: [String: [TestCaseResult]] = [:]
        for r in results {
            if bySuite[r.suite] == nil { suites.append(r.suite) }
            bySuite[r.suite, default: []].append(r)
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites name=\"sluice test\" tests=\"\(results.count)\" failures=\"\(failed)\" errors=\"0\" skipped=\"\(skipped)\" time=\"\(Self.time(results))\">\n"
        for suite in suites { xml += Self.junitSuite(suite, bySuite[suite] ?? []) }
        return xml + "</testsuites>\n"
    }

    static func junitSuite(_ name: String, _ cases: [TestCaseResult]) -> String {
        let report = TestReport(cases)
        var xml = "  <testsuite name=\"\(xmlEscape(name))\" tests=\"\(cases.count)\" failures=\"\(report.failed)\" errors=\"0\""
        xml += " skipped=\"\(report.skipped)\" time=\"\(time(cases))\">\n"
        for c in cases {
            let open = "    <testcase classname=\"\(xmlEscape(name))\" name=\"\(xmlEscape(c.name))\" time=\"\(time([c]))\""
            switch c.status {
            case .passed:
                xml += open + "/>\n"
            case .skipped(let reason):
                xml += open + ">\n      <skipped message=\"\(xmlEscape(reason))\"/>\n    </testcase>\n"
            case .failed(let explanation):
                let message = Self.headline(explanation)
                xml += open + ">\n      <failure message=\"\(xmlEscape(message))\">\(xmlEscape(explanation))</failure>\n    </testcase>\n"
            }
        }
        return xml + "  </testsuite>\n"
    }

    /// A failure's first two lines as one (`event 1 differs: different [status]: …`), for the `message` attribute.
    static func headline(_ explanation: String) -> String {
        let lines = explanation.split(separator: "\n").prefix(2).map { $0.trimmingCharacters(in: .whitespaces) }
        return lines.isEmpty ? "failed" : lines.joined(separator: " ")
    }

    static func time(_ cases: [TestCaseResult]) -> String {
        String(format: "%.3f", cases.reduce(0) { $0 + $1.seconds })
    }

    /// Escapes text for an XML attribute or element; characters XML 1.0 cannot hold at all become U+FFFD.
    public static func xmlEscape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n", "\t": out.unicodeScalars.append(u)
            case "\r": out += "&#13;"
            default:
                let v = u.value
                let allowed = v >= 0x20 && !(0xD800...0xDFFF).contains(v) && v != 0xFFFE && v != 0xFFFF
                out.unicodeScalars.append(allowed ? u : "\u{FFFD}")
            }
        }
        return out
    }
}

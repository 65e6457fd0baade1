#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `${VAR}` and `${VAR:default}` substitution in setting values, as Logstash's `SubstitutionVariables`.
public struct Substitution: Sendable {
    /// A reference that neither the environment nor a default could fill; the message matches Logstash's.
    public struct UndefinedVariable: Error, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String {
            "Cannot evaluate `${\(name)}`. Replacement variable `\(name)` is not defined in a Logstash secret store or as an Environment entry and there is no default value given."
        }
    }

    let lookup: @Sendable (String) -> String?

    /// Substitution from the process environment.
    public static let environment = Substitution { name in
        guard let v = getenv(name) else { return nil }
        return String(cString: v)
    }

    public init(lookup: @escaping @Sendable (String) -> String?) { self.lookup = lookup }

    /// Replaces every `${NAME}` / `${NAME:default}` in `text`.
    public func apply(_ text: String) throws(UndefinedVariable) -> String {
        guard text.contains("${") else { return text }
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstRange(of: "${") {
            out += rest[..<open.lowerBound]
            let after = rest[open.upperBound...]
            guard let close = after.firstIndex(of: "}") else {
                out += rest[open.lowerBound...]
                return out
            }
            let inner = after[..<close]
            let name: Substring
            let fallback: Substring?
            if let colon = inner.firstIndex(of: ":") {
                name = inner[..<colon]
                fallback = inner[inner.index(after: colon)...]
            } else {
                name = inner
                fallback = nil
            }
            if Substitution.isValidName(name) {
                if let v = lookup(String(name)) {
                    out += v
                } else if let fallback {
                    out += fallback
                } else {
                    throw UndefinedVariable(name: String(name))
                }
            } else {
                out += rest[open.lowerBound...close]
            }
            rest = after[after.index(after: close)...]
        }
        out += rest
        return out
    }

    static func isValidName(_ s: Substring) -> Bool {
        guard let first = s.unicodeScalars.first else { return false }
        func ok(_ c: Unicode.Scalar, first: Bool) -> Bool {
            (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || c == "_" || c == "." || (!first && c >= "0" && c <= "9")
        }
        guard ok(first, first: true) else { return false }
        return s.unicodeScalars.dropFirst().allSatisfy { ok($0, first: false) }
    }
}

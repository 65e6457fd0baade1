import SluiceCore
import Yams

/// What uap-core's parsers make of one user-agent string: the browser, the operating system and the device family.
struct UserAgentClient: Sendable, Equatable {
    struct Versioned: Sendable, Equatable {
        var family: String
        var major: String?
        var minor: String?
        var patch: String?
        var patchMinor: String?
    }

    var userAgent: Versioned
    var os: Versioned
    var device: String
}

/// uap-core's `regexes.yaml` compiled: three ordered lists of patterns (user agent, OS, device), each tried in order
/// until one matches, as the ua-parser specification describes.
///
/// Replacements may name groups as `$1`…`$9` (a missing group is empty); the result is trimmed and an empty
/// result counts as absent. An empty or missing group counts as absent too. Device patterns honour
/// `regex_flag: 'i'` (case-insensitive), as do the others should they ever carry it.
struct UserAgentParser: Sendable {
    struct Pattern: Sendable {
        let regex: Regex
        /// family (or os / device), v1, v2, v3, v4 replacements.
        let replacements: [String?]
    }

    let userAgentPatterns: [Pattern]
    let osPatterns: [Pattern]
    let devicePatterns: [Pattern]

    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads and compiles a `regexes.yaml` file.
    init(path: String) throws(LoadError) {
        guard let bytes = FileSystem.readBytes(path) else {
            throw LoadError(description: "cannot read the user-agent regexes file \(path)")
        }
        try self.init(yaml: String(decoding: bytes, as: UTF8.self), source: path)
    }

    /// Compiles the three parser lists of a `regexes.yaml` document.
    init(yaml: String, source: String = "regexes.yaml") throws(LoadError) {
        let root: Node?
        do {
            // Every value is a string here: the basic resolver skips the per-scalar regular expressions of YAML 1.1 typing.
            root = try Yams.compose(yaml: yaml, .basic)
        } catch {
            throw LoadError(description: "\(source) is not valid YAML: \(error)")
        }
        guard let mapping = root?.mapping else { throw LoadError(description: "\(source) is not a YAML mapping") }
        func list(_ key: String, _ replacementKeys: [String]) throws(LoadError) -> [Pattern] {
            guard let items = mapping[Node(key)]?.sequence else {
                throw LoadError(description: "\(key) is missing from \(source)")
            }
            var out: [Pattern] = []
            out.reserveCapacity(items.count)
            for (n, item) in items.enumerated() {
                guard let entry = item.mapping, let regex = entry["regex"]?.string else {
                    throw LoadError(description: "\(source): \(key) entry \(n + 1) has no regex")
                }
                let caseInsensitive = entry["regex_flag"]?.string == "i"
                let compiled: Regex
                do {
                    compiled = try Regex(regex, caseInsensitive: caseInsensitive)
                } catch {
                    throw LoadError(description: "\(source): \(key) entry \(n + 1): \(error)")
                }
                out.append(Pattern(regex: compiled, replacements: replacementKeys.map { entry[$0]?.string }))
            }
            return out
        }
        userAgentPatterns = try list(
            "user_agent_parsers", ["family_replacement", "v1_replacement", "v2_replacement", "v3_replacement", "v4_replacement"])
        osPatterns = try list(
            "os_parsers", ["os_replacement", "os_v1_replacement", "os_v2_replacement", "os_v3_replacement", "os_v4_replacement"])
        devicePatterns = try list("device_parsers", ["device_replacement"])
    }

    /// The number of compiled patterns.
    var patternCount: Int { userAgentPatterns.count + osPatterns.count + devicePatterns.count }

    /// Parses one user-agent string; anything unmatched is "Other".
    func parse(_ text: String) -> UserAgentClient {
        var text = text
        return text.withUTF8 { buf in
            UserAgentClient(
                userAgent: UserAgentParser.versioned(userAgentPatterns, buf),
                os: UserAgentParser.versioned(osPatterns, buf),
                device: UserAgentParser.device(devicePatterns, buf))
        }
    }

    /// The first matching pattern's family and versions: each from its replacement when there is one, else from
    /// groups 1…5.
    static func versioned(_ patterns: [Pattern], _ buf: UnsafeBufferPointer<UInt8>) -> UserAgentClient.Versioned {
        for pattern in patterns {
            guard let groups = captures(pattern.regex, buf) else { continue }
            var values: [String?] = []
            for k in 0..<5 {
                if let replacement = pattern.replacements[k] {
                    values.append(substitute(replacement, groups))
                } else {
                    values.append(group(groups, k + 1))
                }
            }
            // A pattern that yields no family does not count as a match (ua-parser's Java port does the same).
            guard let family = values[0] else { continue }
            return UserAgentClient.Versioned(family: family, major: values[1], minor: values[2], patch: values[3], patchMinor: values[4])
        }
        return UserAgentClient.Versioned(family: "Other")
    }

    /// The first matching device pattern's family: `device_replacement` with its groups, else group 1.
    static func device(_ patterns: [Pattern], _ buf: UnsafeBufferPointer<UInt8>) -> String {
        for pattern in patterns {
            guard let groups = captures(pattern.regex, buf) else { continue }
            let family = pattern.replacements[0].map { substitute($0, groups) } ?? group(groups, 1)
            if let family { return family }
        }
        return "Other"
    }

    /// Group texts 0…n (nil when a group did not take part), or nil when the pattern does not match.
    static func captures(_ regex: Regex, _ buf: UnsafeBufferPointer<UInt8>) -> [String?]? {
        guard case .match(let ranges) = regex.match(buf) else { return nil }
        return ranges.map { range in
            range.map { String(decoding: UnsafeBufferPointer(rebasing: buf[$0]), as: UTF8.self) }
        }
    }

    /// Group `n`, absent when it did not take part or is empty.
    static func group(_ groups: [String?], _ n: Int) -> String? {
        guard n < groups.count, let text = groups[n], !text.isEmpty else { return nil }
        return text
    }

    /// A replacement with `$1`…`$9` filled in from the groups, trimmed; nil when that leaves nothing.
    static func substitute(_ replacement: String, _ groups: [String?]) -> String? {
        var out = ""
        if replacement.contains("$") {
            let scalars = Array(replacement.unicodeScalars)
            var i = 0
            while i < scalars.count {
                let c = scalars[i]
                if c == "$", i + 1 < scalars.count, (0x31...0x39).contains(scalars[i + 1].value) {
                    let digit = Int(scalars[i + 1].value - 0x30)
                    if digit < groups.count, let text = groups[digit] { out += text }
                    i += 2
                    continue
                }
                out.unicodeScalars.append(c)
                i += 1
            }
        } else {
            out = replacement
        }
        let trimmed = Ruby.strip(out)
        return trimmed.isEmpty ? nil : trimmed
    }
}

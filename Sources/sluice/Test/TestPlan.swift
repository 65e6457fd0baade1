import Foundation
import SluiceTesting

/// What `sluice test`'s paths name: fixture cases (a folder holding `pipeline.conf`, or the case folders inside a
/// folder), logstash-filter-verifier test-case files (`.json`, `.yml`, `.yaml`, given or inside a folder), and the
/// config those run against (`--config`, or a `.conf` path as in LFV's `logstash-filter-verifier CASES CONFIG`).
struct TestPlan {
    var fixtures: [(suite: String, fixture: FixtureCase)] = []
    var lfvSuites: [String] = []
    var config: String?

    static let suiteExtensions: Set<String> = ["json", "yml", "yaml"]

    init(paths: [String], config: String?) throws {
        self.config = config
        guard !paths.isEmpty else { throw TestUsageError("name fixture folders or test-case files to run (see sluice test --help)") }
        for path in paths { try add(path) }
        if fixtures.isEmpty && lfvSuites.isEmpty {
            throw TestUsageError("no fixture case or test-case file among \(paths.joined(separator: " "))")
        }
    }

    mutating func add(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TestUsageError("\(path): no such file or directory")
        }
        let url = URL(fileURLWithPath: path)
        if !isDirectory.boolValue {
            try addFile(path, url.pathExtension.lowercased())
        } else if FixtureCase.isCase(url) {
            fixtures.append((suite: url.deletingLastPathComponent().relativePath, fixture: FixtureCase(directory: url)))
        } else {
            try addFolder(path)
        }
    }

    mutating func addFile(_ path: String, _ ext: String) throws {
        if Self.suiteExtensions.contains(ext) {
            lfvSuites.append(path)
        } else if ext == "conf" {
            if let config, config != path { throw TestUsageError("two configs: \(config) and \(path)") }
            config = path
        } else {
            throw TestUsageError("\(path): not a fixture folder, a test-case file (.json, .yml, .yaml) or a config (.conf)")
        }
    }

    /// A folder's case folders (sorted), or else its test-case files.
    mutating func addFolder(_ path: String) throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        let url = URL(fileURLWithPath: path)
        let cases = names.map { url.appendingPathComponent($0) }.filter(FixtureCase.isCase)
        let files = names.filter { Self.suiteExtensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }
        guard !cases.isEmpty || !files.isEmpty else {
            throw TestUsageError("\(path): holds no fixture case (a folder with pipeline.conf) and no test-case file")
        }
        fixtures += cases.map { (suite: path, fixture: FixtureCase(directory: $0)) }
        lfvSuites += files.map { url.appendingPathComponent($0).relativePath }
    }
}

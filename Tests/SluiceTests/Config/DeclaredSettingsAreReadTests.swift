import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// Every setting a plugin declares does something (issue 10): a walk over the registry finds each declared setting's
/// `@Setting` declaration in the sources, and the Swift property behind it must be read somewhere besides its
/// declaration — by the plugin, its helpers or its own `validate`. A setting accepted and then ignored fails here.
/// Obsolete settings (refused at start-up with a message) and the few accepted on purpose without an effect,
/// documented in the README, are listed with their reason.
@Suite struct DeclaredSettingsAreReadTests {
    /// Settings declared and deliberately without an effect, with why (each is in the README's differences).
    static let acceptedWithoutEffect: [String: String] = [
        "periodic_flush": "Logstash's flush of stateful filters; no Sluice filter keeps state to flush",
        "yaml_load_strategy": "translate: how Logstash reads a YAML dictionary (at once or streamed); the dictionary is the same",
        "batch_timeout": "redis output: Logstash's wait before a partial RPUSH batch; Sluice writes each worker batch when it arrives",
    ]

    /// One `@Setting` declaration: the Logstash name, the Swift property, where it is.
    struct Declaration {
        let name: String
        let property: String
        let file: String
        let line: Int
        let obsolete: Bool
    }

    static let sourceFiles: [(path: String, lines: [Substring])] = {
        let root = TestPaths.packageRoot.appendingPathComponent("Sources")
        let walker = FileManager.default.enumerator(atPath: root.path)
        var files: [(String, [Substring])] = []
        while let relative = walker?.nextObject() as? String {
            guard relative.hasSuffix(".swift"), let text = try? String(contentsOfFile: root.path + "/" + relative, encoding: .utf8) else { continue }
            files.append((relative, text.split(separator: "\n", omittingEmptySubsequences: false)))
        }
        return files
    }()

    /// Every `@Setting("name", …) var property` in the sources (the `var` may be on the next line).
    static let declarations: [Declaration] = {
        let settingPattern = try! NSRegularExpression(pattern: #"@Setting\("([^"]+)""#)
        let varPattern = try! NSRegularExpression(pattern: #"\bvar\s+([A-Za-z_][A-Za-z0-9_]*)"#)
        var found: [Declaration] = []
        for (path, lines) in sourceFiles {
            for (i, line) in lines.enumerated() {
                let text = String(line)
                guard !text.trimmingCharacters(in: .whitespaces).hasPrefix("///"),
                    let m = settingPattern.firstMatch(in: text, range: NSRange(text.startIndex..., in: text))
                else { continue }
                let name = String(text[Range(m.range(at: 1), in: text)!])
                let candidates = [text] + (i + 1 < lines.count ? [String(lines[i + 1])] : [])
                for candidate in candidates {
                    if let v = varPattern.firstMatch(in: candidate, range: NSRange(candidate.startIndex..., in: candidate)) {
                        let property = String(candidate[Range(v.range(at: 1), in: candidate)!])
                        found.append(Declaration(name: name, property: property, file: path, line: i + 1, obsolete: text.contains("obsolete:")))
                        break
                    }
                }
            }
        }
        return found
    }()

    /// Whether `property` is used anywhere in the sources besides the declaration lines of settings.
    static func isRead(_ property: String) -> Bool {
        let use = try! NSRegularExpression(pattern: #"(?<![A-Za-z0-9_])"# + property + #"(?![A-Za-z0-9_])"#)
        for (_, lines) in sourceFiles {
            for (i, line) in lines.enumerated() {
                let text = String(line)
                guard use.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil else { continue }
                let declaring = text.contains("@Setting(") || (i > 0 && lines[i - 1].contains("@Setting(") && text.contains("var \(property)"))
                if !declaring { return true }
            }
        }
        return false
    }

    @Test func everyRegisteredSettingIsDeclaredInTheSources() {
        let names = Set(Self.declarations.map(\.name))
        #expect(Self.declarations.count > 300, "the source scan found only \(Self.declarations.count) declarations")
        for plugin in builtinPlugins {
            for setting in plugin.settings() where !names.contains(setting.name) {
                Issue.record("\(plugin.kind) \(plugin.name): setting \(setting.name) has no @Setting declaration the scan can see")
            }
        }
    }

    @Test func everyDeclaredSettingIsReadBySomething() {
        var unread: [String] = []
        for d in Self.declarations where !d.obsolete && Self.acceptedWithoutEffect[d.name] == nil {
            if !Self.isRead(d.property) { unread.append("\(d.file):\(d.line) \(d.name) (var \(d.property))") }
        }
        #expect(unread.isEmpty, "declared but never read:\n\(unread.joined(separator: "\n"))")
    }
}

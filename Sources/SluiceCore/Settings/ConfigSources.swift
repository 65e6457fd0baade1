/// Finds the config parts of a pipeline: `-f` paths (file, directory or glob), `-e` strings, with Logstash's
/// `-e` defaults.
public enum ConfigSources {
    /// The parts `path.config` names, in Logstash's order: a directory means its top-level files; anything else is
    /// a glob; matches are sorted by full path; directories and names ending in `~` are skipped.
    public static func load(path: String, logger: Logger = Logger("config.source.local")) throws(SettingsError) -> [ConfigSource] {
        var p = path
        if p.hasPrefix("file://") { p = String(p.dropFirst(7)) }
        let candidates: [String]
        if FileSystem.isDirectory(p) {
            let dir = p.hasSuffix("/") ? String(p.dropLast()) : p
            candidates = FileSystem.list(dir).filter { !$0.hasPrefix(".") }.map { dir + "/" + $0 }
        } else if FileSystem.exists(p) {
            candidates = [p]
        } else {
            candidates = FileSystem.glob(p)
        }
        var sources: [ConfigSource] = []
        for file in candidates where !FileSystem.isDirectory(file) {
            if file.hasSuffix("~") {
                logger.warn("NOT reading config file because it is a temp file: \(file)")
                continue
            }
            guard let bytes = FileSystem.readBytes(file) else { throw SettingsError("Cannot read config file \(file)") }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw SettingsError("The config file \(file) is not valid UTF-8")
            }
            sources.append(ConfigSource(name: file, text: text))
        }
        if sources.isEmpty {
            throw SettingsError("No configuration found in the configured sources. (path.config: \(path))")
        }
        return sources
    }

    /// A `config.string` part with Logstash's defaults: stdin input and rubydebug stdout when the text has no
    /// `input {` / `output {` (a plain regex over the text, as Logstash does).
    public static func fromString(_ text: String) -> [ConfigSource] {
        var parts = [ConfigSource(name: "config_string", text: text)]
        if !matches(text, "input") {
            parts.insert(ConfigSource(name: "default_input", text: "input { stdin { type => stdin } }"), at: 0)
        }
        if !matches(text, "output") {
            parts.append(ConfigSource(name: "default_output", text: "output { stdout { codec => rubydebug } }"))
        }
        return parts
    }

    /// `/<word>\s*{/` over the raw text.
    static func matches(_ text: String, _ word: String) -> Bool {
        var rest = Substring(text)
        while let r = rest.firstRange(of: word) {
            var after = rest[r.upperBound...]
            while let c = after.first, c == " " || c == "\t" || c == "\n" || c == "\r" { after = after.dropFirst() }
            if after.first == "{" { return true }
            rest = rest[r.upperBound...]
        }
        return false
    }
}

import SluiceCore

/// Joins lines into one event by a grok pattern (Logstash's `multiline` codec 3.1.2).
///
/// Each line (the input split on `"\n"` the way Ruby's `String#split` does, so empty trailing lines vanish) is
/// matched against `pattern`; the result XOR `negate` decides. With `what => previous` a line that does not match
/// starts a new event (the buffer is flushed before the line is buffered); with `what => next` a matching line is
/// joined to the one after it (the line is buffered, then the buffer is flushed unless it matched). The buffer is
/// also flushed once it holds more than `max_lines` lines or at least `max_bytes` bytes, so a cut event holds
/// `max_lines + 1` lines. Decoding runs on the owning input's thread (one instance per file or connection);
/// `encode` keeps no state.
public final class MultilineCodec: Codec, @unchecked Sendable {
    public static let name = "multiline"
    public static let summary = "Joins lines into one event: a line matching (or, with negate, not matching) a grok pattern belongs to the previous or next line."
    public static let joinsLines = true

    /// Which neighbour a matching line belongs to.
    public enum What: String, SettingEnum { case previous, next }

    public struct Settings: PluginSettings {
        @Setting("pattern", doc: "A grok expression (legacy pattern set plus `patterns_dir`) matched against each line.", required: true)
        var pattern = ""
        @Setting("what", doc: "Whether a matching line belongs to the `previous` or the `next` line.", required: true)
        var what = What.previous
        @Setting("negate", doc: "Invert the match: lines that do not match the pattern are joined.")
        var negate = false
        @Setting("patterns_dir", doc: "Directories (every file in them) or globs of extra grok pattern files.")
        var patternsDir: [String] = []
        @Setting("max_lines", doc: "An event is cut once it holds more than this many lines (tag `multiline_codec_max_lines_reached`).")
        var maxLines = 500
        @Setting("max_bytes", doc: "An event is cut once its lines hold at least this many bytes (tag `multiline_codec_max_bytes_reached`).")
        var maxBytes = ByteSize(10 << 20)
        @Setting("auto_flush_interval", doc: "Seconds without a new line after which the buffered lines become an event on their own.")
        var autoFlushInterval: Double? = nil
        @Setting("multiline_tag", doc: "Tag added to events made of more than one line (empty: none).")
        var multilineTag = "multiline"
        @Setting("charset", doc: "The character set of the input; text is converted to UTF-8.")
        var charset = TextCharset.utf8
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if let autoFlushInterval, autoFlushInterval <= 0 {
                throw SettingsValidationError("auto_flush_interval must be a positive number of seconds", setting: "auto_flush_interval")
            }
        }
    }

    let regex: GrokRegex
    let scratch = GrokMatchScratch()
    let negate: Bool
    let joinsNext: Bool
    let maxLines: Int
    let maxBytes: Int
    let tag: String
    let charset: TextCharset
    let setOriginal: Bool
    public let autoFlushNanoseconds: Int?

    /// The buffered lines joined by `"\n"`, how many there are and their bytes without the newlines.
    private var buffer: [UInt8] = []
    private var lines = 0
    private var bufferBytes = 0
    /// When the last line arrived (`Clock.nanoseconds()`): auto-flush restarts its timer on every line.
    private var lastLineAt = 0

    public init(settings: Settings, context: PluginContext) throws {
        regex = try MultilineCodec.compile(settings.pattern, patternsDir: settings.patternsDir)
        negate = settings.negate
        joinsNext = settings.what == .next
        maxLines = settings.maxLines
        maxBytes = Int(settings.maxBytes.bytes)
        tag = settings.multilineTag
        charset = settings.charset
        setOriginal = context.ecsCompatibility.isEnabled
        autoFlushNanoseconds = settings.autoFlushInterval.map { Int($0 * 1e9) }
    }

    /// Compiles `pattern` with the legacy pattern set and the `patterns_dir` files (a directory means `dir/*`).
    static func compile(_ pattern: String, patternsDir: [String]) throws -> GrokRegex {
        do {
            var library = try GrokPatternLibrary.builtin(.legacy)
            for file in GrokPatternLibrary.files(inPatternsDirs: patternsDir, glob: "*") {
                guard let text = FileSystem.readText(file) else { throw GrokError.unreadablePatternFile(path: file) }
                library.addFile(text: text)
            }
            var compiler = GrokCompiler(library: library, namedCapturesOnly: true, matchLimit: nil)
            return try compiler.compile(pattern).regex
        } catch {
            throw SettingsValidationError(String(describing: error), setting: "pattern")
        }
    }

    public var bufferedLineCount: Int { lines }

    public func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Event) -> Void) {
        charset.withUTF8(bytes) { utf8 in
            for range in MultilineCodec.rubySplitLines(utf8) {
                let line = UnsafeBufferPointer(rebasing: utf8[range])
                handle(line, matched: matches(line) != negate, emit)
            }
        }
    }

    /// The line ranges of `"\n"`-separated text as Ruby's `split("\n")` gives them: trailing empty lines dropped.
    static func rubySplitLines(_ bytes: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == 0x0A {
            ranges.append(start..<i)
            start = i + 1
        }
        ranges.append(start..<bytes.count)
        while let last = ranges.last, last.isEmpty { ranges.removeLast() }
        return ranges
    }

    private func matches(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        regex.match(line, scratch) == .match
    }

    private func handle(_ line: UnsafeBufferPointer<UInt8>, matched: Bool, _ emit: (Event) -> Void) {
        lastLineAt = Clock.nanoseconds()
        if joinsNext {
            append(line)
            if !matched || overLimits { flush(emit) }
        } else {
            if !matched || overLimits { flush(emit) }
            append(line)
        }
    }

    private func append(_ line: UnsafeBufferPointer<UInt8>) {
        if lines > 0 { buffer.append(0x0A) }
        buffer.append(contentsOf: line)
        lines += 1
        bufferBytes += line.count
    }

    private var overMaximumLines: Bool { lines > maxLines }
    private var overMaximumBytes: Bool { bufferBytes >= maxBytes }
    private var overLimits: Bool { overMaximumLines || overMaximumBytes }

    /// Emits the buffered lines as one event: `message` (and `[event][original]` in ECS mode) is the lines joined
    /// by `"\n"`; the time stamp is the flush time, as in Logstash 3.1.2.
    public func flush(_ emit: (Event) -> Void) {
        guard lines > 0 else { return }
        let event = TextEvents.make(String(decoding: buffer, as: UTF8.self), setOriginal: setOriginal)
        if !tag.isEmpty && lines > 1 { event.tag(tag) }
        if overMaximumBytes { event.tag("multiline_codec_max_bytes_reached") }
        if overMaximumLines { event.tag("multiline_codec_max_lines_reached") }
        buffer.removeAll(keepingCapacity: true)
        lines = 0
        bufferBytes = 0
        emit(event)
    }

    public func flushIfIdle(now: Int, _ emit: (Event) -> Void) {
        guard let interval = autoFlushNanoseconds, lines > 0, now - lastLineAt >= interval else { return }
        flush(emit)
    }

    /// Logstash hands the event itself to the output; Sluice writes its text form, as `plain` does.
    public func encode(_ event: Event, into out: inout [UInt8]) {
        out.append(contentsOf: TextEvents.render(event, nil).utf8)
    }
}

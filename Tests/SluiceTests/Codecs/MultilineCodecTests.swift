import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// The multiline codec against cases worked out by hand from codec-multiline 3.1.2's `do_previous`/`do_next`
/// and its spec examples.
@Suite struct MultilineCodecTests {
    static func codec(
        _ pattern: String, _ what: MultilineCodec.What, negate: Bool = false, maxLines: Int? = nil, maxBytes: Int64? = nil,
        tag: String? = nil, patternsDir: [String] = [], charset: TextCharset = .utf8, autoFlush: Double? = nil,
        ecs: ECSCompatibility = .disabled
    ) throws -> MultilineCodec {
        let s = MultilineCodec.Settings()
        s.pattern = pattern
        s.what = what
        s.negate = negate
        if let maxLines { s.maxLines = maxLines }
        if let maxBytes { s.maxBytes = ByteSize(maxBytes) }
        if let tag { s.multilineTag = tag }
        s.patternsDir = patternsDir
        s.charset = charset
        s.autoFlushInterval = autoFlush
        return try MultilineCodec(settings: s, context: .standalone(name: "multiline", kind: .codec, ecs: ecs))
    }

    /// Decodes each line as the file input hands it over, then flushes; returns (message, tags) per event.
    static func run(_ codec: MultilineCodec, _ lines: [String], flush: Bool = true) -> [(String, [String])] {
        var events: [Event] = []
        for line in lines { codec.decode(line) { events.append($0) } }
        if flush { codec.flush { events.append($0) } }
        return events.map(summary)
    }

    static func summary(_ e: Event) -> (String, [String]) {
        let tags: [String]
        if case .array(let a)? = e.fields["tags"] { tags = a.compactMap(\.stringValue) } else { tags = [] }
        return (e.fields["message"]?.stringValue ?? "<none>", tags)
    }

    static func same(_ a: [(String, [String])], _ b: [(String, [String])]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    @Test func previousJoinsIndentedLines() throws {
        let out = Self.run(try Self.codec("^\\s", .previous), ["hello world", "   second line", "another first line"])
        #expect(Self.same(out, [("hello world\n   second line", ["multiline"]), ("another first line", [])]), "\(out)")
    }

    @Test func nextJoinsMatchingLineWithTheFollowingOne() throws {
        let codec = try Self.codec("\\\\$", .next)
        var events: [Event] = []
        for line in ["a \\", "b \\", "c"] { codec.decode(line) { events.append($0) } }
        // "c" does not match: it is buffered, then the buffer is flushed at once, without waiting for flush().
        #expect(events.map(Self.summary).map(\.0) == ["a \\\nb \\\nc"])
        codec.decode("d") { events.append($0) }
        #expect(events.map(Self.summary).map(\.0) == ["a \\\nb \\\nc", "d"])
        #expect(codec.bufferedLineCount == 0)
    }

    @Test func negatedGrokPatternJoinsLinesThatDoNotStartWithATimestamp() throws {
        let lines = ["120913 12:04:33 first line", "second line", "third line", "120913 12:04:34 next"]
        let out = Self.run(try Self.codec("^%{NUMBER} %{TIME}", .previous, negate: true), lines)
        #expect(Self.same(out, [(lines[0...2].joined(separator: "\n"), ["multiline"]), (lines[3], [])]), "\(out)")
    }

    @Test func newlinesInsideOneChunkAreSplit() throws {
        let codec = try Self.codec("\\D", .previous)
        var events: [Event] = []
        codec.decode("1234567890\nA234567890\nB234567890\n0987654321\n") { events.append($0) }
        codec.flush { events.append($0) }
        #expect(events.map(Self.summary).map(\.0) == ["1234567890\nA234567890\nB234567890", "0987654321"])
    }

    /// previous: the limit is checked before the line is buffered, so the cut event holds max_lines + 1 lines.
    @Test func previousCutsAtMaxLinesPlusOne() throws {
        let out = Self.run(try Self.codec("^-", .previous, maxLines: 2), ["- a", "- b", "- c", "- d", "- e"])
        #expect(Self.same(out, [
            ("- a\n- b\n- c", ["multiline", "multiline_codec_max_lines_reached"]), ("- d\n- e", ["multiline"]),
        ]), "\(out)")
    }

    /// next: the line is buffered first, then the limit is checked: also max_lines + 1 lines.
    @Test func nextCutsAtMaxLinesPlusOne() throws {
        let out = Self.run(try Self.codec("^-", .next, maxLines: 2), ["- a", "- b", "- c", "- d", "- e"])
        #expect(Self.same(out, [
            ("- a\n- b\n- c", ["multiline", "multiline_codec_max_lines_reached"]), ("- d\n- e", ["multiline"]),
        ]), "\(out)")
    }

    /// Bytes are counted without newlines; the buffer is over the limit once it holds at least max_bytes.
    @Test func previousCutsAtMaxBytes() throws {
        let out = Self.run(try Self.codec("^\\s", .previous, maxBytes: 10), ["abcdef", " ghij", " k", "x"])
        #expect(Self.same(out, [
            ("abcdef\n ghij", ["multiline", "multiline_codec_max_bytes_reached"]), (" k", []), ("x", []),
        ]), "\(out)")
    }

    @Test func nextCutsAtMaxBytes() throws {
        // "abcdefghij" alone reaches 10 bytes: buffered, then over the limit, so it is flushed by itself.
        let out = Self.run(try Self.codec("^\\w", .next, maxBytes: 10), ["abcdefghij", "kl", "mn", "!"])
        #expect(Self.same(out, [("abcdefghij", ["multiline_codec_max_bytes_reached"]), ("kl\nmn\n!", ["multiline"])]), "\(out)")
    }

    @Test func customAndEmptyTags() throws {
        let custom = Self.run(try Self.codec("^\\s", .previous, tag: "hurray"), ["a", " b", "c"])
        #expect(Self.same(custom, [("a\n b", ["hurray"]), ("c", [])]))
        let none = Self.run(try Self.codec("^\\s", .previous, tag: ""), ["a", " b"])
        #expect(Self.same(none, [("a\n b", [])]))
    }

    /// Ruby's `split("\n")` drops trailing empty strings, so an empty line handed over alone vanishes, while an
    /// empty line inside a chunk is kept.
    @Test func emptyLinesFollowRubySplit() throws {
        let out = Self.run(try Self.codec("^\\s", .previous), ["first", "", " second"])
        #expect(Self.same(out, [("first\n second", ["multiline"])]), "\(out)")
        let codec = try Self.codec("^\\s", .previous)
        var events: [Event] = []
        codec.decode("first\n\n second\n\n\n") { events.append($0) }
        codec.flush { events.append($0) }
        #expect(events.map(Self.summary).map(\.0) == ["first", "\n second"])
    }

    @Test func ecsSetsEventOriginalAndLegacyDoesNot() throws {
        var ecs: [Event] = []
        let c1 = try Self.codec("^\\s", .previous, ecs: .v8)
        for l in ["a", " b"] { c1.decode(l) { ecs.append($0) } }
        c1.flush { ecs.append($0) }
        #expect(ecs.first?.get(.eventOriginal) == .string("a\n b"))
        var legacy: [Event] = []
        let c2 = try Self.codec("^\\s", .previous)
        for l in ["a", " b"] { c2.decode(l) { legacy.append($0) } }
        c2.flush { legacy.append($0) }
        #expect(legacy.first?.get(.eventOriginal) == nil)
    }

    @Test func bufferedLineCountFollowsTheBuffer() throws {
        let codec = try Self.codec("^\\s", .previous)
        codec.decode("a") { _ in }
        codec.decode(" b") { _ in }
        #expect(codec.bufferedLineCount == 2)
        codec.decode("c") { _ in }
        #expect(codec.bufferedLineCount == 1)
    }

    @Test func autoFlushEmitsAfterTheIntervalOnly() throws {
        let codec = try Self.codec("^\\s", .previous, autoFlush: 0.5)
        #expect(codec.autoFlushNanoseconds == 500_000_000)
        codec.decode("a") { _ in }
        codec.decode(" b") { _ in }
        var events: [Event] = []
        codec.flushIfIdle(now: Clock.nanoseconds()) { events.append($0) }
        #expect(events.isEmpty)
        codec.flushIfIdle(now: Clock.nanoseconds() + 600_000_000) { events.append($0) }
        #expect(events.map(Self.summary).map(\.0) == ["a\n b"])
        #expect(try Self.codec("^\\s", .previous).autoFlushNanoseconds == nil)
    }

    @Test func patternsDirAddsPatterns() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "# comment\nSTACKLINE ^\\s+at \n".write(to: dir.appendingPathComponent("java"), atomically: true, encoding: .utf8)
        let out = Self.run(try Self.codec("%{STACKLINE}", .previous, patternsDir: [dir.path]), [
            "Exception in thread main", "  at a.b(C.java:1)", "  at d.e(F.java:2)", "next",
        ])
        #expect(Self.same(out, [
            ("Exception in thread main\n  at a.b(C.java:1)\n  at d.e(F.java:2)", ["multiline"]), ("next", []),
        ]), "\(out)")
    }

    @Test func charsetConvertsToUTF8() throws {
        let codec = try Self.codec("^\\s", .previous, charset: .iso88591)
        var events: [Event] = []
        let bytes: [UInt8] = [0xE0, 0x20, 0x4D, 0x6F, 0x6E, 0x74, 0x72, 0xE9, 0x61, 0x6C]
        bytes.withUnsafeBufferPointer { codec.decode($0) { events.append($0) } }
        codec.flush { events.append($0) }
        #expect(events.map(Self.summary).map(\.0) == ["à Montréal"])
    }

    @Test func joinsLinesIsDeclared() {
        #expect(MultilineCodec.joinsLines)
        #expect(!PlainCodec.joinsLines)
    }

    static func configError(_ codec: String) -> String? {
        do {
            let ast = try ConfigParser.parse(ConfigSource(name: "t.conf", text: "input { stdin { codec => \(codec) } }"))
            _ = try ProgramCompiler(registry: builtinRegistry, environment: PipelineEnvironment()).compile(ast)
            return nil
        } catch {
            return String(describing: error)
        }
    }

    @Test func settingsAreChecked() {
        #expect(Self.configError(#"multiline { what => "previous" }"#)?.contains("'pattern'") == true)
        #expect(Self.configError(#"multiline { pattern => "^\s" }"#)?.contains("'what'") == true)
        #expect(Self.configError(#"multiline { pattern => "^\s" what => "prev" }"#)?.contains("previous") == true)
        #expect(Self.configError(#"multiline { pattern => "%{NOPE}" what => "next" }"#)?.contains("NOPE") == true)
        #expect(Self.configError(#"multiline { pattern => "^\s" what => "next" max_bytes => "1 MiB" auto_flush_interval => 2 }"#) == nil)
    }
}

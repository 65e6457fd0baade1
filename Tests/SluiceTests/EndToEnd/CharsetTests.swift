import Foundation
import Testing

/// The text codecs' `charset`: input bytes are read in that character set and become UTF-8; an unknown name is
/// refused at start-up with the valid ones.
@Suite struct CharsetTests {
    @Test(arguments: [("ISO-8859-1", "caf\u{E9} \u{80}"), ("Windows-1252", "caf\u{E9} \u{20AC}"), ("UTF-8", "caf\u{FFFD} \u{FFFD}")])
    func lineCodecTranscodes(_ charset: String, _ expected: String) throws {
        let input = Data([0x63, 0x61, 0x66, 0xE9, 0x20, 0x80, 0x0A])
        for codec in ["line", "plain"] {
            let result = try runSluice(
                ["-e", "input { stdin { codec => \(codec) { charset => \"\(charset)\" } } } output { stdout { codec => line { format => \"%{message}\" } } }",
                 "--api.enabled=false"], stdin: input)
            #expect(result.exitCode == 0, "\(result.stderr)")
            #expect(result.stdout.trimmingCharacters(in: .newlines) == expected, "\(codec) \(charset)")
        }
    }

    @Test func jsonLinesReadLatin1() throws {
        let input = Data(#"{"name":"J"#.utf8) + Data([0xFC]) + Data("rgen\"}\n".utf8)
        let result = try runSluice(
            ["-e", #"input { stdin { codec => json_lines { charset => "ISO-8859-1" } } } output { stdout { codec => line { format => "%{name}" } } }"#,
             "--api.enabled=false"], stdin: input)
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stdout == "J\u{FC}rgen\n")
    }

    @Test func unknownCharsetIsRefused() throws {
        let result = try runSluice(["-t", "-e", #"input { stdin { codec => line { charset => "UTF-16LE" } } } output { stdout {} }"#])
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("charset"))
        #expect(result.stderr.contains("ISO-8859-1"))
    }
}

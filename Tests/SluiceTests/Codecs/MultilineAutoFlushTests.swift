import Foundation
import Testing

/// `auto_flush_interval` on stdin, end to end: with stdin still open, a multiline event is emitted once no line
/// has come for the interval — not only at end of file.
@Suite struct MultilineAutoFlushTests {
    @Test func stdinFlushesABufferedEventWhileTheStreamStaysOpen() throws {
        let sluice = try SluiceProcess(
            [
                "-e", #"input { stdin { codec => multiline { pattern => "^\s" what => "previous" auto_flush_interval => 0.5 } } } output { stdout { codec => json_lines } }"#,
                "-w", "1", "--pipeline.ecs_compatibility", "disabled",
            ], stdinPipe: true)
        sluice.input.fileHandleForWriting.write(Data("first\n  continued\n".utf8))
        #expect(sluice.waitForOutput(lines: 1, seconds: 10), "no auto-flush while stdin is open\n\(sluice.stderr)")
        #expect(sluice.stdout.contains(#""message":"first\n  continued""#), "\(sluice.stdout)")
        try sluice.input.fileHandleForWriting.close()
        let result = sluice.stop()
        #expect(result.exitCode == 0)
        #expect(result.stdout.split(separator: "\n").count == 1)
    }
}

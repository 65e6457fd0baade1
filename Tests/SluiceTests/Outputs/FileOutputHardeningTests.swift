import Foundation
import Testing

/// The file output under hostile event data and a failing disk: writes stay under the path's fixed directory
/// (escaping events go to `filename_failure`, as Logstash does), and a write error is never counted as written.
@Suite struct FileOutputHardeningTests {
    @Test func generatedPathsStayUnderTheFixedDirectory() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let names = ["ok", "../../escaped", "x/../../y", "a\u{0}b", "sub/inner", "tab\there"]
        let input = names.map { #"{"name":"\#($0.replacingOccurrences(of: "\u{0}", with: "\\u0000").replacingOccurrences(of: "\t", with: "\\t"))"}"# }
            .joined(separator: "\n") + "\n"
        let result = try runSluice(
            ["-e", "input { stdin { codec => json_lines } } output { file { path => \"\(dir.path)/out/%{name}.log\" codec => line { format => \"%{name}\" } } }",
             "--api.enabled=false"], stdin: Data(input.utf8))
        #expect(result.exitCode == 0, "\(result.stderr)")
        func lines(_ path: String) -> [String] {
            ((try? String(contentsOfFile: dir.path + "/" + path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        #expect(lines("out/ok.log") == ["ok"])
        #expect(lines("out/sub/inner.log") == ["sub/inner"])
        #expect(lines("out/_filepath_failures").sorted() == ["../../escaped", "a\u{0}b", "tab\there", "x/../../y"].sorted())
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/escaped.log"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/y.log"))
        #expect(result.stderr.contains("the event tried to write outside the files root"))
    }

    @Test func aDynamicFirstDirectoryIsRefused() throws {
        let result = try runSluice(["-t", "-e", #"input { stdin {} } output { file { path => "%{dir}/x.log" } }"#])
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("The starting part of the path should not be dynamic."))
    }

    /// Writing to a full device: the events are retried, and at shutdown they are reported lost (memory queue, no
    /// DLQ) with an error and a non-zero exit, never counted as written.
    @Test func fullDeviceIsNotASilentLoss() throws {
        let p = Process()
        p.executableURL = TestPaths.binary
        p.arguments = ["-e", #"input { generator { count => 1000 } } output { file { path => "/dev/full" } }"#, "--api.enabled=false", "-w", "1"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        usleep(1_500_000)
        kill(p.processIdentifier, SIGTERM)
        let data = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let stderr = String(decoding: data, as: UTF8.self)
        #expect(p.terminationStatus == 1, "\(stderr.suffix(1500))")
        #expect(stderr.contains("Failed to write to /dev/full: No space left on device; will retry"))
        #expect(stderr.contains("could not be written to /dev/full before shutdown and were lost"))
        #expect(stderr.contains("events could not be delivered and were lost"))
    }
}

import Foundation
import Testing
@testable import SluiceCore

/// Hostile senders against the network inputs of the real binary (issue 11, "Hostile input"): a 100 MB line, an
/// endless line, 10,000 idle connections and a slowloris http client. In each the process stays up, its peak memory
/// (`VmHWM`) stays bounded, other connections keep flowing, and it exits 0 when stopped.
@Suite(.serialized)
struct HostileNetworkTests {
    /// A connected TCP socket to 127.0.0.1:`port`, blocking; nil when the connection failed.
    static func connectTCP(_ port: Int) -> Int32? { Loopback.tcp(port) }

    /// Writes all of `bytes` (blocking), false when the peer went away.
    @discardableResult
    static func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = Glibc.send(fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    static func sendAll(_ fd: Int32, _ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { sendAll(fd, $0) }
    }

    /// The peak resident memory of process `pid` in MiB (`VmHWM` from /proc), or nil.
    static func peakMemoryMiB(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kib / 1024
    }

    static func events(_ stdout: String) -> [Object] {
        stdout.split(separator: "\n").compactMap { line in
            if case .object(let o)? = try? JSONParser.parse(String(line)) { return o }
            return nil
        }
    }

    /// A tcp input sluice on a free port with `filter`, writing JSON lines to stdout.
    static func tcpReceiver(codec: String, filter: String = "") throws -> (SluiceProcess, Int) {
        let port = SluiceProcess.freePort()
        let config = """
            input { tcp { host => "127.0.0.1" port => \(port) codec => \(codec) } }
            filter { \(filter) }
            output { stdout { codec => json_lines } }
            """
        let sluice = try SluiceProcess(["-e", config, "-w", "1", "--pipeline.ecs_compatibility", "disabled"])
        #expect(sluice.waitForLog("listener"), "receiver did not start\n\(sluice.stderr)")
        return (sluice, port)
    }

    /// The MD5 of `count` times `letter`, computed by coreutils (`md5sum`), independently of Sluice's fingerprint.
    static func md5(of letter: Character, count: Int) throws -> String {
        let made = try runClient("/bin/sh", ["-c", "head -c \(count) /dev/zero | tr '\\0' \(letter) | md5sum | cut -d' ' -f1"])
        #expect(made.exitCode == 0)
        return made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Reads the process's peak memory, stops it (expecting exit status 0) and parses its events.
    static func stopMeasuring(_ sluice: SluiceProcess) -> (peakMiB: Int?, result: ProcessResult, events: [Object]) {
        let peak = peakMemoryMiB(sluice.process.processIdentifier)
        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr)")
        return (peak, result, events(result.stdout))
    }

    /// `count` short lines `small-<i>` on a fresh connection.
    static func sendSmallLines(_ port: Int, count: Int) throws {
        let fd = try #require(connectTCP(port))
        defer { close(fd) }
        #expect(sendAll(fd, (0..<count).map { "small-\($0)\n" }.joined()))
    }

    static func smallLines(_ events: [Object]) -> Set<String> {
        Set(events.compactMap { $0["message"]?.stringValue }.filter { $0.hasPrefix("small-") })
    }

    @Test func aHundredMegabyteLineArrivesWholeWhileAnotherConnectionKeepsFlowing() throws {
        let (sluice, port) = try Self.tcpReceiver(
            codec: "line",
            filter: #"if [message] !~ /^small-/ { fingerprint { source => "message" method => "MD5" target => "md5" } mutate { remove_field => ["message"] } }"#)
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        let half = 50
        let big = try #require(Self.connectTCP(port))
        defer { close(big) }
        for _ in 0..<half { #expect(chunk.withUnsafeBytes { Self.sendAll(big, $0) }) }
        // Half the line is in: another connection is served meanwhile.
        try Self.sendSmallLines(port, count: 1_000)
        #expect(sluice.waitForOutput(lines: 1_000, seconds: 30), "small lines while the big one is pending:\n\(sluice.stderr)")
        for _ in half..<100 { #expect(chunk.withUnsafeBytes { Self.sendAll(big, $0) }) }
        #expect(Self.sendAll(big, "\n"))
        #expect(sluice.waitForOutput(lines: 1_001, seconds: 60), "\(sluice.stderr)")
        let (peak, _, events) = Self.stopMeasuring(sluice)
        #expect(Self.smallLines(events).count == 1_000)
        let digests = events.compactMap { $0["md5"]?.stringValue }
        #expect(digests == [try Self.md5(of: "x", count: 104_857_600)], "the big line, whole")
        // The line itself, its String and its event: a few hundred MiB at most, not a multiple of the traffic.
        #expect((peak ?? Int.max) < 600, "peak RSS \(String(describing: peak)) MiB")
    }

    @Test func anEndlessLineIsCutAtTheSizeLimitAndMemoryStaysFlat() throws {
        let (sluice, port) = try Self.tcpReceiver(
            codec: #"line { decode_size_limit_bytes => 1048576 }"#,
            filter: #"if "_linetoobigfailure" in [tags] { fingerprint { source => "message" method => "MD5" target => "md5" } mutate { remove_field => ["message"] } }"#)
        let chunk = [UInt8](repeating: UInt8(ascii: "y"), count: 1 << 20)
        let endless = try #require(Self.connectTCP(port))
        defer { close(endless) }
        // 300 MiB without a delimiter, then the line ends and a normal one follows on the same connection.
        for _ in 0..<300 { #expect(chunk.withUnsafeBytes { Self.sendAll(endless, $0) }) }
        try Self.sendSmallLines(port, count: 100)
        #expect(Self.sendAll(endless, "\nsmall-after\n"))
        #expect(sluice.waitForOutput(lines: 102, seconds: 60), "\(sluice.stderr)")
        let (peak, result, events) = Self.stopMeasuring(sluice)
        let cut = events.filter { $0["md5"] != nil }
        #expect(cut.count == 1, "one event for the endless line")
        #expect(cut.first?["md5"]?.stringValue == (try Self.md5(of: "y", count: 1_048_576)), "its first 1 MiB")
        #expect(Self.smallLines(events).count == 101, "the other connection and the line after the cut")
        #expect(result.stderr.contains("decode_size_limit_bytes"), "the cut is logged")
        #expect((peak ?? Int.max) < 120, "peak RSS \(String(describing: peak)) MiB after 300 MiB of one line")
    }

    @Test func tenThousandIdleConnectionsLeaveTheInputServingOthers() throws {
        OpenFileLimit.raiseToHardLimit()  // this test process holds the idle sockets
        let limit = OpenFileLimit.current()?.soft ?? 1024
        let count = min(10_000, limit - 500)
        #expect(count >= 10_000, "the test wants 10,000 connections; this machine's descriptor limit is \(limit)")
        let (sluice, port) = try Self.tcpReceiver(codec: "line")
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<count {
            guard let fd = Self.connectTCP(port) else { break }
            idle.append(fd)
        }
        #expect(idle.count == count, "connected \(idle.count) of \(count)")
        try Self.sendSmallLines(port, count: 1_000)
        #expect(sluice.waitForOutput(lines: 1_000, seconds: 30), "\(sluice.stderr)")
        let peak = Self.peakMemoryMiB(sluice.process.processIdentifier)
        // Every idle connection is still open: nothing was dropped to make room.
        #expect(idle.allSatisfy { !APISlowlorisTests.closedByServer($0, within: 0) })
        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(Self.smallLines(Self.events(result.stdout)).count == 1_000)
        #expect((peak ?? Int.max) < 200, "peak RSS \(String(describing: peak)) MiB with \(count) idle connections")
    }

    @Test func slowlorisClientsAreClosedAndTheCapProtectsTheHttpInput() throws {
        let port = SluiceProcess.freePort()
        let config = """
            input { http { host => "127.0.0.1" port => \(port) header_timeout => 3 max_connections => 50 } }
            output { stdout { codec => json_lines } }
            """
        let sluice = try SluiceProcess(["-e", config, "-w", "1", "--pipeline.ecs_compatibility", "disabled"])
        #expect(sluice.waitForLog("listener"), "\(sluice.stderr)")
        var slow: [Int32] = []
        defer { for fd in slow { close(fd) } }
        for _ in 0..<50 {
            let fd = try #require(Self.connectTCP(port))
            #expect(Self.sendAll(fd, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "))
            slow.append(fd)
        }
        let extra = try #require(Self.connectTCP(port))
        defer { close(extra) }
        #expect(APISlowlorisTests.closedByServer(extra, within: 1), "the 51st connection is closed at once")
        #expect(!APISlowlorisTests.closedByServer(slow[0], within: 0.1), "the first 50 are still served")
        // The slow ones never finish their headers: all closed once header_timeout (3 s) has passed.
        #expect(slow.allSatisfy { APISlowlorisTests.closedByServer($0, within: 10) })
        let curl = try runClient("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "after the flood", "http://127.0.0.1:\(port)/"])
        #expect(curl.exitCode == 0 && curl.stdout == "200", "curl: \(curl.stdout) \(curl.stderr)")
        // A kept-alive connection that goes quiet after its response is closed too.
        let quiet = try #require(Self.connectTCP(port))
        defer { close(quiet) }
        #expect(Self.sendAll(quiet, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nquiet"))
        #expect(APISlowlorisTests.closedByServer(quiet, within: 10))
        #expect(sluice.waitForOutput(lines: 2, seconds: 10))
        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stderr.contains("max_connections"), "the refusal is logged")
        let messages = Self.events(result.stdout).compactMap { $0["message"]?.stringValue }
        #expect(messages.sorted() == ["after the flood", "quiet"])
    }
}

import CZlib
import Foundation
import Testing
@testable import SluiceCore

/// The network inputs and outputs end to end with the real binary: Sluice forwarding to Sluice over tcp and udp
/// (with reconnection), the beats input against a hand-written lumberjack client for what pylogbeat cannot do
/// (split frames, v1 frames, abandoned windows, garbage), and the http input answering 429 while the queue is full.
@Suite(.serialized)
struct NetworkInputTests {
    /// A receiving sluice whose stdout is JSON lines.
    func receiver(_ input: String, extra: [String] = []) throws -> (SluiceProcess, Int) {
        let port = SluiceProcess.freePort()
        let config = "input { \(input.replacingOccurrences(of: "PORT", with: String(port))) } output { stdout { codec => json_lines } }"
        let sluice = try SluiceProcess(["-e", config, "-w", "1"] + extra)
        #expect(sluice.waitForLog("listener"), "receiver did not start\n\(sluice.stderr)")
        return (sluice, port)
    }

    /// A sluice whose only output can never deliver (nothing listens on its port): the worker holds its batch of
    /// 10 and the queue fills, so the input soon cannot queue more.
    func blockedReceiver(_ input: String) throws -> (SluiceProcess, Int) {
        let deadPort = SluiceProcess.freePort(), port = SluiceProcess.freePort()
        let config = "input { \(input.replacingOccurrences(of: "PORT", with: String(port))) } output { tcp { host => \"127.0.0.1\" port => \(deadPort) reconnect_interval => 60 } }"
        let sluice = try SluiceProcess(["-e", config, "-w", "1", "-b", "10"])
        #expect(sluice.waitForLog("listener"), "receiver did not start\n\(sluice.stderr)")
        return (sluice, port)
    }

    static func ids(_ stdout: String, field: String = "sequence") -> [Int] {
        stdout.split(separator: "\n").compactMap { line in
            guard case .object(let o)? = try? JSONParser.parse(String(line)) else { return nil }
            switch o[field] {
            case .int(let i)?: return i
            case .string(let s)?: return Int(s)
            default: return nil
            }
        }
    }

    @Test func tcpOutputForwardsToAnotherSluiceAndReconnects() throws {
        // The sender starts first: its first connection attempts are refused and it keeps retrying.
        let port = SluiceProcess.freePort()
        let sender = try runSluiceInBackground(
            "input { generator { count => 2000 message => \"m\" } } output { tcp { host => \"127.0.0.1\" port => \(port) codec => json_lines reconnect_interval => 0.2 } }",
            ["--pipeline.ecs_compatibility", "disabled"])
        usleep(600_000)
        let receiver = try SluiceProcess(["-e", "input { tcp { port => \(port) host => \"127.0.0.1\" codec => json_lines } } output { stdout { codec => json_lines } }", "-w", "1"])
        #expect(receiver.waitForLog("listener"))
        #expect(receiver.waitForOutput(lines: 2000, seconds: 30), "receiver got \(receiver.stdout.split(separator: "\n").count) events\n\(sender.stderr)")
        let sent = sender.stop()
        #expect(sent.exitCode == 0, "sender: \(sent.stderr)")
        #expect(sent.stderr.contains("reconnecting"), "the sender should have retried: \(sent.stderr)")
        let result = receiver.stop()
        #expect(result.exitCode == 0)
        let ids = Self.ids(result.stdout)
        #expect(Set(ids) == Set(0..<2000), "distinct ids: \(Set(ids).count)")
    }

    @Test func udpOutputSendsOneDatagramPerEvent() throws {
        let (receiver, port) = try receiver("udp { port => PORT host => \"127.0.0.1\" codec => json }")
        let sent = try runSluice(["-e", "input { generator { count => 50 message => \"m\" } } output { udp { host => \"127.0.0.1\" port => \"\(port)\" } }", "--pipeline.ecs_compatibility", "disabled"])
        #expect(sent.exitCode == 0, "sender: \(sent.stderr)")
        #expect(receiver.waitForOutput(lines: 50, seconds: 10))
        let result = receiver.stop()
        #expect(result.exitCode == 0)
        #expect(Set(Self.ids(result.stdout)) == Set(0..<50))
    }

    // MARK: beats

    @Test func beatsFramesSplitAcrossReadsAndV1FramesAreDecoded() throws {
        let (sluice, port) = try receiver("beats { port => PORT host => \"127.0.0.1\" }", extra: ["--pipeline.ecs_compatibility", "disabled"])
        let client = try LumberjackClient(port: port)
        var bytes = LumberjackClient.window(2) + LumberjackClient.json(1, #"{"message":"split one"}"#) + LumberjackClient.json(2, #"{"message":"split two"}"#)
        for chunk in stride(from: 0, to: bytes.count, by: 3) { try client.write(Array(bytes[chunk..<min(chunk + 3, bytes.count)])) }
        #expect(try client.readAck() == 2)
        bytes = LumberjackClient.window(1, version: "1") + LumberjackClient.data(1, [("line", "v1 line"), ("host", "old-forwarder")])
        try client.write(bytes)
        #expect(try client.readAck(version: "1") == 1)
        bytes = LumberjackClient.window(2) + LumberjackClient.compressed(LumberjackClient.json(1, #"{"message":"zipped one"}"#) + LumberjackClient.json(2, #"{"message":"zipped two"}"#))
        try client.write(bytes)
        #expect(try client.readAck() == 2)
        client.close()
        #expect(sluice.waitForOutput(lines: 5))
        let result = sluice.stop()
        #expect(result.exitCode == 0)
        let messages = Set(result.stdout.split(separator: "\n").compactMap { line -> String? in
            guard case .object(let o)? = try? JSONParser.parse(String(line)), case .string(let m)? = o["message"] else { return nil }
            return m
        })
        #expect(messages == ["split one", "split two", "v1 line", "zipped one", "zipped two"])
        #expect(result.stdout.contains("\"host\":\"old-forwarder\""))
    }

    @Test func anAbandonedWindowIsNeitherAcknowledgedNorDeliveredAndGarbageClosesOnlyItsConnection() throws {
        let (sluice, port) = try receiver("beats { port => PORT host => \"127.0.0.1\" }", extra: ["--pipeline.ecs_compatibility", "disabled"])
        let abandoned = try LumberjackClient(port: port)
        try abandoned.write(LumberjackClient.window(3) + LumberjackClient.json(1, #"{"message":"never acked 1"}"#) + LumberjackClient.json(2, #"{"message":"never acked 2"}"#))
        abandoned.close()
        let garbage = try LumberjackClient(port: port)
        try garbage.write(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        #expect(garbage.readsEndOfStream(), "garbage must close the connection")
        let resend = try LumberjackClient(port: port)
        try resend.write(
            LumberjackClient.window(3) + LumberjackClient.json(1, #"{"message":"acked 1"}"#) + LumberjackClient.json(2, #"{"message":"acked 2"}"#)
                + LumberjackClient.json(3, #"{"message":"acked 3"}"#))
        #expect(try resend.readAck() == 3)
        resend.close()
        #expect(sluice.waitForOutput(lines: 3))
        usleep(300_000)
        let result = sluice.stop()
        #expect(result.exitCode == 0)
        #expect(!result.stdout.contains("never acked"), "an abandoned window must not be delivered: \(result.stdout)")
        #expect(result.stdout.split(separator: "\n").count == 3)
        #expect(result.stderr.contains("Invalid version of beats protocol"))
    }

    @Test func beatsClosesAConnectionIdleForClientInactivityTimeout() throws {
        let (sluice, port) = try receiver("beats { port => PORT host => \"127.0.0.1\" client_inactivity_timeout => 1 }")
        let idle = try LumberjackClient(port: port)
        defer { idle.close() }
        let started = Date()
        #expect(idle.readsEndOfStream(), "the idle connection is closed")
        let waited = Date().timeIntervalSince(started)
        #expect(waited > 0.5 && waited < 5, "closed after \(waited) s; client_inactivity_timeout is 1 s")
        #expect(sluice.stop().exitCode == 0)
    }

    @Test func beatsSendsKeepAliveAcksWhileItsWindowWaitsForAFullQueue() throws {
        // The window's events cannot all be queued.
        let (sluice, port) = try blockedReceiver("beats { port => PORT host => \"127.0.0.1\" }")
        let client = try LumberjackClient(port: port)
        defer { client.close() }
        let n = 5_000
        try client.write(LumberjackClient.window(n) + (1...n).flatMap { LumberjackClient.json($0, #"{"message":"held"}"#) })
        // The next frame is an ACK of sequence 0 (Logstash's keep-alive), never the window's own ACK.
        let frame = try client.readFrame()
        #expect(frame == [UInt8(ascii: "2"), UInt8(ascii: "A"), 0, 0, 0, 0], "\(frame)")
        let result = sluice.stop()
        #expect(result.exitCode == 1, "the held events are reported lost: \(result.stderr)")
    }

    // MARK: http

    @Test func httpAnswers429WhileRequestsWaitForAFullQueue() throws {
        // The first request waits for the full queue, and with max_pending_requests => 1 the next one is refused.
        let (sluice, port) = try blockedReceiver("http { port => PORT host => \"127.0.0.1\" max_pending_requests => 1 }")
        let array = "[" + (0..<5000).map { "{\"n\":\($0)}" }.joined(separator: ",") + "]"
        let first = try runClient(
            "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", "-H", "Content-Type: application/json", "--data-binary", "@-", "http://127.0.0.1:\(port)/"],
            stdin: Data(array.utf8))
        #expect(first.stdout == "000", "the first request waits for the queue (curl times out): \(first.stdout)")
        let second = try runClient("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--data", "x", "http://127.0.0.1:\(port)/"])
        #expect(second.exitCode == 0)
        #expect(second.stdout == "429")
        let result = sluice.stop()
        // The memory queue's events could not be delivered: reported lost, exit status 1.
        #expect(result.exitCode == 1, "\(result.stderr)")
        #expect(result.stderr.contains("lost"))
    }
}

/// Starts sluice with a config string in the background.
func runSluiceInBackground(_ config: String, _ extra: [String] = []) throws -> SluiceProcess {
    try SluiceProcess(["-e", config, "-w", "1"] + extra)
}

/// A minimal lumberjack client written from the protocol description, for what pylogbeat cannot do: split
/// frames, v1 data frames, abandoned windows and garbage.
final class LumberjackClient {
    let fd: Int32

    init(port: Int) throws {
        guard let connected = Loopback.tcp(port) else { throw HarnessError("connect failed: \(errno)") }
        fd = connected
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func close() { Glibc.close(fd) }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw HarnessError("write failed: \(errno)") }
            offset += n
        }
    }

    /// The next 6-byte frame from the server (an ACK), keep-alives included.
    func readFrame() throws -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: 6)
        var got = 0
        while got < 6 {
            let n = frame[got...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw HarnessError("no ACK (read \(n), errno \(errno))") }
            got += n
        }
        return frame
    }

    /// The next non-keep-alive ACK's sequence number.
    func readAck(version: Character = "2") throws -> UInt32 {
        while true {
            let frame = try readFrame()
            guard frame[1] == UInt8(ascii: "A") else { throw HarnessError("not an ACK: \(frame)") }
            let sequence = frame[2...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            if sequence == 0 && frame[0] == UInt8(ascii: "2") && version == "2" { continue }
            #expect(frame[0] == version.asciiValue!)
            return sequence
        }
    }

    /// Whether the server closed the connection (a read returns 0) within the read timeout.
    func readsEndOfStream() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 64)
        return buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } == 0
    }

    static func u32(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(v).bigEndian) { Array($0) } }

    static func window(_ n: Int, version: Character = "2") -> [UInt8] { [version.asciiValue!, UInt8(ascii: "W")] + u32(n) }

    static func json(_ sequence: Int, _ text: String) -> [UInt8] {
        [UInt8(ascii: "2"), UInt8(ascii: "J")] + u32(sequence) + u32(text.utf8.count) + Array(text.utf8)
    }

    static func data(_ sequence: Int, _ pairs: [(String, String)]) -> [UInt8] {
        var out = [UInt8(ascii: "1"), UInt8(ascii: "D")] + u32(sequence) + u32(pairs.count)
        for (k, v) in pairs { out += u32(k.utf8.count) + Array(k.utf8) + u32(v.utf8.count) + Array(v.utf8) }
        return out
    }

    static func compressed(_ frames: [UInt8]) -> [UInt8] {
        let deflated = ZlibTestCompression.deflate(frames)
        return [UInt8(ascii: "2"), UInt8(ascii: "C")] + u32(deflated.count) + deflated
    }
}

/// zlib's own `compress2` (a zlib-wrapped deflate stream, as go-lumber writes compressed frames).
enum ZlibTestCompression {
    static func deflate(_ bytes: [UInt8]) -> [UInt8] {
        var length = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { i in compress2(o.baseAddress, &length, i.baseAddress, uLong(i.count), 6) }
        }
        precondition(status == Z_OK)
        return Array(out[0..<Int(length)])
    }
}

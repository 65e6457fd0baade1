import Foundation
import Testing
@testable import SluiceCore

/// The http output's `socket_timeout` against a server that accepts connections and never answers: the request
/// fails after `socket_timeout`, long before `request_timeout`.
@Suite(.serialized)
struct HttpOutputTimeoutTests {
    /// A TCP socket listening on 127.0.0.1 that never accepts: the kernel completes handshakes, nobody answers.
    static func silentListener() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard bound, listen(fd, 16) == 0 else { throw HarnessError("cannot listen: \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    @Test func aServerThatNeverAnswersTimesOutAfterSocketTimeout() throws {
        let (fd, port) = try Self.silentListener()
        defer { close(fd) }
        let sluice = try SluiceProcess(
            [
                "-e",
                "input { stdin { } } output { http { url => \"http://127.0.0.1:\(port)/\" http_method => post socket_timeout => 1 request_timeout => 30 retry_failed => false } }",
                "-w", "1",
            ], stdinPipe: true)
        #expect(sluice.waitForLog("Pipeline started"), "\(sluice.stderr)")
        let sent = Date()
        sluice.input.fileHandleForWriting.write(Data("one event\n".utf8))
        #expect(sluice.waitForLog("Could not fetch URL", seconds: 20), "\(sluice.stderr)")
        let waited = Date().timeIntervalSince(sent)
        #expect(waited >= 0.9 && waited < 10, "failed after \(waited) s; socket_timeout is 1 s, request_timeout 30 s")
        try sluice.input.fileHandleForWriting.close()
        let result = sluice.stop()
        // Without a DLQ the undeliverable event is reported and dropped: the pipeline itself ends cleanly.
        #expect(result.exitCode == 0, "\(result.stderr)")
    }
}

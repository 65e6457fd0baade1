import Foundation
import Testing
import SluiceCore
@testable import SluiceAPI

/// `api.ssl.enabled`: the API over HTTPS with a PEM pair or a PKCS#12 keystore, and the settings errors.
@Suite(.serialized)
struct MonitoringTLSTests {
    /// Runs a command, returning its standard output (empty on failure). Output goes through a file, not a pipe:
    /// a pipe's write end could be inherited by processes other tests start concurrently and never reach EOF.
    @discardableResult
    func run(_ tool: String, _ arguments: [String]) throws -> String {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let outFile = dir.appendingPathComponent("out")
        FileManager.default.createFile(atPath: outFile.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = try FileHandle(forWritingTo: outFile)
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return (try? String(contentsOf: outFile, encoding: .utf8)) ?? ""
    }

    /// A self-signed certificate for 127.0.0.1, as PEM files and a PKCS#12 keystore.
    func makeCertificate(in dir: URL) throws -> (cert: String, key: String, p12: String) {
        let cert = dir.appendingPathComponent("api.crt").path, key = dir.appendingPathComponent("api.key").path
        let p12 = dir.appendingPathComponent("api.p12").path
        try run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1",
            "-keyout", key, "-out", cert,
        ])
        try run("/usr/bin/openssl", ["pkcs12", "-export", "-in", cert, "-inkey", key, "-out", p12, "-passout", "pass:secret"])
        return (cert, key, p12)
    }

    /// The real binary with `api.ssl.enabled` (a server in this process would need the test runner's few
    /// concurrency threads, which blocking tests may hold).
    @Test(arguments: ["pem", "keystore"])
    func apiAnswersOverHTTPS(kind: String) throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try makeCertificate(in: dir)
        let port = freePort()
        let tls = kind == "pem"
            ? ["-S", "api.ssl.certificate=\(files.cert)", "-S", "api.ssl.key=\(files.key)"]
            : ["-S", "api.ssl.keystore.path=\(files.p12)", "-S", "api.ssl.keystore.password=secret"]
        let process = Process()
        process.executableURL = TestPaths.binary
        process.arguments = ["-e", "input { generator { count => 0 } } output { null { } }", "-w", "1",
                             "--path.data", dir.path, "--path.settings", dir.path, "--api.http.port", String(port),
                             "--log.level", "error", "-S", "api.ssl.enabled=true"] + tls
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var body = ""
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            body = try run("/usr/bin/curl", ["-sk", "--max-time", "2", "https://127.0.0.1:\(port)/_node/stats/events"])
            if !body.isEmpty { break }
            usleep(100_000)
        }
        let parsed = try JSONParser.parse(body)
        #expect(parsed.objectValue?["events"] != nil)
        let plain = try run("/usr/bin/curl", ["-s", "--max-time", "2", "http://127.0.0.1:\(port)/"])
        #expect(!plain.contains("\"version\""))
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    @Test func sslWithoutACertificateIsASettingsError() throws {
        var s = Settings()
        try s.set("api.ssl.enabled", "true", origin: "test")
        #expect(throws: SettingsError.self) { try APIConfiguration(s) }
        try s.set("api.ssl.keystore.path", "/x.p12", origin: "test")
        #expect(throws: SettingsError.self) { try APIConfiguration(s) }
    }

    @Test func sslWithBasicAuthListensEverywhereUnlessAHostIsSet() throws {
        var s = Settings()
        for (k, v) in [("api.ssl.enabled", "true"), ("api.ssl.certificate", "c"), ("api.ssl.key", "k"),
                       ("api.auth.type", "basic"), ("api.auth.basic.username", "u"), ("api.auth.basic.password", "p")] {
            try s.set(k, v, origin: "test")
        }
        #expect(try APIConfiguration(s).host == "0.0.0.0")
        try s.set("api.http.host", "127.0.0.1", origin: "test")
        #expect(try APIConfiguration(s).host == "127.0.0.1")
    }
}

import Foundation
import Testing
import SluiceCore
@testable import SluiceAPI

/// `api.ssl.enabled`: the API over HTTPS with a PEM pair or a PKCS#12 keystore, and the settings errors.
@Suite(.serialized)
struct MonitoringTLSTests {
    /// Runs a command, returning its standard output (empty on failure).
    @discardableResult
    func run(_ tool: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
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

    func serve(_ tls: APIConfiguration.TLSSource) throws -> (MonitoringServer, Int) {
        let port = freePort()
        let configuration = APIConfiguration(ports: port...port, tls: tls)
        let api = MonitoringAPI(agent: StaticDirectory([]), node: NodeInfo(version: "0.1.0", id: "x"), configuration: configuration)
        let server = MonitoringServer(api: api, configuration: configuration)
        try server.start()
        return (server, port)
    }

    @Test(arguments: ["pem", "keystore"])
    func apiAnswersOverHTTPS(kind: String) throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try makeCertificate(in: dir)
        #expect(FileManager.default.fileExists(atPath: files.p12))
        let source: APIConfiguration.TLSSource =
            kind == "pem" ? .pem(certificate: files.cert, key: files.key) : .keystore(path: files.p12, password: "secret")
        let (server, port) = try serve(source)
        defer { server.stop() }
        let body = try run("/usr/bin/curl", ["-sk", "--max-time", "5", "https://127.0.0.1:\(port)/_node/stats/events"])
        let parsed = try JSONParser.parse(body)
        #expect(parsed.objectValue?["events"] != nil)
        let plain = try run("/usr/bin/curl", ["-s", "--max-time", "5", "http://127.0.0.1:\(port)/"])
        #expect(!plain.contains("\"version\""))
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

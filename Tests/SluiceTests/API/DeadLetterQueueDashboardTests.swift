import Foundation
import Testing
@testable import SluiceAPI
@testable import SluiceCore

/// The dashboard route in-process: served on loopback or with auth, refused on a non-loopback address without auth,
/// behind basic auth, self-contained and locked down.
@Suite(.serialized)
struct DeadLetterQueueDashboardTests {
    func api(host: String, auth: (String, String)? = nil) -> MonitoringAPI {
        MonitoringAPI(
            agent: StaticDirectory([]), node: NodeInfo(version: "0.1.0", id: "n"),
            configuration: APIConfiguration(host: host, basicAuth: auth.map { (username: $0.0, password: $0.1) }))
    }

    func header(_ name: String, _ r: APIResponse) -> String? { r.headers.first { $0.0 == name }?.1 }

    @Test(arguments: ["127.0.0.1", "localhost", "::1"])
    func servedOnLoopbackWithoutAuth(_ host: String) throws {
        let r = api(host: host).respond(to: APIRequest(path: "/_sluice/dashboard"))
        #expect(r.status == 200)
        #expect(r.contentType == "text/html; charset=utf-8")
        #expect(r.body.hasPrefix("<!doctype html>"))
        #expect(r.body.contains("sluice-xsrf"), "the page's requests carry the XSRF header")
        #expect(api(host: host).respond(to: APIRequest(path: "/_sluice/dashboard/")).status == 200)
    }

    @Test func refusedOnAnyAddressWithoutAuth() throws {
        for host in ["0.0.0.0", "192.168.1.20", "::"] {
            let r = api(host: host).respond(to: APIRequest(path: "/_sluice/dashboard"))
            #expect(r.status == 403, "\(host)")
            #expect(r.contentType == "application/json")
            let body = try json(r)
            #expect(body["status"] == .int(403))
            let message = body["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains("loopback") && message.contains("api.auth.type") && message.contains(host), "\(message)")
            #expect(!r.body.contains("<html"))
        }
        // The JSON API itself keeps Logstash's behaviour there (a warning at start-up, no refusal).
        #expect(api(host: "0.0.0.0").respond(to: APIRequest(path: "/_sluice/dlq")).status == 200)
    }

    @Test func withAuthItNeedsCredentialsOnEveryAddress() throws {
        let auth = "Basic " + Base64.encode(Array("admin:s3cret".utf8))
        for host in ["0.0.0.0", "127.0.0.1"] {
            let api = api(host: host, auth: ("admin", "s3cret"))
            let refused = api.respond(to: APIRequest(path: "/_sluice/dashboard"))
            #expect(refused.status == 401)
            #expect(header("WWW-Authenticate", refused)?.hasPrefix("Basic") == true)
            #expect(!refused.body.contains("<html"))
            let wrong = "Basic " + Base64.encode(Array("admin:guess".utf8))
            #expect(api.respond(to: APIRequest(path: "/_sluice/dashboard", authorization: wrong)).status == 401)
            let served = api.respond(to: APIRequest(path: "/_sluice/dashboard", authorization: auth))
            #expect(served.status == 200)
            #expect(served.body.hasPrefix("<!doctype html>"))
        }
    }

    /// No external asset (no URL of another host, no import), the script and style run under a per-response nonce,
    /// and the page cannot be framed; data reaches the DOM as text only.
    @Test func thePageIsSelfContainedAndLockedDown() throws {
        let a = api(host: "127.0.0.1").respond(to: APIRequest(path: "/_sluice/dashboard"))
        let b = api(host: "127.0.0.1").respond(to: APIRequest(path: "/_sluice/dashboard"))
        let csp = try #require(header("Content-Security-Policy", a))
        #expect(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'") && csp.contains("frame-ancestors 'none'"))
        let nonce = try #require(csp.split(separator: "'").first { $0.hasPrefix("nonce-") }).dropFirst(6)
        #expect(nonce.count >= 16)
        #expect(a.body.contains("<script nonce=\"\(nonce)\">") && a.body.contains("<style nonce=\"\(nonce)\">"))
        #expect(!a.body.contains("{{nonce}}"))
        #expect(header("Content-Security-Policy", b) != csp, "a fresh nonce per response")
        #expect(header("X-Frame-Options", a) == "DENY")
        // The only absolute URL is the SVG namespace, which is a name, not a fetch.
        let urls = a.body.components(separatedBy: "http").dropFirst().map { String($0.prefix(30)) }
        #expect(urls.allSatisfy { $0.hasPrefix("://www.w3.org/2000/svg") }, "\(urls)")
        for forbidden in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "@import", "src=\""] {
            #expect(!a.body.contains(forbidden), "\(forbidden)")
        }
        #expect(a.body.utf8.count < 40_000, "the page stays small (\(a.body.utf8.count) bytes)")
    }

    /// The per-entry redrive the page's button calls: refused without the XSRF header, 404 for an entry that is not
    /// there; the redrive itself runs in the browser test against a running pipeline.
    @Test func redrivingOneEntryNeedsTheHeaderAndAnEntry() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try compileDLQPipeline(data: work)
        defer { pipeline.deadLetterQueue?.close() }
        pipeline.process(failingEvents(3))
        let api = MonitoringAPI(agent: StaticDirectory([pipeline]), node: NodeInfo(version: "0.1.0", id: "n"),
                                configuration: APIConfiguration())
        let page = try json(api.respond(to: APIRequest(path: "/_sluice/dlq/main/entries")))
        let id = try #require(page["entries"]?.arrayValue?.first?["id"]?.stringValue)
        let path = "/_sluice/dlq/main/entries/\(id)/_redrive"
        #expect(api.respond(to: APIRequest(method: "POST", path: path)).status == 400)
        #expect(api.respond(to: APIRequest(method: "POST", path: "/_sluice/dlq/main/entries/9-99999/_redrive", xsrf: "1")).status == 404)
        #expect(api.respond(to: APIRequest(method: "POST", path: "/_sluice/dlq/main/entries/x/_redrive", xsrf: "1")).status == 404)
        #expect(api.respond(to: APIRequest(path: "/_sluice/dlq/main/entries/\(id)")).status == 200, "nothing was redriven")
    }
}

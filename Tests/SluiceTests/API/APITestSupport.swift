import Foundation
import SluiceCore
import SluicePlugins
@testable import SluiceAPI

#if canImport(Glibc)
import Glibc
#endif

/// A fixed set of pipelines for the API to report on; reload stats are set by the test.
final class StaticDirectory: PipelineDirectory, @unchecked Sendable {
    var runningPipelines: [Pipeline]
    var reloads: [String: PipelineReloadStats] = [:]
    var flow: NodeFlow?
    init(_ pipelines: [Pipeline]) { runningPipelines = pipelines }
    func reloadStats(_ id: String) -> PipelineReloadStats { reloads[id] ?? PipelineReloadStats() }
}

/// A pipeline compiled (not started) with its DLQ under `data`, whose condition fails for non-numeric `n`.
func compileDLQPipeline(data: URL, id: String = "main", extra: [String: String] = [:]) throws -> Pipeline {
    var s = Settings()
    try s.set("path.data", data.path, origin: "test")
    try s.set("dead_letter_queue.enable", "true", origin: "test")
    try s.set("pipeline.workers", "1", origin: "test")
    for (k, v) in extra { try s.set(k, v, origin: "test") }
    let text = """
        input { generator { count => 1 id => "gen" } }
        filter {
          if [n] > 10 { mutate { add_tag => ["big"] id => "tagger" } }
        }
        output { null { id => "sink" } }
        """
    return try Agent(registry: builtinRegistry).compile(
        PipelineDefinition(id: id, sources: ConfigSources.fromString(text), settings: s))
}

/// Events whose `n` is a string, so the condition fails and they go to the DLQ.
func failingEvents(_ count: Int) -> [Event] {
    (0..<count).map { i in event(n: .string("x\(i)")) }
}

func numericEvents(_ count: Int) -> [Event] {
    (0..<count).map { i in event(n: .int(i * 10)) }
}

/// Parses a JSON body into an `Object`.
func json(_ response: APIResponse) throws -> Object {
    guard case .object(let o) = try JSONParser.parse(Array(response.body.utf8)) else {
        throw APITestError("not an object: \(response.body)")
    }
    return o
}

struct APITestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

extension Value {
    /// `value["a"]["b"]` style access for assertions.
    subscript(_ key: String) -> Value? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

/// A TCP port that was free a moment ago.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A minimal HTTP/1.0 GET over a real socket: (status, headers + body text).
func httpGet(port: Int, path: String, authorization: String? = nil) -> (status: Int, body: String)? {
    guard let fd = Loopback.tcp(port) else { return nil }
    defer { close(fd) }
    var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if let authorization { request += "Authorization: \(authorization)\r\n" }
    request += "\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        data += buf[..<n]
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let line = text.split(separator: "\r\n").first, line.split(separator: " ").count >= 2,
          let status = Int(line.split(separator: " ")[1]) else { return nil }
    let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    return (status, body)
}

extension Value {
    var intValue: Int? {
        if case .int(let n) = self { return n }
        return nil
    }
}

func event(n: Value) -> Event {
    var o = Object()
    o["n"] = n
    return Event(fromMap: o)
}

import SluiceCore

/// An HTTP request as the monitoring API sees it, independent of the server library (so tests drive the router
/// in-process).
public struct APIRequest: Sendable {
    public var method: String
    public var path: String
    /// The raw query string, without `?`.
    public var query: String
    /// The `Authorization` header, if any.
    public var authorization: String?
    /// The `sluice-xsrf` header, which every request that changes something must carry: a page of another site
    /// cannot send it (a form cannot set headers, and a script's cross-origin request with it needs a CORS
    /// permission the server never gives).
    public var xsrf: String?

    public init(method: String = "GET", path: String, query: String = "", authorization: String? = nil, xsrf: String? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.authorization = authorization
        self.xsrf = xsrf
    }

    /// The header name of `xsrf`.
    public static let xsrfHeader = "sluice-xsrf"

    /// The value of query parameter `name`, percent-decoded (`+` is a space), or nil when absent.
    public func value(_ name: String) -> String? {
        for item in query.split(separator: "&") {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.first.map(String.init) == name { return parts.count == 2 ? Self.percentDecoded(parts[1]) : "" }
        }
        return nil
    }

    static func percentDecoded(_ text: Substring) -> String {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let c = bytes.popFirst() {
            if c == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if c == UInt8(ascii: "%"), bytes.count >= 2,
                      let byte = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(byte)
                bytes.removeFirst(2)
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether the query holds `name` (`?pretty`, `?pretty=true`).
    func hasFlag(_ name: String) -> Bool {
        query.split(separator: "&").contains { item in
            let parts = item.split(separator: "=", maxSplits: 1)
            return parts.first.map(String.init) == name && (parts.count == 1 || parts[1] != "false")
        }
    }
}

/// A response: status, content type, body and extra headers.
public struct APIResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: String
    public var headers: [(String, String)]

    public init(status: Int = 200, contentType: String = "application/json", body: String, headers: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }
}

/// An error the API reports to the client: a status and a JSON body (STYLE §6.5); anything else is a 500.
public protocol APIResponseError: Error {
    var status: Int { get }
    var body: Value { get }
    var headers: [(String, String)] { get }
}

extension APIResponseError {
    public var headers: [(String, String)] { [] }
}

/// Logstash's error body: `{"path": …, "status": …, "error": {"message": …}}`.
func errorBody(path: String, status: Int, message: String) -> Value {
    var o = Object()
    o["path"] = .string(path)
    o["status"] = .int(status)
    var e = Object()
    e["message"] = .string(message)
    o["error"] = .object(e)
    return .object(o)
}

/// An unknown endpoint or pipeline id.
struct NotFound: APIResponseError {
    let path: String
    var status: Int { 404 }
    var body: Value { errorBody(path: path, status: 404, message: "Not Found") }
}

/// Missing or wrong basic-auth credentials.
struct Unauthorized: APIResponseError {
    let path: String
    var status: Int { 401 }
    var body: Value { errorBody(path: path, status: 401, message: "Unauthorized") }
    var headers: [(String, String)] { [("WWW-Authenticate", "Basic realm=\"logstash-api\"")] }
}

/// A method other than GET (or HEAD).
/// A request the API understood but cannot take (a bad parameter), with the reason.
struct BadRequest: APIResponseError {
    let path: String
    let message: String
    var status: Int { 400 }
    var body: Value { errorBody(path: path, status: 400, message: message) }
}

/// A failure on the server's side (a file that cannot be written), with the reason.
struct ServerError: APIResponseError {
    let path: String
    let message: String
    var status: Int { 500 }
    var body: Value { errorBody(path: path, status: 500, message: message) }
}

struct MethodNotAllowed: APIResponseError {
    let path: String
    var status: Int { 405 }
    var body: Value { errorBody(path: path, status: 405, message: "Method Not Allowed") }
}

import Foundation

/// Raw TCP sockets to 127.0.0.1 for the tests that play minimal or hostile clients (API floods, lumberjack frames,
/// half-open connections).
enum Loopback {
    /// `connect(2)` of `fd` to 127.0.0.1:`port`: 0, or -1 with `errno` set (EINPROGRESS for a non-blocking socket).
    static func connect(_ fd: Int32, port: Int) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// A blocking TCP connection to 127.0.0.1:`port`, or nil.
    static func tcp(_ port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        guard connect(fd, port: port) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }
}

#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import SluiceCore

/// The event loops and the blocking-work pool every network input and output shares: one loop per core, made on
/// first use, living as long as the process.
enum NetworkEventLoops {
    static var group: MultiThreadedEventLoopGroup { .singleton }
    /// For work that blocks (reverse DNS lookups), so that it never runs on an event loop.
    static var blockingPool: NIOThreadPool { .singleton }
}

/// The listening sockets and accepted connections of one network input, and its lifetime: `serve` blocks the
/// input's thread until `stop`, then closes the listeners and every connection (each flushes its codec as it
/// closes) and returns once all are closed. `track` is called on event loops, `serve` on the input's thread,
/// `stop` on any thread.
final class NetworkServer: @unchecked Sendable {
    private let lock = Lock()
    private var listeners: [Channel] = []
    private var connections: [ObjectIdentifier: Channel] = [:]
    private let stopped = Semaphore()
    private let stopping = ShutdownFlag()
    private let shutdown: ShutdownFlag
    /// The most connections served at once (nil: no limit); further ones are closed as soon as they are accepted.
    private let maxConnections: Int?
    private let logger: Logger?

    init(shutdown: ShutdownFlag, maxConnections: Int? = nil, logger: Logger? = nil) {
        self.shutdown = shutdown
        self.maxConnections = maxConnections
        self.logger = logger
    }

    /// Registers a bound listener.
    func listen(_ channel: Channel) {
        lock.withLock { listeners.append(channel) }
    }

    /// Binds a TCP listener on `group` and registers it; each accepted connection is tracked, then `initialize`
    /// adds its handlers (on the connection's event loop). A port in use is a "could not bind" error naming it.
    func bindTCP(
        group: EventLoopGroup = NetworkEventLoops.group, host: String, port: Int,
        _ initialize: @escaping @Sendable (Channel) throws -> Void
    ) throws {
        do {
            let channel = try ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.backlog, value: 1024)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { [self] channel in
                    guard track(channel) else { return channel.close() }
                    return channel.eventLoop.makeCompletedFuture { try initialize(channel) }
                }
                .bind(host: host, port: port).wait()
            listen(channel)
        } catch {
            throw SettingsValidationError("could not bind to \(host):\(port); \(error)")
        }
    }

    /// Binds a UDP socket whose datagrams `reader` decodes, reading up to `bufferSize` bytes each; `reusePort`
    /// lets several sockets share the port (the udp input's `workers`).
    func bindUDP(
        host: String, port: Int, bufferSize: Int, receiveBuffer: Int? = nil, reusePort: Bool = false, _ reader: DatagramReader
    ) throws -> Channel {
        var bootstrap = DatagramBootstrap(group: NetworkEventLoops.group)
            .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .channelOption(ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: bufferSize))
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(reader) } }
        if reusePort { bootstrap = bootstrap.channelOption(ChannelOptions.socket(SocketOptionLevel(SOL_SOCKET), SO_REUSEPORT), value: 1) }
        if let receiveBuffer { bootstrap = bootstrap.channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer)) }
        do {
            let channel = try bootstrap.bind(host: host, port: port).wait()
            listen(channel)
            return channel
        } catch {
            throw SettingsValidationError("could not bind to \(host):\(port) (UDP); \(error)")
        }
    }

    /// Keeps an accepted connection until it closes; false (and a warning) when `maxConnections` are open already.
    @discardableResult
    func track(_ channel: Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = lock.withLock { () -> Bool in
            if let maxConnections, connections.count >= maxConnections { return false }
            connections[id] = channel
            return true
        }
        guard admitted else {
            logger?.rateLimited(.warn, key: "max-connections", "\(maxConnections ?? 0) connections are open (max_connections): closing a new one")
            return false
        }
        channel.closeFuture.whenComplete { [self] _ in _ = lock.withLock { connections.removeValue(forKey: id) } }
        return true
    }

    /// Connections open now.
    var openConnections: [Channel] { lock.withLock { Array(connections.values) } }

    /// Whether `stop` was called or the pipeline is shutting down.
    var isStopping: Bool { stopping.isRequested || shutdown.isRequested }

    /// Waits up to `milliseconds`, returning early when the server stops.
    func pause(milliseconds: Int) {
        var left = milliseconds
        while left > 0 && !isStopping {
            _ = stopped.wait(timeoutMillis: min(left, 200))
            left -= 200
        }
    }

    /// Blocks until `channel` closes or the server stops (a client-mode connection).
    func serve(until channel: Channel) {
        while !isStopping && channel.isActive { pause(milliseconds: 200) }
    }

    /// Blocks until `stop` (or the pipeline's shutdown), then closes listeners and connections.
    func serve() {
        while !isStopping { pause(milliseconds: 200) }
        let (listening, open) = lock.withLock { (listeners, Array(connections.values)) }
        for channel in listening { try? channel.close().wait() }
        for channel in open { channel.close(promise: nil) }
        for channel in open { try? channel.closeFuture.wait() }
    }

    func stop() {
        stopping.request()
        stopped.signal()
    }

    /// Closes whatever was bound before a later bind failed, then rethrows that failure (an input's start-up).
    func abandon(after error: Error) throws -> Never {
        stop()
        serve()
        throw error
    }
}

/// The far end of a connection or datagram as inputs record it.
struct PeerAddress: Sendable {
    var ip: String
    var port: Int

    init(ip: String, port: Int) {
        self.ip = ip
        self.port = port
    }

    init?(_ address: SocketAddress?) {
        guard let address, let ip = address.ipAddress, let port = address.port else { return nil }
        self.init(ip: ip, port: port)
    }

    /// The host name for `ip` (reverse DNS), or the address itself when there is none. Blocks: call it on
    /// `NetworkEventLoops.blockingPool`.
    static func hostName(for ip: String) -> String {
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(ip, nil, &hints, &info) == 0, let first = info else { return ip }
        defer { freeaddrinfo(info) }
        var name = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &name, socklen_t(name.count), nil, 0, NI_NAMEREQD) == 0 else {
            return ip
        }
        return String(cString: name)
    }
}

/// Offers decoded events from a channel's event loop and pauses the channel's reads while the pipeline's queue is
/// full: TCP back-pressure then reaches the sender. Called on the channel's event loop only.
enum ChannelBackPressure {
    static func offer(_ events: [Event], to sink: EventSink, from channel: Channel, onQueued: (@Sendable () -> Void)? = nil) {
        guard !events.isEmpty else {
            onQueued?()
            return
        }
        let loop = channel.eventLoop
        let keepReading = sink.offer(events, acknowledgement: nil, onQueued: onQueued) {
            loop.execute { _ = channel.setOption(ChannelOptions.autoRead, value: true) }
        }
        if !keepReading { _ = channel.setOption(ChannelOptions.autoRead, value: false) }
    }
}

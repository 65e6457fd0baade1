import NIOCore
import NIOHTTPTypes
import SluiceCore

/// Counts the API's open connections so that a flood of them cannot take the process's descriptors.
///
/// Shared by every connection's `ConnectionGuard`; called on the server's event loops (any of them), hence the lock.
final class ConnectionLimiter: @unchecked Sendable {
    /// The most connections served at once; further ones are closed as soon as they are accepted.
    let maximum: Int
    private let lock = Lock()
    private var open = 0
    private var refusedSinceLog = 0
    private let logger = SluiceCore.Logger("api.service")

    init(maximum: Int) { self.maximum = maximum }

    /// Takes a slot for a new connection; false when all are taken (the caller closes the connection).
    func admit() -> Bool {
        let admitted = lock.withLock { () -> Bool in
            guard open < maximum else { return false }
            open += 1
            return true
        }
        if !admitted {
            logger.rateLimited(
                .warn, key: "connection-limit",
                "The API already serves \(maximum) connections (api.http.max_connections): closing a new one")
        }
        return admitted
    }

    /// Frees the slot of a closed connection.
    func release() { lock.withLock { open -= 1 } }

    /// Connections currently open (for tests).
    var openConnections: Int { lock.withLock { open } }
}

/// Closes an API connection that does not send a complete request line and headers within `headerTimeout`
/// (slowloris), or that the `ConnectionLimiter` has no slot for.
///
/// One per connection, added to the channel pipeline after HTTP decoding; runs on the connection's event loop. The
/// deadline covers the first request from the moment the connection is set up (the TLS handshake included) and,
/// on a kept-alive connection, the wait for each next request.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let limiter: ConnectionLimiter
    private let headerTimeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private var holdsSlot = false

    init(limiter: ConnectionLimiter, headerTimeout: TimeAmount) {
        self.limiter = limiter
        self.headerTimeout = headerTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard limiter.admit() else {
            context.close(promise: nil)
            return
        }
        holdsSlot = true
        armDeadline(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        if holdsSlot {
            holdsSlot = false
            limiter.release()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        if holdsSlot {
            holdsSlot = false
            limiter.release()
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            deadline?.cancel()
            deadline = nil
        case .end:
            armDeadline(context)
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    private func armDeadline(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: headerTimeout) { channel.close(promise: nil) }
    }
}

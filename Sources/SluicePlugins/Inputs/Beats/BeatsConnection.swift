import NIOCore
import NIOSSL
import NIOTLS
import SluiceCore

/// One lumberjack connection: parses frames, gathers each window's messages, turns a complete window into events
/// and offers them to the pipeline, and writes the window's ACK once they are queued (windows are acknowledged
/// in order). While a window is gathered or waits for the queue, ACK 0 goes out every 5 s (the writer-idle
/// event), so the sender keeps waiting instead of timing out; a connection idle for `client_inactivity_timeout`
/// is closed. On the connection's event loop only.
final class BeatsConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let input: BeatsInput
    private let sink: EventSink
    private let codec: any Codec
    private var decoder = BeatsFrameDecoder()
    private var windowSize: UInt32?
    private var version = BeatsFrameDecoder.version2
    private var messages: [(sequence: UInt32, map: Object)] = []
    /// Windows offered to the queue and not yet acknowledged to the sender.
    private var unacknowledged = 0
    private var peerIP = "unknown"
    var peer: BeatsPeer?

    init(input: BeatsInput, sink: EventSink, codec: any Codec) {
        self.input = input
        self.sink = sink
        self.codec = codec
    }

    func channelActive(context: ChannelHandlerContext) {
        peerIP = PeerAddress(context.channel.remoteAddress)?.ip ?? "unknown"
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        decoder.append(&bytes)
        do {
            while let frame = try decoder.next() { try handle(frame, context) }
        } catch {
            input.context.logger.warn("Closing the beats connection from \(peerIP): \(error)")
            messages = []
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent else { return context.fireUserInboundEventTriggered(event) }
        switch idle {
        case .write where unacknowledged > 0 || !messages.isEmpty:
            context.writeAndFlush(wrapOutboundOut(BeatsFrameDecoder.acknowledgement(0)), promise: nil)
        case .all:
            input.context.logger.info("Closing the beats connection from \(peerIP): no traffic for \(input.settings.clientInactivityTimeout) s")
            context.close(promise: nil)
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        input.context.logger.info("beats connection from \(peerIP) failed: \(error)")
        context.close(promise: nil)
    }

    private func handle(_ frame: BeatsFrame, _ context: ChannelHandlerContext) throws {
        switch frame {
        case .window(let frameVersion, let size):
            if !messages.isEmpty {
                input.context.logger.warn("New window from \(peerIP) before the last one was complete: processing the \(messages.count) messages received")
                completeWindow(context)
            }
            version = frameVersion
            windowSize = size
            if size == 0 { completeWindow(context) }
        case .json(_, let sequence, let payload):
            guard case .object(let map) = try? JSONParser.parse(payload) else {
                throw BeatsProtocolError("Unable to parse beats payload: not a JSON object")
            }
            try append(sequence, map, context)
        case .data(_, let sequence, let pairs):
            var map = Object(minimumCapacity: pairs.count)
            for (key, value) in pairs { map[key] = .string(value) }
            try append(sequence, map, context)
        }
    }

    private func append(_ sequence: UInt32, _ map: Object, _ context: ChannelHandlerContext) throws {
        guard let windowSize else { throw BeatsProtocolError("data frame before any window frame") }
        messages.append((sequence, map))
        if messages.count >= Int(windowSize) { completeWindow(context) }
    }

    /// Offers the window's events; its ACK (the highest sequence number) is written once they are queued.
    private func completeWindow(_ context: ChannelHandlerContext) {
        let highest = messages.map(\.sequence).max() ?? 0
        var events: [Event] = []
        for (_, map) in messages { input.builder.events(from: map, codec: codec, peerIP: peerIP, peer: peer, into: &events) }
        messages = []
        windowSize = nil
        unacknowledged += 1
        let ack = BeatsFrameDecoder.acknowledgement(highest, version: version)
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        ChannelBackPressure.offer(events, to: sink, from: context.channel) {
            loop.execute {
                let (connection, context) = bound.value
                connection.unacknowledged -= 1
                context.writeAndFlush(connection.wrapOutboundOut(ack), promise: nil)
            }
        }
    }
}

/// What the TLS layer proved about a beats client (`enrich => ssl_peer_metadata`).
struct BeatsPeer: Sendable {
    var verified: Bool
    var subject: String?
    var tlsProtocol: String?

    /// The protocol as Java names it (`TLSv1.3`).
    static func javaName(_ version: TLSVersion?) -> String {
        switch version {
        case .tlsv13?: "TLSv1.3"
        case .tlsv12?: "TLSv1.2"
        case .tlsv11?: "TLSv1.1"
        case .tlsv1?: "TLSv1"
        case nil: "unknown"
        }
    }
}

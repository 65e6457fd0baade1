#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOSSL
import NIOTLS
import X509
import SluiceCore

/// What an input knows of one connection when it builds events: the peer (from the socket or a PROXY header),
/// its host name, and the client certificate's subject under TLS.
struct ConnectionFacts: Sendable {
    var peer: PeerAddress
    var hostName: String
    var proxy: PeerAddress?
    var sslSubject: String?
}

/// How a stream input reads one connection.
struct StreamSourceOptions: Sendable {
    /// A PROXY protocol v1 header comes first (`proxy_protocol`).
    var proxyProtocol = false
    /// Look the peer's name up in DNS (`dns_reverse_lookup_enabled`); otherwise the name is the address.
    var reverseLookup = false
    /// Leave a line-by-line codec's decoding, and `annotate`, to the workers (`UndecodedLines`) when the queue takes
    /// undecoded lines: for inputs whose `annotate` only reads shared state.
    var decodesOnWorkers = false
}

/// Reads one TCP connection of a stream input (tcp, syslog): an optional PROXY header, then bytes through the
/// connection's own codec; each event gets the input's fields (`annotate`) and is offered to the pipeline, with the
/// connection's reads paused while the queue is full. The codec is flushed when the connection closes, so a last
/// line without a newline is not lost. One instance per connection, called on its event loop only.
final class StreamSourceHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private enum State {
        case awaitingProxyHeader(ByteBuffer)
        case resolving(pending: ByteBuffer)
        case streaming
        case closed
    }

    /// The longest PROXY v1 header, CRLF included (the protocol's own limit).
    static let maximumProxyHeader = 107

    private let codec: any Codec
    private let sink: EventSink
    private let options: StreamSourceOptions
    private let logger: Logger
    private let annotate: @Sendable (Event, ConnectionFacts) -> Void
    private var state = State.resolving(pending: ByteBuffer())
    private var facts: ConnectionFacts

    init(
        codec: any Codec, sink: EventSink, options: StreamSourceOptions, logger: Logger,
        annotate: @escaping @Sendable (Event, ConnectionFacts) -> Void
    ) {
        self.codec = codec
        self.sink = sink
        self.options = options
        self.logger = logger
        self.annotate = annotate
        facts = ConnectionFacts(peer: PeerAddress(ip: "", port: 0), hostName: "")
    }

    func channelActive(context: ChannelHandlerContext) {
        let peer = PeerAddress(context.channel.remoteAddress) ?? PeerAddress(ip: "unknown", port: 0)
        facts = ConnectionFacts(peer: peer, hostName: peer.ip)
        if options.proxyProtocol {
            state = .awaitingProxyHeader(context.channel.allocator.buffer(capacity: Self.maximumProxyHeader))
        } else {
            resolveName(context, pending: context.channel.allocator.buffer(capacity: 0))
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        switch state {
        case .streaming:
            decode(bytes, context)
        case .resolving(var pending):
            pending.writeBuffer(&bytes)
            state = .resolving(pending: pending)
        case .awaitingProxyHeader(var header):
            header.writeBuffer(&bytes)
            readProxyHeader(&header, context)
        case .closed:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .resolving(let pending): decode(pending, context)
        case .awaitingProxyHeader(let header): decode(header, context)
        case .streaming, .closed: break
        }
        state = .closed
        var events: [Event] = []
        codec.flush { event in
            annotate(event, facts)
            events.append(event)
        }
        ChannelBackPressure.offer(events, to: sink, from: context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let io = error as? IOError, io.errnoCode == ECONNRESET {
            logger.info("Connection reset by peer \(facts.peer.ip):\(facts.peer.port)")
        } else {
            logger.error("Error reading from \(facts.peer.ip):\(facts.peer.port), closing the connection: \(error)")
        }
        context.close(promise: nil)
    }

    /// Records the subject of the client certificate (called by the input once TLS is established).
    func setSSLSubject(_ subject: String?) {
        facts.sslSubject = subject
    }

    private func decode(_ bytes: ByteBuffer, _ context: ChannelHandlerContext) {
        guard bytes.readableBytes > 0 else { return }
        var events: [Event] = []
        bytes.withUnsafeReadableBytes { raw in
            let chunk = raw.bindMemory(to: UInt8.self)
            if var undecoded = undecodedLinesBuilder() {
                undecoded.cut(chunk, into: &events, original: { nil }) { annotate($0, facts) }
                return
            }
            codec.decode(chunk) { event in
                annotate(event, facts)
                events.append(event)
            }
        }
        ChannelBackPressure.offer(events, to: sink, from: context.channel)
    }

    /// A builder of `UndecodedLines` for this read, when the workers are to decode it.
    private func undecodedLinesBuilder() -> UndecodedLinesBuilder? {
        guard options.decodesOnWorkers, let limit = sink.undecodedLinesLimit, let lineCodec = codec as? any LineDecodingCodec
        else { return nil }
        return UndecodedLinesBuilder(
            limit: limit, codec: lineCodec, decoder: ConnectionLineDecoder(codec: lineCodec, facts: facts, annotate: annotate))
    }

    /// `PROXY TCP4 <source ip> <destination ip> <source port> <destination port>\r\n`: the source becomes the peer,
    /// the destination the proxy. An invalid header closes the connection, as Logstash does.
    private func readProxyHeader(_ header: inout ByteBuffer, _ context: ChannelHandlerContext) {
        let view = header.readableBytesView
        guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if header.readableBytes > Self.maximumProxyHeader { rejectProxyHeader(String(buffer: header), context) }
            return
        }
        let line = String(decoding: view[view.startIndex..<lf], as: UTF8.self).trimmingSuffix("\r")
        header.moveReaderIndex(to: lf + 1)
        let parts = line.split(separator: " ").map(String.init)
        guard parts.count >= 6, parts[0] == "PROXY", let sourcePort = Int(parts[4]), let proxyPort = Int(parts[5]) else {
            return rejectProxyHeader(line, context)
        }
        facts.peer = PeerAddress(ip: parts[2], port: sourcePort)
        facts.hostName = parts[2]
        facts.proxy = PeerAddress(ip: parts[3], port: proxyPort)
        resolveName(context, pending: header)
    }

    private func rejectProxyHeader(_ header: String, _ context: ChannelHandlerContext) {
        logger.error("Invalid proxy protocol header label \"\(header.prefix(120))\" from \(facts.peer.ip); closing the connection")
        state = .closed
        context.close(promise: nil)
    }

    /// Looks up the peer's name off the event loop (reads stay paused meanwhile), then starts decoding.
    private func resolveName(_ context: ChannelHandlerContext, pending: ByteBuffer) {
        guard options.reverseLookup else { return startStreaming(context, pending) }
        state = .resolving(pending: pending)
        _ = context.channel.setOption(ChannelOptions.autoRead, value: false)
        let ip = facts.peer.ip
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        NetworkEventLoops.blockingPool.runIfActive(eventLoop: context.eventLoop) { PeerAddress.hostName(for: ip) }
            .whenComplete { result in
                let (handler, context) = bound.value
                if case .success(let name) = result { handler.facts.hostName = name }
                guard case .resolving(let pending) = handler.state else { return }
                handler.startStreaming(context, pending)
                _ = context.channel.setOption(ChannelOptions.autoRead, value: true)
            }
    }

    private func startStreaming(_ context: ChannelHandlerContext, _ pending: ByteBuffer) {
        state = .streaming
        decode(pending, context)
    }
}

/// Decodes the lines a connection cut, on the worker that takes them, and annotates the events with what the input
/// knew of the connection when it read them.
struct ConnectionLineDecoder: UndecodedLinesDecoder, @unchecked Sendable {
    let codec: any LineDecodingCodec
    let facts: ConnectionFacts
    let annotate: @Sendable (Event, ConnectionFacts) -> Void

    func decode(_ lines: UndecodedLines, _ emit: (Event) -> Void) {
        lines.forEachLine { line in
            codec.decodeLine(line, receivedAt: lines.receivedAt) { event in
                annotate(event, facts)
                emit(event)
            }
        }
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: Character) -> String {
        last == suffix ? String(dropLast()) : self
    }
}

/// Hands the client certificate (nil when none was presented) and the TLS version to `record` once the TLS
/// handshake is done. Sits between the TLS handler and the connection's reader, on the connection's event loop.
final class PeerCertificateHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let record: (NIOSSLCertificate?, TLSVersion?) -> Void

    init(_ record: @escaping (NIOSSLCertificate?, TLSVersion?) -> Void) {
        self.record = record
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            let version = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).tlsVersion
            let record = NIOLoopBound(record, eventLoop: context.eventLoop)
            context.channel.nioSSL_peerCertificate().whenSuccess { record.value($0, version) }
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Reads facts from a peer's certificate.
enum PeerCertificate {
    /// The subject as Java's `X500Principal.getName()` writes it, or nil when the certificate cannot be parsed.
    static func subject(_ certificate: NIOSSLCertificate) -> String? {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der) else { return nil }
        return String(describing: parsed.subject)
    }
}

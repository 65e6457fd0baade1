#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import SluiceCore

/// Reads events from UDP datagrams (Logstash's `udp` input). Each datagram is decoded and flushed on its own, so
/// events never span datagrams. `workers` sockets share the port (SO_REUSEPORT), each read on its own event loop
/// with its own codec; while the queue is full they stop reading and the kernel drops what overflows its buffer,
/// as with Logstash. `run` blocks the input's thread until the pipeline stops.
public final class UdpInput: Input, @unchecked Sendable {
    public static let name = "udp"
    public static let summary = "Reads events from UDP datagrams; one event per datagram with the plain codec."

    public struct Settings: PluginSettings {
        @Setting("host", doc: "The address to listen on.") var host = "0.0.0.0"
        @Setting("port", doc: "The port to listen on.", required: true) var port = 0
        @Setting("buffer_size", doc: "The largest datagram read, in bytes; longer ones are cut.") var bufferSize = 65536
        @Setting("receive_buffer_bytes", doc: "The socket's receive buffer (SO_RCVBUF); the system default when unset.")
        var receiveBufferBytes: Int? = nil
        @Setting("workers", doc: "Sockets reading the port, each on its own event loop with its own codec.") var workers = 2
        @Setting("queue_size", doc: "Events read and waiting for room in the pipeline's queue before reading pauses.")
        var queueSize = 2000
        @Setting("source_ip_fieldname", doc: "The field for the sender's address (default `host`, ECS `[host][ip]`).")
        var sourceIPFieldName: String? = nil

        public init() {}

        public func validate() throws(SettingsValidationError) {
            if !(1...65535).contains(port) { throw SettingsValidationError("port must be between 1 and 65535, got \(port)", setting: "port") }
            if bufferSize < 1 { throw SettingsValidationError("buffer_size must be positive", setting: "buffer_size") }
            if workers < 1 { throw SettingsValidationError("workers must be at least 1", setting: "workers") }
            if queueSize < 1 { throw SettingsValidationError("queue_size must be at least 1", setting: "queue_size") }
        }
    }

    let settings: Settings
    let context: PluginContext
    private let sourceField: FieldReference
    private let server: NetworkServer

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        let ecs = context.ecsCompatibility.isEnabled
        if let custom = settings.sourceIPFieldName, ecs {
            context.logger.warn("source_ip_fieldname => \"\(custom)\" replaces the ECS field [host][ip]")
        }
        sourceField = FieldReference(settings.sourceIPFieldName ?? (ecs ? "[host][ip]" : "host"))
        server = NetworkServer(shutdown: context.shutdown)
    }

    public var handOffCapacity: Int? { settings.queueSize }

    public func run(_ sink: EventSink) throws {
        for _ in 0..<settings.workers {
            let codec = try context.makeCodec()
            let reader = DatagramReader(codec: codec, sink: sink, logger: context.logger) { [sourceField, context] event, ip in
                context.decorate(event)
                event.setIfAbsent(sourceField, .string(ip))
            }
            do {
                let channel = try server.bindUDP(
                    host: settings.host, port: settings.port, bufferSize: settings.bufferSize, receiveBuffer: settings.receiveBufferBytes,
                    reusePort: true, reader)
                if let bytes = settings.receiveBufferBytes { checkReceiveBuffer(channel, requested: bytes) }
            } catch {
                try server.abandon(after: error)
            }
        }
        context.logger.info("Starting UDP listener {:address=>\"\(settings.host):\(settings.port)\"}")
        server.serve()
    }

    public func stop() { server.stop() }

    /// Linux doubles what it grants and caps it at `net.core.rmem_max`: warn when the result is less than asked.
    private func checkReceiveBuffer(_ channel: Channel, requested: Int) {
        guard let granted = try? channel.getOption(ChannelOptions.socketOption(.so_rcvbuf)).wait(), Int(granted) < requested else { return }
        context.logger.warn("Unable to set receive_buffer_bytes to desired size. Requested \(requested) but obtained \(granted) bytes.")
    }
}

/// Decodes the datagrams of one UDP socket with its own codec (decode, then flush, per datagram) and offers the
/// events of each read burst at once. Called on the socket's event loop only.
final class DatagramReader: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let codec: any Codec
    private let sink: EventSink
    private let logger: Logger
    private let annotate: @Sendable (Event, String) -> Void
    private var events: [Event] = []

    init(codec: any Codec, sink: EventSink, logger: Logger, annotate: @escaping @Sendable (Event, String) -> Void) {
        self.codec = codec
        self.sink = sink
        self.logger = logger
        self.annotate = annotate
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let datagram = unwrapInboundIn(data)
        let ip = datagram.remoteAddress.ipAddress ?? "unknown"
        let collect = { [self] (event: Event) in
            annotate(event, ip)
            events.append(event)
        }
        datagram.data.withUnsafeReadableBytes { raw in codec.decode(raw.bindMemory(to: UInt8.self), collect) }
        codec.flush(collect)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard !events.isEmpty else { return }
        ChannelBackPressure.offer(events, to: sink, from: context.channel)
        events = []
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.warn("UDP listener error, continuing: \(error)")
    }
}

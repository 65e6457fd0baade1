#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Reads events from standard input until end of file (Logstash's `stdin` input).
public final class StdinInput: Input, @unchecked Sendable {
    public static let name = "stdin"
    public static let summary = "Reads events from standard input; the pipeline ends at end of file."
    public static let defaultCodec = "line"
    public static let isReloadable = false

    public struct Settings: PluginSettings {
        public init() {}
    }

    let context: PluginContext
    let codec: any Codec
    let hostField: HostField
    let setOriginal: Bool
    /// ECS mode with a codec that sets no `[event][original]`: the workers' events get the whole read's text.
    let wantsReadText: Bool
    let fd: Int32

    public init(settings: Settings, context: PluginContext) throws {
        self.context = context
        codec = try StreamingCodecs.lineOriented(context.codec!, context)
        let ecs = context.ecsCompatibility.isEnabled
        hostField = HostField(ecs: ecs, ecsKey: "hostname")
        setOriginal = ecs
        wantsReadText = ecs && !((codec as? any LineDecodingCodec)?.setsOriginal ?? false)
        fd = 0
    }

    public func run(_ sink: EventSink) throws {
        if isatty(fd) != 0 { context.logger.info("The stdin plugin is now waiting for input:") }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var batch: [Event] = []
        var undecoded = undecodedLinesBuilder(sink)
        while !context.shutdown.isRequested {
            guard waitReadable() else {
                flushIfIdle(&batch, sink)
                continue
            }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            buffer.withUnsafeBufferPointer { all in
                let chunk = UnsafeBufferPointer(rebasing: all[0..<n])
                var original = RawChunk(bytes: chunk)
                if undecoded != nil {
                    let text = wantsReadText ? original.text : nil
                    undecoded!.cut(chunk, into: &batch, original: { text }) { decorate($0, &original) }
                } else {
                    codec.decode(chunk) { event in
                        decorate(event, &original)
                        batch.append(event)
                    }
                }
            }
            flushIfIdle(&batch, sink)
        }
        var none = RawChunk(bytes: nil)
        if undecoded != nil {
            undecoded!.flush(into: &batch) { decorate($0, &none) }
        } else {
            codec.flush { event in
                decorate(event, &none)
                batch.append(event)
            }
        }
        flush(&batch, sink)
    }

    /// Leaves decoding to the workers when the queue takes undecoded lines and the codec decodes line by line.
    private func undecodedLinesBuilder(_ sink: EventSink) -> UndecodedLinesBuilder? {
        guard let limit = sink.undecodedLinesLimit, let lineCodec = codec as? any LineDecodingCodec else { return nil }
        let decoder = StdinLineDecoder(codec: lineCodec, hostField: hostField, context: context)
        return UndecodedLinesBuilder(limit: limit, codec: lineCodec, decoder: decoder)
    }

    private func waitReadable() -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 200) != 0
    }

    /// Multiline's `auto_flush_interval`: the 200 ms poll is the timer's resolution.
    private func flushIfIdle(_ batch: inout [Event], _ sink: EventSink) {
        if codec.autoFlushNanoseconds != nil {
            var none = RawChunk(bytes: nil)
            codec.flushIfIdle(now: Clock.nanoseconds()) { event in
                decorate(event, &none)
                batch.append(event)
            }
        }
        flush(&batch, sink)
    }

    private func flush(_ batch: inout [Event], _ sink: EventSink) {
        guard !batch.isEmpty else { return }
        sink.push(contentsOf: batch)
        batch.removeAll(keepingCapacity: true)
    }

    private func decorate(_ event: Event, _ chunk: inout RawChunk) {
        StdinLineDecoder.decorate(event, hostField: hostField, context: context, setOriginal: setOriginal) { chunk.text }
    }
}

/// Decodes the lines stdin cut, on the worker that takes them, and decorates the events as stdin does.
struct StdinLineDecoder: UndecodedLinesDecoder, @unchecked Sendable {
    let codec: any LineDecodingCodec
    let hostField: HostField
    let context: PluginContext

    func decode(_ lines: UndecodedLines, _ emit: (Event) -> Void) {
        lines.forEachLine { line in
            codec.decodeLine(line, receivedAt: lines.receivedAt) { event in
                Self.decorate(event, hostField: hostField, context: context, setOriginal: lines.original != nil) {
                    lines.original
                }
                emit(event)
            }
        }
    }

    /// The host name, `[event][original]` = the whole read when the codec set none (ECS mode), then the input's
    /// `type`, `tags` and `add_field`.
    static func decorate(
        _ event: Event, hostField: HostField, context: PluginContext, setOriginal: Bool, original: () -> String?
    ) {
        hostField.addIfAbsent(to: event)
        if setOriginal, event.get(.eventOriginal) == nil, let text = original() {
            event.set(.eventOriginal, .string(text))
        }
        context.decorate(event)
    }
}

/// The raw chunk read from stdin, turned into a string at most once however many events it holds
/// (Logstash sets `[event][original]` to the whole chunk when the codec did not set it).
struct RawChunk {
    let bytes: UnsafeBufferPointer<UInt8>?
    private var cached: String?

    init(bytes: UnsafeBufferPointer<UInt8>?) { self.bytes = bytes }

    var text: String? {
        mutating get {
            if cached == nil, let bytes { cached = String(decoding: bytes, as: UTF8.self) }
            return cached
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Generates events from fixed lines, for testing and benchmarks (Logstash's `generator` input).
public final class GeneratorInput: Input, @unchecked Sendable {
    public static let name = "generator"
    public static let summary = "Generates events from a message or lines, `count` times (0 = forever)."

    public struct Settings: PluginSettings {
        @Setting("message", doc: "The message to generate; `stdin` reads one line from standard input instead.")
        var message = "Hello world!"
        @Setting("lines", doc: "Several messages, generated in order each iteration (overrides `message`).")
        var lines: [String]? = nil
        @Setting("count", doc: "How many iterations to generate; 0 means forever.")
        var count = 0
        @Setting("threads", doc: "Accepted for compatibility; the generator runs on one thread.")
        var threads = 1
        public init() {}
    }

    let context: PluginContext
    let lines: [String]
    let count: Int
    let hostField: HostField
    let sequenceField: FieldReference

    public init(settings: Settings, context: PluginContext) throws {
        self.context = context
        if let lines = settings.lines {
            self.lines = lines
        } else if settings.message == "stdin" {
            self.lines = [GeneratorInput.readLine() ?? ""]
        } else {
            self.lines = [settings.message]
        }
        count = settings.count
        let ecs = context.ecsCompatibility.isEnabled
        hostField = HostField(ecs: ecs, ecsKey: "name")
        sequenceField = ecs ? FieldReference("[event][sequence]") : FieldReference("sequence")
    }

    static func readLine() -> String? {
        var bytes: [UInt8] = []
        var c: UInt8 = 0
        while read(0, &c, 1) == 1 && c != 10 { bytes.append(c) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func run(_ sink: EventSink) throws {
        let codec = context.codec!
        var batch: [Event] = []
        batch.reserveCapacity(256)
        var sequence = 0
        while count == 0 || sequence < count {
            if sequence & 0xFF == 0 && context.shutdown.isRequested { break }
            for line in lines {
                codec.decode(line) { event in
                    hostField.set(on: event)
                    event.set(sequenceField, .int(sequence))
                    context.decorate(event)
                    batch.append(event)
                }
            }
            sequence += 1
            if batch.count >= 128 {
                sink.push(contentsOf: batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { sink.push(contentsOf: batch) }
    }
}

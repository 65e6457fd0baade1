/// Complete lines an input has cut from its byte stream and left for a worker to decode: one queue entry for up to
/// a batch of events, so that decoding (a `line` or `json_lines` codec, the input's decorations) runs on every
/// worker instead of on the input's one thread, and the queue moves one reference instead of one per event.
///
/// Made on the input's thread and handed over in an `Event(carrying:)`; decoded by the one worker that takes it.
/// Only the memory queue holds them (`EventSink.undecodedLinesLimit`): the persisted queue writes events, so an
/// input pushing to it decodes on its own thread as before.
public final class UndecodedLines: @unchecked Sendable {
    /// The lines, back to back, without their delimiters.
    public let bytes: [UInt8]
    /// Where each line ends in `bytes` (its start is the previous line's end).
    public let lineEnds: [Int]
    /// Turns the lines into events; shared by every entry of one input.
    public let decoder: any UndecodedLinesDecoder
    /// The text of the read these lines came from, for an input that sets `[event][original]` to it (stdin in ECS
    /// mode with a codec that does not set it), else nil.
    public let original: String?
    /// When the input read the lines: the `@timestamp` of their events (Logstash stamps an event as its input makes
    /// it, before it waits in the queue).
    public let receivedAt: Timestamp
    /// The input's metrics, which counted one event per line when the entry was pushed (set by the sink).
    var pushedBy: PluginMetrics?

    public init(
        bytes: [UInt8], lineEnds: [Int], decoder: any UndecodedLinesDecoder, original: String?, receivedAt: Timestamp = .now()
    ) {
        self.receivedAt = receivedAt
        self.bytes = bytes
        self.lineEnds = lineEnds
        self.decoder = decoder
        self.original = original
    }

    /// How many lines, which is the number of events the queue counts for the entry until a worker decodes it.
    public var lineCount: Int { lineEnds.count }

    /// Calls `body` with each line in order.
    @inlinable public func forEachLine(_ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        bytes.withUnsafeBufferPointer { all in
            var start = 0
            for end in lineEnds {
                body(UnsafeBufferPointer(rebasing: all[start..<end]))
                start = end
            }
        }
    }

    /// The events of these lines, decoded on the calling worker's thread.
    func decode(into events: inout [Event]) {
        decoder.decode(self) { events.append($0) }
    }
}

/// Decodes an input's `UndecodedLines` into events. Called on worker threads, several at once, so it may only read
/// state shared between them (codec settings, the host name, the input's decorations).
public protocol UndecodedLinesDecoder: Sendable {
    /// Emits the events of `lines`, in order, decorated as the input decorates its events.
    func decode(_ lines: UndecodedLines, _ emit: (Event) -> Void)
}

extension Event {
    /// A queue entry that carries undecoded lines instead of fields (see `UndecodedLines`); never seen by filters.
    public convenience init(carrying lines: UndecodedLines) {
        self.init(emptyFields: ())
        undecoded = lines
    }

    /// The entry's weight in the queue: the events it stands for (one, or its lines until decoded).
    var queueWeight: Int { undecoded?.lineCount ?? 1 }
}

extension [Event] {
    /// The events these entries stand for: one each, or an `UndecodedLines` entry's lines.
    var queueWeight: Int { reduce(0) { $0 + $1.queueWeight } }
}

extension QueueBatch {
    /// The batch with every entry of undecoded lines replaced by its events, decoded on this worker's thread. The
    /// queue and the ledger counted one event per line; the difference (a blank `json_lines` line makes none, an
    /// array several) is settled here, so that events in = events out + in flight holds.
    func decodingLines(ledger: PipelineLedger, metrics: PipelineMetrics?) -> QueueBatch {
        var events: [Event] = []
        events.reserveCapacity(self.events.queueWeight)
        var difference = 0
        for entry in self.events {
            guard let lines = entry.undecoded else {
                events.append(entry)
                continue
            }
            let before = events.count
            lines.decode(into: &events)
            let made = events.count - before - lines.lineCount
            if made != 0 { lines.pushedBy?.recordPushed(made, nanoseconds: 0) }
            difference += made
        }
        if difference != 0 {
            ledger.accepted.add(difference, ordering: .relaxed)
            ledger.processing.add(difference, ordering: .relaxed)
            metrics?.eventsIn.add(difference, ordering: .relaxed)
        }
        return QueueBatch(events: events, hasAcknowledgements: hasAcknowledgements)
    }
}

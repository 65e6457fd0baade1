#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Reads the events another pipeline wrote to its dead letter queue, for repair pipelines
/// (Logstash's `dead_letter_queue` input). Each event carries `[@metadata][dead_letter_queue]` with `entry_time`,
/// `plugin_id`, `plugin_type` and `reason`, and is never written to a DLQ again.
///
/// The read position is committed (and, with `clean_consumed`, segments deleted) only up to events that are
/// safe: written to the persisted queue, or delivered by every output with the memory queue. A crash replays
/// what was not yet safe; it never skips it. Runs on its own thread; the last commit happens in `close`.
public final class DeadLetterQueueInput: Input, @unchecked Sendable {
    public static let name = "dead_letter_queue"
    public static let summary = "Reads a pipeline's dead letter queue, resuming where it stopped."

    public struct Settings: PluginSettings {
        @Setting("path", doc: "The DLQ root directory (`path.dead_letter_queue` of the writing process).", required: true)
        var path = ""
        @Setting("pipeline_id", doc: "The id of the pipeline whose DLQ is read.")
        var pipelineID = "main"
        @Setting("commit_offsets", doc: "Persist the read position so a restart resumes after the last event read.")
        var commitOffsets = true
        @Setting("start_timestamp", doc: "Read only entries that entered the DLQ at or after this ISO-8601 time.")
        var startTimestamp: String? = nil
        @Setting("clean_consumed", doc: "Delete segments once every entry in them was read (requires commit_offsets).")
        var cleanConsumed = false
        @Setting("sincedb_path", doc: "Where the read position is kept; default under `<path.data>/plugins/inputs/dead_letter_queue/`.")
        var sincedbPath: String? = nil
        @Setting("exit_at_end", doc: "Sluice extension: stop once everything present was read, so a repair run drains the queue and exits.")
        var exitAtEnd = false
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if cleanConsumed && !commitOffsets {
                throw SettingsValidationError("clean_consumed requires commit_offsets to be true", setting: "clean_consumed")
            }
            if let startTimestamp, Timestamp.parseISO8601(startTimestamp) == nil {
                throw SettingsValidationError(
                    "start_timestamp must be an ISO-8601 time such as 2026-11-22T10:00:00Z, got \"\(startTimestamp)\"",
                    setting: "start_timestamp")
            }
        }
    }

    let settings: Settings
    let context: PluginContext
    let sincedbPath: String?
    let stopRequested = ShutdownFlag()
    static let batchSize = 125
    /// Read positions pushed and not yet safe, in order.
    let acknowledgements = AcknowledgementTracker<DeadLetterQueuePosition>()
    private let commitLock = Lock()
    private var reader: DeadLetterQueueReader?
    private var committed: DeadLetterQueuePosition?

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        if settings.commitOffsets {
            sincedbPath = settings.sincedbPath ?? DeadLetterQueueSinceDB.defaultPath(
                dataPath: context.dataPath, pipelineID: context.pipelineID, pathOption: settings.path)
        } else {
            sincedbPath = nil
        }
    }

    public func stop() { stopRequested.request() }

    var stopping: Bool { stopRequested.isRequested || context.shutdown.isRequested }

    public func run(_ sink: EventSink) throws {
        let logger = context.logger
        let reader = try DeadLetterQueueReader(
            path: settings.path, pipelineID: settings.pipelineID, cleanConsumed: settings.cleanConsumed,
            warningHandler: { logger.warn("\($0)") })
        commitLock.withLock { self.reader = reader }
        position(reader)
        var batch: [Event] = []
        batch.reserveCapacity(Self.batchSize)
        while !stopping {
            while batch.count < Self.batchSize, let record = reader.nextRecord() {
                let event = record.entry.eventForReplay()
                context.decorate(event)
                batch.append(event)
            }
            if batch.isEmpty {
                if settings.exitAtEnd { break }
                usleep(200_000)
                continue
            }
            sink.push(contentsOf: batch, acknowledgement: acknowledgements.register(reader.position, events: batch.count))
            batch.removeAll(keepingCapacity: true)
            commitSafePosition()
        }
        waitForAcknowledgements()
        commitSafePosition()
    }

    /// With `exit_at_end`, the input ends only once what it pushed is safe (or shutdown was asked), so that its
    /// last position is committed; `close` commits whatever arrives later.
    private func waitForAcknowledgements() {
        while acknowledgements.outstanding > 0 && !context.shutdown.isRequested { usleep(20_000) }
    }

    public func close() {
        commitSafePosition()
        commitLock.withLock {
            reader?.close()
            reader = nil
        }
    }

    /// Resumes from the sincedb when there is one, otherwise seeks to `start_timestamp`.
    private func position(_ reader: DeadLetterQueueReader) {
        if let sincedbPath, let saved = try? DeadLetterQueueSinceDB.read(from: sincedbPath), let position = saved.position {
            reader.seek(to: position)
            return
        }
        if let text = settings.startTimestamp, let time = Timestamp.parseISO8601(text) {
            _ = reader.seek(toFirstEntryAtOrAfter: time)
        }
    }

    /// Persists the furthest safe read position and, with `clean_consumed`, deletes the segments before it.
    private func commitSafePosition() {
        guard let sincedbPath, let position = acknowledgements.safe else { return }
        commitLock.withLock {
            guard let reader, position != committed else { return }
            let record = DeadLetterQueueSinceDB(segmentPath: reader.segmentPath(position.segmentID), offset: Int64(position.offset))
            do {
                if let slash = sincedbPath.lastIndex(of: "/") { FileSystem.makeDirectories(String(sincedbPath[..<slash])) }
                try record.write(to: sincedbPath)
                committed = position
                if settings.cleanConsumed { _ = try reader.deleteSegments(before: position.segmentID) }
            } catch {
                context.logger.rateLimited(.error, key: "commit", "Cannot commit the DLQ read position to \(sincedbPath): \(error)")
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Writes the persisted queue's checkpoints that writes and acknowledgements trigger on a thread of its own, so
/// that the fsyncs and the new file each checkpoint takes (Logstash's write-then-rename) stay off the threads that
/// push and acknowledge, and out of the queue's lock.
///
/// Requests coalesce per file: a newer checkpoint replaces one of the same name not yet written, since each
/// supersedes the last. This only delays what a checkpoint advertises — the head page is recovered past its
/// checkpoint by a checksummed scan, and a late acknowledgement checkpoint only replays events (at-least-once).
/// Callers that need a file on disk now (a page roll, a fully acknowledged page, shutdown) call `drain()` first
/// and then write synchronously. `request` and `drain` are called under the queue's lock; the writer thread never
/// takes that lock.
final class CheckpointWriter: @unchecked Sendable {
    /// What to write: the checkpoint, its file name, and the page file to sync first when the checkpoint
    /// advertises new elements.
    private struct Request {
        let name: String
        let checkpoint: QueueCheckpoint
        let syncing: QueuePageFile?
    }

    private let directory: String
    private let retry: Bool
    private let logger: Logger
    /// Guards what follows; its one condition is "something changed".
    private let state = Lock(conditions: 1)
    /// At most one request per file name, in the order first requested.
    private var pending: [Request] = []
    private var writing = false
    private var stopped = false
    private var thread: Thread?
    /// The last write's failure, nil once one succeeds (under `mutex`).
    private var failure: String?

    init(directory: String, retry: Bool, logger: Logger) {
        self.directory = directory
        self.retry = retry
        self.logger = logger
    }

    /// Queues `checkpoint` for writing as `name` (replacing one of that name still waiting); `syncing` is synced
    /// before it is written.
    func request(_ checkpoint: QueueCheckpoint, name: String = "checkpoint.head", syncing file: QueuePageFile?) {
        state.lock()
        guard !stopped else {
            state.unlock()
            return
        }
        if thread == nil {
            do {
                thread = try Thread(name: "pq-checkpoint") { [self] in run() }
            } catch {
                // Without the thread the checkpoint is written here, synchronously, as `checkpoint.writes: 1` does.
                logger.rateLimited(.error, key: "pq-checkpoint-thread", "\(error); the head checkpoint is written synchronously")
                state.unlock()
                let outcome = write(Request(name: name, checkpoint: checkpoint, syncing: file))
                state.withLock { failure = outcome }
                return
            }
        }
        if let i = pending.firstIndex(where: { $0.name == name }) {
            pending[i] = Request(name: name, checkpoint: checkpoint, syncing: file ?? pending[i].syncing)
        } else {
            pending.append(Request(name: name, checkpoint: checkpoint, syncing: file))
        }
        state.broadcast()
        state.unlock()
    }

    /// Waits until every requested checkpoint is written (after `stop`, what is still requested is dropped: the
    /// caller writes the head checkpoint itself).
    func drain() {
        state.lock()
        while (!pending.isEmpty && !stopped) || writing { state.wait() }
        state.unlock()
    }

    /// Writes what is pending, then ends the thread.
    func stop() {
        drain()
        state.lock()
        stopped = true
        state.broadcast()
        let running = thread
        state.unlock()
        running?.join()
    }

    private func run() {
        state.lock()
        while true {
            while pending.isEmpty && !stopped { state.wait() }
            if pending.isEmpty { break }
            let requests = pending
            pending.removeAll(keepingCapacity: true)
            writing = true
            state.unlock()
            var outcome: String?
            for request in requests { outcome = write(request) ?? outcome }
            state.lock()
            failure = outcome
            writing = false
            state.broadcast()
        }
        state.unlock()
    }

    /// The last write's failure, if it failed (the queue's `last_error`).
    var lastFailure: String? {
        state.lock()
        defer { state.unlock() }
        return failure
    }

    /// Writes one checkpoint; the error message when it failed (logged here; the next request tries again).
    private func write(_ request: Request) -> String? {
        var message: String?
        if let file = request.syncing, !file.sync() {
            message = "Cannot write \(request.name) of \(directory): cannot sync page \(file.path)"
        } else {
            do {
                try request.checkpoint.write(directory, request.name, retry: retry)
            } catch {
                message = "Cannot write \(request.name) of \(directory): \(error)"
            }
        }
        if let message { logger.rateLimited(.error, key: "pq-checkpoint", message) }
        return message
    }
}

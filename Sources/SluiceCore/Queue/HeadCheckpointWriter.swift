#if canImport(Glibc)
import Glibc
#endif

/// Writes the persisted queue's head checkpoint on a thread of its own, so that the fsyncs and the new file each
/// checkpoint takes (Logstash's write-then-rename) stay off the threads that push and acknowledge, and out of the
/// queue's lock.
///
/// Requests coalesce: a newer head checkpoint replaces one not yet written, since each supersedes the last. This
/// only delays what the checkpoint advertises — the head page is recovered past its checkpoint by a checksummed
/// scan, and a late acknowledgement checkpoint only replays events (at-least-once). Callers that need the file on
/// disk now (a page roll, shutdown) call `drain()` first and then write synchronously. `request` and `drain` are
/// called under the queue's lock; the writer thread never takes that lock.
final class HeadCheckpointWriter: @unchecked Sendable {
    /// What to write: the checkpoint, and the page file to sync first when the checkpoint advertises new elements.
    private struct Request {
        let checkpoint: QueueCheckpoint
        let syncing: QueuePageFile?
    }

    private let directory: String
    private let retry: Bool
    private let logger: Logger
    /// Guards what follows; its one condition is "something changed".
    private let state = Lock(conditions: 1)
    private var pending: Request?
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

    /// Queues `checkpoint` for writing (replacing one still waiting); `syncing` is synced before it is written.
    func request(_ checkpoint: QueueCheckpoint, syncing file: QueuePageFile?) {
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
                let outcome = write(Request(checkpoint: checkpoint, syncing: file))
                state.withLock { failure = outcome }
                return
            }
        }
        let keepSync = pending?.syncing ?? file
        pending = Request(checkpoint: checkpoint, syncing: file ?? keepSync)
        state.broadcast()
        state.unlock()
    }

    /// Waits until every requested checkpoint is written (after `stop`, what is still requested is dropped: the
    /// caller writes the head checkpoint itself).
    func drain() {
        state.lock()
        while (pending != nil && !stopped) || writing { state.wait() }
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
            while pending == nil && !stopped { state.wait() }
            guard let request = pending else { break }
            pending = nil
            writing = true
            state.unlock()
            let outcome = write(request)
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
            message = "Cannot write the head checkpoint of \(directory): cannot sync page \(file.path)"
        } else {
            do {
                try request.checkpoint.write(directory, "checkpoint.head", retry: retry)
            } catch {
                message = "Cannot write the head checkpoint of \(directory): \(error)"
            }
        }
        if let message { logger.rateLimited(.error, key: "pq-checkpoint", message) }
        return message
    }
}

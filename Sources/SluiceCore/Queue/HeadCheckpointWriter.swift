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
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()
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
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
    }

    deinit {
        pthread_mutex_destroy(&mutex)
        pthread_cond_destroy(&changed)
    }

    /// Queues `checkpoint` for writing (replacing one still waiting); `syncing` is synced before it is written.
    func request(_ checkpoint: QueueCheckpoint, syncing file: QueuePageFile?) {
        pthread_mutex_lock(&mutex)
        guard !stopped else {
            pthread_mutex_unlock(&mutex)
            return
        }
        if thread == nil { thread = Thread(name: "pq-checkpoint") { [self] in run() } }
        let keepSync = pending?.syncing ?? file
        pending = Request(checkpoint: checkpoint, syncing: file ?? keepSync)
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
    }

    /// Waits until every requested checkpoint is written (after `stop`, what is still requested is dropped: the
    /// caller writes the head checkpoint itself).
    func drain() {
        pthread_mutex_lock(&mutex)
        while (pending != nil && !stopped) || writing { pthread_cond_wait(&changed, &mutex) }
        pthread_mutex_unlock(&mutex)
    }

    /// Writes what is pending, then ends the thread.
    func stop() {
        drain()
        pthread_mutex_lock(&mutex)
        stopped = true
        pthread_cond_broadcast(&changed)
        let running = thread
        pthread_mutex_unlock(&mutex)
        running?.join()
    }

    private func run() {
        pthread_mutex_lock(&mutex)
        while true {
            while pending == nil && !stopped { pthread_cond_wait(&changed, &mutex) }
            guard let request = pending else { break }
            pending = nil
            writing = true
            pthread_mutex_unlock(&mutex)
            let outcome = write(request)
            pthread_mutex_lock(&mutex)
            failure = outcome
            writing = false
            pthread_cond_broadcast(&changed)
        }
        pthread_mutex_unlock(&mutex)
    }

    /// The last write's failure, if it failed (the queue's `last_error`).
    var lastFailure: String? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
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

#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Read mode's end of a file: the last partial line, gzip files, and `file_completed_action` once the file's events
/// are safe. Runs on the file input's thread (and from `close`, after that thread has ended).
extension FileInput {
    /// Read mode at the end of a file: the partial last line and the codec's remainder become events, the file is
    /// closed, and its completed action waits until those events are safe.
    func completeRead(_ file: WatchedFile) {
        var events: [Event] = []
        file.feedRemainder(into: &events) { finish($0, file) }
        file.flushCodec(into: &events) { finish($0, file) }
        deliver(file, events)
        file.closeFile()
        file.state = .done
        stateLock.withLock { completing.append(file) }
    }

    /// Read mode's gzip files: decompressed in one go (a read cannot resume inside one), then recorded at their
    /// size and completed like any other file. A damaged file is logged and left alone; with
    /// `check_archive_validity` it is checked in full before any line is read.
    func readGzip(_ file: WatchedFile, size: Int) {
        if settings.checkArchiveValidity && !GzipLines.isValid(file.path) {
            logger.warn("Detected corrupted archive \(file.path) file won't be processed")
            file.state = .done
            return
        }
        var events: [Event] = []
        do {
            let finished = try GzipLines.read(file.path, stopping: { stopping }) { line in
                file.codec.decode(line) { event in
                    finish(event, file)
                    events.append(event)
                }
                if events.count >= 125 {
                    deliver(file, events)
                    events.removeAll(keepingCapacity: true)
                }
            }
            guard finished else {
                deliver(file, events)
                return
            }
            file.codec.flush { event in
                finish(event, file)
                events.append(event)
            }
            file.markRead(upTo: size)
            deliver(file, events)
            file.state = .done
            stateLock.withLock { completing.append(file) }
        } catch {
            deliver(file, events)
            logger.error("Cannot decompress the gzip file at path: \(file.path): \(error)")
            file.state = .done
        }
    }

    /// Runs `file_completed_action` for completed files whose events are all safe (under `stateLock`).
    func runCompletedActions() {
        completing.removeAll { file in
            guard let entry = file.entry else { return true }
            entry.refresh()
            if entry.hasOutstanding { return false }
            if let completedLogPath { FileInput.append(file.path + "\n", to: completedLogPath, logger) }
            if settings.fileCompletedAction != .log {
                if unlink(file.path) != 0 {
                    logger.warn("cannot delete the completed file \(file.path): \(String(cString: strerror(errno)))")
                } else if watched[file.path] === file {
                    // A new file at this path is read again, as after Logstash's delete handler.
                    watched[file.path] = nil
                }
            }
            return true
        }
    }

    static func append(_ text: String, to path: String, _ logger: Logger) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            logger.rateLimited(.error, key: "completed_log", "cannot append to file_completed_log_path \(path): \(String(cString: strerror(errno)))")
            return
        }
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        Glibc.close(fd)
    }
}

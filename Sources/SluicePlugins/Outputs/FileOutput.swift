#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Appends encoded events to files whose path is a sprintf template (Logstash's `file` output).
public final class FileOutput: Output, @unchecked Sendable {
    public static let name = "file"
    public static let summary = "Writes events to files named by a sprintf path, one JSON line per event by default."
    public static let defaultCodec = "json_lines"

    public enum WriteBehavior: String, SettingEnum { case append, overwrite }

    public struct Settings: PluginSettings {
        @Setting("path", doc: "The file to write; may use sprintf references such as `%{+YYYY-MM-dd}`.", required: true)
        var path = Template("")
        @Setting("write_behavior", doc: "`append` to existing files or `overwrite` them on each batch.")
        var writeBehavior = WriteBehavior.append
        @Setting("create_if_deleted", doc: "Re-create a file that was deleted while open; when false, such events go to `filename_failure`.")
        var createIfDeleted = true
        @Setting("dir_mode", doc: "Mode of created directories (-1: the system default).")
        var dirMode = -1
        @Setting("file_mode", doc: "Mode of created files (-1: the system default).")
        var fileMode = -1
        @Setting("filename_failure", doc: "File under the path's fixed directory that takes events whose generated path leaves that directory or is invalid.")
        var filenameFailure = "_filepath_failures"
        @Setting("flush_interval", doc: "Seconds between flushes (0: every event). Sluice writes each batch before acknowledging it, within any interval.")
        var flushInterval = 2
        @Setting("stale_cleanup_interval", doc: "Seconds after which files that received no event are closed.")
        var staleCleanupInterval = 10
        @Setting("gzip", doc: "Gzip the output (not supported by Sluice).")
        var gzip = false
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if gzip { throw SettingsValidationError("gzip => true is not supported by Sluice's file output", setting: "gzip") }
            if flushInterval < 0 { throw SettingsValidationError("flush_interval must be 0 or more seconds", setting: "flush_interval") }
            if staleCleanupInterval < 0 {
                throw SettingsValidationError("stale_cleanup_interval must be 0 or more seconds", setting: "stale_cleanup_interval")
            }
            if let first = path.source.split(separator: "/").first, first.contains("%{") {
                throw SettingsValidationError("The starting part of the path should not be dynamic.", setting: "path")
            }
            if filenameFailure.contains("/") || filenameFailure.isEmpty || filenameFailure == ".." {
                throw SettingsValidationError("filename_failure must be a plain file name", setting: "filename_failure")
            }
        }
    }

    /// An open file, whether it was written since the last stale-file sweep, and when it was last used (a
    /// counter of uses, for closing the least recently used files when descriptors run out).
    struct OpenFile {
        let fd: Int32
        var active: Bool
        var lastUse: UInt64
    }

    let path: Template
    let paths: FileOutputPaths
    let overwrite: Bool
    let createIfDeleted: Bool
    let dirMode: mode_t
    let fileMode: mode_t
    let staleCleanupNanos: Int
    let codec: any Codec
    let context: PluginContext
    let logger: Logger
    let lock = Lock()
    var files: [String: OpenFile] = [:]
    var lastSweep = Clock.nanoseconds()
    var uses: UInt64 = 0

    public init(settings: Settings, context: PluginContext) throws {
        path = settings.path
        paths = FileOutputPaths(pattern: settings.path.source, filenameFailure: settings.filenameFailure)
        overwrite = settings.writeBehavior == .overwrite
        createIfDeleted = settings.createIfDeleted
        dirMode = settings.dirMode < 0 ? 0o755 : mode_t(settings.dirMode)
        fileMode = settings.fileMode < 0 ? 0o644 : mode_t(settings.fileMode)
        staleCleanupNanos = settings.staleCleanupInterval * 1_000_000_000
        codec = context.codec!
        self.context = context
        logger = context.logger
    }

    /// Encodes the batch per target file and writes each file's bytes at once. A write that fails is retried
    /// with back-off until it succeeds or the pipeline stops; then its events are `retryLater` (persisted queue)
    /// or dead-lettered, never counted as written.
    public func receive(_ events: [Event]) -> OutputOutcome {
        var groups: [String: (bytes: [UInt8], events: [Event])] = [:]
        var order: [String] = []
        for e in events {
            let p = target(for: e)
            if groups[p] == nil { order.append(p) }
            codec.encode(e, into: &groups[p, default: ([], [])].bytes)
            groups[p]!.events.append(e)
        }
        var outcome = OutputOutcome()
        for p in order {
            let group = groups[p]!
            if !writeRetrying(group.bytes, to: p) { giveUp(group.events, path: p, &outcome) }
        }
        lock.withLock { closeStaleFiles() }
        return outcome
    }

    /// The file an event goes to: its rendered path, or the failure file when that path leaves the fixed
    /// directory, holds a control character, or names a deleted file and `create_if_deleted` is false.
    func target(for event: Event) -> String {
        if let fixed = paths.staticTarget { return fixed }
        let rendered = path.render(event)
        guard let inside = paths.resolveInsideRoot(rendered) else {
            logger.rateLimited(.warn, key: "outside_root",
                "File: the event tried to write outside the files root, writing the event to the failure file {:event_path=>\(Ruby.inspect(string: rendered)), :filename=>\"\(paths.failurePath)\"}")
            return paths.failurePath
        }
        if !createIfDeleted && !SystemCalls.exists(inside) && lock.withLock({ files[inside] != nil }) {
            return paths.failurePath
        }
        return inside
    }

    private func writeRetrying(_ bytes: [UInt8], to p: String) -> Bool {
        var interval = 0.1
        while true {
            if lock.withLock({ write(bytes, to: p) }) { return true }
            if !RetryPolicy.sleep(interval, shouldStop: { context.shutdown.isRequested }) { return false }
            interval = min(interval * 2, 10)
        }
    }

    /// Shutdown ended the retries: the events stay in the persisted queue, go to the DLQ, or are reported lost.
    private func giveUp(_ events: [Event], path p: String, _ outcome: inout OutputOutcome) {
        UndeliveredAtShutdown.record(events, context: context, what: "written to \(p)", into: &outcome)
    }

    /// One attempt; a failed append is cut back so a retry does not leave half a line.
    private func write(_ bytes: [UInt8], to p: String) -> Bool {
        guard let fd = handle(for: p) else { return false }
        let before = overwrite ? -1 : lseek(fd, 0, SEEK_END)
        guard FileDescriptorWriter.writeAll(fd, bytes) else {
            logger.rateLimited(.error, key: "write:" + p, "Failed to write to \(p): \(SystemCalls.lastError); will retry")
            if before >= 0 { _ = ftruncate(fd, before) }
            closeFile(p)
            return false
        }
        if overwrite { closeFile(p) } else { files[p]?.active = true }
        return true
    }

    private func handle(for p: String) -> Int32? {
        uses += 1
        if files[p] != nil, SystemCalls.exists(p) {
            files[p]!.lastUse = uses
            return files[p]!.fd
        }
        closeFile(p)
        if let slash = p.lastIndex(of: "/"), slash != p.startIndex {
            _ = SystemCalls.makeDirectories(String(p[..<slash]), mode: dirMode)
        }
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_APPEND)
        var fd = SystemCalls.open(p, flags: flags, mode: fileMode)
        // Out of descriptors (the process's or the system's): the least recently used quarter of this output's
        // files are closed and the open tried again, so that many paths never stall on one open.
        while fd < 0 && SystemCalls.lastErrorIsDescriptorShortage && !files.isEmpty {
            let closing = max(1, files.count / 4)
            logger.rateLimited(.warn, key: "descriptors",
                "Out of file descriptors opening \(p) with \(files.count) files open: closing the \(closing) least recently used")
            for (path, _) in files.sorted(by: { $0.value.lastUse < $1.value.lastUse }).prefix(closing) { closeFile(path) }
            fd = SystemCalls.open(p, flags: flags, mode: fileMode)
        }
        guard fd >= 0 else {
            logger.rateLimited(.error, key: "open:" + p, "Failed to open \(p) for writing: \(SystemCalls.lastError); will retry")
            return nil
        }
        files[p] = OpenFile(fd: fd, active: true, lastUse: uses)
        return fd
    }

    private func closeFile(_ p: String) {
        if let open = files.removeValue(forKey: p) { SystemCalls.close(open.fd) }
    }

    /// Logstash's `close_stale_files`: every `stale_cleanup_interval`, files not written since the last sweep are
    /// closed and the others marked for the next one.
    private func closeStaleFiles() {
        let now = Clock.nanoseconds()
        guard now - lastSweep >= staleCleanupNanos else { return }
        lastSweep = now
        for (p, open) in files {
            if open.active { files[p]!.active = false } else { closeFile(p) }
        }
    }

    public func close() {
        lock.withLock {
            for open in files.values { SystemCalls.close(open.fd) }
            files.removeAll()
        }
    }
}

/// The file output's path rules (Logstash's `file_root`, `inside_file_root?`, `failure_path`): a path with field
/// references may only resolve inside its fixed leading directories. Built once at start-up; relative paths are
/// resolved against the working directory of that moment.
struct FileOutputPaths: Sendable {
    /// The leading directories before the first part with a `%{…}` reference, normalised.
    let root: String
    let failurePath: String
    /// The one file of a path without references, normalised once.
    let staticTarget: String?
    private let workingDirectory: String

    init(pattern: String, filenameFailure: String) {
        workingDirectory = FileSystem.currentDirectory
        let absolute = FileOutputPaths.normalize(pattern, in: workingDirectory)
        let parts = absolute.split(separator: "/", omittingEmptySubsequences: false)
        root = parts.prefix { !$0.contains("%{") }.joined(separator: "/")
        failurePath = root + "/" + filenameFailure
        staticTarget = pattern.contains("%{") ? nil : absolute
    }

    /// The rendered path made absolute and normalised, or nil when it leaves `root` or holds a control character.
    func resolveInsideRoot(_ rendered: String) -> String? {
        if rendered.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return nil }
        let target = FileOutputPaths.normalize(rendered, in: workingDirectory)
        return target.hasPrefix(root + "/") ? target : nil
    }

    /// Ruby's `File.expand_path`: relative to `directory`, `.` and `..` resolved, repeated slashes collapsed
    /// (symbolic links are not followed).
    static func normalize(_ path: String, in directory: String) -> String {
        let full = path.hasPrefix("/") ? path : directory + "/" + path
        var stack: [Substring] = []
        for part in full.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": if !stack.isEmpty { stack.removeLast() }
            default: stack.append(part)
            }
        }
        return "/" + stack.joined(separator: "/")
    }
}

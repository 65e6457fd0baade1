#if canImport(Glibc)
import Glibc
#endif
import SluiceCore

/// Reads lines from files (Logstash's `file` input 4.4.x): `tail` follows files as they grow, `read` reads each
/// file (gzip files decompressed) once to its end and then logs and/or deletes it.
///
/// Files are found by globbing `path` (first at start, then every `discover_interval` loops) and known by
/// inode and device, so renames (rotation) and copy-truncate are followed. Each line (split on `delimiter`) goes
/// through the path's own codec. The sincedb records, in Logstash's format, how far each file was read — but only
/// up to lines whose events are safe (written to the persisted queue, or delivered with the memory queue), so a
/// crash re-reads what was in flight and never skips it. Runs on its own thread; the last sincedb write happens
/// in `close`, once the pipeline has drained.
public final class FileInput: Input, @unchecked Sendable {
    public static let name = "file"
    public static let summary = "Follows or reads files matching glob paths, remembering positions in a sincedb."

    /// `mode`: follow files as they grow, or read each once.
    public enum Mode: String, SettingEnum { case tail, read }
    /// `start_position` of files found at start-up in tail mode.
    public enum StartPosition: String, SettingEnum { case beginning, end }
    /// `file_completed_action` in read mode.
    public enum CompletedAction: String, SettingEnum {
        case delete, log
        case logAndDelete = "log_and_delete"
    }
    /// `file_sort_by`: the order files are read in.
    public enum SortBy: String, SettingEnum {
        case lastModified = "last_modified"
        case path
    }
    /// `file_sort_direction`.
    public enum SortDirection: String, SettingEnum { case asc, desc }

    public struct Settings: PluginSettings {
        @Setting("path", doc: "Absolute paths or globs (`*`, `?`, `[…]`, `{a,b}`, `**` for any depth) of the files to read.", required: true)
        var path: [String] = []
        @Setting("exclude", doc: "Glob patterns matched against the file name (not the full path) of files to skip.")
        var exclude: [String] = []
        @Setting("mode", doc: "`tail` follows files as they grow; `read` reads each file once, then applies `file_completed_action`.")
        var mode = Mode.tail
        @Setting("start_position", doc: "Where tail mode starts in a file seen for the first time at start-up (`beginning` or `end`); files found later start at the beginning.")
        var startPosition = StartPosition.end
        @Setting("sincedb_path", doc: "Where read positions are kept; default `<path.data>/plugins/inputs/file/.sincedb_<md5 of the paths>`. `/dev/null` keeps none.")
        var sincedbPath: String? = nil
        @Setting("sincedb_write_interval", doc: "How often the sincedb is written (a number of seconds or a duration such as \"15 s\").")
        var sincedbWriteInterval: FriendlyDuration<Seconds> = 15
        @Setting("sincedb_clean_after", doc: "Records of files inactive this long are dropped (a number of days or a duration).")
        var sincedbCleanAfter: FriendlyDuration<Days> = 14
        @Setting("stat_interval", doc: "How long to wait between checks of the files for new data (seconds or a duration).")
        var statInterval: FriendlyDuration<Seconds> = 1
        @Setting("discover_interval", doc: "Look for new files every this many `stat_interval` loops.")
        var discoverInterval = 15
        @Setting("close_older", doc: "Tail mode: close a fully read file after this long without new data; it is reopened when it grows.")
        var closeOlder = FriendlyDuration<Seconds>(seconds: 3600)
        @Setting("ignore_older", doc: "Skip the existing contents of files not modified for this long when they are found.")
        var ignoreOlder: FriendlyDuration<Seconds>? = nil
        @Setting("max_open_files", doc: "The most files open at once (default 4095); others wait until some are closed.")
        var maxOpenFiles: Int? = nil
        @Setting("delimiter", doc: "The line delimiter.")
        var delimiter = "\n"
        @Setting("file_chunk_size", doc: "Bytes read from a file at a time.")
        var fileChunkSize = 32768
        @Setting("file_chunk_count", doc: "Chunks read from one file before moving to the next (default: until the end).")
        var fileChunkCount = 4_611_686_018_427_387_903
        @Setting("file_sort_by", doc: "The order files are read in: `last_modified` or `path`.")
        var fileSortBy = SortBy.lastModified
        @Setting("file_sort_direction", doc: "`asc` or `desc` for `file_sort_by`.")
        var fileSortDirection = SortDirection.asc
        @Setting("file_completed_action", doc: "Read mode: what to do with a file read to its end: `delete`, `log` (append its path to `file_completed_log_path`) or `log_and_delete`.")
        var fileCompletedAction = CompletedAction.delete
        @Setting("file_completed_log_path", doc: "The file completed paths are appended to (created if missing).")
        var fileCompletedLogPath: String? = nil
        @Setting("exit_after_read", doc: "Read mode: stop once every file found at start-up was read (no further discovery).")
        var exitAfterRead = false
        @Setting("check_archive_validity", doc: "Read mode: decompress gzip files once in full to check them before reading their lines.")
        var checkArchiveValidity = false
        public init() {}

        public func validate() throws(SettingsValidationError) {
            for p in path where !p.hasPrefix("/") {
                throw SettingsValidationError("File paths must be absolute, relative path specified: \(p)", setting: "path")
            }
            if mode == .tail && exitAfterRead {
                throw SettingsValidationError("The \"exit_after_read\" setting only works when the \"mode\" is set to \"read\"", setting: "exit_after_read")
            }
            if fileCompletedAction != .delete && fileCompletedLogPath == nil {
                throw SettingsValidationError(
                    "The \"file_completed_log_path\" setting must be provided when the \"file_completed_action\" is set to \"log\" or \"log_and_delete\"",
                    setting: "file_completed_log_path")
            }
            if delimiter.isEmpty { throw SettingsValidationError("delimiter must not be empty", setting: "delimiter") }
            if fileChunkSize <= 0 { throw SettingsValidationError("file_chunk_size must be positive", setting: "file_chunk_size") }
            if fileChunkCount <= 0 { throw SettingsValidationError("file_chunk_count must be positive", setting: "file_chunk_count") }
            if discoverInterval <= 0 { throw SettingsValidationError("discover_interval must be positive", setting: "discover_interval") }
            if let maxOpenFiles, maxOpenFiles <= 0 {
                throw SettingsValidationError("max_open_files must be positive", setting: "max_open_files")
            }
        }
    }

    let settings: Settings
    let context: PluginContext
    let logger: Logger
    let discovery: FileDiscovery
    let delimiter: [UInt8]
    let readBudget: Int
    let maxOpenFiles: Int
    let completedLogPath: String?
    let hostField: HostField
    let pathField: FieldReference
    let host: Value
    let stopRequested = ShutdownFlag()
    let wake = Semaphore()
    /// Guards the state `close` touches after `run` has ended (sincedb table, pending completions).
    let stateLock = Lock()

    var sink: EventSink?
    var sincedb: FileSinceDB
    var entries: [FileKey: SinceDBEntry] = [:]
    var watched: [String: WatchedFile] = [:]
    /// Read-mode files read to their end, waiting for their events to be safe before `file_completed_action`.
    var completing: [WatchedFile] = []
    var buffer: [UInt8]
    /// Set once `run` has read the sincedb: only then may it be written (a pipeline that never ran must not
    /// overwrite it with an empty table).
    var loaded = false
    /// When the sincedb was last written (monotonic nanoseconds).
    var lastSincedbWrite = Clock.nanoseconds()

    public init(settings: Settings, context: PluginContext) throws {
        self.settings = settings
        self.context = context
        logger = context.logger
        discovery = FileDiscovery(patterns: settings.path, exclude: settings.exclude)
        delimiter = Array(settings.delimiter.utf8)
        let (product, overflow) = settings.fileChunkSize.multipliedReportingOverflow(by: settings.fileChunkCount)
        readBudget = overflow ? Int.max : product
        maxOpenFiles = settings.maxOpenFiles ?? 4095
        let ecs = context.ecsCompatibility.isEnabled
        hostField = HostField(ecs: ecs, ecsKey: "name")
        pathField = ecs ? FieldReference("[log][file][path]") : FieldReference("path")
        host = .string(System.hostname)
        buffer = [UInt8](repeating: 0, count: settings.fileChunkSize)
        let sincedbPath = try FileInput.sincedbPath(settings, context)
        sincedb = FileSinceDB(path: sincedbPath, logger: context.logger)
        completedLogPath = try FileInput.completedLogPath(settings)
        if settings.sincedbPath == nil {
            logger.info("No sincedb_path set, generating one based on the \"path\" setting {:sincedb_path=>\"\(sincedbPath)\", :path=>\(settings.path)}")
        }
    }

    /// The configured sincedb path, or `<path.data>/plugins/inputs/file/.sincedb_<md5(paths joined by ",")>`.
    static func sincedbPath(_ settings: Settings, _ context: PluginContext) throws -> String {
        if let path = settings.sincedbPath {
            if FileSystem.isDirectory(path) {
                throw SettingsValidationError("The \"sincedb_path\" argument must point to a file, received a directory: \"\(path)\"", setting: "sincedb_path")
            }
            return path
        }
        return FileSystem.absolute(context.dataPath) + "/plugins/inputs/file" + "/.sincedb_" + MD5.hexDigest(Array(settings.path.joined(separator: ",").utf8))
    }

    /// `file_completed_log_path` (read mode with a `log` action only): it must exist or be creatable; it is
    /// created when the input starts, not when the config is checked.
    static func completedLogPath(_ settings: Settings) throws -> String? {
        guard settings.mode == .read, settings.fileCompletedAction != .delete, let path = settings.fileCompletedLogPath else { return nil }
        let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        if !FileSystem.exists(path) && access(parent.isEmpty ? "/" : parent, W_OK) != 0 {
            throw SettingsValidationError("The \"file_completed_log_path\" file can't be created: \(path)", setting: "file_completed_log_path")
        }
        return path
    }

    /// The side effects of start-up, done when the input runs: the sincedb's directory and the completed log.
    private func prepareFiles() {
        if let slash = sincedb.path.lastIndex(of: "/") { FileSystem.makeDirectories(String(sincedb.path[..<slash])) }
        if let completedLogPath, !FileSystem.exists(completedLogPath) {
            let fd = open(completedLogPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            if fd < 0 {
                logger.error("The \"file_completed_log_path\" file can't be created: \(completedLogPath): \(String(cString: strerror(errno)))")
            } else {
                Glibc.close(fd)
            }
        }
    }

    public func stop() {
        stopRequested.request()
        wake.signal()
    }

    var stopping: Bool { stopRequested.isRequested || context.shutdown.isRequested }

    public func run(_ sink: EventSink) throws {
        self.sink = sink
        prepareFiles()
        stateLock.withLock {
            entries = sincedb.load()
            loaded = true
        }
        discover(initial: true)
        var loops = 0
        while !stopping {
            loops += 1
            if loops % settings.discoverInterval == 0 && !settings.exitAfterRead { discover(initial: false) }
            for file in ordered() where !stopping { process(file) }
            autoFlush()
            stateLock.withLock { runCompletedActions() }
            writeSincedbIfDue()
            if settings.exitAfterRead && finishedReading { break }
            pause()
        }
        exitFlush()
        writeSincedb()
    }

    /// Waits `stat_interval` (or until `stop`). With multiline's `auto_flush_interval` the codecs are checked every
    /// 0.5 s meanwhile, as Logstash's periodic runner does.
    private func pause() {
        let deadline = Clock.nanoseconds() + settings.statInterval.nanoseconds
        let autoFlushing = watched.values.contains { $0.codec.autoFlushNanoseconds != nil }
        while !stopping {
            let left = deadline - Clock.nanoseconds()
            if left <= 0 { return }
            let slice = autoFlushing ? min(left, 500_000_000) : left
            if wake.wait(timeoutMillis: max(1, slice / 1_000_000)) { return }
            if autoFlushing { autoFlush() }
        }
    }

    /// Read mode with `exit_after_read`: every file is read and its completed action done.
    private var finishedReading: Bool {
        watched.values.allSatisfy { $0.state == .done } && stateLock.withLock { completing.isEmpty }
    }

    /// Runs once the pipeline has drained: the events pushed last are safe now, so their positions are written
    /// and pending completed actions run.
    public func close() {
        stateLock.withLock { runCompletedActions() }
        writeSincedb()
        for file in watched.values { file.closeFile() }
    }

    // MARK: Discovery

    /// Adds paths the globs match now. A path found at start-up honours `start_position`; later ones start at 0.
    private func discover(initial: Bool) {
        for (path, st) in discovery.files() where watched[path] == nil {
            let codec: any Codec
            do {
                codec = try context.makeCodec()
            } catch {
                logger.error("cannot create the codec for \(path): \(error)")
                continue
            }
            let file = WatchedFile(path: path, codec: codec, discoveredInitially: initial)
            file.modified = FileInput.modifiedNanos(st)
            watched[path] = file
        }
    }

    static func modifiedNanos(_ st: stat) -> Int { st.st_mtim.tv_sec * 1_000_000_000 + st.st_mtim.tv_nsec }

    /// Files in `file_sort_by` / `file_sort_direction` order.
    private func ordered() -> [WatchedFile] {
        let files = watched.values.filter { $0.state == .watching }
        let ascending: [WatchedFile]
        switch settings.fileSortBy {
        case .lastModified: ascending = files.sorted { ($0.modified, $0.path) < ($1.modified, $1.path) }
        case .path: ascending = files.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        }
        return settings.fileSortDirection == .asc ? ascending : ascending.reversed()
    }

    // MARK: One file per loop

    /// Restats the path and reacts: gone, replaced (rotation), shrunk (truncation), grown, idle, or done.
    private func process(_ file: WatchedFile) {
        var st = stat()
        guard stat(file.path, &st) == 0 else {
            missing(file)
            return
        }
        file.missingLoops = 0
        file.modified = FileInput.modifiedNanos(st)
        let key = FileKey(st)
        if let current = file.key, current != key { rotated(file) }
        if file.key == nil && !attach(file, key, st) { return }
        if file.state == .done { return }
        if settings.mode == .read && (file.path.hasSuffix(".gz") || file.path.hasSuffix(".gzip")) {
            readGzip(file, size: Int(st.st_size))
            return
        }
        let size = Int(st.st_size)
        if size < file.readOffset { truncated(file) }
        if size > file.readOffset {
            readAvailable(file, upTo: size)
        } else if settings.mode == .tail {
            closeIfIdle(file)
        }
        if settings.mode == .read && file.readOffset >= size && !stopping { completeRead(file) }
    }

    /// Binds the path to the file `key`: its sincedb entry when it has one for this path (or was let go of by
    /// a renamed path in this run), otherwise a new entry at the start position. False while another path still
    /// reads that file (a rename in progress).
    private func attach(_ file: WatchedFile, _ key: FileKey, _ st: stat) -> Bool {
        stateLock.withLock {
            if let entry = entries[key] {
                if let holder = entry.holder, holder !== file { return false }
                if entry.path == nil || entry.path == file.path || entry.released {
                    if settings.mode == .read && file.firstContact && entry.pushed >= Int(st.st_size) { file.state = .done }
                    file.attach(key, entry)
                    return true
                }
                // The same inode under another path: a new file reusing the inode.
            }
            let entry = SinceDBEntry(position: startPosition(file, st), path: file.path)
            entries[key] = entry
            if settings.mode == .read && file.firstContact && entry.pushed > 0 { file.state = .done }
            file.attach(key, entry)
            return true
        }
    }

    /// Where a file without a sincedb record starts: its end when `ignore_older` says it is old, or for tail mode's
    /// `start_position => end` on files found at start-up; 0 otherwise (files found later, rotated files).
    private func startPosition(_ file: WatchedFile, _ st: stat) -> Int {
        guard file.firstContact else { return 0 }
        if let ignoreOlder = settings.ignoreOlder {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            if Double(now.tv_sec - st.st_mtim.tv_sec) > ignoreOlder.seconds {
                logger.info("skipping the existing contents of \(file.path): last modified more than \(ignoreOlder.seconds) seconds ago")
                return Int(st.st_size)
            }
        }
        if settings.mode == .tail && file.discoveredInitially && settings.startPosition == .end { return Int(st.st_size) }
        return 0
    }

    /// The path now names another file: the old one is read to its end first (when still open), then its
    /// record is let go of and the new file is read from its own record or from 0.
    private func rotated(_ file: WatchedFile) {
        if file.isOpen {
            var st = stat()
            if fstat(file.fd, &st) == 0 { readAvailable(file, upTo: Int(st.st_size)) }
        } else {
            logger.warn("Rotation In Progress: \(file.path) was replaced while it was closed; unread lines of the old file are not read")
        }
        flushCodec(file)
        stateLock.withLock { file.detach() }
    }

    /// A missing path is given one more loop (a rotation may be under way); then what is left in the still open
    /// file is read, the codec flushed and the path forgotten.
    private func missing(_ file: WatchedFile) {
        file.missingLoops += 1
        guard file.missingLoops >= 2 else { return }
        if file.isOpen {
            var st = stat()
            if fstat(file.fd, &st) == 0 { readAvailable(file, upTo: Int(st.st_size)) }
        }
        flushCodec(file)
        stateLock.withLock { file.detach() }
        watched[file.path] = nil
    }

    private func truncated(_ file: WatchedFile) {
        logger.warn("file truncate detected, restarting from the beginning (potential data loss if lines were written just before): \(file.path)")
        flushCodec(file)
        file.restartAtZero()
    }

    /// Reads new bytes (at most `file_chunk_size` × `file_chunk_count` per loop), opening the file if the
    /// `max_open_files` window allows.
    private func readAvailable(_ file: WatchedFile, upTo size: Int) {
        if !file.isOpen {
            let open = watched.values.reduce(0) { $0 + ($1.isOpen ? 1 : 0) }
            if open >= maxOpenFiles {
                logger.rateLimited(.warn, key: "max_open_files", "Reached open files limit: \(maxOpenFiles), set by the 'max_open_files' option")
                return
            }
            guard file.openFile(logger) else { return }
        }
        _ = file.read(
            budget: readBudget, chunkSize: settings.fileChunkSize, delimiter: delimiter, buffer: &buffer,
            stopping: { stopping }, finish: { finish($0, file) }, deliver: { deliver(file, $0) })
    }

    /// Tail mode's `close_older`: a fully read file idle that long is closed (and its codec flushed).
    private func closeIfIdle(_ file: WatchedFile) {
        guard file.isOpen, Clock.nanoseconds() - file.lastReadAt >= settings.closeOlder.nanoseconds else { return }
        flushCodec(file)
        file.closeFile()
    }

    // MARK: Events

    /// The file input's fields: `[@metadata][path]` and `[@metadata][host]` always; `host`/`path` (ECS:
    /// `[host][name]`, `[log][file][path]`) only when absent; then the input's decorations.
    func finish(_ event: Event, _ file: WatchedFile) {
        let fields = file.eventFields ?? makeEventFields(file)
        fields.metadata.apply(to: event)
        hostField.addIfAbsent(to: event)
        fields.path.apply(to: event)
        context.decorate(event)
    }

    private func makeEventFields(_ file: WatchedFile) -> FileEventFields {
        let path = Value.string(file.path)
        let fields = FileEventFields(
            metadata: FieldOverlay([(FieldReference("[@metadata][path]"), path), (FieldReference("[@metadata][host]"), host)]),
            path: FieldOverlay([(pathField, path)], onlyWhereAbsent: true))
        file.eventFields = fields
        return fields
    }

    /// Pushes a file's events (blocking while the queue is full) with an acknowledgement that commits the
    /// file's resume point once they are safe.
    func deliver(_ file: WatchedFile, _ events: [Event]) {
        guard let sink else { return }
        guard let entry = file.entry else {
            if !events.isEmpty { sink.push(contentsOf: events) }
            return
        }
        let position = file.resume
        if !events.isEmpty {
            sink.push(contentsOf: events, acknowledgement: entry.acknowledgement(upTo: position, events: events.count))
        }
        entry.advance(to: position)
        writeSincedbIfDue()
    }

    private func flushCodec(_ file: WatchedFile) {
        var events: [Event] = []
        file.flushCodec(into: &events) { finish($0, file) }
        deliver(file, events)
    }

    /// Multiline's `auto_flush_interval`, checked once per loop.
    private func autoFlush() {
        let now = Clock.nanoseconds()
        for file in watched.values where file.codec.autoFlushNanoseconds != nil && file.codec.bufferedLineCount > 0 {
            var events: [Event] = []
            file.flushCodecIfIdle(now: now, into: &events) { finish($0, file) }
            deliver(file, events)
        }
    }

    /// Shutdown: what every codec holds becomes events (Logstash's `exit_flush`); partial lines stay unread.
    private func exitFlush() {
        for file in watched.values where file.codec.bufferedLineCount > 0 { flushCodec(file) }
    }

    // MARK: sincedb

    /// Writes the sincedb once `sincedb_write_interval` has passed: after each loop, and between chunks of a long
    /// read, so that a crash in the middle of a big file re-reads little.
    private func writeSincedbIfDue() {
        guard Clock.nanoseconds() - lastSincedbWrite >= settings.sincedbWriteInterval.nanoseconds else { return }
        writeSincedb()
        lastSincedbWrite = Clock.nanoseconds()
    }

    /// Writes every record at its committed position, dropping records inactive longer than
    /// `sincedb_clean_after` that no path reads now.
    private func writeSincedb() {
        stateLock.withLock {
            guard loaded else { return }
            let expiry = SinceDBEntry.now() - settings.sincedbCleanAfter.seconds
            var text = ""
            for (key, entry) in entries.sorted(by: { $0.key.description < $1.key.description }) {
                entry.refresh()
                if entry.lastActive < expiry && entry.holder == nil {
                    entries[key] = nil
                    continue
                }
                text += FileSinceDB.record(key, entry)
            }
            sincedb.write(text)
        }
    }
}

/// The fields the file input gives every event of one file, prepared once per file.
struct FileEventFields {
    let metadata: FieldOverlay
    let path: FieldOverlay
}

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
        @Setting("create_if_deleted", doc: "Re-create a file that was deleted while open.")
        var createIfDeleted = true
        @Setting("dir_mode", doc: "Mode of created directories (-1: the system default).")
        var dirMode = -1
        @Setting("file_mode", doc: "Mode of created files (-1: the system default).")
        var fileMode = -1
        @Setting("filename_failure", doc: "File name used when the path does not resolve under its fixed prefix.")
        var filenameFailure = "_filepath_failures"
        @Setting("flush_interval", doc: "Seconds between flushes; Sluice writes each batch at once.")
        var flushInterval = 2
        @Setting("gzip", doc: "Gzip the output (not supported by Sluice).")
        var gzip = false
        public init() {}

        public func validate() throws(SettingsValidationError) {
            if gzip { throw SettingsValidationError("gzip => true is not supported by Sluice's file output", setting: "gzip") }
        }
    }

    let path: Template
    let overwrite: Bool
    let dirMode: mode_t
    let fileMode: mode_t
    let codec: any Codec
    let logger: Logger
    let lock = Lock()
    var handles: [String: Int32] = [:]

    public init(settings: Settings, context: PluginContext) throws {
        path = settings.path
        overwrite = settings.writeBehavior == .overwrite
        dirMode = settings.dirMode < 0 ? 0o755 : mode_t(settings.dirMode)
        fileMode = settings.fileMode < 0 ? 0o644 : mode_t(settings.fileMode)
        codec = context.codec!
        logger = context.logger
    }

    public func receive(_ events: [Event]) {
        var byPath: [String: [UInt8]] = [:]
        var order: [String] = []
        for e in events {
            let p = path.render(e)
            if byPath[p] == nil { order.append(p) }
            codec.encode(e, into: &byPath[p, default: []])
        }
        lock.withLock {
            for p in order { write(byPath[p]!, to: p) }
        }
    }

    private func write(_ bytes: [UInt8], to p: String) {
        guard let fd = handle(for: p) else { return }
        if !FileDescriptorWriter.writeAll(fd, bytes) {
            logger.error("Failed to write to \(p): \(SystemCalls.lastError)")
        }
        if overwrite {
            SystemCalls.close(fd)
            handles[p] = nil
        }
    }

    private func handle(for p: String) -> Int32? {
        if let fd = handles[p], SystemCalls.exists(p) { return fd }
        if let stale = handles.removeValue(forKey: p) { SystemCalls.close(stale) }
        if let slash = p.lastIndex(of: "/"), slash != p.startIndex {
            _ = SystemCalls.makeDirectories(String(p[..<slash]), mode: dirMode)
        }
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_APPEND)
        let fd = SystemCalls.open(p, flags: flags, mode: fileMode)
        guard fd >= 0 else {
            logger.rateLimited(.error, key: p, "Failed to open \(p) for writing: \(SystemCalls.lastError)")
            return nil
        }
        handles[p] = fd
        return fd
    }

    public func close() {
        lock.withLock {
            for fd in handles.values { SystemCalls.close(fd) }
            handles.removeAll()
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Log levels, as Logstash's `log.level`.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case trace, debug, info, warn, error, fatal

    public init?(name: String) {
        switch name.lowercased() {
        case "trace": self = .trace
        case "debug": self = .debug
        case "info": self = .info
        case "warn", "warning": self = .warn
        case "error": self = .error
        case "fatal": self = .fatal
        default: return nil
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    var label: String {
        switch self {
        case .trace: return "TRACE"
        case .debug: return "DEBUG"
        case .info: return "INFO "
        case .warn: return "WARN "
        case .error: return "ERROR"
        case .fatal: return "FATAL"
        }
    }
}

/// The process-wide log destination: stderr (so stdout carries only what outputs write), plus a file under
/// `path.logs` when configured. Thread-safe.
public final class LogSink: @unchecked Sendable {
    /// The sink every `Logger` writes to.
    public static let shared = LogSink()

    private let lock = Lock()
    private var _level: LogLevel = .info
    private var file: UnsafeMutablePointer<FILE>?
    private var suppressed: [String: (count: Int, windowStart: Int64)] = [:]

    /// The minimum level written.
    public var level: LogLevel {
        get { lock.withLock { _level } }
        set { lock.withLock { _level = newValue } }
    }

    /// Also writes to `<directory>/sluice-plain.log`.
    public func openFile(inDirectory directory: String) {
        mkdir(directory, 0o755)
        lock.withLock { file = fopen(directory + "/sluice-plain.log", "a") }
    }

    func write(_ level: LogLevel, _ logger: String, _ pipeline: String?, _ plugin: String?, _ message: String) {
        guard level >= self.level else { return }
        var line = "[\(Timestamp.now().iso8601)][\(level.label)][\(logger)]"
        if let pipeline { line += "[\(pipeline)]" }
        if let plugin { line += "[\(plugin)]" }
        line += " " + message + "\n"
        lock.withLock {
            writeStderr(line)
            if let file {
                fputs(line, file)
                fflush(file)
            }
        }
    }

    /// Whether a repeated message may be logged now: the first 5 per minute per key pass, then one summary.
    func admit(_ key: String) -> (admit: Bool, note: String?) {
        let now = Timestamp.now().seconds
        return lock.withLock {
            var entry = suppressed[key] ?? (0, now)
            if now - entry.windowStart >= 60 { entry = (0, now) }
            entry.count += 1
            suppressed[key] = entry
            if entry.count <= 5 { return (true, nil) }
            if entry.count == 6 { return (true, "further identical messages are suppressed for a minute") }
            return (false, nil)
        }
    }
}

/// Writes straight to file descriptor 2 (unbuffered, thread-safe at the syscall level).
func writeStderr(_ text: String) {
    var text = text
    text.withUTF8 { buf in
        var offset = 0
        while offset < buf.count {
            let n = Glibc.write(2, buf.baseAddress! + offset, buf.count - offset)
            if n <= 0 { return }
            offset += n
        }
    }
}

/// A named logger that tags each line with `[pipeline][plugin]`, as Logstash's log4j pattern does.
public struct Logger: Sendable {
    public let name: String
    public let pipelineID: String?
    public let pluginID: String?

    public init(_ name: String, pipelineID: String? = nil, pluginID: String? = nil) {
        self.name = name
        self.pipelineID = pipelineID
        self.pluginID = pluginID
    }

    public func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        guard level >= LogSink.shared.level else { return }
        LogSink.shared.write(level, name, pipelineID, pluginID, message())
    }

    public func trace(_ m: @autoclosure () -> String) { log(.trace, m()) }
    public func debug(_ m: @autoclosure () -> String) { log(.debug, m()) }
    public func info(_ m: @autoclosure () -> String) { log(.info, m()) }
    public func warn(_ m: @autoclosure () -> String) { log(.warn, m()) }
    public func error(_ m: @autoclosure () -> String) { log(.error, m()) }
    public func fatal(_ m: @autoclosure () -> String) { log(.fatal, m()) }

    /// Logs a per-event problem, rate-limited by `key` so a bad stream cannot flood the log.
    public func rateLimited(_ level: LogLevel, key: String, _ message: @autoclosure () -> String) {
        guard level >= LogSink.shared.level else { return }
        let (admit, note) = LogSink.shared.admit(name + (pluginID ?? "") + key)
        guard admit else { return }
        LogSink.shared.write(level, name, pipelineID, pluginID, message() + (note.map { " (\($0))" } ?? ""))
    }
}


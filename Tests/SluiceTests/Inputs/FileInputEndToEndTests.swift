import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// The file input run by the built binary: tailing, read mode, the sincedb, restarts, logrotate's two rotation
/// styles and `kill -9` with the persisted queue. Every process's exit status is asserted.
@Suite(.serialized) struct FileInputEndToEndTests {
    typealias T = FileInputTesting

    /// A tail pipeline over `glob` writing `%{message}` lines to `out`.
    static func tailConfig(_ glob: String, out: URL, sincedb: URL, extra: String = "", output: String? = nil) -> String {
        """
        input { file { path => "\(glob)" start_position => "beginning" sincedb_path => "\(sincedb.path)"
                       stat_interval => "50 ms" discover_interval => 1 sincedb_write_interval => 0.1 \(extra) } }
        output { file { path => "\(out.path)" codec => line { format => "\(output ?? "%{message}")" } } }
        """
    }

    @Test func tailsFromTheBeginningAndFollowsAppends() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("app.log"), out = dir.appendingPathComponent("out.txt")
        let sincedb = dir.appendingPathComponent("sincedb")
        try T.append(T.idLines(0..<50) + "partial", to: log)
        let sluice = try BackgroundSluice(config: Self.tailConfig(log.path, out: out, sincedb: sincedb), directory: dir)
        #expect(T.waitFor(seconds: 15) { T.ids(out).count == 50 }, "\(sluice.logText)")
        try T.append(" line\n" + T.idLines(50..<60), to: log)
        #expect(T.waitFor(seconds: 15) { T.ids(out).count == 60 })
        // The sincedb holds Logstash's record: inode, device, the position past the last line, time, path.
        let size = try FileManager.default.attributesOfItem(atPath: log.path)[.size] as! Int
        #expect(T.waitFor(seconds: 5) { T.lines(sincedb).first?.hasPrefix("\(T.key(log.path)) \(size) ") == true }, "\(T.lines(sincedb))")
        #expect(sluice.terminate() == 0, "\(sluice.logText)")
        let record = try #require(T.lines(sincedb).first).split(separator: " ")
        #expect(record.count == 6 && Double(record[4]) != nil && record[5] == log.path, "\(record)")
        #expect(T.lines(out)[50] == "partial line")
        #expect(T.ids(out) == Array(0..<60))
    }

    @Test func restartResumesWithoutRereading() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("app.log"), out = dir.appendingPathComponent("out.txt")
        let config = Self.tailConfig(log.path, out: out, sincedb: dir.appendingPathComponent("sincedb"))
        try T.append(T.idLines(0..<100), to: log)
        let first = try BackgroundSluice(config: config, directory: dir)
        #expect(T.waitFor(seconds: 15) { T.ids(out).count == 100 })
        #expect(first.terminate() == 0, "\(first.logText)")
        try T.append(T.idLines(100..<150), to: log)
        let second = try BackgroundSluice(config: config, directory: dir)
        #expect(T.waitFor(seconds: 15) { T.ids(out).count >= 150 })
        usleep(300_000)
        #expect(second.terminate() == 0, "\(second.logText)")
        #expect(T.ids(out) == Array(0..<150), "lines read twice or lost")
    }

    @Test func startPositionEndSkipsExistingContentButNotNewFiles() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.txt")
        try T.append(T.idLines(0..<5), to: dir.appendingPathComponent("old.log"))
        let config = Self.tailConfig("\(dir.path)/*.log", out: out, sincedb: dir.appendingPathComponent("sincedb"))
            .replacingOccurrences(of: "start_position => \"beginning\"", with: "start_position => \"end\"")
        let sluice = try BackgroundSluice(config: config, directory: dir)
        usleep(400_000)
        try T.append(T.idLines(5..<7), to: dir.appendingPathComponent("old.log"))
        try T.append(T.idLines(7..<9), to: dir.appendingPathComponent("new.log"))
        #expect(T.waitFor(seconds: 15) { Set(T.ids(out)) == Set(5..<9) })
        #expect(sluice.terminate() == 0, "\(sluice.logText)")
        #expect(T.ids(out).sorted() == Array(5..<9))
    }

    @Test func readModeLogsCompletedFilesAndKeepsThem() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let logs = dir.appendingPathComponent("logs")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        try T.append(T.idLines(0..<10), to: logs.appendingPathComponent("a.log"))
        try T.append(T.idLines(10..<20) + "id-20", to: logs.appendingPathComponent("b.log"))
        let out = dir.appendingPathComponent("out.txt"), completed = dir.appendingPathComponent("completed.log")
        let config = """
            input { file { path => "\(logs.path)/*.log" mode => "read" exit_after_read => true file_completed_action => "log"
                           file_completed_log_path => "\(completed.path)" sincedb_path => "\(dir.path)/sincedb" stat_interval => 0.05 } }
            output { file { path => "\(out.path)" codec => line { format => "%{message} %{path}" } } }
            """
        let legacy = ["--pipeline.ecs_compatibility", "disabled"]
        let sluice = try BackgroundSluice(config: config, directory: dir, extra: legacy)
        #expect(sluice.waitForExit(seconds: 30) == 0, "\(sluice.logText)")
        #expect(T.ids(out).sorted() == Array(0...20), "the last line needs no delimiter in read mode")
        #expect(T.lines(out).contains("id-20 \(logs.path)/b.log"))
        #expect(Set(T.lines(completed)) == ["\(logs.path)/a.log", "\(logs.path)/b.log"])
        #expect(FileManager.default.fileExists(atPath: logs.appendingPathComponent("a.log").path))
        let sizes = T.lines(dir.appendingPathComponent("sincedb")).map { $0.split(separator: " ")[3] }
        #expect(Set(sizes) == ["50", "65"], "completed files are recorded at their size")
        // A second run finds both files complete in the sincedb: nothing is read again.
        let again = try BackgroundSluice(config: config, directory: dir, extra: legacy)
        #expect(again.waitForExit(seconds: 30) == 0, "\(again.logText)")
        #expect(T.ids(out).count == 21)
    }

    @Test func readModeDeletesCompletedFilesByDefaultAndReadsGzip() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("gone.log"), out = dir.appendingPathComponent("out.txt")
        try T.append(T.idLines(0..<30), to: log)
        // A gzip file of two members with \r\n and \r line ends, and a damaged one.
        let plain = dir.appendingPathComponent("z1"), plain2 = dir.appendingPathComponent("z2")
        try (30..<35).map { "id-\($0)\r\n" }.joined().write(to: plain, atomically: true, encoding: .utf8)
        try ((35..<39).map { "id-\($0)\r" }.joined() + "id-39").write(to: plain2, atomically: true, encoding: .utf8)
        #expect(T.shell("gzip -c '\(plain.path)' > '\(dir.path)/y.log.gz' && gzip -c '\(plain2.path)' >> '\(dir.path)/y.log.gz'") == 0)
        try T.append("compressed?", to: dir.appendingPathComponent("x.log.gz"))
        let config = """
            input { file { path => ["\(dir.path)/*.log", "\(dir.path)/*.gz"] mode => "read" exit_after_read => true
                           sincedb_path => "\(dir.path)/sincedb" stat_interval => 0.05 } }
            output { file { path => "\(out.path)" codec => line { format => "%{message}" } } }
            """
        let sluice = try BackgroundSluice(config: config, directory: dir)
        #expect(sluice.waitForExit(seconds: 30) == 0, "\(sluice.logText)")
        #expect(T.ids(out).sorted() == Array(0..<40), "\(T.lines(out))")
        #expect(!FileManager.default.fileExists(atPath: log.path))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("y.log.gz").path))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.log.gz").path), "a damaged gzip file is left alone")
        #expect(sluice.logText.contains("Cannot decompress the gzip file at path: \(dir.path)/x.log.gz"), "\(sluice.logText)")
    }

    @Test func ecsFieldsAndMultilineWithAutoFlush() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("java.log"), out = dir.appendingPathComponent("out.json")
        try T.append("Exception: boom\n  at A\n  at B\nnext event\n  at C\n", to: log)
        let config = """
            input { file { path => "\(log.path)" start_position => "beginning" sincedb_path => "\(dir.path)/sincedb" stat_interval => 0.05
                           codec => multiline { pattern => "^\\s" what => "previous" auto_flush_interval => 0.3 } } }
            output { file { path => "\(out.path)" codec => json_lines } }
            """
        let sluice = try BackgroundSluice(config: config, directory: dir, extra: ["--pipeline.ecs_compatibility", "v8"])
        // "next event\n  at C" has no line after it: only the auto flush emits it.
        #expect(T.waitFor(seconds: 15) { T.lines(out).count == 2 }, "\(sluice.logText)")
        #expect(sluice.terminate() == 0, "\(sluice.logText)")
        let events = try T.lines(out).map { try JSONParser.parse($0) }
        #expect(events.count == 2)
        guard events.count == 2, case .object(let first) = events[0], case .object(let second) = events[1] else { return }
        #expect(first["message"] == .string("Exception: boom\n  at A\n  at B"))
        #expect(second["message"] == .string("next event\n  at C"))
        #expect(first["tags"] == .array([.string("multiline")]))
        #expect(Event(fromMap: first).get(FieldReference("[log][file][path]")) == .string(log.path))
        #expect(Event(fromMap: first).get(FieldReference("[host][name]")) == .string(System.hostname))
        #expect(Event(fromMap: first).get(.eventOriginal) == .string("Exception: boom\n  at A\n  at B"))
        #expect(first["path"] == nil)
    }

    /// With one file open at a time, `close_older` frees the slot so the next file is read; `exclude` skips by name.
    @Test func maxOpenFilesWindowAndCloseOlder() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.txt")
        for (i, name) in ["a.log", "b.log", "c.log", "skip.log"].enumerated() {
            try T.append(T.idLines(i * 10..<i * 10 + 10), to: dir.appendingPathComponent(name))
        }
        let config = Self.tailConfig("\(dir.path)/*.log", out: out, sincedb: dir.appendingPathComponent("sincedb"),
                                     extra: "max_open_files => 1 close_older => \"200 ms\" exclude => \"skip*\"")
        let sluice = try BackgroundSluice(config: config, directory: dir)
        #expect(T.waitFor(seconds: 15) { T.ids(out).count == 30 }, "\(T.ids(out))")
        usleep(300_000)
        #expect(sluice.terminate() == 0, "\(sluice.logText)")
        #expect(T.ids(out).sorted() == Array(0..<30))
        #expect(sluice.logText.contains("Reached open files limit: 1"))
    }

    /// `ignore_older`: an old file's existing lines are skipped, what is appended later is read.
    @Test func ignoreOlderSkipsOldContentOnly() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("old.log"), out = dir.appendingPathComponent("out.txt")
        try T.append(T.idLines(0..<10), to: log)
        #expect(T.shell("touch -d '2 hours ago' '\(log.path)'") == 0)
        let sluice = try BackgroundSluice(config: Self.tailConfig(log.path, out: out, sincedb: dir.appendingPathComponent("sincedb"), extra: "ignore_older => \"1 hour\""), directory: dir)
        #expect(T.waitFor(seconds: 15) { sluice.logText.contains("skipping the existing contents") })
        try T.append(T.idLines(10..<12), to: log)
        #expect(T.waitFor(seconds: 15) { T.ids(out).count == 2 })
        #expect(sluice.terminate() == 0, "\(sluice.logText)")
        #expect(T.ids(out) == [10, 11])
    }

    // MARK: Rotation with Debian's logrotate

    static let logrotateAvailable = FileManager.default.isExecutableFile(atPath: "/usr/sbin/logrotate")

    func rotate(_ log: URL, _ dir: URL, style: String) -> Int32 {
        let conf = dir.appendingPathComponent("logrotate.conf")
        try? "\(log.path) {\n  rotate 3\n  \(style)\n  missingok\n  nocompress\n}\n".write(to: conf, atomically: true, encoding: .utf8)
        return T.shell("/usr/sbin/logrotate -f -s '\(dir.path)/logrotate.state' '\(conf.path)'")
    }

    /// Rename-and-create: the old file is finished, the new one read from its start; `app.log*` also matches
    /// the renamed file, which must not be read again.
    @Test(.enabled(if: logrotateAvailable, "needs logrotate (make deps)"))
    func followsRenameRotation() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("app.log"), out = dir.appendingPathComponent("out.txt")
        try T.append(T.idLines(0..<100), to: log)
        let sluice = try BackgroundSluice(config: Self.tailConfig("\(log.path)*", out: out, sincedb: dir.appendingPathComponent("sincedb")), directory: dir)
        #expect(T.waitFor(seconds: 15) { T.ids(out).count == 100 })
        try T.append(T.idLines(100..<120), to: log)
        #expect(rotate(log, dir, style: "create") == 0)
        #expect(FileManager.default.fileExists(atPath: log.path + ".1"))
        try T.append(T.idLines(120..<200), to: log)
        #expect(T.waitFor(seconds: 15) { T.ids(out).count >= 200 })
        usleep(500_000)
        #expect(sluice.terminate() == 0, "\(sluice.logText)")
        #expect(T.ids(out).sorted() == Array(0..<200), "lost or duplicated across the rotation")
    }

    /// Copy-truncate: the truncation is detected and the file read again from 0.
    @Test(.enabled(if: logrotateAvailable, "needs logrotate (make deps)"))
    func followsCopyTruncateRotation() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("app.log"), out = dir.appendingPathComponent("out.txt")
        try T.append(T.idLines(0..<100), to: log)
        let sluice = try BackgroundSluice(config: Self.tailConfig(log.path, out: out, sincedb: dir.appendingPathComponent("sincedb")), directory: dir)
        #expect(T.waitFor(seconds: 15) { T.ids(out).count == 100 })
        #expect(rotate(log, dir, style: "copytruncate") == 0)
        #expect(T.waitFor(seconds: 15) { sluice.logText.contains("file truncate detected") }, "\(sluice.logText)")
        try T.append(T.idLines(100..<150), to: log)
        #expect(T.waitFor(seconds: 15) { T.ids(out).count >= 150 })
        usleep(300_000)
        #expect(sluice.terminate() == 0, "\(sluice.logText)")
        #expect(T.ids(out) == Array(0..<150))
    }

    @Test func deletedFileIsLetGoAndARecreatedOneReadFromTheStart() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("app.log"), out = dir.appendingPathComponent("out.txt")
        try T.append(T.idLines(0..<10), to: log)
        let sluice = try BackgroundSluice(config: Self.tailConfig(log.path, out: out, sincedb: dir.appendingPathComponent("sincedb")), directory: dir)
        #expect(T.waitFor(seconds: 15) { T.ids(out).count == 10 })
        try FileManager.default.removeItem(at: log)
        usleep(400_000)
        try T.append(T.idLines(10..<15), to: log)
        #expect(T.waitFor(seconds: 15) { T.ids(out).count == 15 })
        #expect(sluice.terminate() == 0, "\(sluice.logText)")
        #expect(T.ids(out) == Array(0..<15))
    }

    // MARK: Crash

    /// `kill -9` while a big file is read into the persisted queue, then a restart: every line id arrives, and the
    /// second run reads nothing before the position the sincedb held at the kill (lines acknowledged by the queue
    /// are not read twice; only what was in flight after that position may be).
    @Test func killNineWithPersistedQueueLosesNothingAndRereadsOnlyInFlightLines() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("big.log"), out = dir.appendingPathComponent("out.txt")
        let sincedb = dir.appendingPathComponent("sincedb")
        let total = 60_000
        try T.append(T.idLines(0..<total), to: log)
        let config = Self.tailConfig(log.path, out: out, sincedb: sincedb, extra: "file_chunk_size => 4096 add_field => { \"run\" => \"${RUN}\" }", output: "%{run} %{message}")
        // A small queue holds the input back to the output's pace, so the kill lands mid-file.
        let queue = ["-S", "queue.type=persisted", "-S", "queue.page_capacity=256kb", "-S", "queue.max_bytes=1mb"]
        let first = try BackgroundSluice(config: config, directory: dir, extra: queue, environment: ["RUN": "1"])
        #expect(T.waitFor(seconds: 30) { (T.lines(sincedb).first?.split(separator: " ").count ?? 0) == 6 }, "\(first.logText)")
        usleep(UInt32.random(in: 100_000...400_000))
        #expect(first.killNine(), "sluice was not killed by SIGKILL: \(first.logText)")
        let committed = Int(try #require(T.lines(sincedb).first).split(separator: " ")[3])!
        let bytes = try Data(contentsOf: log)
        let linesBefore = bytes.prefix(committed).reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        let second = try BackgroundSluice(config: config, directory: dir, extra: queue, environment: ["RUN": "2"])
        let before = T.lineCount(out)
        #expect(T.waitFor(seconds: 90) { T.lineCount(out) >= before + total - linesBefore }, "\(T.lineCount(out)) lines after the restart")
        usleep(300_000)
        #expect(second.terminate() == 0, "\(second.logText)")
        let lines = T.lines(out)
        let ids = T.ids(out)
        #expect(Set(ids) == Set(0..<total), "\(total - Set(ids).count) ids missing")
        let reread = lines.filter { $0.hasPrefix("2 ") }.compactMap { Int($0.dropFirst(5)) }
        #expect(linesBefore < total, "the kill came after the whole file was read")
        #expect((reread.min() ?? total) >= linesBefore, "the second run read line \(reread.min() ?? -1), before the committed line \(linesBefore)")
        print("file input kill -9: committed \(linesBefore) of \(total) lines at the kill; \(ids.count - Set(ids).count) duplicates (in flight)")
    }
}

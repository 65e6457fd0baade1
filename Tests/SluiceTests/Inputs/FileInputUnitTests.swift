import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// The file input's parts that need no running pipeline: durations, sincedb records, glob discovery, settings.
@Suite struct FileInputUnitTests {
    @Test func friendlyDurationsFollowLogstash() {
        #expect(FriendlyDuration<Seconds>.parse("250 ms") == 0.25)
        #expect(FriendlyDuration<Seconds>.parse("45s") == 45)
        #expect(FriendlyDuration<Seconds>.parse("2 w") == 1_209_600)
        #expect(FriendlyDuration<Seconds>.parse("1 day") == 86_400)
        #expect(FriendlyDuration<Seconds>.parse("1.5 hours") == 5400)
        #expect(FriendlyDuration<Seconds>.parse("3 min") == 180)
        #expect(abs(FriendlyDuration<Seconds>.parse("200 usec")! - 0.0002) < 1e-12)
        #expect(FriendlyDuration<Seconds>.parse("15") == 15)
        #expect(FriendlyDuration<Days>.parse("14") == 1_209_600)
        #expect(FriendlyDuration<Days>.parse("0.5") == 43_200)
        // The regex accepts "ds" but the case statement has no branch for it: seconds.
        #expect(FriendlyDuration<Days>.parse("5 ds") == 5)
        #expect(FriendlyDuration<Seconds>.parse("1  s") == nil)
        #expect(FriendlyDuration<Seconds>.parse("-1 s") == nil)
        #expect(FriendlyDuration<Seconds>.parse("1 fortnight") == nil)
        #expect(FriendlyDuration<Seconds>(seconds: 3600).configDescription == "\"1h\"")
    }

    @Test func sincedbRecordsParseV1AndV2() throws {
        let (k2, v2) = try #require(FileSinceDB.parse("1234 254 1 4096 1700000000.25 /var/log/my app.log"))
        #expect(k2 == FileKey(inode: "1234", major: 254, minor: 1))
        #expect(v2.committed == 4096 && v2.lastActive == 1_700_000_000.25 && v2.path == "/var/log/my app.log")
        let (k1, v1) = try #require(FileSinceDB.parse("77 8 2 10"))
        #expect(k1 == FileKey(inode: "77", major: 8, minor: 2))
        #expect(v1.committed == 10 && v1.path == nil)
        #expect(FileSinceDB.parse("garbage") == nil)
        #expect(FileSinceDB.record(k2, v2) == "1234 254 1 4096 1700000000.25 /var/log/my app.log\n")
    }

    @Test func sincedbCommitsOnlySafePositions() {
        let entry = SinceDBEntry(position: 0, path: "/x")
        let a = entry.acknowledgement(upTo: 10, events: 1)
        entry.advance(to: 10)
        let b = entry.acknowledgement(upTo: 20, events: 2)
        entry.advance(to: 20)
        entry.advance(to: 25)  // lines in no event at all
        entry.refresh()
        #expect(entry.committed == 0)
        b.complete(2)
        entry.refresh()
        #expect(entry.committed == 0, "a later push is safe, an earlier one is not")
        a.complete(1)
        entry.refresh()
        #expect(entry.committed == 25)
    }

    @Test func sincedbIsWrittenAtomicallyInLogstashFormat() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("sdb").path
        var db = FileSinceDB(path: path, logger: Logger("test"))
        db.write("1 2 3 4 5.5 /a b\n")
        #expect(FileSystem.readText(path) == "1 2 3 4 5.5 /a b\n")
        #expect(FileSystem.list(dir.path) == ["sdb"], "no temporary file left behind")
        let loaded = db.load()
        #expect(loaded[FileKey(inode: "1", major: 2, minor: 3)]?.path == "/a b")
        var devNull = FileSinceDB(path: "/dev/null", logger: Logger("test"))
        devNull.write("1 2 3 4 5.5 /a\n")
        #expect(devNull.load().isEmpty)
    }

    @Test func discoveryGlobsRecursivelyAndExcludesByBasename() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        for sub in ["a/b/c", "d", ".hidden"] {
            try fm.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        for file in ["top.log", "a/one.log", "a/b/c/deep.log", "d/skip.log", "d/other.txt", ".hidden/h.log", "a/b/c/deep.log.gz"] {
            fm.createFile(atPath: dir.appendingPathComponent(file).path, contents: Data("x\n".utf8))
        }
        let root = dir.path
        let found = FileDiscovery(patterns: ["\(root)/**/*.log"], exclude: ["skip*"]).files().map(\.path).sorted()
        #expect(found == ["\(root)/a/b/c/deep.log", "\(root)/a/one.log", "\(root)/top.log"])
        let braces = FileDiscovery(patterns: ["\(root)/{a,d}/*.{log,txt}"], exclude: []).files().map(\.path).sorted()
        #expect(braces == ["\(root)/a/one.log", "\(root)/d/other.txt", "\(root)/d/skip.log"])
        #expect(FileDiscovery.expandBraces("/x/{a,b}/**/*.{c,d}").count == 4)
    }

    static func configError(_ settings: String) -> String? {
        do {
            let text = "input { file { \(settings) } }"
            let ast = try ConfigParser.parse(ConfigSource(name: "t.conf", text: text))
            _ = try ProgramCompiler(registry: builtinRegistry, environment: PipelineEnvironment()).compile(ast)
            return nil
        } catch {
            return String(describing: error)
        }
    }

    @Test func settingsAreChecked() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let sdb = "sincedb_path => \"\(dir.path)/sdb\""
        #expect(Self.configError(#"path => "logs/*.log""# + " " + sdb)?.contains("File paths must be absolute, relative path specified: logs/*.log") == true)
        #expect(Self.configError(#"path => "/x/*.log" exit_after_read => true "# + sdb)?.contains("only works when the \"mode\" is set to \"read\"") == true)
        #expect(Self.configError(#"path => "/x/*.log" mode => "read" file_completed_action => "log" "# + sdb)?.contains("file_completed_log_path") == true)
        #expect(Self.configError(#"path => "/x/*.log" stat_interval => "soon" "# + sdb)?.contains("not a valid duration") == true)
        #expect(Self.configError(#"path => "/x/*.log" sincedb_path => "\#(dir.path)""#)?.contains("must point to a file") == true)
        #expect(Self.configError(#"path => "/x/*.log" stat_interval => "250 ms" sincedb_clean_after => "2 w" close_older => "1 day" "# + sdb) == nil)
        let log = dir.appendingPathComponent("completed.log").path
        #expect(Self.configError(#"path => "/x/*.log" mode => "read" file_completed_action => "log_and_delete" file_completed_log_path => "\#(log)" "# + sdb) == nil)
        #expect(!FileManager.default.fileExists(atPath: log), "checking a config creates no file")
        #expect(Self.configError(#"path => "/x/*.log" mode => "read" file_completed_action => "log" file_completed_log_path => "/nonexistent/dir/c.log" "# + sdb)?.contains("can't be created") == true)
        #expect(Self.configError("codec => multiline { pattern => \"^x\" what => \"next\" } path => \"/x\" " + sdb) == nil)
    }
}

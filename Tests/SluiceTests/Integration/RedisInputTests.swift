import Foundation
import Testing

/// The redis input against a real `redis-server`, filled and inspected with `redis-cli`: lists are read at least
/// once (exactly once without a crash), shared by several consumers, survive `kill -9`; channels and patterns
/// deliver what is published; `db` and `password` are honoured.
@Suite(.serialized, .enabled(if: RedisServer.isAvailable, "redis-server and redis-cli are not installed (make test-deps)"))
struct RedisInputTests {
    static func items(_ ids: Range<Int>) -> [String] { ids.map { "{\"id\":\($0),\"text\":\"item \($0)\"}" } }

    static func listConfig(port: Int, key: String, out: String, extra: String = "") -> String {
        "input { redis { host => \"127.0.0.1\" port => \(port) key => \"\(key)\" data_type => \"list\" \(extra) } } "
            + "output { file { path => \"\(out)\" codec => json_lines } }"
    }

    @Test func listItemsArriveExactlyOnceAndTheListEndsEmpty() throws {
        let redis = try RedisServer()
        defer { #expect(redis.stop() == 0) }
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let n = 5000
        try redis.push("jobs", Self.items(0..<n))
        let out = work.appendingPathComponent("out.jsonl").path
        let sluice = try SluiceProcess(["-e", Self.listConfig(port: redis.port, key: "jobs", out: out), "-w", "2", "--api.enabled", "false"])
        #expect(sluice.waitUntil(60) { redisTestIDs(inFile: out).count >= n })
        // Removal follows delivery: wait for the processing list to empty before stopping.
        #expect(sluice.waitUntil(10) { (try? redis.processingLength("jobs")) == 0 })
        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        let ids = redisTestIDs(inFile: out)
        #expect(ids.count == n, "each item once: \(ids.count) events for \(n) items")
        #expect(Set(ids) == Set(0..<n))
        #expect(try redis.integer(["LLEN", "jobs"]) == 0)
        #expect(try redis.processingLength("jobs") == 0)
    }

    /// `kill -9` while items are in flight (small batches; the memory queue, where items are removed once delivered,
    /// and the persisted queue, where they are removed once written to it): after a restart every item is delivered
    /// at least once, none is missing, and both lists end empty.
    @Test(arguments: [(0.3, "memory"), (0.8, "memory"), (0.5, "persisted")])
    func killNineRereadsRatherThanLoses(afterSeconds seconds: Double, queue: String) throws {
        let redis = try RedisServer()
        defer { #expect(redis.stop() == 0) }
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let n = 60_000
        try redis.push("crash", Self.items(0..<n))
        let out = work.appendingPathComponent("out.jsonl").path
        let arguments = [
            "-e", Self.listConfig(port: redis.port, key: "crash", out: out, extra: "batch_count => 20"), "-w", "1", "-b", "20",
            "--path.data", work.appendingPathComponent("data").path, "--api.enabled", "false", "-S", "queue.type=\(queue)",
        ]
        let first = try SluiceProcess(arguments)
        #expect(first.waitUntil(30) { !redisTestIDs(inFile: out).isEmpty })
        usleep(useconds_t(seconds * 1_000_000))
        #expect(first.killed(), "the first run died of the SIGKILL: \(first.stderr.suffix(1000))")
        let beforeRestart = Set(redisTestIDs(inFile: out))
        let inFlight = try redis.processingLength("crash")
        #expect(beforeRestart.count < n, "the kill came after everything was delivered; nothing was tested")

        let second = try SluiceProcess(arguments)
        #expect(second.waitUntil(90) { Set(redisTestIDs(inFile: out)).count >= n })
        #expect(second.waitUntil(10) { (try? redis.processingLength("crash")) == 0 && (try? redis.integer(["LLEN", "crash"])) == 0 })
        let result = second.stop()
        #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        let ids = redisTestIDs(inFile: out)
        let missing = Set(0..<n).subtracting(ids)
        #expect(missing.isEmpty, "\(missing.count) items missing, e.g. \(missing.sorted().prefix(5))")
        print("redis kill -9 after \(seconds) s (\(queue) queue): \(beforeRestart.count) delivered before, \(inFlight) in the processing list, \(ids.count - Set(ids).count) duplicates")
        #expect(try redis.integer(["LLEN", "crash"]) == 0)
        #expect(try redis.processingLength("crash") == 0)
    }

    /// Two Sluice processes on one key: every item is delivered, by one or the other, exactly once.
    @Test func twoConsumersShareOneKey() throws {
        let redis = try RedisServer()
        defer { #expect(redis.stop() == 0) }
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let outs = [work.appendingPathComponent("a.jsonl").path, work.appendingPathComponent("b.jsonl").path]
        let consumers = try outs.map { out in
            try SluiceProcess(["-e", Self.listConfig(port: redis.port, key: "shared", out: out, extra: "batch_count => 50"), "-w", "1", "--api.enabled", "false"])
        }
        #expect(consumers.allSatisfy { $0.waitForLog("Connected to Redis") })
        let n = 20_000
        try redis.push("shared", Self.items(0..<n))
        let all = { outs.flatMap { redisTestIDs(inFile: $0) } }
        #expect(consumers[0].waitUntil(60) { all().count >= n })
        #expect(consumers[0].waitUntil(10) { (try? redis.processingLength("shared")) == 0 })
        for consumer in consumers {
            let result = consumer.stop()
            #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        }
        let ids = all()
        let missing = Set(0..<n).subtracting(ids)
        #expect(missing.isEmpty, "\(missing.count) items missing")
        #expect(ids.count == n, "\(ids.count - n) items delivered twice")
        print("redis two consumers: \(redisTestIDs(inFile: outs[0]).count) + \(redisTestIDs(inFile: outs[1]).count) items")
        #expect(try redis.integer(["LLEN", "shared"]) == 0)
    }

    /// `channel` (json codec) and `pattern_channel` (plain codec): messages published once the subscription is in
    /// place arrive decoded, with `[@metadata][redis_channel]`.
    @Test func channelAndPatternChannelDeliverWhatIsPublished() throws {
        let redis = try RedisServer()
        defer { #expect(redis.stop() == 0) }
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let jsonOut = work.appendingPathComponent("channel.txt").path
        let plainOut = work.appendingPathComponent("pattern.txt").path
        let config = """
            input {
              redis { port => \(redis.port) key => "news" data_type => "channel" type => "channel" }
              redis { port => \(redis.port) key => "logs.*" data_type => "pattern_channel" codec => plain type => "pattern" }
            }
            output {
              if [type] == "channel" { file { path => "\(jsonOut)" codec => line { format => "%{id} %{text} %{[@metadata][redis_channel]}" } } }
              else { file { path => "\(plainOut)" codec => line { format => "%{message}|%{[@metadata][redis_channel]}" } } }
            }
            """
        let sluice = try SluiceProcess(["-e", config, "-w", "1", "--api.enabled", "false"])
        #expect(sluice.waitUntil(30) {
            (try? redis.cli(["PUBSUB", "NUMSUB", "news"]))?.split(separator: "\n").last == "1"
                && (try? redis.integer(["PUBSUB", "NUMPAT"])) == 1
        })
        for i in 0..<3 { try redis.cli(["PUBLISH", "news", "{\"id\":\(i),\"text\":\"hello\"}"]) }
        try redis.cli(["PUBLISH", "logs.app", "first line"])
        try redis.cli(["PUBLISH", "logs.db", "{\"not\": \"decoded\"}"])
        try redis.cli(["PUBLISH", "other", "not matched"])
        let lines = { (path: String) in ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        #expect(sluice.waitUntil(30) { lines(jsonOut).count >= 3 && lines(plainOut).count >= 2 })
        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        #expect(lines(jsonOut) == ["0 hello news", "1 hello news", "2 hello news"])
        #expect(lines(plainOut) == ["first line|logs.app", "{\"not\": \"decoded\"}|logs.db"])
    }

    /// `db` and `password`: items of db 3 are read (db 0's list of the same name is left alone); a wrong password is
    /// an error in the log naming the plugin, and nothing is read.
    @Test func dbAndPasswordAreHonoured() throws {
        let redis = try RedisServer(password: "s3cret")
        defer { #expect(redis.stop() == 0) }
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        try redis.push("q", Self.items(0..<10), db: 3)
        try redis.push("q", ["{\"id\":999}"], db: 0)

        let bad = try SluiceProcess(["-e", Self.listConfig(port: redis.port, key: "q", out: work.appendingPathComponent("bad.jsonl").path,
                                                          extra: "password => \"wrong\" db => 3 id => \"redis_in\""), "--api.enabled", "false"])
        #expect(bad.waitForLog("refused the password"))
        let badResult = bad.stop()
        #expect(badResult.exitCode == 0, "\(badResult.stderr.suffix(2000))")
        let errorLine = badResult.stderr.split(separator: "\n").first { $0.contains("refused the password") } ?? ""
        #expect(errorLine.contains("ERROR") && errorLine.contains("[redis_in]") && errorLine.contains("WRONGPASS"), "\(errorLine)")
        #expect(try redis.integer(["LLEN", "q"], db: 3) == 10)

        let out = work.appendingPathComponent("good.jsonl").path
        let good = try SluiceProcess(["-e", Self.listConfig(port: redis.port, key: "q", out: out, extra: "password => \"s3cret\" db => 3"), "--api.enabled", "false"])
        #expect(good.waitUntil(30) { redisTestIDs(inFile: out).count >= 10 })
        #expect(good.waitUntil(10) { (try? redis.processingLength("q", db: 3)) == 0 })
        let result = good.stop()
        #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        #expect(redisTestIDs(inFile: out).sorted() == Array(0..<10))
        #expect(try redis.integer(["LLEN", "q"], db: 3) == 0)
        #expect(try redis.items("q", db: 0) == ["{\"id\":999}"])
    }
}

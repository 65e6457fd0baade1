import Foundation
import Testing

/// The redis output against a real `redis-server`, read back with `redis-cli`: lists (one RPUSH per event or
/// batched, sprintf keys), channels, congestion waiting, and a server killed and restarted mid-run.
@Suite(.serialized, .enabled(if: RedisServer.isAvailable, "redis-server and redis-cli are not installed (make test-deps)"))
struct RedisOutputTests {
    static func lines(_ ids: Range<Int>, kind: (Int) -> String = { _ in "a" }) -> Data {
        Data(ids.map { "{\"id\":\($0),\"kind\":\"\(kind($0))\"}\n" }.joined().utf8)
    }

    @Test(arguments: ["", "batch => true batch_events => 7"])
    func stdinToListInOrder(extra: String) throws {
        let redis = try RedisServer()
        defer { #expect(redis.stop() == 0) }
        let n = 2000
        let config = "input { stdin { codec => json_lines } } output { redis { port => \(redis.port) key => \"out-%{kind}\" data_type => \"list\" \(extra) } }"
        let result = try runSluice(["-e", config, "-w", "1", "--api.enabled", "false"], stdin: Self.lines(0..<n) { $0 % 3 == 0 ? "x" : "y" })
        #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        let x = redisTestIDs(try redis.items("out-x").map { Substring($0) })
        let y = redisTestIDs(try redis.items("out-y").map { Substring($0) })
        #expect(x == (0..<n).filter { $0 % 3 == 0 })
        #expect(y == (0..<n).filter { $0 % 3 != 0 })
        // The json codec wrote whole events.
        let first = try redis.items("out-x").first ?? ""
        #expect(first.contains("\"kind\":\"x\"") && first.contains("\"@timestamp\""), "\(first)")
    }

    @Test func channelReachesASubscriber() throws {
        let redis = try RedisServer()
        defer { #expect(redis.stop() == 0) }
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let received = work.appendingPathComponent("subscriber.txt")
        FileManager.default.createFile(atPath: received.path, contents: nil)
        let subscriber = Process()
        subscriber.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        subscriber.arguments = ["-h", "127.0.0.1", "-p", String(redis.port), "SUBSCRIBE", "events"]
        subscriber.standardOutput = try FileHandle(forWritingTo: received)
        subscriber.standardError = FileHandle.nullDevice
        try subscriber.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, (try? redis.cli(["PUBSUB", "NUMSUB", "events"]))?.split(separator: "\n").last != "1" { usleep(50_000) }

        let n = 200
        let config = "input { stdin { codec => json_lines } } output { redis { port => \(redis.port) key => \"events\" data_type => \"channel\" } }"
        let result = try runSluice(["-e", config, "-w", "1", "--api.enabled", "false"], stdin: Self.lines(0..<n))
        #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        let ids = { redisTestIDs(((try? String(contentsOf: received, encoding: .utf8)) ?? "").split(separator: "\n")) }
        let end = Date().addingTimeInterval(10)
        while Date() < end, ids().count < n { usleep(50_000) }
        #expect(subscriber.isRunning, "the subscriber was still listening")
        kill(subscriber.processIdentifier, SIGKILL)
        subscriber.waitUntilExit()
        #expect(subscriber.terminationReason == .uncaughtSignal && subscriber.terminationStatus == SIGKILL)
        #expect(ids() == Array(0..<n))
    }

    /// With the list over `congestion_threshold`, the output waits (the list does not grow); once `redis-cli`
    /// trims it, the waiting events are written.
    @Test func congestionThresholdWaitsUntilTheListShrinks() throws {
        let redis = try RedisServer()
        defer { #expect(redis.stop() == 0) }
        try redis.push("busy", (0..<10).map { "{\"id\":\(1000 + $0)}" })
        let config = """
            input { stdin { codec => json_lines } }
            output { redis { port => \(redis.port) key => "busy" data_type => "list" congestion_threshold => 5 congestion_interval => 0.2 } }
            """
        let sluice = try SluiceProcess(["-e", config, "-w", "1", "--api.enabled", "false"], stdinPipe: true)
        sluice.input.fileHandleForWriting.write(Self.lines(0..<3))
        #expect(sluice.waitForLog("more than congestion_threshold"))
        usleep(1_000_000)
        #expect(try redis.integer(["LLEN", "busy"]) == 10, "the output wrote past the threshold")
        try redis.cli(["LTRIM", "busy", "0", "0"])
        #expect(sluice.waitUntil(10) { (try? redis.integer(["LLEN", "busy"])) == 4 })
        try sluice.input.fileHandleForWriting.close()
        #expect(sluice.waitUntil(60) { !sluice.process.isRunning }, "sluice ends by itself at the end of its input")
        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        #expect(redisTestIDs(try redis.items("busy").map { Substring($0) }) == [1000, 0, 1, 2])
    }

    /// The server is killed (appendfsync always keeps what it acknowledged) and restarted while events flow: every
    /// event ends up in the list, counted by id.
    @Test func serverKilledAndRestartedLosesNothing() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let redis = try RedisServer(appendOnlyDirectory: work)
        let config = """
            input { stdin { codec => json_lines } }
            output { redis { port => \(redis.port) key => "durable" data_type => "list" reconnect_interval => 0.2 } }
            """
        let sluice = try SluiceProcess(["-e", config, "-w", "2", "--api.enabled", "false"], stdinPipe: true)
        let n = 3000
        sluice.input.fileHandleForWriting.write(Self.lines(0..<1000))
        #expect(sluice.waitUntil(30) { (try? redis.integer(["LLEN", "durable"])) ?? 0 >= 1000 })
        #expect(redis.kill(), "redis-server died of the SIGKILL")
        sluice.input.fileHandleForWriting.write(Self.lines(1000..<2000))
        #expect(sluice.waitForLog("Failed to write"))
        usleep(500_000)
        try redis.start()
        sluice.input.fileHandleForWriting.write(Self.lines(2000..<n))
        try sluice.input.fileHandleForWriting.close()
        #expect(sluice.waitUntil(60) { !sluice.process.isRunning }, "sluice ends by itself at the end of its input")
        let result = sluice.stop()
        #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        let ids = redisTestIDs(try redis.items("durable").map { Substring($0) })
        let missing = Set(0..<n).subtracting(ids)
        #expect(missing.isEmpty, "\(missing.count) events missing, e.g. \(missing.sorted().prefix(5))")
        print("redis output restart: \(ids.count) items for \(n) events (\(ids.count - Set(ids).count) duplicates)")
        #expect(redis.stop() == 0)
    }
}

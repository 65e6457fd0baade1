import Foundation
import Testing
import SluicePlugins
@testable import SluiceCore

/// The retry policy: backoff ceilings, full jitter, the transient/permanent split and the settings that set it.
struct DLQRedrivePolicyTests {
    let policy = RedrivePolicy()
    let t0 = Timestamp(seconds: 1_800_000_000)

    func entry(_ reason: String, plugin: String = "elasticsearch", attempts: Int = 0, at time: Timestamp? = nil) -> DeadLetterQueueEntry {
        let event = Event()
        if attempts > 0 { event.metadata[DeadLetterQueueEntry.attemptsKey] = .int(attempts) }
        return DeadLetterQueueEntry(entryTime: time ?? t0, event: event, pluginType: plugin, pluginID: "p", reason: reason)
    }

    @Test func ceilingsDoubleFromTheBaseDelayUpToTheMaximum() {
        // 60 s × 2^n, capped at 1 h: the seed document's defaults.
        #expect((0...8).map { policy.ceilingMilliseconds(attempts: $0) / 1000 } == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600])
        #expect(policy.ceilingMilliseconds(attempts: 1_000) == 3_600_000, "no overflow")
        let small = RedrivePolicy(baseDelayMilliseconds: 1_500, maxDelayMilliseconds: 5_000)
        #expect((0...3).map { small.ceilingMilliseconds(attempts: $0) } == [1_500, 3_000, 5_000, 5_000])
    }

    /// Full jitter: every delay lies in [0, ceiling), the draws are fixed per entry and attempt within a process,
    /// and they spread evenly (mean and quartiles of 20,000 draws).
    @Test func fullJitterStaysWithinItsBoundsAndSpreadsEvenly() {
        var draws: [Double] = []
        for segment in 1...20 {
            for k in 0..<1_000 {
                let id = DeadLetterQueueEntryID(segment: segment, offset: 1 + k * 97)
                let u = RedrivePolicy.jitter(for: id, attempts: k % 5, seed: 42)
                #expect(u >= 0 && u < 1)
                #expect(u == RedrivePolicy.jitter(for: id, attempts: k % 5, seed: 42), "the same draw on every scan")
                draws.append(u)
                let delay = policy.delayMilliseconds(attempts: k % 5, jitter: u)
                #expect(delay >= 0 && delay < policy.ceilingMilliseconds(attempts: k % 5))
            }
        }
        let mean = draws.reduce(0, +) / Double(draws.count)
        #expect(abs(mean - 0.5) < 0.01)
        let sorted = draws.sorted()
        #expect(abs(sorted[draws.count / 4] - 0.25) < 0.02 && abs(sorted[3 * draws.count / 4] - 0.75) < 0.02)
        let id = DeadLetterQueueEntryID(segment: 3, offset: 1)
        #expect(RedrivePolicy.jitter(for: id, attempts: 0, seed: 1) != RedrivePolicy.jitter(for: id, attempts: 1, seed: 1),
                "each attempt draws again")
    }

    @Test func decisionsFollowTheKindTheBackoffAndTheAttempts() {
        let transient = entry("Could not index event to Elasticsearch. status: 503, action: [], response: {}")
        // Due at entry time + jitter × 60 s.
        #expect(policy.decide(transient, kind: .transient, jitter: 0.5, now: t0.adding(seconds: 29)) == .wait(until: t0.adding(seconds: 30)))
        #expect(policy.decide(transient, kind: .transient, jitter: 0.5, now: t0.adding(seconds: 30)) == .redrive)
        let third = entry("Could not index event to Elasticsearch. status: 503", attempts: 2)
        #expect(policy.decide(third, kind: .transient, jitter: 0.25, now: t0.adding(seconds: 59)) == .wait(until: t0.adding(seconds: 60)))
        let permanent = entry("Could not index event to Elasticsearch. status: 400, action: []")
        #expect(policy.decide(permanent, kind: .permanent, jitter: 0, now: t0.adding(seconds: 86_400)) == .keep)
        let exhausted = entry("Could not index event to Elasticsearch. status: 400", attempts: 5)
        #expect(policy.decide(exhausted, kind: .permanent, jitter: 0, now: t0) == .archive)
    }

    /// The reasons Sluice's and Logstash's plugins write, and what each means for a retry.
    @Test(arguments: [
        ("elasticsearch", #"Could not index event to Elasticsearch. status: 400, action: ["index", {:_id=>nil}], response: {"index"=>{"status"=>400}}"#, FailureKind.permanent),
        ("elasticsearch", #"Could not index event to Elasticsearch. status: 404, action: ["update", {}]"#, .permanent),
        ("elasticsearch", #"Could not index event to Elasticsearch. status: 429, action: []"#, .transient),
        ("elasticsearch", #"Could not index event to Elasticsearch. status: 503, action: []"#, .transient),
        ("elasticsearch", "Could not index event to Elasticsearch: the pipeline shut down before the event was accepted (Connection refused). action: []", .transient),
        ("elasticsearch", "Badly formatted index, after interpolation still contains placeholder: [logs-%{x}]; event: `{}`", .permanent),
        ("http", "HTTP output: non-2xx HTTP code 500 from http://h/x; response body: oops", .transient),
        ("http", "HTTP output: non-2xx HTTP code 408 from http://h/x; response body: ", .transient),
        ("http", "HTTP output: non-2xx HTTP code 404 from http://h/x; response body: nope", .permanent),
        ("http", "HTTP output: could not fetch http://127.0.0.1:9/: connection refused", .transient),
        ("http", "HTTP output: the pipeline shut down while the request was being retried (http://h/)", .transient),
        ("tcp", "Could not be sent to 127.0.0.1:5000 before shutdown", .transient),
        ("if-statement", "condition evaluation error, Unexpected input `>` comparison of String and Integer", .permanent),
        ("grok", "grok failed to match", .permanent),
    ])
    func reasonsAreClassified(_ plugin: String, _ reason: String, _ kind: FailureKind) {
        #expect(FailureKind(entry(reason, plugin: plugin)) == kind)
    }

    /// Entries real Logstash wrote (400 mapping errors of its Elasticsearch output) are permanent.
    @Test func entriesLogstashWroteArePermanent() throws {
        let dir = DLQTestSupport.fixturesDirectory + "/logstash-dlq/main"
        let entries = DeadLetterQueueAdmin(directory: dir).entries()
        #expect(!entries.isEmpty)
        #expect(entries.allSatisfy { FailureKind($0) == .permanent })
    }

    @Test func settingsHaveTheSeedDefaultsAndAreChecked() throws {
        var s = Settings()
        #expect(try s.redrivePolicy() == RedrivePolicy())
        try s.set("dead_letter_queue.enable", "true", origin: "test")
        let archive = try #require(try s.deadLetterQueueSettings(pipelineID: "main")?.archive)
        #expect(archive == DeadLetterQueueArchiveSettings(afterAttempts: 5, maxBytes: 1_073_741_824, retainAge: .seconds(7 * 86_400)))
        try s.set("dead_letter_queue.redrive.automatic", "true", origin: "test")
        try s.set("dead_letter_queue.redrive.max_attempts", "3", origin: "test")
        try s.set("dead_letter_queue.redrive.base_delay", "500ms", origin: "test")
        try s.set("dead_letter_queue.redrive.max_delay", "10m", origin: "test")
        #expect(try s.redrivePolicy() == RedrivePolicy(automatic: true, maxAttempts: 3, baseDelayMilliseconds: 500, maxDelayMilliseconds: 600_000))
        #expect(try s.deadLetterQueueSettings(pipelineID: "main")?.archive?.afterAttempts == 3)

        func refused(_ key: String, _ value: String, _ message: String) {
            var bad = s
            #expect(throws: Never.self) { try bad.set(key, value, origin: "test") }
            #expect { _ = try bad.redrivePolicy(); _ = try bad.deadLetterQueueSettings(pipelineID: "main") } throws: {
                ($0 as? SettingsError)?.message.contains(message) == true
            }
        }
        refused("dead_letter_queue.redrive.max_attempts", "0", #""dead_letter_queue.redrive.max_attempts" must be a positive integer"#)
        refused("dead_letter_queue.redrive.base_delay", "60", "must be a positive duration such as 60s")
        refused("dead_letter_queue.redrive.base_delay", "2h", #"must not exceed "dead_letter_queue.redrive.max_delay" (10m)"#)
        refused("dead_letter_queue.archive.retain.age", "week", "dead_letter_queue.archive.retain.age")
        refused("dead_letter_queue.archive.max_bytes", "lots", #"Setting "dead_letter_queue.archive.max_bytes" must be a byte size"#)
        refused("dead_letter_queue.redrive.automatic", "sometimes", "dead_letter_queue.redrive.automatic")
        #expect(Settings.pipelineKeys.isSuperset(of: Settings.defaults.keys.filter { $0.hasPrefix("dead_letter_queue.redrive.") }))
    }
}

/// The automatic redriver on a running pipeline, its clock injected: what is due goes back in, what keeps failing
/// is archived after its attempts, permanent failures stay, and nothing is lost or sent twice.
@Suite(.serialized)
struct DLQRedriverTests {
    /// A running pipeline that idles on a `pipeline` input; redriven events with `ok` are delivered (null), the others
    /// fail again at an http output whose server is not there (a transient failure).
    func startPipeline(_ work: URL, maxAttempts: Int = 3) throws -> Pipeline {
        var s = Settings()
        try s.set("path.data", work.path, origin: "test")
        try s.set("dead_letter_queue.enable", "true", origin: "test")
        try s.set("pipeline.workers", "1", origin: "test")
        try s.set("dead_letter_queue.redrive.max_attempts", String(maxAttempts), origin: "test")
        let text = """
            input { pipeline { address => "redrive-\(UUID().uuidString)" } }
            output {
              if [ok] { null { id => "sink" } }
              else { http { id => "away" url => "http://127.0.0.1:\(SluiceProcess.freePort())/" http_method => "post" retry_failed => false automatic_retries => 0 } }
            }
            """
        let pipeline = try Agent(registry: builtinRegistry).compile(
            PipelineDefinition(id: "main", sources: ConfigSources.fromString(text), settings: s))
        pipeline.start()
        return pipeline
    }

    func event(_ n: Int, ok: Bool) -> Event {
        let e = Event()
        e.fields["n"] = .int(n)
        e.fields["ok"] = .bool(ok)
        return e
    }

    func settle(_ pipeline: Pipeline) {
        let end = Date().addingTimeInterval(30)
        while pipeline.redrivesInFlight.count > 0 && Date() < end { usleep(10_000) }
        #expect(pipeline.redrivesInFlight.count == 0, "redriven events were acknowledged")
    }

    @Test func dueTransientFailuresAreRedrivenUntilTheirAttemptsAreUsedUpThenArchived() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try startPipeline(work)
        defer { pipeline.stop(); pipeline.wait() }
        let writer = try #require(pipeline.deadLetterQueue)
        for n in 0..<10 {
            #expect(writer.write(event(n, ok: n % 2 == 0), pluginType: "elasticsearch", pluginID: "es",
                                 reason: "Could not index event to Elasticsearch. status: 503, action: [\(n)]"))
        }
        for n in 10..<15 {
            #expect(writer.write(event(n, ok: true), pluginType: "elasticsearch", pluginID: "es",
                                 reason: "Could not index event to Elasticsearch. status: 400, action: [\(n)]"))
        }
        let admin = DeadLetterQueueAdmin(directory: writer.directory)
        let written = admin.entries()
        #expect(written.count == 15)
        let newest = written.map(\.entryTime).max()!
        let redriver = DeadLetterQueueRedriver(pipeline: pipeline, writer: writer, policy: pipeline.redrivePolicy, seed: 7)

        // Before the entries were written nothing is due; the earliest due time is within the first ceiling.
        let early = redriver.tick(now: written.map(\.entryTime).min()!.adding(seconds: -1))
        #expect(early.redriven == 0 && early.archived == 0)
        let due = try #require(early.nextDue)
        #expect(!(due < written.map(\.entryTime).min()!) && due < newest.adding(seconds: 60))

        // After the first ceiling (60 s) every transient entry is due; the 400s stay.
        #expect(redriver.tick(now: newest.adding(seconds: 60)) == .init(redriven: 10, archived: 0, nextDue: nil))
        settle(pipeline)
        var left = admin.entries()
        #expect(left.filter { $0.pluginType == "elasticsearch" }.map { $0.event.fields["n"]?.intValue } == (10..<15).map { $0 })
        let failedAgain = left.filter { $0.pluginType == "http" }
        #expect(failedAgain.map { $0.event.fields["n"]?.intValue } == [1, 3, 5, 7, 9])
        #expect(failedAgain.allSatisfy { $0.attempts == 1 && FailureKind($0) == .transient })

        // Two more rounds: the third failure of each odd event is archived (max_attempts 3), never duplicated.
        for round in 2...3 {
            let tick = redriver.tick(now: Timestamp.now().adding(seconds: 7_200))
            #expect(tick.redriven == 5, "round \(round)")
            settle(pipeline)
        }
        left = admin.entries()
        #expect(left.count == 5 && left.allSatisfy { $0.pluginType == "elasticsearch" && $0.attempts == 0 })
        let archive = DeadLetterQueueAdmin(directory: writer.directory + "/archive").entries()
        #expect(archive.map { $0.event.fields["n"]?.intValue } == [1, 3, 5, 7, 9])
        #expect(archive.allSatisfy { $0.attempts == 3 && $0.pluginID == "away" && $0.reason.hasPrefix("HTTP output: could not fetch") })
        #expect(redriver.tick(now: Timestamp.now().adding(seconds: 86_400)) == .init(redriven: 0, archived: 0, nextDue: nil),
                "only permanent failures are left")
    }

    /// Entries whose attempts were used up under an earlier, larger `max_attempts` move to the archive as they are.
    @Test func exhaustedEntriesAreMovedToTheArchive() throws {
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let pipeline = try startPipeline(work, maxAttempts: 5)
        defer { pipeline.stop(); pipeline.wait() }
        let writer = try #require(pipeline.deadLetterQueue)
        for n in 0..<4 {
            let e = event(n, ok: false)
            e.metadata[DeadLetterQueueEntry.attemptsKey] = .int(n)
            #expect(writer.write(e, pluginType: "elasticsearch", pluginID: "es", reason: "Could not index event to Elasticsearch. status: 400"))
        }
        let redriver = DeadLetterQueueRedriver(pipeline: pipeline, writer: writer, policy: RedrivePolicy(maxAttempts: 2), seed: 1)
        #expect(redriver.tick(now: Timestamp.now()) == .init(redriven: 0, archived: 2, nextDue: nil))
        #expect(DeadLetterQueueAdmin(directory: writer.directory).entries().map(\.attempts) == [0, 1])
        #expect(DeadLetterQueueAdmin(directory: writer.directory + "/archive").entries().map(\.attempts) == [2, 3])
    }
}

import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// The outputs test: a `PipelinedOutput` whose deliveries settle only when the test says so, so that what the
/// worker does meanwhile can be watched. Shared by the tests of this suite (serialized).
final class HeldDeliveries: @unchecked Sendable {
    static let shared = HeldDeliveries()
    private let lock = Lock(conditions: 1)
    private var released = false
    private(set) var begun = 0
    private(set) var finished = 0
    /// Events received in these places (0 the first, over all batches) are reported `retryLater`.
    var keptForLater: Set<Int> = []
    private var received = 0

    func reset(keeping: Set<Int>) { lock.withLock { released = false; begun = 0; finished = 0; received = 0; keptForLater = keeping } }
    func release() { lock.withLock { released = true; lock.broadcast() } }
    func counts() -> (begun: Int, finished: Int) { lock.withLock { (begun, finished) } }
    /// Counts a begun delivery; returns the events of it that are to be kept for later.
    fileprivate func didBegin(_ events: [Event]) -> [Event] {
        lock.withLock {
            begun += 1
            defer { received += events.count }
            return events.indices.filter { keptForLater.contains(received + $0) }.map { events[$0] }
        }
    }
    fileprivate var isReleased: Bool { lock.withLock { released } }
    fileprivate func waitForRelease() {
        lock.withLock {
            while !released { lock.wait() }
            finished += 1
        }
    }

    final class Output: PipelinedOutput, @unchecked Sendable {
        static let name = "held"
        static let summary = "Holds every delivery until the test releases them."
        struct Settings: PluginSettings { init() {} }
        init(settings: Settings, context: PluginContext) throws {}
        func receive(_ events: [Event]) -> OutputOutcome { begin(events).finish() }
        func begin(_ events: [Event]) -> any OutputDelivery {
            Delivery(kept: HeldDeliveries.shared.didBegin(events))
        }
    }

    final class Delivery: OutputDelivery {
        let kept: [Event]
        init(kept: [Event]) { self.kept = kept }
        var isSettled: Bool { HeldDeliveries.shared.isReleased }
        func finish() -> OutputOutcome {
            HeldDeliveries.shared.waitForRelease()
            var outcome = OutputOutcome()
            for e in kept { outcome.record(e, .retryLater) }
            return outcome
        }
    }
}

@Suite(.serialized)
struct PipelinedOutputTests {
    func startPipeline(events: Int, keepOpen: Bool = false, queue: String = "memory") throws -> Pipeline {
        var s = Settings()
        try s.set("queue.type", queue, origin: "test")
        try s.set("queue.drain", "true", origin: "test")  // the persisted queue, too, is drained when the input ends
        try s.set("pipeline.workers", "1", origin: "test")
        try s.set("pipeline.batch.size", "10", origin: "test")
        try s.set("path.data", TestPaths.temporaryDirectory().path, origin: "test")
        let registry = PluginRegistry(builtinPlugins + [.output(HeldDeliveries.Output.self)])
        // A `pipeline` input nobody sends to keeps the queue open (quiet) after the generator ends.
        let idle = keepOpen ? #"pipeline { address => "idle-\#(UUID().uuidString)" }"# : ""
        let text = #"input { generator { message => "x" count => \#(events) } \#(idle) } output { held { id => "held" } }"#
        let pipeline = try Agent(registry: registry).compile(PipelineDefinition(id: "main", sources: ConfigSources.fromString(text), settings: s))
        pipeline.start()
        return pipeline
    }

    func waitUntil(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while !condition() && Date() < end { usleep(5_000) }
        return condition()
    }

    /// While no delivery settles, one worker begins its window's batches plus the one it then waits on, and no more;
    /// nothing counts as delivered until the deliveries settle, and then every event does.
    @Test(arguments: ["memory", "persisted"])
    func aWorkerKeepsItsWindowOfBatchesInFlightAndCountsThemOnceSettled(queue: String) throws {
        HeldDeliveries.shared.reset(keeping: [])
        let began = Clock.nanoseconds()
        let pipeline = try startPipeline(events: 300, queue: queue)
        let window = Pipeline.maxBatchesInFlight
        #expect(waitUntil { HeldDeliveries.shared.counts().begun == window + 1 }, "begun: \(HeldDeliveries.shared.counts())")
        usleep(200_000)
        #expect(HeldDeliveries.shared.counts().begun == window + 1, "no batch beyond the window is begun")
        #expect(HeldDeliveries.shared.counts().finished == 0)
        #expect(pipeline.ledger.delivered.load(ordering: .relaxed) == 0, "nothing is delivered before its delivery settles")
        HeldDeliveries.shared.release()
        pipeline.wait()
        #expect(pipeline.ledger.delivered.load(ordering: .relaxed) == 300)
        let counts = HeldDeliveries.shared.counts()
        #expect(counts.begun == counts.finished, "every delivery begun was finished: \(counts)")
        // Batches overlapping in time count the worker's own time once (worker_utilization stays at most 100%):
        // the one worker's batches, and the output's time, add up to no more than the wall time.
        let wall = Clock.nanoseconds() - began
        let metrics = pipeline.program.metrics
        #expect(metrics.durationNanos.load(ordering: .relaxed) <= wall, "batch time \(metrics.durationNanos.load(ordering: .relaxed)) ns in \(wall) ns")
        let output = try #require(metrics.plugins["held"])
        #expect(output.durationNanoseconds <= wall, "output time \(output.durationNanoseconds) ns in \(wall) ns")
        #expect(output.durationNanoseconds > 0)
        #expect(pipeline.ledger.snapshot(queued: 0).unaccounted == 0)
    }

    /// On a queue that stays open but quiet, settled deliveries are finished and counted without waiting for another
    /// batch.
    @Test func settledDeliveriesAreCountedWhileTheQueueIsQuiet() throws {
        HeldDeliveries.shared.reset(keeping: [])
        let pipeline = try startPipeline(events: 20, keepOpen: true)
        defer { pipeline.stop(); pipeline.wait() }
        #expect(waitUntil { HeldDeliveries.shared.counts().begun > 0 })
        usleep(100_000)
        #expect(pipeline.ledger.delivered.load(ordering: .relaxed) == 0)
        HeldDeliveries.shared.release()
        #expect(waitUntil { pipeline.ledger.delivered.load(ordering: .relaxed) == 20 }, "delivered \(pipeline.ledger.delivered.load(ordering: .relaxed))")
    }

    /// Events a delivery reports `retryLater` are counted undelivered once it finishes, the others delivered.
    @Test func retryLaterReportedAtTheFinishKeepsThoseEventsUndelivered() throws {
        HeldDeliveries.shared.reset(keeping: [3, 150])
        let pipeline = try startPipeline(events: 200)
        #expect(waitUntil { HeldDeliveries.shared.counts().begun > 0 })
        HeldDeliveries.shared.release()
        pipeline.wait()
        #expect(pipeline.ledger.delivered.load(ordering: .relaxed) == 198)
        #expect(pipeline.ledger.undelivered.load(ordering: .relaxed) == 2)
        #expect(pipeline.lostEvents == 2, "the memory queue reports the two as lost at the end")
    }
}

import Foundation
import Synchronization
import Testing
import SluicePlugins
@testable import SluiceCore

/// Races between the agent's threads (reloader, workers, the thread waiting for the pipelines): each test hammers
/// one interleaving that used to go wrong.
@Suite(.serialized)
struct ConcurrencyTests {
    func settings(_ data: URL, dlq: Bool = false, workers: Int = 1) throws -> Settings {
        var s = Settings()
        try s.set("path.data", data.path, origin: "test")
        try s.set("pipeline.workers", String(workers), origin: "test")
        try s.set("api.enabled", "false", origin: "test")
        if dlq { try s.set("dead_letter_queue.enable", "true", origin: "test") }
        return s
    }

    /// A reload that starts while the old pipeline is ending by itself: the old pipeline used to close the DLQ
    /// writer it had just handed over, and the new pipeline then ran with a closed writer (every entry lost).
    @Test func aReloadRacingThePipelinesEndLeavesTheNewPipelineAnOpenDeadLetterQueue() throws {
        for trial in 0..<20 {
            let data = TestPaths.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: data) }
            let s = try settings(data, dlq: true)
            // The old pipeline ends at once (one event); the new one runs until stopped (no sender ever comes).
            let ending = PipelineDefinition(
                id: "main", sources: ConfigSources.fromString("input { generator { count => 1 } } output { null {} }"), settings: s)
            let running = PipelineDefinition(
                id: "main", sources: ConfigSources.fromString(#"input { pipeline { address => "a\#(trial)" } } output { null {} }"#),
                settings: s)
            let agent = Agent(registry: builtinRegistry)
            agent.start([try agent.compile(ending)])
            agent.apply([running])
            let current = try #require(agent.runningPipelines.first)
            #expect(current.configHash == Agent.hash(running), "trial \(trial): the reload did not happen")
            let writer = try #require(current.deadLetterQueue)
            #expect(writer.write(event(n: .string("dead")), pluginType: "test", pluginID: "t", reason: "test"),
                    "trial \(trial): the reloaded pipeline's DLQ writer is closed")
            agent.stopAll()
            agent.waitAll()
        }
    }

    /// `wait()` on one thread while `start()` runs on another (the agent's waiting thread and the reloader starting
    /// a new pipeline): the list of threads was appended by one and read by the other without a lock.
    @Test func waitingForAPipelineWhileItStartsIsSafe() throws {
        let data = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let s = try settings(data, workers: 32)
        let definition = PipelineDefinition(
            id: "main", sources: ConfigSources.fromString("input { generator { count => 1 } } output { null {} }"), settings: s)
        let agent = Agent(registry: builtinRegistry)
        for _ in 0..<30 {
            let pipeline = try agent.compile(definition)
            let go = Atomic<Bool>(false)
            let waiter = try SluiceCore.Thread(name: "waiter") {
                while !go.load(ordering: .acquiring) {}
                while !pipeline.isFinished { pipeline.wait() }
                pipeline.wait()
            }
            go.store(true, ordering: .releasing)
            pipeline.start()
            waiter.join()
            pipeline.wait()
            #expect(pipeline.isFinished)
        }
    }
}

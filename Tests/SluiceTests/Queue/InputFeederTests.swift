import Foundation
import Synchronization
import Testing
@testable import SluiceCore

/// An input's pushes into the persisted queue go through its feeder thread (`InputHandOff.hand`): every event
/// arrives, in order, acknowledgements complete only once the queue has the events, the input waits while the
/// feeder is `capacity` events behind, and `pushQueued` (the `pipeline` input's) returns only once written.
@Suite struct InputFeederTests {
    private func queue(_ dir: URL, maxEvents: Int = 0) throws -> PersistedQueue {
        var settings = QueueTestSupport.settings(dir.path, pageCapacity: 1 << 20)
        settings.maxEvents = maxEvents
        return try QueueTestSupport.open(settings)
    }

    @Test func pushesArriveInOrderAndAcknowledgeOnceQueued() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let q = try queue(dir)
        #expect(q.prefersFeederThread)
        let sink = InputSink(queue: q, metrics: nil, handOffCapacity: 64)
        let safe = Atomic(0)
        for chunk in 0..<20 {
            let events = (0..<25).map { QueueTestSupport.event(chunk * 25 + $0) }
            if chunk % 2 == 0 {
                sink.push(contentsOf: events)
            } else {
                sink.push(contentsOf: events, acknowledgement: InputAcknowledgement(events: 25) { safe.add(25, ordering: .relaxed) })
            }
        }
        sink.finish()
        // Everything handed over is in the queue once `finish` returns, and so is every acknowledgement.
        #expect(q.snapshot.unread == 500)
        #expect(safe.load(ordering: .relaxed) == 250)
        #expect(QueueTestSupport.drain(q) == (0..<500).map { "id-\($0)" })
        q.shutdown()
    }

    @Test func theInputWaitsWhileTheFeederIsACapacityBehind() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The queue takes 10 unread events, so the feeder blocks there, and the hand-off holds 20 more.
        let q = try queue(dir, maxEvents: 10)
        let sink = InputSink(queue: q, metrics: nil, handOffCapacity: 20)
        let handed = Atomic(0)
        let pusher = try SluiceCore.Thread(name: "test-input") {
            for n in 0..<10 {
                sink.push(contentsOf: (0..<10).map { QueueTestSupport.event(n * 10 + $0) })
                handed.add(1, ordering: .relaxed)
            }
            sink.finish()
        }
        // The feeder's push of the first 10 fills the queue and blocks there; those 10 still count in the hand-off
        // until that push returns, so with the second push's 10 it is at capacity and the third push waits.
        let deadline = Date().addingTimeInterval(5)
        while handed.load(ordering: .relaxed) < 2 && Date() < deadline { usleep(10_000) }
        usleep(300_000)
        #expect(handed.load(ordering: .relaxed) == 2, "the input ran \(handed.load(ordering: .relaxed)) pushes ahead of a full queue")
        // Taking from the queue lets everything through, in order.
        var seen: [String] = []
        while seen.count < 100, let batch = q.take(max: 10, waitMillis: 5_000) {
            for e in batch.events { if case .string(let s)? = e.fields["message"] { seen.append(s) } }
            q.acknowledge(batch)
        }
        pusher.join()
        #expect(seen == (0..<100).map { "id-\($0)" })
        q.close()
        q.shutdown()
    }

    @Test func pushQueuedReturnsOnlyOnceTheEventsAreWritten() throws {
        let dir = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let q = try queue(dir)
        let sink = InputSink(queue: q, metrics: nil, handOffCapacity: 64)
        for n in 0..<5 {
            sink.pushQueued(contentsOf: (0..<10).map { QueueTestSupport.event(n * 10 + $0) })
            #expect(q.snapshot.unread == (n + 1) * 10)
        }
        sink.finish()
        #expect(QueueTestSupport.drain(q) == (0..<50).map { "id-\($0)" })
        q.shutdown()
    }
}

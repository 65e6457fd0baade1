import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// Lines left for the workers to decode (`UndecodedLines`): how the memory queue weighs them, and how the ledger
/// stays balanced when a line makes no event or several.
struct UndecodedLinesTests {
    /// Makes one event per line whose text is the line, none for a line "-", two for a line "2x".
    struct Echo: UndecodedLinesDecoder {
        func decode(_ lines: UndecodedLines, _ emit: (Event) -> Void) {
            lines.forEachLine { line in
                let text = String(decoding: line, as: UTF8.self)
                if text == "-" { return }
                for _ in 0..<(text == "2x" ? 2 : 1) {
                    let e = Event()
                    e.fields["message"] = .string(text)
                    emit(e)
                }
            }
        }
    }

    func entry(_ lines: [String]) -> Event {
        var bytes: [UInt8] = []
        var ends: [Int] = []
        for l in lines {
            bytes += Array(l.utf8)
            ends.append(bytes.count)
        }
        return Event(carrying: UndecodedLines(bytes: bytes, lineEnds: ends, decoder: Echo(), original: nil))
    }

    func plain(_ text: String) -> Event {
        let e = Event()
        e.fields["message"] = .string(text)
        return e
    }

    @Test func theQueueCountsAnEntryAsItsLinesAndTakesWholeEntriesUpToTheBatchSize() throws {
        let ledger = PipelineLedger()
        let queue = MemoryQueue(capacity: 20, undecodedLinesLimit: 5, ledger: ledger)
        #expect(queue.push([entry(["a", "b", "c", "d"]), plain("e"), entry(["f", "g", "h", "i", "j", "k"])], acknowledgement: nil, metrics: nil))
        #expect(queue.size == 11)
        #expect(ledger.accepted.load(ordering: .relaxed) == 11)
        let first = try #require(queue.take(max: 5, delayMillis: 0))
        #expect(first.events.count == 2, "the 4-line entry and the plain event make 5 events")
        #expect(first.hasUndecoded)
        // An entry over the batch size is still taken whole when it comes first.
        let second = try #require(queue.take(max: 5, delayMillis: 0))
        #expect(second.events.count == 1 && second.events[0].undecoded?.lineCount == 6)
        #expect(queue.size == 0)
        #expect(ledger.processing.load(ordering: .relaxed) == 11)
    }

    @Test func decodingSettlesTheLedgerWhenLinesMakeFewerOrMoreEvents() throws {
        let ledger = PipelineLedger()
        let metrics = PipelineMetrics(plugins: [])
        let queue = MemoryQueue(capacity: 20, undecodedLinesLimit: 10, metrics: metrics, ledger: ledger)
        queue.push([entry(["a", "-", "2x", "-"]), plain("b")], acknowledgement: nil, metrics: nil)
        let taken = try #require(queue.take(max: 10, delayMillis: 0))
        let decoded = taken.decodingLines(ledger: ledger, metrics: metrics)
        #expect(decoded.events.compactMap { $0.fields["message"]?.stringValue } == ["a", "2x", "2x", "b"])
        #expect(!decoded.hasUndecoded)
        // 5 counted at the push (4 lines + 1 event), 4 events made.
        #expect(ledger.accepted.load(ordering: .relaxed) == 4)
        #expect(ledger.processing.load(ordering: .relaxed) == 4)
        #expect(metrics.eventsIn.load(ordering: .relaxed) == 4)
    }

    /// A worker waiting for its batch to fill stops waiting once a push is blocked for room: an entry of many lines
    /// may not fit beside the few events waiting, and nothing else can come until the worker takes them.
    @Test func aBlockedPushEndsTheWorkersWaitForAFullBatch() throws {
        let queue = MemoryQueue(capacity: 10, undecodedLinesLimit: 10)
        queue.push([entry(["a", "b", "c", "d"])], acknowledgement: nil, metrics: nil)
        let pushed = DispatchSemaphore(value: 0)
        let big = entry(Array(repeating: "x", count: 8))
        Foundation.Thread {
            queue.push([big], acknowledgement: nil, metrics: nil)
            pushed.signal()
        }.start()
        let started = Date()
        // Without the blocked push the worker would wait the whole delay (an hour) for 6 more events.
        let first = try #require(queue.take(max: 10, delayMillis: 3_600_000))
        #expect(first.events.count == 1 && first.events[0].undecoded?.lineCount == 4)
        #expect(Date().timeIntervalSince(started) < 60)
        pushed.wait()
        queue.close()
        let second = try #require(queue.take(max: 10, delayMillis: 3_600_000))
        #expect(second.events[0].undecoded?.lineCount == 8)
        #expect(queue.take(max: 10, delayMillis: 0) == nil)
    }
}

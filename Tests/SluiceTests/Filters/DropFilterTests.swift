import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct DropFilterTests {
        func events(_ n: Int) -> [Value] { (0..<n).map { ["n": .int($0)] } }

        @Test func dropsEverythingByDefaultAndAtOneHundredPercent() throws {
            #expect(try FilterHarness.run("drop { }", events(50)).isEmpty)
            #expect(try FilterHarness.run("drop { percentage => 100 }", events(50)).isEmpty)
        }

        @Test func keepsEverythingAtZeroPercentWithoutDecorating() throws {
            let out = try FilterHarness.run(
                #"drop { percentage => 0 add_tag => ["kept"] add_field => { "f" => "v" } }"#, events(200))
            #expect(out.count == 200)
            #expect(out.map { $0.at("n") } == (0..<200).map { .int($0) })
            #expect(out.allSatisfy { $0.at("tags") == nil && $0.at("f") == nil })
        }

        @Test func dropsAboutThePercentageAsked() throws {
            let program = try FilterHarness.compile("drop { percentage => 30 }")
            let n = 20_000
            let kept = program.runFilters(events(n).map(FilterHarness.event)).count
            // Expected 14,000 kept; the standard deviation is about 65, so ±600 is over 9 sigma.
            #expect(abs(kept - 14_000) < 600, "kept \(kept) of \(n)")
        }

        @Test func fractionalPercentageIsAccepted() throws {
            let program = try FilterHarness.compile("drop { percentage => 99.5 }")
            let kept = program.runFilters(events(10_000).map(FilterHarness.event)).count
            #expect(kept > 0 && kept < 150, "kept \(kept)")
        }

        @Test func comparesTheRandomDrawAgainstTheThreshold() {
            let events = (0..<4).map { _ in Event() }
            var batch = FilterBatch(events: events)
            DropFilter(percentage: 50, random: { 0.5 }).filter(&batch)
            #expect(events.allSatisfy { !$0.cancelled })
            DropFilter(percentage: 50.1, random: { 0.5 }).filter(&batch)
            #expect(events.allSatisfy { $0.cancelled })
            #expect(batch.matched == [false, false, false, false])
        }
    }
}

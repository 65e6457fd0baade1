import Testing
@testable import SluiceCore

/// `FieldOverlay` gives exactly what `Event.set` gives for each of its fields in order, whatever the event already
/// holds: absent top-level fields, objects to merge into, scalars in the way, metadata.
@Suite struct FieldOverlayTests {
    static let sets: [(field: FieldReference, value: Value)] = [
        (FieldReference("[http][version]"), .string("HTTP/1.1")), (FieldReference("[http][request][body][bytes]"), .int(12)), (FieldReference("[url][domain]"), .string("example")),
        (FieldReference("[url][port]"), .int(8080)), (FieldReference("[@metadata][input][http][request][headers]"), .object(Object())), (FieldReference("[host][ip]"), .string("::1")),
        (FieldReference("[url][domain][inner]"), .string("refused: a string is in the way")), (FieldReference("plain"), .bool(true)),
    ]

    static func starting(_ fields: [(String, Value)], metadata: [(String, Value)] = []) -> Event {
        let e = Event()
        e.fields = Object()  // no @timestamp: two events made apart in time compare equal
        for (k, v) in fields { e.fields[k] = v }
        for (k, v) in metadata { e.metadata[k] = v }
        return e
    }

    @Test(arguments: [
        [("message", Value.string("m"))],
        [("http", Value.object(Object())), ("url", .string("a scalar"))],
        [("host", Value.object(Object())), ("plain", .int(1))],
        [("http", Value.object({ var o = Object(); o["version"] = .string("old"); o["keep"] = .int(1); return o }()))],
    ])
    func applyingEqualsSettingOneByOne(fields: [(String, Value)]) {
        let overlay = FieldOverlay(Self.sets)
        for metadata in [[], [("input", Value.string("scalar"))], [("other", Value.int(1))]] as [[(String, Value)]] {
            let expected = Self.starting(fields, metadata: metadata)
            for (field, value) in Self.sets { expected.set(field, value) }
            let actual = Self.starting(fields, metadata: metadata)
            overlay.apply(to: actual)
            #expect(actual.fields == expected.fields)
            #expect(actual.metadata == expected.metadata)
        }
    }

    @Test(arguments: [
        [("message", Value.string("m"))],
        [("url", Value.object({ var o = Object(); o["domain"] = .string("kept"); return o }())), ("plain", .int(1))],
        [("http", Value.string("a scalar"))],
    ])
    func onlyWhereAbsentKeepsWhatTheEventHas(fields: [(String, Value)]) {
        let overlay = FieldOverlay(Self.sets, onlyWhereAbsent: true)
        let expected = Self.starting(fields)
        for (field, value) in Self.sets where expected.get(field) == nil { expected.set(field, value) }
        let actual = Self.starting(fields)
        overlay.apply(to: actual)
        #expect(actual.fields == expected.fields)
        #expect(actual.metadata == expected.metadata)
    }

    @Test func eventsDoNotShareChangesThroughThePreparedSubtrees() {
        let overlay = FieldOverlay(Self.sets)
        let a = Event(), b = Event()
        overlay.apply(to: a)
        overlay.apply(to: b)
        a.set(FieldReference("[http][version]"), .string("changed"))
        #expect(b.get(FieldReference("[http][version]")) == .string("HTTP/1.1"))
    }
}

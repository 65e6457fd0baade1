import Testing
@testable import SluiceCore

@Suite("DLQ CBOR event codec")
struct DLQCBOREventCodecTests {
    private static func capture(_ name: String) throws -> [UInt8] {
        let text = String(decoding: try DLQTestSupport.fixture("logstash-cbor/\(name).annotated-cbor.asc"), as: UTF8.self)
        return DLQTestSupport.bytes(annotatedCBOR: text)
    }

    /// The event both captures hold (keys in the stringref-disabled capture's order).
    private static func checkCapturedEvent(_ event: Event, timestamp: String) {
        #expect(event.fields["host"] == (["hostname": "perhaps"] as Value))
        #expect(event.fields["event"] == (["original": "{\"test\":\"stringref\",\"extension\":{\"enabled\":true}}\n"] as Value))
        #expect(event.fields["@version"] == "1")
        #expect(event.fields["extension"] == (["enabled": true] as Value))
        #expect(event.fields["test"] == "stringref")
        #expect(event.timestamp == DLQTestSupport.timestamp(timestamp))
        #expect(event.fields.count == 6)
        #expect(event.metadata.isEmpty)
    }

    @Test func decodesTheStringrefDisabledCapture() throws {
        let bytes = try Self.capture("stringref-disabled")
        let event = try CBOREventCodec.decode(bytes)
        Self.checkCapturedEvent(event, timestamp: "2025-07-28T16:42:24.421446Z")
        #expect(event.fields.orderedKeys == ["host", "event", "@version", "extension", "@timestamp", "test"])
    }

    @Test func reencodesTheStringrefDisabledCaptureByteForByte() throws {
        let bytes = try Self.capture("stringref-disabled")
        let event = try CBOREventCodec.decode(bytes)
        let options = CBOREventCodec.EncodingOptions(stringReferences: false)
        #expect(DLQTestSupport.hex(CBOREventCodec.encode(event, options: options)) == DLQTestSupport.hex(bytes))
    }

    @Test func decodesAndReencodesTheStringrefEnabledCapture() throws {
        let bytes = try Self.capture("stringref-enabled")
        #expect(Array(bytes.prefix(3)) == [0xD9, 0x01, 0x00])
        let event = try CBOREventCodec.decode(bytes)
        Self.checkCapturedEvent(event, timestamp: "2025-07-28T15:43:53.340572Z")
        #expect(event.fields.orderedKeys == ["test", "@version", "extension", "@timestamp", "event", "host"])
        #expect(DLQTestSupport.hex(CBOREventCodec.encode(event)) == DLQTestSupport.hex(bytes))
    }

    @Test func encodesTheWorkedExampleOfSection5_5() {
        let encoded = CBOREventCodec.encode(SpecExamples.tinyEventValue())
        #expect(encoded.count == 180)
        #expect(DLQTestSupport.hex(encoded) == DLQTestSupport.hex(SpecExamples.tinyEvent))
        let plain = CBOREventCodec.encode(SpecExamples.tinyEventValue(), options: .init(stringReferences: false))
        #expect(plain.count == 201)
        #expect(plain.first == 0x9F)
    }

    @Test func decodesTheWorkedExampleOfSection5_5() throws {
        let event = try CBOREventCodec.decode(SpecExamples.tinyEvent)
        #expect(event.fields == SpecExamples.tinyEventValue().fields)
        #expect(event.fields.orderedKeys == ["message", "@version", "@timestamp"])
    }

    @Test func encodesScalarsAsTable5_3Says() {
        func valueBytes(_ v: Value) -> String {
            // The value's bytes inside DATA: after `bf 61 6b` (map, key "k") up to the closing `ff ff`.
            let plain = CBOREventCodec.encode(DLQTestSupport.event([("k", v)]), options: .init(stringReferences: false))
            let prefix = 1 + 18 + 1 + 5 + 1 + 27 + 1 + 2
            return DLQTestSupport.hex(Array(plain[prefix..<(plain.count - 2 - 5 - 31 - 2)]))
        }
        #expect(valueBytes(42) == "1b000000000000002a")
        #expect(valueBytes(-42) == "3b0000000000000029")
        #expect(valueBytes(1.5) == "fb3ff8000000000000")
        #expect(valueBytes(true) == "f5")
        #expect(valueBytes(false) == "f4")
        #expect(valueBytes(nil) == "9f71" + DLQTestSupport.hex(Array("org.jruby.RubyNil".utf8)) + "f6ff")
        #expect(valueBytes(["a"]) == "9f781a" + DLQTestSupport.hex(Array("org.logstash.ConvertedList".utf8))
            + "9f9f74" + DLQTestSupport.hex(Array("org.jruby.RubyString".utf8)) + "6161ffffff")
    }

    @Test func roundTripsEveryValueKind() throws {
        let nested: Value = [
            "s": "text", "i": 7, "n": -9_223_372_036_854_775_808, "big": 9_223_372_036_854_775_807, "d": 2.25,
            "t": .timestamp(Timestamp(seconds: 1, nanoseconds: 1)), "b": false, "z": nil,
            "list": [1, "two", [3.5, nil], ["deep": ["x"]]], "empty": [], "emptyMap": [:], "unicode": "é€😀",
        ]
        let event = DLQTestSupport.event([("a", nested), ("@timestamp", .timestamp(Timestamp(seconds: 5)))],
                                         metadata: [("m", ["k": 1])])
        for stringReferences in [false, true] {
            let bytes = CBOREventCodec.encode(event, options: .init(stringReferences: stringReferences))
            let back = try CBOREventCodec.decode(bytes)
            #expect(back.fields["a"] == nested)
            #expect(back.metadata == event.metadata)
        }
    }

    @Test func chunksTextLongerThan3996UTF16Units() throws {
        let long = String(repeating: "ab", count: 4000)  // 8000 units: chunks of 3996, 3996, 8
        let event = DLQTestSupport.event([("long", .string(long)), ("again", .string(long))])
        let bytes = CBOREventCodec.encode(event)
        let marker: [UInt8] = [0x7F, 0x79, 0x0F, 0x9C]  // indefinite text, chunk of 3996 bytes
        let hits = (0..<(bytes.count - 4)).filter { Array(bytes[$0..<($0 + 4)]) == marker }
        #expect(hits.count == 2)  // chunked strings never enter the stringref table
        #expect(try CBOREventCodec.decode(bytes).fields["again"] == .string(long))
        // A surrogate pair straddling the 3996-unit boundary stays whole.
        let emoji = String(repeating: "a", count: 3995) + "😀" + "tail"
        let back = try CBOREventCodec.decode(CBOREventCodec.encode(DLQTestSupport.event([("e", .string(emoji))])))
        #expect(back.fields["e"] == .string(emoji))
    }

    @Test func stringReferencesGrowTheirIndexWidth() throws {
        var fields: [(String, Value)] = [("@version", "1"), ("@timestamp", .timestamp(Timestamp(seconds: 0)))]
        for i in 0..<300 { fields.append(("key\(i)", .string("value-\(i % 7)"))) }
        let event = DLQTestSupport.event(fields)
        let bytes = CBOREventCodec.encode(event)
        #expect(try CBOREventCodec.decode(bytes).fields == event.fields)
    }

    @Test func decodesJacksonBignumsAndDecimals() throws {
        // Tag 2 with a leading 00 (top bit set), tag 3 holding |v|, tag 4 decimal fraction.
        #expect(CBOREventCodec.bigInteger(twosComplement: [0x00, 0xFF], negate: false) == .int(255))
        #expect(CBOREventCodec.bigInteger(twosComplement: [0x01, 0x00], negate: true) == .int(-256))
        #expect(CBOREventCodec.bigInteger(twosComplement: [0xFF], negate: false) == .int(-1))
        #expect(CBOREventCodec.bigInteger(twosComplement: [0x01] + [UInt8](repeating: 0, count: 8), negate: false)
            == .bigNumber(BigNumber(text: "18446744073709551616")), "beyond 64 bits: exact (issue 15)")
        let decimal = try CBOREventCodec.value(of: .tagged(4, .array([.negative(0), .unsigned(15)])))
        #expect(decimal == .double(1.5))
        let wrappedLong = try CBOREventCodec.value(of: .array([.text("java.lang.Long"), .unsigned(3)]))
        #expect(wrappedLong == .int(3))
    }

    @Test func acceptsABareRootAndAMissingMeta() throws {
        // {"DATA": ["org.logstash.ConvertedMap", {"a": 1}]} with definite lengths.
        var bytes: [UInt8] = [0xA1, 0x64] + Array("DATA".utf8) + [0x82, 0x78, 0x19] + Array("org.logstash.ConvertedMap".utf8)
        bytes += [0xA1, 0x61, 0x61, 0x01]
        let event = try CBOREventCodec.decode(bytes)
        #expect(event.fields["a"] == 1)
        #expect(event.fields["@version"] == "1")
        #expect(event.timestamp != nil)
    }

    @Test func rejectsGarbageWithoutCrashing() {
        let cases: [[UInt8]] = [
            [0xFF], [0x9F], [0xBF, 0x61], [0x7B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            [0x9B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], [0xD8, 0x19, 0x00], [0xD9, 0x01, 0x00, 0xD8, 0x19, 0x05],
            [0x1C], [0xF8, 0x20], [0x5F, 0x61, 0x61, 0xFF], [0x82, 0x61, 0x61], [0x61, 0x61, 0x61],
            [UInt8](repeating: 0x81, count: 5000), [UInt8](repeating: 0x9F, count: 100_000),
        ]
        for bytes in cases {
            #expect(throws: CBORDecodingError.self) { try CBOREventCodec.decode(bytes) }
        }
    }
}

import Testing
@testable import SluiceCore

/// The one-pass `CBOREventDecoder` against the two-pass reference (`CBORDecoder` + `CBOREventCodec.rootObjects`):
/// on events Sluice writes, on generated CBOR that reaches every item kind, tag and Logstash class name, and on
/// mutations of both, the two must give the same maps or the same error.
@Suite("CBOR one-pass event decoder")
struct CBOREventDecoderTests {
    /// The outcome of one decoder on one input, comparable across decoders (NaN equal to NaN).
    enum Outcome: CustomStringConvertible {
        case decoded(Object, Object)
        case failed(String)

        var description: String {
            switch self {
            case .decoded(let d, let m): return "decoded DATA \(d) META \(m)"
            case .failed(let e): return "failed: \(e)"
            }
        }
    }

    static func outcome(_ body: () throws(CBORDecodingError) -> (data: Object, meta: Object)) -> Outcome {
        do {
            let (data, meta) = try body()
            return .decoded(data, meta)
        } catch {
            return .failed("\(error)")
        }
    }

    static func same(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.double(let x), .double(let y)): return x == y || (x.isNaN && y.isNaN)
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.object(let x), .object(let y)): return same(x, y)
        default: return a == b
        }
    }

    static func same(_ a: Object, _ b: Object) -> Bool {
        a.orderedKeys == b.orderedKeys && zip(a, b).allSatisfy { same($0.1, $1.1) }
    }

    /// Decodes `bytes` both ways and records an issue when they disagree; returns whether it decoded.
    @discardableResult
    static func compare(_ bytes: [UInt8], _ what: @autoclosure () -> String) -> Bool {
        let range = 0..<bytes.count
        let reference = outcome { () throws(CBORDecodingError) in try CBOREventCodec.referenceRootObjects(bytes, range: range) }
        let onePass = outcome { () throws(CBORDecodingError) in try CBOREventDecoder.rootObjects(bytes, range: range) }
        // The plain-form decoder may give up (nil), but what it gives must be the reference's.
        if let plain = CBORPlainEventDecoder.rootObjects(bytes, range: range) {
            guard case .decoded(let d, let m) = reference, same(d, plain.data), same(m, plain.meta) else {
                Issue.record("\(what()): reference \(reference), plain form \(plain) for \(DLQTestSupport.hex(bytes))")
                return false
            }
        }
        switch (reference, onePass) {
        case (.decoded(let d1, let m1), .decoded(let d2, let m2)):
            if !(same(d1, d2) && same(m1, m2)) {
                Issue.record("\(what()): reference \(reference), one pass \(onePass) for \(DLQTestSupport.hex(bytes))")
            }
            return true
        case (.failed(let e1), .failed(let e2)):
            if e1 != e2 { Issue.record("\(what()): reference \(e1), one pass \(e2) for \(DLQTestSupport.hex(bytes))") }
            return false
        default:
            Issue.record("\(what()): reference \(reference), one pass \(onePass) for \(DLQTestSupport.hex(bytes))")
            return false
        }
    }

    // MARK: Events Sluice writes

    static func randomValue(_ rng: inout SplitMix64, depth: Int, bigIntegers: Bool) -> Value {
        switch rng.next() % (depth > 3 ? 8 : 10) {
        case 0: return .null
        case 1: return .bool(rng.next() % 2 == 0)
        case 2: return .int(Int(bitPattern: UInt(rng.next())) >> Int(rng.next() % 64))
        case 3: return .double(Double(Int(rng.next() % 20_001) - 10_000) / 8)
        case 4: return .string(["", "a", "héllo", "org.jruby.RubyString", "2026-12-07T10:00:00.123Z", "DATA", "k k k"][Int(rng.next() % 7)])
        case 5: return .timestamp(Timestamp(seconds: Int64(rng.next() % 4_000_000_000), nanoseconds: Int32(rng.next() % 1_000_000_000)))
        case 6:
            // Numbers written as byte strings (beyond 64 bits, or over 18 digits) only without string references:
            // Sluice's writer does not number byte strings in a stringref namespace, while both readers do.
            let texts = ["-1.5E-3", "1E+400"] + (bigIntegers ? ["123456789012345678901234567890", "-98765432109876543210.5"] : [])
            return .bigNumber(BigNumber(text: texts[Int(rng.next() % UInt64(texts.count))]))
        case 7: return .string(String(repeating: "é", count: Int(rng.next() % 3000)))
        case 8: return .array((0..<Int(rng.next() % 4)).map { _ in randomValue(&rng, depth: depth + 1, bigIntegers: bigIntegers) })
        default:
            var o = Object()
            for i in 0..<Int(rng.next() % 4) { o["k\(i)\(rng.next() % 3)"] = randomValue(&rng, depth: depth + 1, bigIntegers: bigIntegers) }
            return .object(o)
        }
    }

    static func randomEvent(_ rng: inout SplitMix64, bigIntegers: Bool) -> Event {
        var fields = Object()
        for i in 0..<Int(rng.next() % 6) { fields["f\(i)"] = randomValue(&rng, depth: 0, bigIntegers: bigIntegers) }
        if rng.next() % 3 == 0 { fields["tags"] = .array([.string("a"), .string("_dlq")]) }
        let event = Event(fromMap: fields)
        if rng.next() % 2 == 0 { event.metadata["m"] = randomValue(&rng, depth: 1, bigIntegers: bigIntegers) }
        return event
    }

    @Test func thePlainFormDecoderReadsWhatTheQueueWrites() {
        var rng = SplitMix64(seed: 2026_12_08)
        for i in 0..<1_000 {
            let event = Self.randomEvent(&rng, bigIntegers: false)
            // Big numbers are left to the general decoder; every other value the encoder writes is in the plain form.
            let hasBigNumber = CBORPlainEventDecoderTestSupport.containsBigNumber(.object(event.fields))
                || CBORPlainEventDecoderTestSupport.containsBigNumber(.object(event.metadata))
            let bytes = CBOREventCodec.encode(event, options: .init(stringReferences: false))
            let plain = CBORPlainEventDecoder.rootObjects(bytes, range: 0..<bytes.count)
            #expect((plain != nil) == !hasBigNumber, "event \(i): plain form \(plain.map { "\($0)" } ?? "refused")")
            #expect(Self.compare(bytes, "event \(i)"))
        }
        // What the stringref form and Logstash's own bytes hold is left to the general decoder.
        let referenced = CBOREventCodec.encode(Event(timestamp: Timestamp(seconds: 0, nanoseconds: 0)), options: .init(stringReferences: true))
        #expect(CBORPlainEventDecoder.rootObjects(referenced, range: 0..<referenced.count) == nil)
    }

    static let alphabet: [UInt8] = [0x00, 0x02, 0x04, 0x18, 0x19, 0x1A, 0x1B, 0x1F, 0x20, 0x3F, 0x42, 0x5F, 0x63, 0x7F,
                                    0x80, 0x81, 0x82, 0x9F, 0xA0, 0xA1, 0xBF, 0xC2, 0xC3, 0xC4, 0xD8, 0xD9, 0xF4, 0xF5,
                                    0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFF, 0x41, 0x61]

    @Test func eventsSluiceWritesAndTheirMutationsDecodeTheSameBothWays() {
        var rng = SplitMix64(seed: 2026_12_07)
        var decoded = 0
        var rejected = 0
        for i in 0..<1_500 {
            let event = Self.randomEvent(&rng, bigIntegers: i % 2 == 1)
            let bytes = CBOREventCodec.encode(event, options: .init(stringReferences: i % 2 == 0, versionAsJavaString: i % 3 != 0))
            #expect(Self.compare(bytes, "event \(i)"))
            for j in 0..<4 {
                var mutated = bytes
                FuzzTests.mutate(&mutated, &rng, alphabet: Self.alphabet, maxEdits: 1 + j)
                if Self.compare(mutated, "event \(i) mutation \(j)") { decoded += 1 } else { rejected += 1 }
            }
        }
        #expect(decoded > 300 && rejected > 300, "\(decoded) mutations decoded, \(rejected) rejected")
    }

    // MARK: Generated CBOR

    /// Writes random CBOR that Logstash's reader meets in the wild and what it must refuse: every major type in
    /// every header width, indefinite lengths, chunked strings, wrappers with the class names the decoder knows,
    /// tags 2, 3, 4, 25, 256, 55799 and others, and event roots with `DATA`/`META`.
    struct Generator {
        var rng: SplitMix64
        var out: [UInt8] = []
        /// Open stringref namespaces around what is being written: references are mostly written inside one.
        var namespaces = 0

        static let texts = ["DATA", "META", "org.jruby.RubyString", "org.logstash.Timestamp", "org.jruby.RubyNil",
                            "java.lang.Float", "java.lang.Double", "org.jruby.RubyFloat", "java.math.BigDecimal",
                            "org.logstash.ConvertedMap", "org.logstash.ConvertedList", "java.util.HashMap",
                            "2026-12-07T10:00:00.000Z", "not a time", "k", "key", "é", "abc", ""]

        mutating func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }

        mutating func head(_ major: UInt8, _ value: UInt64) {
            let m = major << 5
            // Sometimes a wider header than needed, as a non-minimal writer would.
            switch value < 24 && pick(4) != 0 ? 0 : pick(4) + 1 {
            case 0 where value < 24: out.append(m | UInt8(value))
            case 1 where value <= 0xFF: out += [m | 24, UInt8(value)]
            case 2 where value <= 0xFFFF: out += [m | 25, UInt8(value >> 8), UInt8(value & 0xFF)]
            case 3 where value <= 0xFFFF_FFFF: out += [m | 26] + (0..<4).reversed().map { UInt8((value >> ($0 * 8)) & 0xFF) }
            default: out += [m | 27] + (0..<8).reversed().map { UInt8((value >> ($0 * 8)) & 0xFF) }
            }
        }

        mutating func string(_ major: UInt8, _ bytes: [UInt8]) {
            if pick(6) == 0 {
                out.append(major << 5 | 31)
                var rest = bytes[...]
                while !rest.isEmpty {
                    let n = 1 + pick(rest.count)
                    head(major, UInt64(n))
                    out += rest.prefix(n)
                    rest = rest.dropFirst(n)
                }
                out.append(0xFF)
            } else {
                head(major, UInt64(bytes.count))
                out += bytes
            }
        }

        mutating func text() { string(3, Array(Self.texts[pick(Self.texts.count)].utf8)) }

        mutating func container(_ major: UInt8, _ count: Int, _ body: (inout Generator) -> Void) {
            let indefinite = pick(2) == 0
            if indefinite { out.append(major << 5 | 31) } else { head(major, UInt64(count)) }
            for _ in 0..<count { body(&self) }
            if indefinite { out.append(0xFF) }
        }

        /// Mostly what a writer produces, sometimes what none should (about one item in fifteen is refused).
        /// An array of `count` items that `body` writes all at once.
        mutating func array(_ count: Int, _ body: (inout Generator) -> Void) {
            let indefinite = pick(2) == 0
            if indefinite { out.append(0x9F) } else { head(4, UInt64(count)) }
            body(&self)
            if indefinite { out.append(0xFF) }
        }

        mutating func item(_ depth: Int) {
            switch pick(depth > 4 ? 40 : 64) {
            case 0..<4: head(0, [0, 1, 23, 24, 255, 65_536, UInt64(Int.max), UInt64(Int.max) + 1, UInt64.max][pick(9)])
            case 4..<6: head(1, [0, 1, 99_999, 100_000, UInt64(Int.max) - 1, UInt64(Int.max), UInt64.max][pick(7)])
            case 6..<14: text()
            case 14..<16: string(2, (0..<pick(12)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            case 16..<20: out.append([0xF4, 0xF5, 0xF6, 0xF7][pick(4)])
            case 20..<23: out += [[0xF9, 0x3C, 0x00], [0xF9, 0x7E, 0x00], [0xFA, 0x3F, 0xC0, 0x00, 0x00],
                                  [0xFB, 0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18], [0xF9, 0x00, 0x01]][pick(5)]
            case 23:  // simple values Sluice refuses, sometimes
                if pick(8) == 0 { out += [[0xF8, 0x10], [0xFC], [0xE0]][pick(3)] } else { out.append(0xF6) }
            case 24:  // a string reference, valid or not
                if namespaces > 0 || pick(8) == 0 {
                    out += [0xD8, 0x19]
                    head(0, UInt64(pick(6)))
                } else {
                    text()
                }
            case 25..<28:  // bignums
                head(6, UInt64(2 + pick(2)))
                if pick(5) == 0 { item(depth + 1) } else { string(2, (0..<pick(12)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }) }
            case 28..<31:  // decimal fractions
                head(6, 4)
                switch pick(6) {
                case 0: item(depth + 1)
                case 1: container(4, pick(6) == 0 ? pick(4) : 2) { $0.item(depth + 1) }
                default:  // [exponent, mantissa] as Jackson writes a BigDecimal, at times out of range
                    array(2) { g in
                        g.head(g.pick(2) == 0 ? 0 : 1, [0, 2, 30, 400, 99_999, 100_000][g.pick(6)])
                        g.head(g.pick(2) == 0 ? 0 : 1, [0, 15, 1_234_567, UInt64.max][g.pick(4)])
                    }
                }
            case 31..<40: wrapper(depth)
            case 40..<46: container(4, pick(5)) { $0.item(depth + 1) }
            case 46..<54: map(depth)
            case 54..<60:
                let tag: UInt64 = [256, 55799, 256, 1, 99, 32][pick(6)]
                head(6, tag)
                if tag == 256 { namespaces += 1 }
                item(depth + 1)
                if tag == 256 { namespaces -= 1 }
            default: event(depth + 1)
            }
        }

        mutating func map(_ depth: Int) {
            container(5, pick(4)) { g in
                if g.pick(20) == 0 { g.item(depth + 1) } else { g.text() }
                g.item(depth + 1)
            }
        }

        mutating func wrapper(_ depth: Int) {
            let count = pick(8) == 0 ? 3 : 2
            array(count) { g in
                if g.pick(8) == 0 { g.item(depth + 1) } else { g.text() }
                for _ in 1..<count { g.item(depth + 1) }
            }
        }

        /// `[java.util.HashMap, {DATA: …, META: …}]`, sometimes in a stringref namespace, sometimes a bare map.
        mutating func event(_ depth: Int) {
            let namespaced = pick(2) == 0
            if namespaced {
                out += [0xD9, 0x01, 0x00]
                namespaces += 1
            }
            defer { if namespaced { namespaces -= 1 } }
            let wrapped = pick(4) != 0
            if wrapped {
                out.append(0x9F)
                text()
            }
            container(5, pick(4)) { g in
                if g.pick(12) == 0 { g.item(depth + 1) } else { g.string(3, Array(["DATA", "META"][g.pick(2)].utf8)) }
                switch g.pick(8) {
                case 0, 1: g.map(depth + 1)
                case 2, 3, 4, 5:  // a ConvertedMap wrapper, as Logstash writes DATA and META
                    g.array(2) { g in
                        g.text()
                        g.map(depth + 1)
                    }
                case 6: g.wrapper(depth + 1)
                default: g.item(depth + 1)
                }
            }
            if wrapped {
                if pick(10) == 0 { item(depth + 1) }
                out.append(0xFF)
            }
        }
    }

    @Test func generatedCBORAndItsMutationsDecodeTheSameBothWays() {
        var generator = Generator(rng: SplitMix64(seed: 55_799))
        var decoded = 0
        var rejected: [String: Int] = [:]
        for i in 0..<6_000 {
            generator.out = []
            if i % 2 == 0 { generator.event(0) } else { generator.item(0) }
            var bytes = generator.out
            if i % 3 == 0 { FuzzTests.mutate(&bytes, &generator.rng, alphabet: Self.alphabet, maxEdits: 3) }
            if Self.compare(bytes, "generated \(i)") {
                decoded += 1
            } else if case .failed(let e) = Self.outcome({ () throws(CBORDecodingError) in try CBOREventDecoder.rootObjects(bytes, range: 0..<bytes.count) }) {
                rejected[String(e.drop { $0 != ":" }.prefix(40)), default: 0] += 1
            }
        }
        let refusals = rejected.values.reduce(0, +)
        #expect(decoded > 300 && refusals > 300, "\(decoded) decoded, refused: \(rejected.sorted { $0.value > $1.value }.prefix(8))")
    }

    @Test func randomBytesAreRejectedTheSameBothWays() {
        var rng = SplitMix64(seed: 8949)
        for i in 0..<3_000 {
            let bytes = (0..<(1 + Int(rng.next() % 40))).map { _ in Self.alphabet[Int(rng.next() % UInt64(Self.alphabet.count))] }
            Self.compare(bytes, "random \(i)")
        }
    }

    @Test func nestingAtAndPastTheLimitIsJudgedTheSameBothWays() {
        // An event whose DATA holds arrays nested to just under, at and past the 1,000-level limit.
        for levels in [996, 997, 998, 999, 1_000] {
            let prefix: [UInt8] = [0xBF, 0x64] + Array("DATA".utf8) + [0xBF, 0x61, 0x61]
            let bytes = prefix + [UInt8](repeating: 0x81, count: levels) + [0xF6, 0xFF, 0xFF]
            // The root map and DATA are two levels: 998 arrays make the deepest accepted event.
            #expect(Self.compare(bytes, "\(levels) nested arrays") == (levels <= 998))
        }
        let tags = [0xA1, 0x64] + Array("DATA".utf8) + [UInt8](repeating: 0xC6, count: 1_200) + [0xA0]
        #expect(!Self.compare(tags, "1,200 nested tags"))
    }
}

enum CBORPlainEventDecoderTestSupport {
    static func containsBigNumber(_ v: Value) -> Bool {
        switch v {
        case .bigNumber: return true
        case .array(let a): return a.contains(where: containsBigNumber)
        case .object(let o): return o.contains { containsBigNumber($0.1) }
        default: return false
        }
    }
}

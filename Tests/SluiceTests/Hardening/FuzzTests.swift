import Foundation
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// Seeded random mutations as ordinary tests (issue 15, item 7): 10,000 inputs each for the config compiler with
/// every built-in plugin registered (so settings decoding is fuzzed too), the JSON codec and the CBOR decoder. A
/// failure names its iteration; the seed makes it reproduce. The DLQ reader's fuzz test is
/// `DLQCorruptionTests.tenThousandRandomCorruptionsNeverCrashTheReader`; the beats frame decoder's and the
/// persisted queue's are `BeatsFuzzTests` and `QueueFuzzTests`.
@Suite struct FuzzTests {
    static let iterations = 10_000

    /// Replaces, deletes or inserts a byte from `alphabet` at 1 to `maxEdits` random places.
    static func mutate(_ bytes: inout [UInt8], _ rng: inout SplitMix64, alphabet: [UInt8], maxEdits: Int = 4) {
        for _ in 0..<(1 + Int(rng.next() % UInt64(maxEdits))) {
            if bytes.isEmpty {
                bytes = [alphabet[Int(rng.next() % UInt64(alphabet.count))]]
                continue
            }
            let pos = Int(rng.next() % UInt64(bytes.count))
            let c = alphabet[Int(rng.next() % UInt64(alphabet.count))]
            switch rng.next() % 3 {
            case 0: bytes[pos] = c
            case 1: bytes.remove(at: pos)
            default: bytes.insert(c, at: pos)
            }
        }
    }

    // MARK: Config with the plugins

    /// Configs that reach the settings decoding of many plugins: every setting type (strings, numbers, booleans,
    /// arrays, hashes, enums, field references, codecs, byte sizes, templates) appears at least once.
    static let configSeeds: [String] = [
        #"""
        input { generator { count => 3 message => "a=1 b=2" codec => json_lines { target => "[t]" } add_field => { "x" => "%{y}" } tags => ["g"] } }
        filter {
          mutate { convert => { "a" => "integer" } rename => { "b" => "[c][d]" } gsub => ["m", "/", "_"] split => { "s" => "," } uppercase => ["u"] }
          kv { field_split => "&" value_split => "=" include_keys => ["a"] recursive => true target => "kv" }
          if [a] =~ /^1/ and ([b] in ["2", "3"] or ![c]) { drop { percentage => 50 } } else if [n] >= 2.5 { json { source => "m" target => "j" skip_on_invalid_json => true } }
        }
        output { null { } stdout { codec => rubydebug { metadata => true } } }
        """#,
        #"""
        input { stdin { codec => line { delimiter => "|" charset => "UTF-8" } } }
        filter {
          date { match => ["ts", "ISO8601", "dd/MMM/yyyy:HH:mm:ss Z"] timezone => "Europe/Paris" target => "@timestamp" tag_on_failure => ["_d"] }
          dissect { mapping => { "message" => "%{a} %{+a} %{?b}" } convert_datatype => { "a" => "int" } }
          csv { columns => ["x", "y"] separator => ";" convert => { "x" => "float" } skip_empty_columns => true }
          truncate { length_bytes => 10 fields => ["x"] }
          prune { whitelist_names => ["^x$"] }
          urldecode { all_fields => true }
          de_dot { nested => true separator => "_" }
        }
        output { stdout { codec => json_lines } }
        """#,
        #"""
        filter {
          translate { source => "code" target => "name" dictionary => { "200" => "OK" "404" => "Not Found" } fallback => "?" regex => false }
          fingerprint { source => ["a", "b"] method => "SHA256" key => "k" concatenate_sources => true }
          uuid { target => "id" overwrite => true }
          clone { clones => ["copy"] }
          split { field => "list" terminator => "," }
          cidr { address => ["%{ip}"] network => ["10.0.0.0/8"] add_tag => ["private"] }
          mutate { copy => { "a" => "b" } merge => { "x" => "y" } strip => ["s"] lowercase => ["l"] update => { "u" => "v" } replace => { "r" => "%{a}" } coerce => { "c" => "0" } join => { "j" => "," } on_error => "tag" }
        }
        """#,
        #"""
        filter { grok { match => { "message" => "%{IP:client} %{WORD:method} %{NOTSPACE:path}" } timeout_millis => 100 break_on_match => false overwrite => ["message"] tag_on_failure => ["_g"] } }
        """#,
    ]

    @Test func tenThousandMutatedConfigsCompileOrFailWithTheRegisteredPlugins() throws {
        let seeds = try ParserTests.configFiles.map { try String(contentsOfFile: $0, encoding: .utf8) } + Self.configSeeds
        var rng = SplitMix64(seed: 15_007)
        let alphabet = Array("{}[]()\"'=>#/\\,!~<and or in not if else 0123456789.-_ab\n\t$:%truefalsxyz".utf8)
        let work = TestPaths.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        var environment = PipelineEnvironment(dataPath: work.path)
        environment.requiresEnabledDLQ = false
        let compiler = ProgramCompiler(registry: builtinRegistry, environment: environment)
        var compiled = 0
        for i in 0..<Self.iterations {
            // The grok seed compiles pattern libraries: use it for one iteration in fifty (fast in debug builds).
            let seedIndex = i % 50 == 0 ? seeds.count - 1 : i % (seeds.count - 1)
            var bytes = Array(seeds[seedIndex].utf8)
            Self.mutate(&bytes, &rng, alphabet: alphabet)
            let text = String(decoding: bytes, as: UTF8.self)
            guard let ast = try? ConfigParser.parse(ConfigSource(name: "fuzz-\(i).conf", text: text)) else { continue }
            if let program = try? compiler.compile(ast) {
                compiled += 1
                program.close()
            }
        }
        // Enough mutations leave a valid config for settings decoding and plugin construction to run often.
        #expect(compiled > Self.iterations / 10, "only \(compiled) mutated configs compiled")
    }

    // MARK: JSON codec

    static let jsonSeeds = [
        #"{"a":[1,2,{"b":"c"}],"d":1.5e3,"e":"\u00e9\ud83d\ude00","f":null,"g":true,"h":-0.0,"i":9223372036854775807}"#,
        #"[{"message":"x","@timestamp":"2024-01-02T03:04:05.678Z","tags":["t"]},{"n":1e-7}]"#,
        #"{"@metadata":{"m":1},"nested":{"deep":[[[[{"k":"v"}]]]]},"esc":"\"\\\/\b\f\n\r\t"}"#,
    ]

    @Test func tenThousandMutatedDocumentsThroughTheJSONCodec() {
        var rng = SplitMix64(seed: 15_017)
        let alphabet = Array(#"{}[]",:0123456789.eE+-\/ubfnrt"aé😀 "#.utf8) + [0x00, 0xFF, 0xC3, 0x80]
        let decoder = JSONEventDecoder(target: nil, setOriginal: true, logger: Logger("fuzz"), logLevel: .trace)
        let targeted = JSONEventDecoder(target: FieldReference("[doc]"), setOriginal: false, logger: Logger("fuzz"), logLevel: .trace)
        var parsed = 0
        for i in 0..<Self.iterations {
            var bytes = Array(Self.jsonSeeds[i % Self.jsonSeeds.count].utf8)
            Self.mutate(&bytes, &rng, alphabet: alphabet)
            var events: [Event] = []
            bytes.withUnsafeBufferPointer { buf in
                decoder.decode(buf) { events.append($0) }
                targeted.decode(buf) { events.append($0) }
            }
            #expect(!events.isEmpty, "iteration \(i): every input gives an event (parsed or tagged)")
            guard let value = try? JSONParser.parse(bytes) else { continue }
            parsed += 1
            // What parses is written back as JSON that parses to the same value.
            let written = JSONWriter.string(value)
            #expect((try? JSONParser.parse(written)) == value, "iteration \(i): \(written.prefix(200))")
            for event in events {
                var out: [UInt8] = []
                JSONWriter.write(event.fields, to: &out)
                #expect((try? JSONParser.parse(out)) != nil, "iteration \(i): an event is written as valid JSON")
            }
        }
        #expect(parsed > 1_000)
    }

    // MARK: CBOR decoder

    @Test func tenThousandMutatedCBOREventsDecodeOrThrow() {
        var rng = SplitMix64(seed: 15_027)
        var nested = Object()
        nested["deep"] = try! JSONParser.parse(Self.jsonSeeds[2])
        let events: [Event] = [
            Event(fromMap: (try! JSONParser.parse(Self.jsonSeeds[0])).objectValue!),
            Event(fromMap: nested),
        ]
        let valid = events.flatMap { e in
            [CBOREventCodec.encode(e, options: .init(stringReferences: false)), CBOREventCodec.encode(e, options: .init(stringReferences: true))]
        }
        let alphabet: [UInt8] = [0x00, 0x18, 0x19, 0x1A, 0x1B, 0x1F, 0x3F, 0x5F, 0x7F, 0x81, 0x9F, 0xA1, 0xBF, 0xC0, 0xC2,
                                 0xC3, 0xC4, 0xD8, 0x19, 0xF5, 0xF6, 0xF9, 0xFA, 0xFB, 0xFF, 0x61, 0x41]
        var decoded = 0
        for i in 0..<Self.iterations {
            var bytes = valid[i % valid.count]
            Self.mutate(&bytes, &rng, alphabet: alphabet)
            if i % 7 == 0 { bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(1) << (rng.next() % 8) }
            if let event = try? CBOREventCodec.decode(bytes) {
                decoded += 1
                _ = CBOREventCodec.encode(event)  // what decodes can be written again
            }
            _ = try? CBOREventCodec.decodeItem(bytes)
        }
        #expect(decoded > 100)
    }
}

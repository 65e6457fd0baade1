import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    /// Vectors from logstash-filter-fingerprint's spec (source `clientip` = "123.123.123.123").
    @Suite struct FingerprintFilterTests {
        func fingerprint(_ settings: String, _ map: Value = ["clientip": "123.123.123.123"]) throws -> Value? {
            try BuiltinFilterHarness.run("fingerprint { source => [\"clientip\"] \(settings) }", map).at("fingerprint")
        }

        @Test(arguments: [
            ("SHA1", "", "3a5076c520b4b463f43806896ea0b3978d09dcae"),
            ("SHA1", "key => \"longencryptionkey\"", "fdc60acc4773dc5ac569ffb78fcb93c9630797f4"),
            ("SHA1", "key => \"longencryptionkey\" base64encode => true", "/cYKzEdz3FrFaf+3j8uTyWMHl/Q="),
            ("SHA1", "base64encode => true", "OlB2xSC0tGP0OAaJbqCzl40J3K4="),
            ("SHA256", "", "4dabcab210766e35f03e77120e6986d6e6d4752b2a9ff22980b9253d026080d8"),
            ("SHA256", "key => \"longencryptionkey\"", "345bec3eff242d53b568916c2610b3e393d885d6b96d643f38494fd74bf4a9ca"),
            ("SHA256", "key => \"longencryptionkey\" base64encode => true", "NFvsPv8kLVO1aJFsJhCz45PYhda5bWQ/OElP10v0qco="),
            ("SHA384", "", "fd605b0a3af3e04ce0d7a0b0d9c48d67a12dab811f60072e6eae84e35d567793ffb68a1807536f11c90874065c2a4392"),
            ("SHA384", "key => \"longencryptionkey\"", "22d4c0e8c4fbcdc4887d2038fca7650f0e2e0e2457ff41c06eb2a980dded6749561c814fe182aff93e2538d18593947a"),
            ("SHA384", "key => \"longencryptionkey\" base64encode => true", "ItTA6MT7zcSIfSA4/KdlDw4uDiRX/0HAbrKpgN3tZ0lWHIFP4YKv+T4lONGFk5R6"),
            ("SHA512", "", "5468e2dc64ea92b617782aae884b35af60041ac9e168a283615b6a462c54c13d42fa9542cce9b7d76a8124ac6616818905e3e5dd35d6e519f77c3b517558639a"),
            ("SHA512", "key => \"longencryptionkey\"", "11c19b326936c08d6c50a3c847d883e5a1362e6a64dd55201a25f2c1ac1b673f7d8bf15b8f112a4978276d573275e3b14166e17246f670c2a539401c5bfdace8"),
            ("SHA512", "key => \"longencryptionkey\" base64encode => true", "EcGbMmk2wI1sUKPIR9iD5aE2Lmpk3VUgGiXywawbZz99i/FbjxEqSXgnbVcydeOxQWbhckb2cMKlOUAcW/2s6A=="),
            ("MD5", "", "ccdd8d3d940a01b2fb3258c059924c0d"),
            ("MD5", "key => \"longencryptionkey\"", "9336c879e305c9604a3843fc3e75948f"),
            ("MD5", "key => \"longencryptionkey\" base64encode => true", "kzbIeeMFyWBKOEP8PnWUjw=="),
        ])
        func digestVectors(_ method: String, _ extra: String, _ expected: String) throws {
            #expect(try fingerprint("method => \"\(method)\" \(extra)") == .string(expected))
        }

        @Test func murmur3OfStringsAndIntegers() throws {
            #expect(try fingerprint(#"method => "MURMUR3""#) == 4013733395)
            #expect(try fingerprint(#"method => "MURMUR3""#, ["clientip": 123]) == 823512154)
        }

        @Test func murmur3_128MatchesTheReferenceImplementation() throws {
            // MurmurHash3_x64_128("hello", seed 0) = cbd8a7b341bd9b02 5b1e906a48ae1d19 (reference C implementation).
            let (h1, h2) = MurmurHash3.x64_128(Array("hello".utf8))
            #expect(h1 == 0xcbd8a7b341bd9b02)
            #expect(h2 == 0x5b1e906a48ae1d19)
            let hex = try fingerprint(#"method => "MURMUR3_128""#)
            #expect(hex?.stringValue?.count == 32)
            let b64 = try fingerprint(#"method => "MURMUR3_128" base64encode => true"#)
            #expect(b64?.stringValue?.count == 24)
        }

        @Test func ipv4NetworkAndPunctuation() throws {
            #expect(try fingerprint(#"method => "IPV4_NETWORK" key => "24""#) == "123.123.123.0")
            let p = try BuiltinFilterHarness.run(
                #"fingerprint { method => "PUNCTUATION" source => "field1" }"#,
                ["field1": "PHP Warning:  json_encode() [<a href='function.json-encode'>function.json-encode</a>]: Invalid UTF-8 sequence in argument in /var/www/htdocs/test.php on line 233"])
            #expect(p.at("fingerprint") == ":_()[<='.-'>.-</>]:-////.")
            #expect(BuiltinFilterHarness.configError(#"fingerprint { method => "IPV4_NETWORK" }"#)?.contains("subnet prefix length") == true)
        }

        @Test func listsMultipleSourcesAndConcatenation() throws {
            #expect(try fingerprint("", ["clientip": ["123.123.123.123", "223.223.223.223"]]) == [
                "3a5076c520b4b463f43806896ea0b3978d09dcae", "47bbc4e06edebbace047fed35abeceec64968b81",
            ])
            let last = try BuiltinFilterHarness.run(#"fingerprint { source => ["field1", "field2"] }"#, ["field1": "test1", "field2": "test2"])
            #expect(last.at("fingerprint") == "109f4b3c50d7b0df729d299bc6f8e9ef9066971f")
            let concatenated = try BuiltinFilterHarness.run(
                #"fingerprint { source => ["field2", "field1"] concatenate_sources => true }"#, ["field1": "test1", "field2": "test2"])
            #expect(concatenated.at("fingerprint") == "e3b6b71eedc656f1d29408264e8a75535db985cb")
        }

        @Test func concatenateAllFieldsUsesRubyToSOfEveryField() throws {
            let e = try BuiltinFilterHarness.run(
                "fingerprint { concatenate_all_fields => true }",
                ["@timestamp": "2017-07-26T14:44:27.064Z", "clientip": "123.123.123.123", "message": "This is a test message", "log_level": "INFO", "offset": 123456789, "type": "test"])
            #expect(e.at("fingerprint") == "cbf022518e97860403160ed8a41847c0db104e63")
        }

        @Test func timestampsHashAsTheirISO8601Text() throws {
            let epoch: Value = ["@timestamp": "1970-01-01T00:00:00Z"]
            let sha = try BuiltinFilterHarness.run(#"fingerprint { source => ["@timestamp"] key => "0123" }"#, epoch)
            #expect(sha.at("fingerprint") == "1d5379ec92d86a67cfc642d55aa050ca312d3b9a")
            let murmur = try BuiltinFilterHarness.run(#"fingerprint { source => ["@timestamp"] method => "MURMUR3" }"#, epoch)
            #expect(murmur.at("fingerprint") == 743372282)
        }

        @Test func hashOrderDoesNotMatterAndECSTarget() throws {
            let a = try BuiltinFilterHarness.run(#"fingerprint { source => ["a"] }"#, ["a": ["x": 1, "y": ["b": 2, "a": 1]]])
            let b = try BuiltinFilterHarness.run(#"fingerprint { source => ["a"] }"#, ["a": ["y": ["a": 1, "b": 2], "x": 1]])
            #expect(a.at("fingerprint") == b.at("fingerprint"))
            // SHA1 of Ruby's inspect: {"x"=>1, "y"=>{"a"=>1, "b"=>2}}
            #expect(a.at("fingerprint") == .string(Hex.lowercase(SHA1.digest(Array(#"{"x"=>1, "y"=>{"a"=>1, "b"=>2}}"#.utf8)))))
            let ecs = try BuiltinFilterHarness.run(#"fingerprint { }"#, ["message": "m"], ecs: .v8)
            #expect(ecs.at("[event][hash]") != nil)
            let uuid = try BuiltinFilterHarness.run(#"fingerprint { method => "UUID" target => "id" }"#, ["message": "m"])
            #expect(uuid.at("id")?.stringValue?.count == 36)
        }

        @Test func unknownMethodIsAConfigError() {
            #expect(BuiltinFilterHarness.configError(#"fingerprint { method => "SHA3" }"#)?.contains("SHA1, SHA256") == true)
        }
    }
}

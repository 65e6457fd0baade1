import Testing
@testable import SluiceCore
@testable import SluicePlugins

extension Filters {
    @Suite struct CidrFilterTests {
        @Test func matchesIPv4AndIPv6Networks() throws {
            let config = #"cidr { address => ["%{ip}"] network => ["192.0.2.0/24", "fe80::/64,10.0.0.0/255.0.0.0"] add_tag => ["in"] }"#
            let out = try BuiltinFilterHarness.run(config, [
                ["ip": "192.0.2.55"], ["ip": "192.0.3.1"], ["ip": "fe80::1:2"], ["ip": "10.9.8.7"], ["ip": "bogus"], ["ip": "::ffff:192.0.2.1"],
            ])
            #expect(out.map(\.tagList) == [["in"], [], ["in"], ["in"], [], []])
        }

        @Test func networksFromEventFieldsAndFiles() throws {
            let dynamic = try BuiltinFilterHarness.run(#"cidr { address => ["%{ip}"] network => ["%{net}"] add_tag => ["in"] }"#, ["ip": "1.2.3.4", "net": "1.2.0.0/16"])
            #expect(dynamic.tagList == ["in"])
            let path = try temporaryFile("nets", "10.0.0.0/8\nnot-a-net\n2001:db8::/32\n")
            let out = try BuiltinFilterHarness.run(
                "cidr { address => [\"%{ip}\"] network_path => \"\(path)\" add_tag => [\"in\"] }", [["ip": "10.1.1.1"], ["ip": "2001:db8::5"], ["ip": "11.0.0.1"]])
            #expect(out.map(\.tagList) == [["in"], ["in"], []])
        }

        @Test func parsesAddressesLikeRubyIPAddr() {
            #expect(IPNetwork("1.2.3.4") != nil)
            #expect(IPNetwork("01.2.3.4") == nil)
            #expect(IPNetwork("1.2.3.256") == nil)
            #expect(IPNetwork("::") != nil)
            #expect(IPNetwork("[2001:db8::1]") != nil)
            #expect(IPNetwork("1::2::3") == nil)
            #expect(IPNetwork("10.0.0.0/33") == nil)
            #expect(IPNetwork.format(IPNetwork("2001:0db8:0000:0000:0000:0000:0000:0001")!.bytes) == "2001:db8::1")
            #expect(IPNetwork.format(IPNetwork("::ffff:1.2.3.4")!.bytes) == "::ffff:1.2.3.4")
        }

        @Test func configErrors() throws {
            #expect(BuiltinFilterHarness.configError(#"cidr { address => ["x"] network => ["1.0.0.0/8"] network_path => "/tmp/x" }"#)?.contains("mutually exclusive") == true)
            #expect(BuiltinFilterHarness.configError(#"cidr { network => ["1.0.0.0/8"] }"#)?.contains("address") == true)
            #expect(BuiltinFilterHarness.configError(#"cidr { address => ["x"] network_path => "/nonexistent/nets" }"#)?.contains("network list is invalid") == true)
        }
    }
}

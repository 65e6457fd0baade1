import Foundation
import SluiceCore
import SluiceTesting
import Testing

/// The pieces `sluice test` and the fixture tests share: the field-by-field diff, LFV files, XML escaping.
struct SluiceTestingTests {
    func json(_ text: String) throws -> Value { try JSONParser.parse(text) }

    @Test func diffNamesEachFieldByReference() throws {
        let actual = try json(#"{"a":1,"b":{"c":"x","d":[1,2]},"e":true}"#)
        let expected = try json(#"{"a":2,"b":{"c":"<any>","d":[1,3]},"f":null}"#)
        let lines = EventDiff.differences(actual, expected).map(\.description)
        #expect(lines == [
            "missing    [f]: expected null",
            "unexpected [e]: actual true",
            "different  [a]: actual 1, expected 2",
            "different  [b][d][1]: actual 2, expected 3",
        ])
    }

    @Test func matchingEventsHaveNoDifferences() throws {
        let v = try json(#"{"a":[{"b":1}],"t":"2024-01-01T00:00:00.000Z"}"#)
        #expect(EventDiff.differences(v, v).isEmpty)
        #expect(GoldenJSON.matches(try json(#"{"n":1}"#), try json(#"{"n":1.0}"#), numeric: true))
        #expect(!GoldenJSON.matches(try json(#"{"n":1}"#), try json(#"{"n":1.0}"#)))
    }

    @Test func xmlEscapingCoversMarkupAndForbiddenCharacters() {
        #expect(TestReport.xmlEscape("a<b>&\"c\"'\u{1}\r") == "a&lt;b&gt;&amp;&quot;c&quot;&apos;\u{FFFD}&#13;")
    }

    @Test func jsonAndYamlSuitesReadAlike() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lfv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let jsonFile = dir.appendingPathComponent("s.json"), yamlFile = dir.appendingPathComponent("s.yaml")
        try #"{"codec":"json_lines","fields":{"type":"x"},"ignore":["host"],"testcases":[{"description":"d","input":["{}"],"expected":[{"n":1,"f":1.5,"b":true}]}]}"#
            .write(to: jsonFile, atomically: true, encoding: .utf8)
        try "codec: json_lines\nfields: {type: x}\nignore: [host]\ntestcases:\n  - description: d\n    input: ['{}']\n    expected: [{n: 1, f: 1.5, b: true}]\n"
            .write(to: yamlFile, atomically: true, encoding: .utf8)
        let a = try LFVSuite(file: jsonFile.path), b = try LFVSuite(file: yamlFile.path)
        #expect(a.codec == b.codec && a.ignore == b.ignore && a.ignore == ["@version", "host"])
        #expect(a.testcases.first?.expected == b.testcases.first?.expected)
        #expect(a.testcases.first?.name(index: 0) == "testcase 1: d")
    }

    @Test func unknownKeysAreRefused() throws {
        #expect(throws: LFVFileError.self) { try LFVSuite(file: "x.json", document: try json(#"{"testcase":[]}"#)) }
        #expect(throws: LFVFileError.self) { try LFVSuite(file: "x.json", document: try json(#"{"testcases":[{"inputs":[]}]}"#)) }
    }
}

import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// The elasticsearch output without a server: settings rules, data stream resolution, bulk bodies, DLQ reasons.
@Suite struct ElasticsearchOutputTests {
    func build(_ body: String, dlq: DeadLetterQueueWriter = DisabledDeadLetterQueue(), ecs: ECSCompatibility = .v8) throws
        -> ElasticsearchOutput
    {
        try OutputHarness.build(ElasticsearchOutput.self, "hosts => [\"127.0.0.1:1\"] " + body, dlq: dlq, ecs: ecs)
    }

    func isDataStream(_ body: String, ecs: ECSCompatibility = .v8) throws -> Bool {
        let out = try build(body, ecs: ecs)
        defer { out.close() }
        if case .dataStream = out.target { return true }
        return false
    }

    @Test func dataStreamAutoResolution() throws {
        #expect(try isDataStream(""))
        #expect(try isDataStream(#"document_id => "%{id}" routing => "r" pipeline => "p" action => "create""#))
        #expect(try isDataStream(#"data_stream => "true""#))
        #expect(try !isDataStream(#"index => "x""#))
        #expect(try !isDataStream(#"action => "index""#))
        #expect(try !isDataStream(#"manage_template => true"#))
        #expect(try !isDataStream("", ecs: .disabled))
        // Upstream quirk: an explicit `auto` is not a data-stream-compatible setting, so it resolves to false.
        #expect(try !isDataStream(#"data_stream => "auto""#))
    }

    @Test(arguments: [
        (#"data_stream => "false" data_stream_type => "metrics""#, #"Ambiguous configuration; data stream settings must not be present when data streams are disabled: ["data_stream_type"]"#),
        (#"index => "x" data_stream_namespace => "prod""#, #"data streams are disabled: ["data_stream_namespace"]"#),
        (#"data_stream => "true" index => "x""#, #"Invalid data stream configuration: ["index"]"#),
        (#"dlq_custom_codes => [400, 418]"#, "[400] are already defined as standard DLQ error codes"),
        (#"dlq_custom_codes => [409]"#, "[409] are error codes already defined as conflict which cannot be redefined in dlq_custom_codes"),
        (#"dlq_custom_codes => [201]"#, "[201] are success codes which cannot be redefined in dlq_custom_codes"),
        (#"dlq_custom_codes => [418]"#, "DLQ feature (dlq_custom_codes) is configured while DLQ is not enabled"),
        (#"action => "upsert""#, #"Action 'upsert' is invalid! Pick one of ["index", "delete", "create", "update"] or use a sprintf style statement"#),
        (#"action => """#, "No action specified!"),
        (#"data_stream_dataset => "a b""#, "Invalid characters detected"),
        (#"api_key => "id:key""#, "Using api_key authentication requires SSL/TLS secured communication"),
        (#"user => "u" api_key => "k" ssl_enabled => true"#, "Multiple authentication options are specified"),
        (#"ilm_enabled => true"#, "ilm_enabled => true is not supported by Sluice"),
    ])
    func configurationErrors(_ body: String, _ message: String) {
        let error = OutputHarness.configError(ElasticsearchOutput.self, "hosts => [\"127.0.0.1:1\"] " + body)
        #expect(error?.contains(message) == true, "\(error ?? "no error")")
    }

    @Test func dataStreamWithDisabledECSIsRejected() {
        let error = OutputHarness.configError(ElasticsearchOutput.self, #"data_stream => "true""#, ecs: .disabled)
        #expect(error?.contains("Invalid data stream configuration: `ecs_compatibility => disabled`") == true)
    }

    @Test func dlqCustomCodesAreAcceptedWithTheDLQ() throws {
        let out = try build(#"index => "x" dlq_custom_codes => [418]"#, dlq: RecordingDeadLetterQueue())
        defer { out.close() }
        #expect(out.dlqCodes == [400, 404, 418])
    }

    @Test func itemOutcomes() {
        let codes: Set<Int> = [400, 404, 418]
        #expect(ItemOutcome.of(status: 201, dlqCodes: codes) == .success)
        #expect(ItemOutcome.of(status: 200, dlqCodes: codes) == .success)
        #expect(ItemOutcome.of(status: 409, dlqCodes: codes) == .conflict)
        #expect(ItemOutcome.of(status: 400, dlqCodes: codes) == .deadLetter)
        #expect(ItemOutcome.of(status: 418, dlqCodes: codes) == .deadLetter)
        for status in [429, 500, 503, 413] { #expect(ItemOutcome.of(status: status, dlqCodes: codes) == .retry) }
    }

    @Test func backOffDoublesUpToTheMaximum() {
        let policy = RetryPolicy(initialInterval: 2, maxInterval: 64)
        var interval = 2.0, seen: [Double] = []
        for _ in 0..<8 {
            seen.append(interval)
            interval = policy.next(after: interval)
        }
        #expect(seen == [2, 4, 8, 16, 32, 64, 64, 64])
    }

    @Test func actionInspectMatchesLogstashsReasonSyntax() throws {
        let event = OutputHarness.event(#"{"@timestamp":"2024-05-01T10:00:00.123Z","message":"x"}"#)
        let out = try build(#"index => "logstash-%{+YYYY.MM.dd}""#, ecs: .disabled)
        defer { out.close() }
        guard case .success(let action) = out.mapEvent(event) else { Issue.record("mapping failed"); return }
        #expect(action.rubyInspect
            == #"["index", {:_id=>nil, :_index=>"logstash-2024.05.01", :routing=>nil}, {"@timestamp"=>2024-05-01T10:00:00.123Z, "message"=>"x", "@version"=>"1"}]"#)
        let response = try BulkResponse.parse(Array(#"{"errors":true,"items":[{"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse"}}}]}"#.utf8))
        #expect(Ruby.inspect(response.items[0].raw)
            == #"{"index"=>{"status"=>400, "error"=>{"type"=>"mapper_parsing_exception", "reason"=>"failed to parse"}}}"#)
        #expect(response.items[0].errorType == "mapper_parsing_exception")
    }

    @Test func ingestMetadataAndParamsFillTheActionLine() throws {
        let out = try build(#"index => "i" routing => "%{r}" pipeline => "%{[@metadata][p]}" action => "update" retry_on_conflict => 3"#)
        defer { out.close() }
        let event = OutputHarness.event(#"{"r":"R","@metadata":{"p":"pipe","_ingest_document":{"id":"ID9"}}}"#)
        guard case .success(let action) = out.mapEvent(event) else { Issue.record("mapping failed"); return }
        var body: [UInt8] = []
        action.write(to: &body)
        let lines = String(decoding: body, as: UTF8.self).split(separator: "\n")
        #expect(lines[0] == #"{"update":{"_id":"ID9","_index":"i","routing":"R","pipeline":"pipe","retry_on_conflict":3}}"#)
        #expect(lines[1].hasPrefix(#"{"doc":{"#) && !lines[1].contains("@metadata"))
    }

    @Test func emptyPipelineIsNotSentAndBadActionsAreMappingErrors() throws {
        let out = try build(#"index => "i" pipeline => "%{[@metadata][p]}" action => "%{act}""#)
        defer { out.close() }
        guard case .success(let ok) = out.mapEvent(OutputHarness.event(#"{"act":"delete","@metadata":{"p":""}}"#)) else {
            Issue.record("mapping failed")
            return
        }
        var body: [UInt8] = []
        ok.write(to: &body)
        #expect(String(decoding: body, as: UTF8.self) == "{\"delete\":{\"_index\":\"i\"}}\n")
        guard case .failure(let error) = out.mapEvent(OutputHarness.event(#"{"act":"merge"}"#)) else {
            Issue.record("expected a mapping error")
            return
        }
        #expect(error.message == "Elasticsearch doesn't support [merge] action")
    }

    @Test func bulkBodiesAreSplitAtTheTargetSize() throws {
        let out = try build(#"index => "i""#)
        defer { out.close() }
        let actions = (0..<10).map { i -> BulkAction in
            guard case .success(let a) = out.mapEvent(OutputHarness.event(#"{"n":\#(i)}"#)) else { fatalError() }
            return a
        }
        var one: [UInt8] = []
        actions[0].write(to: &one)
        let chunks = BulkRequestBuilder.chunks(actions, targetBytes: one.count * 3 + 1)
        #expect(chunks.map(\.actions) == [0..<3, 3..<6, 6..<9, 9..<10])
        #expect(chunks.allSatisfy { $0.body.count <= one.count * 3 + 1 })
        // A single action larger than the target goes alone.
        #expect(BulkRequestBuilder.chunks(actions, targetBytes: 10).count == 10)
        #expect(BulkRequestBuilder.chunks(actions).count == 1)
    }

    @Test func hostsParseLikeLogstash() throws {
        #expect(try ElasticsearchHost.parse("//127.0.0.1", ssl: nil).description == "http://127.0.0.1:9200")
        #expect(try ElasticsearchHost.parse("es:9201", ssl: true).description == "https://es:9201")
        #expect(try ElasticsearchHost.parse("https://es/prefix/", ssl: nil).url("/_bulk") == "https://es:9200/prefix/_bulk")
        #expect(try ElasticsearchHost.parse("[::1]:9300", ssl: nil).description == "http://[::1]:9300")
        #expect(throws: SettingsValidationError.self) { try ElasticsearchHost.parse("https://es", ssl: false) }
    }

    @Test func gzipBodiesRoundTrip() throws {
        let text = String(repeating: "{\"message\":\"hello\"}\n", count: 100)
        let gz = try #require(Gzip.compress(Array(text.utf8)))
        #expect(gz.count < text.utf8.count / 5)
        #expect(gz.prefix(2) == [0x1f, 0x8b])
    }
}

/// The http output's request bodies and retry timing, without a server.
@Suite struct HttpOutputTests {
    func build(_ body: String) throws -> HttpOutput {
        try OutputHarness.build(HttpOutput.self, #"url => "http://127.0.0.1:1/%{id}" "# + body)
    }

    @Test func formatsBuildLogstashBodies() throws {
        let event = OutputHarness.event(#"{"id":"7","msg":"a b&c","n":1.5}"#)
        let form = try build(#"http_method => "post" format => "form" mapping => {"m" => "%{msg}" "id" => "%{id}"}"#)
        defer { form.close() }
        #expect(String(decoding: form.body(for: event), as: UTF8.self) == "m=a+b%26c&id=7")
        #expect(form.contentType == "application/x-www-form-urlencoded")
        let message = try build(#"http_method => "put" format => "message" message => "id=%{id}""#)
        defer { message.close() }
        #expect(String(decoding: message.body(for: event), as: UTF8.self) == "id=7")
        #expect(message.contentType == "text/plain")
        let json = try build(#"http_method => "post" mapping => {"nested" => {"v" => "%{n}"} "list" => ["%{id}"] "fixed" => 3 "text" => "plain"}"#)
        defer { json.close() }
        // Logstash sprintf's every leaf: a number in the mapping is sent as its text.
        #expect(String(decoding: json.body(for: event), as: UTF8.self) == #"{"nested":{"v":"1.5"},"list":["7"],"fixed":"3","text":"plain"}"#)
        let second = OutputHarness.event(#"{"id":"8","n":2}"#)
        #expect(String(decoding: json.body(for: second), as: UTF8.self) == #"{"nested":{"v":"2"},"list":["8"],"fixed":"3","text":"plain"}"#)
    }

    @Test func messageFormatNeedsAMessage() {
        let error = OutputHarness.configError(HttpOutput.self, #"url => "http://x" http_method => "post" format => "message""#)
        #expect(error?.contains("message must be set if message format is used") == true)
    }

    @Test func retryDelaysFollowLogstashsIntegerArithmetic() {
        for _ in 0..<20 {
            #expect(HttpOutput.sleepForAttempt(1) == 0)
            #expect((2...4).contains(HttpOutput.sleepForAttempt(2)))
            #expect((30...60).contains(HttpOutput.sleepForAttempt(9)))
        }
    }
}

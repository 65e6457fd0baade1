import CRdKafka
import Testing
@testable import SluiceCore
@testable import SluicePlugins

/// How the kafka plugins' Logstash settings become librdkafka properties, and how delivery errors are classified;
/// no server needed.
@Suite struct KafkaSettingsTests {
    func properties(_ conf: KafkaConfiguration) -> [String: String] {
        Dictionary(conf.properties.map { ($0.property, $0.value) }, uniquingKeysWith: { _, b in b })
    }

    @Test func inputDefaultsFollowLogstashAndNeverLetLibrdkafkaStoreOffsets() {
        let settings = KafkaInput.Settings()
        let p = properties(settings.configuration(index: 2))
        #expect(p["bootstrap.servers"] == "localhost:9092")
        #expect(p["group.id"] == "logstash")
        #expect(p["client.id"] == "logstash-2")
        #expect(p["enable.auto.commit"] == "true")
        #expect(p["auto.commit.interval.ms"] == "5000")
        #expect(p["enable.auto.offset.store"] == "false")
        #expect(p["auto.offset.reset"] == nil)
        #expect(p["session.timeout.ms"] == "10000")
        #expect(p["max.poll.interval.ms"] == "300000")
        #expect(p["security.protocol"] == "plaintext")
        #expect(settings.topics == ["logstash"])
        #expect(settings.decorateEvents.level == 0)
    }

    @Test func decorateEventsAcceptsLogstashsBooleanAliases() {
        #expect(KafkaInput.Decoration.true.level == KafkaInput.Decoration.basic.level)
        #expect(KafkaInput.Decoration.false.level == KafkaInput.Decoration.none.level)
        #expect(KafkaInput.Decoration.extended.level == 2)
    }

    @Test func saslCredentialsComeFromAPlainOrScramJAASLine() throws {
        let (user, password) = try KafkaSecuritySettings.credentials(
            fromJAAS: #"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="s3cret";"#)
        #expect(user == "alice" && password == "s3cret")
        #expect(throws: SettingsValidationError.self) {
            try KafkaSecuritySettings.credentials(fromJAAS: "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;")
        }
    }

    @Test func outputMapsItsSettingsToLibrdkafka() throws {
        let p = properties(KafkaOutput.Settings().configuration())
        #expect(p["acks"] == "1")
        #expect(p["linger.ms"] == "0")
        #expect(p["batch.size"] == "16384")
        #expect(p["message.max.bytes"] == "1048576")
        #expect(p["compression.codec"] == "none")
        #expect(p["queue.buffering.max.kbytes"] == "32768")
        #expect(p["partitioner"] == "murmur2_random")
        #expect(p["retries"] == nil)
        // librdkafka accepts every property the defaults produce.
        let conf = try KafkaOutput.Settings().configuration().make()
        rd_kafka_conf_destroy(conf)
    }

    @Test func deliveryErrorsAreRetriedOnlyWhenTheyCanPass() {
        #expect(KafkaOutput.classify(RD_KAFKA_RESP_ERR_NO_ERROR) == .delivered)
        #expect(KafkaOutput.classify(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) == .retriable)
        #expect(KafkaOutput.classify(RD_KAFKA_RESP_ERR__TRANSPORT) == .retriable)
        #expect(KafkaOutput.classify(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION) == .retriable)
        #expect(KafkaOutput.classify(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) == .permanent)
        #expect(KafkaOutput.classify(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) == .permanent)
        #expect(KafkaOutput.classify(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) == .permanent)
        #expect(KafkaOutput.classify(RD_KAFKA_RESP_ERR_INVALID_RECORD) == .permanent)
        #expect(KafkaOutput.classify(RD_KAFKA_RESP_ERR__PURGE_QUEUE) == .shutdown)
    }

    @Test func aPositionWithNoEventBecomesSafeAfterEverythingBeforeIt() {
        let tracker = AcknowledgementTracker<Int64>()
        let first = tracker.register(5, events: 2)
        tracker.registerSafe(6)
        #expect(tracker.safe == nil)
        first.complete(2)
        #expect(tracker.safe == 6)
        #expect(tracker.outstanding == 0)
    }
}

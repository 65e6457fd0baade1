import CRdKafka
import SluiceCore

/// A librdkafka configuration under construction: Logstash settings become librdkafka properties here, and a
/// property librdkafka refuses is an error naming the Logstash setting it came from. Used on the thread that
/// starts the plugin.
struct KafkaConfiguration {
    /// librdkafka property → (value, the Logstash setting it comes from).
    private(set) var properties: [(property: String, value: String, setting: String)] = []

    mutating func set(_ property: String, _ value: String, from setting: String) {
        properties.removeAll { $0.property == property }
        properties.append((property, value, setting))
    }

    /// Builds the `rd_kafka_conf_t`; the caller owns it until `rd_kafka_new` takes it.
    func make() throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var message = [CChar](repeating: 0, count: 512)
        for p in properties {
            if rd_kafka_conf_set(conf, p.property, p.value, &message, message.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                throw KafkaError("setting '\(p.setting)' cannot be applied (librdkafka \(p.property)=\(p.value)): \(text)")
            }
        }
        return conf
    }
}

/// A logger in a class, so that librdkafka's callbacks can reach it through the client's opaque pointer.
final class KafkaLog: Sendable {
    let logger: Logger
    init(_ logger: Logger) { self.logger = logger }
}

/// A Kafka client failure: a refused configuration, a client that could not be created, a failed subscription.
struct KafkaError: Error, CustomStringConvertible, Sendable {
    let description: String
    init(_ description: String) { self.description = description }

    /// The librdkafka name and text of an error code, as the broker or client reports it.
    static func text(_ error: rd_kafka_resp_err_t) -> String {
        "\(String(cString: rd_kafka_err2str(error))) (\(String(cString: rd_kafka_err2name(error))))"
    }
}

/// `security_protocol`: Kafka's names; librdkafka takes the same ones in lower case.
enum KafkaSecurityProtocol: String, SettingEnum, Sendable {
    case PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
}

/// The security settings the `kafka` input and output share (Logstash's `kafka/common.rb`), passed to librdkafka
/// where it has an equivalent. Java-only forms (JKS stores, JAAS files, Kerberos config files, callback classes)
/// are refused at start-up rather than accepted and ignored.
struct KafkaSecuritySettings: SettingsGroup {
    @Setting("security_protocol", doc: "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (librdkafka `security.protocol`).")
    var securityProtocol = KafkaSecurityProtocol.PLAINTEXT
    @Setting("sasl_mechanism", doc: "SASL mechanism: GSSAPI, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (librdkafka `sasl.mechanisms`).")
    var saslMechanism = "GSSAPI"
    @Setting("sasl_jaas_config", doc: "A JAAS line; PlainLoginModule and ScramLoginModule `username=\"…\" password=\"…\"` become librdkafka `sasl.username`/`sasl.password`, other login modules are refused.")
    var saslJaasConfig: String? = nil
    @Setting("sasl_kerberos_service_name", doc: "Kerberos principal name of the brokers (librdkafka `sasl.kerberos.service.name`).")
    var saslKerberosServiceName: String? = nil
    @Setting("jaas_path", doc: "Refused: a Java JAAS file has no librdkafka equivalent; use sasl_jaas_config.")
    var jaasPath: String? = nil
    @Setting("kerberos_config", doc: "Refused: librdkafka reads the system Kerberos configuration (KRB5_CONFIG).")
    var kerberosConfig: String? = nil
    @Setting("sasl_client_callback_handler_class", doc: "Refused: Java callback classes have no librdkafka equivalent.")
    var saslClientCallbackHandlerClass: String? = nil
    @Setting("sasl_login_callback_handler_class", doc: "Refused: Java callback classes have no librdkafka equivalent.")
    var saslLoginCallbackHandlerClass: String? = nil
    @Setting("sasl_oauthbearer_token_endpoint_url", doc: "OIDC token endpoint (librdkafka `sasl.oauthbearer.token.endpoint.url`, with `sasl.oauthbearer.method=oidc`).")
    var saslOauthbearerTokenEndpointURL: String? = nil
    @Setting("ssl_truststore_location", doc: "CA certificates; only `ssl_truststore_type => \"PEM\"` is accepted (librdkafka `ssl.ca.location`).")
    var sslTruststoreLocation: String? = nil
    @Setting("ssl_truststore_password", doc: "Refused with a PEM truststore (PEM CA files have no password).")
    var sslTruststorePassword: String? = nil
    @Setting("ssl_truststore_type", doc: "PEM (JKS and PKCS12 truststores are refused: librdkafka reads PEM CA files).")
    var sslTruststoreType: String? = nil
    @Setting("ssl_keystore_location", doc: "Client certificate and key: PKCS12 (librdkafka `ssl.keystore.location`) or PEM (`ssl.certificate.location` and `ssl.key.location`); JKS is refused.")
    var sslKeystoreLocation: String? = nil
    @Setting("ssl_keystore_password", doc: "Password of a PKCS12 keystore (librdkafka `ssl.keystore.password`).")
    var sslKeystorePassword: String? = nil
    @Setting("ssl_keystore_type", doc: "PKCS12 or PEM (JKS is refused).")
    var sslKeystoreType: String? = nil
    @Setting("ssl_key_password", doc: "Password of the private key in a PEM keystore (librdkafka `ssl.key.password`).")
    var sslKeyPassword: String? = nil
    @Setting("ssl_endpoint_identification_algorithm", doc: "`https` checks the broker's host name, an empty string does not (librdkafka `ssl.endpoint.identification.algorithm`).")
    var sslEndpointIdentificationAlgorithm = "https"

    init() {}

    func validate() throws(SettingsValidationError) {
        for (name, value) in [("jaas_path", jaasPath), ("kerberos_config", kerberosConfig),
                              ("sasl_client_callback_handler_class", saslClientCallbackHandlerClass),
                              ("sasl_login_callback_handler_class", saslLoginCallbackHandlerClass)] where value != nil {
            throw SettingsValidationError(
                "\(name) is a Java client setting with no librdkafka equivalent and is not supported; "
                    + (name == "jaas_path" ? "put the login line in sasl_jaas_config instead" : "remove it"),
                setting: name)
        }
        if sslTruststoreLocation != nil && (sslTruststoreType ?? "JKS").uppercased() != "PEM" {
            throw SettingsValidationError(
                "ssl_truststore_type \(sslTruststoreType ?? "JKS (the default)") is not supported: librdkafka reads CA certificates from PEM files; convert the truststore to PEM and set ssl_truststore_type => \"PEM\"",
                setting: "ssl_truststore_type")
        }
        if sslTruststorePassword != nil {
            throw SettingsValidationError("ssl_truststore_password is not supported: PEM CA files have no password", setting: "ssl_truststore_password")
        }
        if sslKeystoreLocation != nil, !["PKCS12", "PEM"].contains((sslKeystoreType ?? "JKS").uppercased()) {
            throw SettingsValidationError(
                "ssl_keystore_type \(sslKeystoreType ?? "JKS (the default)") is not supported by librdkafka; use a PKCS12 or PEM keystore",
                setting: "ssl_keystore_type")
        }
        if !["https", ""].contains(sslEndpointIdentificationAlgorithm) {
            throw SettingsValidationError("ssl_endpoint_identification_algorithm must be \"https\" or \"\"", setting: "ssl_endpoint_identification_algorithm")
        }
        if let jaas = saslJaasConfig { _ = try Self.credentials(fromJAAS: jaas) }
    }

    /// Username and password of a PlainLoginModule or ScramLoginModule line.
    static func credentials(fromJAAS text: String) throws(SettingsValidationError) -> (String, String) {
        guard text.contains("PlainLoginModule") || text.contains("ScramLoginModule") else {
            throw SettingsValidationError(
                "sasl_jaas_config: only PlainLoginModule and ScramLoginModule lines can be passed to librdkafka", setting: "sasl_jaas_config")
        }
        func option(_ name: String) -> String? {
            guard let r = text.range(of: name + "=\"") else { return nil }
            let rest = text[r.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { return nil }
            return String(rest[..<end])
        }
        guard let user = option("username"), let password = option("password") else {
            throw SettingsValidationError("sasl_jaas_config: username=\"…\" and password=\"…\" are both required", setting: "sasl_jaas_config")
        }
        return (user, password)
    }

    /// Adds the security properties to `conf`.
    func apply(to conf: inout KafkaConfiguration) {
        conf.set("security.protocol", securityProtocol.rawValue.lowercased(), from: "security_protocol")
        if securityProtocol == .SASL_PLAINTEXT || securityProtocol == .SASL_SSL {
            conf.set("sasl.mechanisms", saslMechanism, from: "sasl_mechanism")
            if let jaas = saslJaasConfig, let (user, password) = try? Self.credentials(fromJAAS: jaas) {
                conf.set("sasl.username", user, from: "sasl_jaas_config")
                conf.set("sasl.password", password, from: "sasl_jaas_config")
            }
            if let name = saslKerberosServiceName { conf.set("sasl.kerberos.service.name", name, from: "sasl_kerberos_service_name") }
            if let url = saslOauthbearerTokenEndpointURL {
                conf.set("sasl.oauthbearer.method", "oidc", from: "sasl_oauthbearer_token_endpoint_url")
                conf.set("sasl.oauthbearer.token.endpoint.url", url, from: "sasl_oauthbearer_token_endpoint_url")
            }
        }
        if securityProtocol == .SSL || securityProtocol == .SASL_SSL {
            if let ca = sslTruststoreLocation { conf.set("ssl.ca.location", ca, from: "ssl_truststore_location") }
            if let keystore = sslKeystoreLocation {
                if (sslKeystoreType ?? "").uppercased() == "PEM" {
                    conf.set("ssl.certificate.location", keystore, from: "ssl_keystore_location")
                    conf.set("ssl.key.location", keystore, from: "ssl_keystore_location")
                    if let p = sslKeyPassword { conf.set("ssl.key.password", p, from: "ssl_key_password") }
                } else {
                    conf.set("ssl.keystore.location", keystore, from: "ssl_keystore_location")
                    if let p = sslKeystorePassword { conf.set("ssl.keystore.password", p, from: "ssl_keystore_password") }
                }
            }
            conf.set("ssl.endpoint.identification.algorithm", sslEndpointIdentificationAlgorithm.isEmpty ? "none" : "https",
                     from: "ssl_endpoint_identification_algorithm")
        }
    }
}

/// Client settings the input and output share, with their librdkafka equivalents.
struct KafkaClientSettings: SettingsGroup {
    @Setting("bootstrap_servers", doc: "Comma-separated host:port list of brokers (librdkafka `bootstrap.servers`).")
    var bootstrapServers = "localhost:9092"
    @Setting("client_id", doc: "Client id sent to the brokers (librdkafka `client.id`).")
    var clientID = "logstash"
    @Setting("client_dns_lookup", doc: "Only `use_all_dns_ips`, librdkafka's own behaviour, is accepted.")
    var clientDNSLookup = "use_all_dns_ips"
    @Setting("connections_max_idle_ms", doc: "Close idle connections after this many ms (librdkafka `connections.max.idle.ms`).")
    var connectionsMaxIdleMs: Int? = nil
    @Setting("metadata_max_age_ms", doc: "Refresh metadata this often (librdkafka `topic.metadata.refresh.interval.ms`).")
    var metadataMaxAgeMs: Int? = nil
    @Setting("receive_buffer_bytes", doc: "Socket receive buffer (librdkafka `socket.receive.buffer.bytes`).")
    var receiveBufferBytes: Int? = nil
    @Setting("send_buffer_bytes", doc: "Socket send buffer (librdkafka `socket.send.buffer.bytes`).")
    var sendBufferBytes: Int? = nil
    @Setting("reconnect_backoff_ms", doc: "Wait before reconnecting to a broker (librdkafka `reconnect.backoff.ms`).")
    var reconnectBackoffMs: Int? = nil
    @Setting("client_rack", doc: "Rack identifier of this client (librdkafka `client.rack`).")
    var clientRack: String? = nil

    init() {}

    func validate() throws(SettingsValidationError) {
        if clientDNSLookup != "use_all_dns_ips" {
            throw SettingsValidationError(
                "client_dns_lookup \"\(clientDNSLookup)\" is not supported: librdkafka always uses every address of a host name",
                setting: "client_dns_lookup")
        }
    }

    func apply(to conf: inout KafkaConfiguration, clientID id: String) {
        conf.set("bootstrap.servers", bootstrapServers, from: "bootstrap_servers")
        conf.set("client.id", id, from: "client_id")
        if let v = connectionsMaxIdleMs { conf.set("connections.max.idle.ms", String(v), from: "connections_max_idle_ms") }
        if let v = metadataMaxAgeMs { conf.set("topic.metadata.refresh.interval.ms", String(v), from: "metadata_max_age_ms") }
        if let v = receiveBufferBytes { conf.set("socket.receive.buffer.bytes", String(v), from: "receive_buffer_bytes") }
        if let v = sendBufferBytes { conf.set("socket.send.buffer.bytes", String(v), from: "send_buffer_bytes") }
        if let v = reconnectBackoffMs { conf.set("reconnect.backoff.ms", String(v), from: "reconnect_backoff_ms") }
        if let v = clientRack { conf.set("client.rack", v, from: "client_rack") }
    }
}

import NIOCore
import NIOSSL
import SluiceCore

/// `ssl_client_authentication`: whether a server asks for client certificates and insists on one.
enum ClientAuthentication: String, SettingEnum, Sendable {
    case none, optional, required
}

/// `ssl_verification_mode` of a client: `full` checks the server's certificate and name, `none` nothing.
enum TLSVerificationMode: String, SettingEnum, Sendable {
    case full, none
}

/// `mode` of the tcp input and output: listen for connections, or connect out.
enum NetworkMode: String, SettingEnum, Sendable {
    case server, client
}

/// A TLS version as Logstash's `ssl_supported_protocols` names it.
enum TLSProtocolName: String, SettingEnum, Sendable {
    case tls11 = "TLSv1.1"
    case tls12 = "TLSv1.2"
    case tls13 = "TLSv1.3"

    var version: TLSVersion {
        switch self {
        case .tls11: .tlsv11
        case .tls12: .tlsv12
        case .tls13: .tlsv13
        }
    }
}

/// The TLS settings the tcp, beats and http inputs and the tcp output share (`ssl_enabled`, `ssl_certificate`,
/// `ssl_key`, …), declared once and embedded in each plugin's `Settings`; they make a server context, or a client
/// context for the tcp plugins' client mode. Read on the starting thread only.
struct TLSSettings: SettingsGroup, Sendable {
    @Setting("ssl_enabled", doc: "Accept TLS connections only.") var enabled = false
    @Setting("ssl_certificate", doc: "PEM file of the server certificate (its chain may follow).") var certificate: String? = nil
    @Setting("ssl_key", doc: "PEM file of the server certificate's private key (PKCS#8 or PKCS#1).") var key: String? = nil
    @Setting("ssl_key_passphrase", doc: "Passphrase of an encrypted `ssl_key`.") var keyPassphrase: String? = nil
    @Setting("ssl_certificate_authorities", doc: "PEM files of the authorities client certificates must chain to.")
    var certificateAuthorities: [String] = []
    @Setting("ssl_client_authentication", doc: "`none`, `optional` (checked when presented) or `required` client certificates.")
    var clientAuthentication = ClientAuthentication.none
    @Setting("ssl_supported_protocols", doc: "TLS versions to accept.") var supportedProtocols: [TLSProtocolName] = []
    @Setting("ssl_cipher_suites", doc: "Cipher suites to offer, in OpenSSL names; empty keeps the library's defaults.")
    var cipherSuites: [String] = []

    /// `clientAuthentication` and `protocols` are the plugin's defaults (tcp requires client certificates by
    /// default, beats and http do not).
    init(clientAuthentication: ClientAuthentication, protocols: [TLSProtocolName]) {
        _clientAuthentication = Setting(
            wrappedValue: clientAuthentication, "ssl_client_authentication",
            doc: "`none`, `optional` (checked when presented) or `required` client certificates.")
        _supportedProtocols = Setting(wrappedValue: protocols, "ssl_supported_protocols", doc: "TLS versions to accept.")
    }

    /// Whether `ssl_client_authentication` was written in the config (tcp refuses it in client mode).
    var clientAuthenticationWasSet: Bool { _clientAuthentication.wasSet }

    /// The rules of a server: a certificate and key with TLS on, authorities when client certificates are asked
    /// for explicitly. Called from the plugin's `validate` (the tcp input in client mode has other rules).
    func validateServer() throws(SettingsValidationError) {
        guard enabled else { return }
        if certificate == nil {
            throw SettingsValidationError("ssl_certificate is required when ssl_enabled is true", setting: "ssl_enabled")
        }
        if key == nil { throw SettingsValidationError("ssl_key is required when ssl_enabled is true", setting: "ssl_enabled") }
        if clientAuthentication != .none && certificateAuthorities.isEmpty && _clientAuthentication.wasSet {
            throw SettingsValidationError(
                "ssl_certificate_authorities is required when ssl_client_authentication is '\(clientAuthentication.rawValue)'",
                setting: "ssl_client_authentication")
        }
    }

    /// Whether client certificates are checked, so the peer's subject can be recorded.
    var verifiesPeer: Bool { enabled && clientAuthentication != .none }

    /// The NIOSSL context for the server, or nil without TLS. Reads the PEM files: call once, at start-up.
    func makeContext(extraChain: [String] = []) throws -> NIOSSLContext? {
        guard enabled, let certificate, let key else { return nil }
        var chain = try NIOSSLCertificate.fromPEMFile(certificate)
        for path in extraChain { chain += try NIOSSLCertificate.fromPEMFile(path) }
        let privateKey: NIOSSLPrivateKey
        if let keyPassphrase {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem) { $0(keyPassphrase.utf8) }
        } else {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        let versions = supportedProtocols.map(\.version)
        if let lowest = versions.min(by: { $0.rank < $1.rank }) { configuration.minimumTLSVersion = lowest }
        if let highest = versions.max(by: { $0.rank < $1.rank }) { configuration.maximumTLSVersion = highest }
        if !cipherSuites.isEmpty { configuration.cipherSuites = cipherSuites.joined(separator: ":") }
        switch clientAuthentication {
        case .none: configuration.certificateVerification = .none
        case .optional: configuration.certificateVerification = .optionalVerification
        case .required: configuration.certificateVerification = .noHostnameVerification
        }
        if !certificateAuthorities.isEmpty {
            var roots: [NIOSSLCertificate] = []
            for path in certificateAuthorities { roots += try NIOSSLCertificate.fromPEMFile(path) }
            configuration.trustRoots = .certificates(roots)
        }
        return try NIOSSLContext(configuration: configuration)
    }
}

extension TLSSettings {
    /// The NIOSSL context of a client (the tcp plugins' client mode): `verify` checks the server's certificate and
    /// name (`ssl_verification_mode => full`); `ssl_certificate`/`ssl_key`, when given, are the client certificate.
    func makeClientContext(verify: Bool) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if !verify { configuration.certificateVerification = .none }
        if !certificateAuthorities.isEmpty {
            var roots: [NIOSSLCertificate] = []
            for path in certificateAuthorities { roots += try NIOSSLCertificate.fromPEMFile(path) }
            configuration.trustRoots = .certificates(roots)
        }
        if let certificate, let key {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        let versions = supportedProtocols.map(\.version)
        if let lowest = versions.min(by: { $0.rank < $1.rank }) { configuration.minimumTLSVersion = lowest }
        return try NIOSSLContext(configuration: configuration)
    }
}

extension TLSVersion {
    fileprivate var rank: Int {
        switch self {
        case .tlsv1: 0
        case .tlsv11: 1
        case .tlsv12: 2
        case .tlsv13: 3
        }
    }
}

import Crypto
import SluiceCore

/// The message digests the fingerprint filter offers, plus HMAC (RFC 2104) over any of them; computed by
/// swift-crypto.
enum Digest: Sendable {
    case sha1, sha256, sha384, sha512, md5

    /// The digest of `bytes`.
    func hash(_ bytes: [UInt8]) -> [UInt8] {
        switch self {
        case .sha1: return Array(Insecure.SHA1.hash(data: bytes))
        case .sha256: return Array(Crypto.SHA256.hash(data: bytes))
        case .sha384: return Array(SHA384.hash(data: bytes))
        case .sha512: return Array(SHA512.hash(data: bytes))
        case .md5: return Array(Insecure.MD5.hash(data: bytes))
        }
    }

    /// HMAC of `message` with `key`.
    func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        let key = SymmetricKey(data: key)
        switch self {
        case .sha1: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: key))
        case .sha256: return Array(HMAC<Crypto.SHA256>.authenticationCode(for: message, using: key))
        case .sha384: return Array(HMAC<SHA384>.authenticationCode(for: message, using: key))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
        case .md5: return Array(HMAC<Insecure.MD5>.authenticationCode(for: message, using: key))
        }
    }
}

/// SHA-1 alone, by the name the tests use.
enum SHA1 {
    static func digest(_ message: [UInt8]) -> [UInt8] { Digest.sha1.hash(message) }
}

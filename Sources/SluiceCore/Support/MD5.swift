internal import Crypto

/// MD5: sincedb file names (as Logstash names them); computed by swift-crypto.
public enum MD5 {
    /// The 16-byte digest of `message`.
    public static func digest(_ message: [UInt8]) -> [UInt8] { Array(Insecure.MD5.hash(data: message)) }

    /// The lowercase hex digest of `message`.
    public static func hexDigest(_ message: [UInt8]) -> String { Hex.lowercase(digest(message)) }
}

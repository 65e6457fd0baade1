internal import Crypto

/// SHA-256, used for stable plugin ids and pipeline hashes; computed by swift-crypto.
public enum SHA256 {
    /// The 32-byte digest of `bytes`.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] { Array(Crypto.SHA256.hash(data: bytes)) }

    /// The lowercase hex digest of `text`'s UTF-8 bytes.
    public static func hex(of text: String) -> String { Hex.lowercase(digest(Array(text.utf8))) }
}

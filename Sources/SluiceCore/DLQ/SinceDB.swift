#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `dead_letter_queue` input's sincedb file (`commit_offsets`, `DLQ-FORMAT.md` §6.4): the segment being read
/// and the offset where reading resumes, in Logstash's binary layout so either program can resume from the other's.
public struct DeadLetterQueueSinceDB: Sendable, Equatable {
    /// Absolute path of the current segment as written (Logstash's or ours).
    public var segmentPath: String
    /// Where the next record header is looked for.
    public var offset: Int64

    public init(segmentPath: String, offset: Int64) {
        self.segmentPath = segmentPath
        self.offset = offset
    }

    /// The position in the queue: only the segment id is taken from the path, so a sincedb written by Logstash for
    /// another directory resolves in ours. Nil when the file name is not `N.log`.
    public var position: DeadLetterQueuePosition? {
        let name = segmentPath.split(separator: "/").last.map(String.init) ?? segmentPath
        guard let id = SegmentDirectory.sealedID(name) else { return nil }
        return DeadLetterQueuePosition(segmentID: id, offset: Int(clamping: offset))
    }

    /// `00 31`, path length, path (UTF-8), offset (signed 64-bit), 51 zero bytes; big-endian. The length is the
    /// path's UTF-8 byte count (Logstash writes its UTF-16 length, the same for ASCII paths, and then reads that many
    /// bytes, so the byte count is what makes non-ASCII paths read back).
    public var bytes: [UInt8] {
        let path = Array(segmentPath.utf8)
        var out: [UInt8] = [0x00, 0x31]
        out.reserveCapacity(path.count + 65)
        BigEndian.append(UInt32(path.count), to: &out)
        out.append(contentsOf: path)
        BigEndian.append(UInt64(bitPattern: offset), to: &out)
        out.append(contentsOf: repeatElement(0, count: 51))
        return out
    }

    /// Parses sincedb bytes; nil for an empty file ("start at the first segment"), throws for a wrong version or a
    /// truncated file.
    public static func decode(_ bytes: [UInt8], path: String = "sincedb") throws(DeadLetterQueueError) -> DeadLetterQueueSinceDB? {
        if bytes.isEmpty { return nil }
        func failure(_ message: String) -> DeadLetterQueueError {
            DeadLetterQueueError(kind: .format, path: path, message: "invalid DLQ sincedb \(path): \(message)")
        }
        guard bytes.count >= 6 else { throw failure("too short") }
        guard bytes[0] == 0x00 && bytes[1] == 0x31 else { throw failure("unsupported version") }
        let length = BigEndian.int32(bytes, at: 2)
        guard length >= 0 && bytes.count >= 6 + length + 8 else { throw failure("truncated") }
        let segmentPath = String(decoding: bytes[6..<(6 + length)], as: UTF8.self)
        let offset = Int64(bitPattern: BigEndian.uint64(bytes, at: 6 + length))
        return DeadLetterQueueSinceDB(segmentPath: segmentPath, offset: offset)
    }

    /// Reads a sincedb file; nil when it is missing or empty.
    public static func read(from path: String) throws(DeadLetterQueueError) -> DeadLetterQueueSinceDB? {
        guard SegmentFiles.exists(path) else { return nil }
        guard let bytes = SegmentFiles.readFile(path) else { throw .io("cannot read", path) }
        return try decode(bytes, path: path)
    }

    /// Writes the file (through a temporary file and a rename), creating its directory if needed.
    public func write(to path: String) throws(DeadLetterQueueError) {
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try SegmentFiles.makeDirectories(String(path[..<slash]))
        }
        try SegmentFiles.replaceFile(path, bytes)
    }

    /// `.sincedb_<md5 hex of the path option>`: the input's file name when `sincedb_path` is not set.
    public static func defaultFileName(pathOption: String) -> String {
        ".sincedb_" + MD5.hexDigest(Array(pathOption.utf8))
    }

    /// `<path.data>/plugins/inputs/dead_letter_queue/<pipeline_id>/.sincedb_<md5>`.
    public static func defaultPath(dataPath: String, pipelineID: String, pathOption: String) -> String {
        let directory = SegmentFiles.join(SegmentFiles.join(dataPath, "plugins/inputs/dead_letter_queue"), pipelineID)
        return SegmentFiles.join(directory, defaultFileName(pathOption: pathOption))
    }
}

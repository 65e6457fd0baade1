/// Naming and listing of the files in one queue directory (`DLQ-FORMAT.md` §2).
enum SegmentDirectory {
    static let lockFileName = ".lock"
    static let readerLockFileName = "dlq_reader.lock"
    static let deletedSegmentSignalName = ".deleted_segment"

    /// `<dir>/<id>.log`
    static func sealedPath(_ directory: String, _ id: Int) -> String { SegmentFiles.join(directory, "\(id).log") }
    /// `<dir>/<id>.log.tmp`
    static func headPath(_ directory: String, _ id: Int) -> String { SegmentFiles.join(directory, "\(id).log.tmp") }
    /// `<dir>/<id>.err`
    static func failedPath(_ directory: String, _ id: Int) -> String { SegmentFiles.join(directory, "\(id).err") }

    /// The id of a sealed segment name (`12.log` → 12): a name ending in `.log` whose part before the first `.log`
    /// is a decimal integer.
    static func sealedID(_ name: String) -> Int? {
        guard name.hasSuffix(".log"), let range = name.firstRange(of: ".log") else { return nil }
        return decimal(name[..<range.lowerBound])
    }

    /// The id of a head segment name (`12.log.tmp` → 12): the part before the first `.`.
    static func headID(_ name: String) -> Int? {
        guard name.hasSuffix(".log.tmp"), let dot = name.firstIndex(of: ".") else { return nil }
        return decimal(name[..<dot])
    }

    private static func decimal(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(s)
    }

    /// Sealed segments with their sizes, in id order (numeric: `10.log` after `9.log`).
    static func sealedSegments(_ directory: String) -> [SealedSegment] {
        var segments: [SealedSegment] = []
        for name in SegmentFiles.listDirectory(directory) ?? [] {
            guard let id = sealedID(name), let size = SegmentFiles.size(SegmentFiles.join(directory, name)) else { continue }
            segments.append(SealedSegment(id: id, size: size))
        }
        return segments.sorted { $0.id < $1.id }
    }
}

/// A sealed segment `N.log` as the writer and reader track it.
struct SealedSegment: Equatable {
    var id: Int
    var size: Int
}

/// What a full scan of a segment file found: for recovery, retention and statistics.
struct SegmentSummary {
    /// Entries whose records are intact (`c` or complete `s` chains).
    var entryCount = 0
    /// The entry_time of the first entry starting in the last block holding an entry start: Logstash's estimate of
    /// the segment's newest entry (§7.4).
    var newestEntryTime: Timestamp?
    /// Damage found, in file order.
    var anomalies: [SegmentAnomaly] = []
    /// False when the file could not be read or its version byte is wrong.
    var readable = true

    /// Whether Logstash's start-up scan would fail on this file.
    var failsStrictScan: Bool { !readable || anomalies.contains { $0.failsStrictScan } }

    /// Scans the file at `path`.
    init(path: String) {
        self.init(bytes: SegmentFiles.readFile(path) ?? [])
    }

    init(bytes: [UInt8]) {
        var scanner = SegmentScanner(bytes: bytes)
        guard scanner.hasValidVersion else {
            readable = false
            return
        }
        var lastBlockWithStart = -1
        loop: while true {
            switch scanner.next() {
            case .entry(let entry):
                entryCount += 1
                let block = (entry.start - 1) / DLQSegmentFormat.blockSize
                if block != lastBlockWithStart {
                    lastBlockWithStart = block
                    newestEntryTime = DLQEntryCodec.entryTime(entry.storage, range: entry.range)
                }
            case .anomaly(let a): anomalies.append(a)
            case .end: break loop
            }
        }
    }
}

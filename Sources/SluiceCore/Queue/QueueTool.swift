#if canImport(Glibc)
import Glibc
#endif

/// `sluice queue stats|check|repair` on a queue directory that no process holds: what it holds, a check of every
/// page and checkpoint (Logstash's `pqcheck`, plus checksums), and a repair that keeps every intact event and says
/// what it dropped (Logstash's `pqrepair`, plus rewriting damaged pages). Runs on the command's thread.
public struct QueueTool {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// One page as its checkpoint and its bytes describe it.
    struct PageReport {
        var number: Int
        var checkpointName: String
        var checkpoint: QueueCheckpoint
        var file: QueuePageFile?
        var fileSize: Int?
        var isHead: Bool
    }

    /// Checkpoint names sorted numerically with `head` last, as pqcheck lists them.
    var checkpointNames: [String] {
        let names = FileSystem.list(directory).filter {
            $0.hasPrefix("checkpoint.") && !$0.hasSuffix(".tmp") && ($0 == "checkpoint.head" || Int($0.dropFirst(11)) != nil)
        }
        return names.sorted { a, b in
            if a == "checkpoint.head" { return false }
            if b == "checkpoint.head" { return true }
            return Int(a.dropFirst(11))! < Int(b.dropFirst(11))!
        }
    }

    // MARK: stats

    /// Pages, unacknowledged events, bytes written and the oldest unacknowledged event's time, as a JSON object.
    public func stats() throws(PersistedQueueError) -> Object {
        guard FileSystem.isDirectory(directory) else { throw PersistedQueueError("\(directory) is not a queue directory") }
        var pages: [Value] = []
        var unacked = 0, bytes = 0
        var oldest: Value = .null
        for name in checkpointNames {
            guard let bytesOfCheckpoint = FileSystem.readBytes(directory + "/" + name),
                  let cp = try? QueueCheckpoint.decode(bytesOfCheckpoint, name: name) else { continue }
            let number = Int(cp.pageNum)
            let file = try? QueuePageFile.open(directory, number)
            let scan = file?.scan(first: nil, verify: false)
            let count = name == "checkpoint.head" ? (scan?.count ?? 0) : Int(cp.elementCount)
            let minSeq = name == "checkpoint.head" && (scan?.count ?? 0) > 0 ? scan!.firstSeqNum : cp.minSeqNum
            let pending = max(0, Int(minSeq + Int64(count) - max(cp.firstUnackedSeqNum, minSeq)))
            var o = Object()
            o["page"] = .int(number)
            o["checkpoint"] = .string(name)
            o["elements"] = .int(count)
            o["unacked"] = .int(pending)
            o["bytes_written"] = .int(scan?.end ?? 0)
            o["file_size"] = .int(FileSystem.size(QueuePageFile.path(directory, number)) ?? 0)
            pages.append(.object(o))
            unacked += pending
            bytes += file == nil ? 0 : (scan?.end ?? 0)
            if oldest.isNull, pending > 0, let file, let event = firstUnacked(file, cp, minSeq: minSeq) { oldest = event.fields["@timestamp"] ?? .null }
        }
        var o = Object()
        o["path"] = .string(FileSystem.absolute(directory))
        o["pages"] = .array(pages)
        o["unacked_events"] = .int(unacked)
        o["queue_size_in_bytes"] = .int(bytes)
        o["oldest_unacked_timestamp"] = oldest
        return o
    }

    private func firstUnacked(_ file: QueuePageFile, _ cp: QueueCheckpoint, minSeq: Int64) -> Event? {
        var offset = QueuePageFile.headerSize
        var reader = QueuePageReader()
        for _ in 0..<max(0, Int(max(cp.firstUnackedSeqNum, minSeq) - minSeq)) {
            guard let next = try? reader.element(of: file, at: offset, end: file.capacity) else { return nil }
            offset = next.next
        }
        guard let element = try? reader.element(of: file, at: offset, end: file.capacity) else { return nil }
        return try? QueueFrames.decode(element.bytes, element.payload)
    }

    // MARK: check

    /// pqcheck's lines, then every problem found: bad checkpoints, missing pages, elements that break the
    /// sequence, lengths or checksums.
    public func check() -> (lines: [String], problems: [String]) {
        var lines = ["Checking queue dir: \(directory)"]
        var problems: [String] = []
        for name in checkpointNames {
            let path = directory + "/" + name
            let raw = FileSystem.readBytes(path) ?? []
            guard raw.count == QueueCheckpoint.size else {
                problems.append("\(path), invalid size: \(raw.count)")
                continue
            }
            let cp: QueueCheckpoint
            do {
                cp = try QueueCheckpoint.decode(raw, name: path)
            } catch {
                problems.append(error.message)
                continue
            }
            let pagePath = QueuePageFile.path(directory, Int(cp.pageNum))
            let size = FileSystem.size(pagePath).flatMap { $0 > 0 ? "\($0)" : nil } ?? "NOT FOUND"
            lines.append("\(name), fully-acked: \(cp.isFullyAcked ? "YES" : "NO"), page.\(cp.pageNum) size: \(size)")
            lines.append("  \(cp)")
            if size == "NOT FOUND" {
                if !cp.isFullyAcked && cp.elementCount > 0 {
                    let unacked = Int64(cp.elementCount) - max(0, cp.firstUnackedSeqNum - cp.minSeqNum)
                    problems.append("\(pagePath) is missing but \(name) has \(unacked) unacked elements")
                }
                continue
            }
            problems += checkElements(name, cp)
        }
        for name in FileSystem.list(directory) where name.hasPrefix("checkpoint.") && name.hasSuffix(".tmp") {
            problems.append("\(directory)/\(name) is a leftover of an interrupted checkpoint write (`sluice queue repair` deletes it)")
        }
        return (lines, problems)
    }

    private func checkElements(_ name: String, _ cp: QueueCheckpoint) -> [String] {
        let file: QueuePageFile
        do {
            file = try QueuePageFile.open(directory, Int(cp.pageNum))
        } catch {
            return [error.message]
        }
        guard let version = file.readVersion(), version == QueuePageFile.version || version == 1 else {
            return ["\(file.path): unknown page version \(file.readVersion() ?? 0)"]
        }
        let isHead = name == "checkpoint.head"
        let walk = walkElements(file, first: isHead ? nil : cp.minSeqNum, limit: isHead ? nil : Int(cp.elementCount))
        var problems = walk.damaged.map { "\(file.path): \($0.reason)" }
        if let stop = walk.stop { problems.append("\(file.path): \(stop)") }
        if !isHead && walk.kept.count + walk.damaged.count < Int(cp.elementCount) {
            problems.append("\(file.path): \(name) lists \(cp.elementCount) elements, the page holds \(walk.kept.count + walk.damaged.count)")
        }
        return problems
    }

    /// The elements of a page: those intact, those whose payload fails its checksum (skipped over by their
    /// length), and why the walk stopped early, if it did.
    struct Walk {
        var kept: [(seq: Int64, range: Range<Int>)] = []
        var damaged: [(seq: Int64, reason: String)] = []
        var stop: String?
    }

    func walkElements(_ file: QueuePageFile, first: Int64?, limit: Int?) -> Walk {
        var walk = Walk()
        var offset = QueuePageFile.headerSize
        var expected = first
        while limit.map({ walk.kept.count + walk.damaged.count < $0 }) ?? true {
            guard offset + 12 <= file.capacity, let header = file.read(at: offset, count: 12) else { break }
            let seq = Int64(bitPattern: BigEndian.uint64(header, at: 0))
            let length = Int(Int32(bitPattern: BigEndian.uint32(header, at: 8)))
            if seq == 0 && length == 0 && limit == nil { break }
            if expected == nil { expected = seq }
            guard seq == expected, seq >= 1, seq <= QueueCheckpoint.maximumSeqNum, length > 0, offset + 16 + length <= file.capacity,
                  let body = file.read(at: offset + 12, count: length + 4) else {
                if limit != nil || seq != 0 || length != 0 {
                    walk.stop = "element at offset \(offset) is unreadable (seqNum \(seq), expected \(expected ?? 0); length \(length)): it and everything after it in this page are lost"
                }
                break
            }
            if BigEndian.uint32(body, at: length) == CRC32.checksum(body, range: 0..<length) {
                walk.kept.append((seq, offset..<offset + 16 + length))
            } else {
                walk.damaged.append((seq, "element seqNum \(seq) at offset \(offset) fails its checksum"))
            }
            offset += 16 + length
            expected = seq + 1
        }
        return walk
    }

    // MARK: repair

    /// The numbers of the `page.N` files a checkpoint can name (0 to 2^31 - 1), sorted; other names are left alone.
    var pageNumbers: [Int] {
        FileSystem.list(directory).compactMap { $0.hasPrefix("page.") ? Int32($0.dropFirst(5)).map(Int.init) : nil }.filter { $0 >= 0 }.sorted()
    }

    /// Logstash's pqrepair steps, then each damaged page rewritten with its intact elements (renumbered from its
    /// first sequence number; acknowledged ones stay acknowledged). Returns what was done and dropped.
    public func repair() throws(PersistedQueueError) -> [String] {
        var report: [String] = []
        for name in FileSystem.list(directory) where name.hasPrefix("checkpoint.") && name.hasSuffix(".tmp") {
            unlink(directory + "/" + name)
            report.append("deleted \(name) (an interrupted checkpoint write)")
        }
        var head = try? QueueCheckpoint.read(directory, "checkpoint.head")
        let pageNumbers = self.pageNumbers
        // A head checkpoint is trusted to delete pages only when it describes these pages: its page exists, is
        // the last one, and the first unacknowledged page does not come after it.
        if let h = head, let problem = headProblem(h, pageNumbers) {
            unlink(directory + "/checkpoint.head")
            report.append("deleted checkpoint.head (\(problem)): it is rebuilt from the last page")
            head = nil
        }
        if let head {
            for n in pageNumbers where n < Int(head.firstUnackedPageNum) {
                unlink(QueuePageFile.path(directory, n))
                unlink(directory + "/checkpoint.\(n)")
                report.append("deleted page.\(n) and checkpoint.\(n): fully acknowledged")
            }
        }
        for name in checkpointNames where name != "checkpoint.head" {
            let n = Int(name.dropFirst(11))!
            if !FileSystem.exists(QueuePageFile.path(directory, n)) {
                unlink(directory + "/" + name)
                report.append("deleted \(name): its page is missing")
            }
        }
        let live = self.pageNumbers
        for n in live where (FileSystem.size(QueuePageFile.path(directory, n)) ?? 0) < QueuePageFile.minimumSize {
            unlink(QueuePageFile.path(directory, n))
            unlink(directory + "/checkpoint.\(n)")
            report.append("deleted page.\(n): smaller than 18 bytes")
        }
        let pages = self.pageNumbers
        if let h = head, let problem = headProblem(h, pages) {
            unlink(directory + "/checkpoint.head")
            report.append("deleted checkpoint.head (\(problem)): it is rebuilt from the last page")
            head = nil
        }
        for n in pages {
            report += try repairPage(n, isHead: n == Int(head?.pageNum ?? -1) || (head == nil && n == pages.last), firstPage: pages.first ?? n)
        }
        return report
    }

    /// Why a head checkpoint does not describe the pages `numbers`, nil when it does.
    private func headProblem(_ head: QueueCheckpoint, _ numbers: [Int]) -> String? {
        if !numbers.contains(Int(head.pageNum)) { return "it names page.\(head.pageNum), which is missing" }
        if let last = numbers.last, last > Int(head.pageNum) { return "it names page.\(head.pageNum), but page.\(last) comes after it" }
        if head.firstUnackedPageNum > head.pageNum {
            return "its first unacknowledged page \(head.firstUnackedPageNum) comes after its page \(head.pageNum)"
        }
        return nil
    }

    /// Rewrites page `n` when its elements or its checkpoint are damaged; rebuilds a missing checkpoint (a rebuilt
    /// head checkpoint names `firstPage`, the first page left, as the first unacknowledged one).
    private func repairPage(_ n: Int, isHead: Bool, firstPage: Int) throws(PersistedQueueError) -> [String] {
        let name = isHead ? "checkpoint.head" : "checkpoint.\(n)"
        var report: [String] = []
        var cp = try? QueueCheckpoint.read(directory, name)
        if let named = cp?.pageNum, Int(named) != n {
            report.append("\(name) describes page.\(named), not page.\(n): it is rebuilt")
            cp = nil
        }
        let file = try QueuePageFile.open(directory, n)
        let trusted = (cp != nil && !isHead) ? cp : nil
        let walk = walkElements(file, first: trusted?.minSeqNum, limit: trusted.map { Int($0.elementCount) })
        let expectedCount = trusted.map { Int($0.elementCount) } ?? (walk.kept.count + walk.damaged.count)
        let lost = max(0, expectedCount - walk.kept.count - walk.damaged.count)
        if walk.damaged.isEmpty && walk.stop == nil && cp != nil && lost == 0 { return report }
        let minSeq = walk.kept.first?.seq ?? walk.damaged.first?.seq ?? (cp?.minSeqNum ?? 0)
        let ackedBefore = cp.map { Int(max(0, $0.firstUnackedSeqNum - minSeq)) } ?? 0
        let keptAcked = walk.kept.filter { $0.seq < minSeq + Int64(ackedBefore) }.count
        try rewrite(file, n, walk.kept)
        let count = Int32(walk.kept.count)
        let fua = cp?.firstUnackedPageNum ?? Int32(firstPage)
        let newCheckpoint = QueueCheckpoint(
            pageNum: Int32(n), firstUnackedPageNum: isHead ? fua : 0,
            firstUnackedSeqNum: count == 0 ? 0 : minSeq + Int64(keptAcked), minSeqNum: count == 0 ? 0 : minSeq, elementCount: count)
        try newCheckpoint.write(directory, name, retry: false)
        for d in walk.damaged { report.append("page.\(n): dropped \(d.reason)") }
        if let stop = walk.stop { report.append("page.\(n): dropped \(lost > 0 ? "\(lost) checkpointed element(s)" : "the rest of the page"): \(stop)") }
        if cp == nil { report.append("rebuilt \(name) from page.\(n) (\(count) elements, all unacknowledged)") }
        report.append("page.\(n): kept \(count) intact element(s)")
        return report
    }

    /// Writes the kept elements, renumbered from the first one's sequence number, into a new page that replaces
    /// page `n` (through a temporary file and a rename).
    private func rewrite(_ file: QueuePageFile, _ n: Int, _ kept: [(seq: Int64, range: Range<Int>)]) throws(PersistedQueueError) {
        let tmpDirectory = directory + "/.repair"
        guard FileSystem.makeDirectories(tmpDirectory) else { throw .io("cannot create", tmpDirectory) }
        let fresh = try QueuePageFile.create(tmpDirectory, n, capacity: file.capacity)
        var offset = QueuePageFile.headerSize
        let first = kept.first?.seq ?? 0
        for (i, element) in kept.enumerated() {
            guard var bytes = file.read(at: element.range.lowerBound, count: element.range.count) else {
                throw .io("cannot read", file.path)
            }
            BigEndian.store(UInt64(bitPattern: first + Int64(i)), in: &bytes, at: 0)
            guard fresh.write(bytes, 0..<bytes.count, at: offset) else { throw .io("cannot write", fresh.path) }
            offset += bytes.count
        }
        guard fresh.sync(), rename(fresh.path, file.path) == 0 else { throw .io("cannot replace", file.path) }
        rmdir(tmpDirectory)
    }
}

extension QueueTool {
    /// `repair` while holding the queue's `.lock`, refused when a running pipeline holds it.
    public func repairHoldingLock() throws(PersistedQueueError) -> [String] {
        guard FileSystem.isDirectory(directory) else { throw PersistedQueueError("\(directory) is not a queue directory") }
        let lock: FileLock
        do {
            lock = try FileLock.acquire(directory + "/.lock", owner: "The queue")
        } catch {
            throw PersistedQueueError("\(directory) is in use by a running pipeline (its .lock is held): stop it before repairing")
        }
        defer { lock.release(deleteFile: false) }
        return try repair()
    }
}

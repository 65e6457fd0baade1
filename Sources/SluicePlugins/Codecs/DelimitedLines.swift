#if canImport(Glibc)
import Glibc
#endif
/// Cuts a byte stream into lines at a delimiter for the `line` and `json_lines` codecs (Logstash's
/// `BufferedTokenizer`): the bytes after the last delimiter wait for the next chunk, a delimiter split across two
/// chunks is still found, and a line longer than `limit` bytes is cut — its first `limit` bytes are handed over as
/// oversized and the rest, up to the next delimiter, is skipped — so one endless line cannot take the memory.
///
/// Owned by one codec instance, which one thread (an input's, or a connection's event loop) drives at a time.
struct DelimitedLines {
    let delimiter: [UInt8]
    /// The longest line kept whole, in bytes (`decode_size_limit_bytes`).
    let limit: Int
    /// Bytes after the last delimiter; while skipping, only the last bytes that may start a split delimiter.
    private var pending: [UInt8] = []
    /// True from the moment a line went over `limit` until its delimiter arrives.
    private var skipping = false

    init(delimiter: [UInt8], limit: Int) {
        self.delimiter = delimiter
        self.limit = limit
    }

    /// Hands every line completed by `bytes` to `line` (without its delimiter), or its first `limit` bytes to
    /// `oversized` when it is longer.
    mutating func split(
        _ bytes: UnsafeBufferPointer<UInt8>, line: (UnsafeBufferPointer<UInt8>) -> Void,
        oversized: (UnsafeBufferPointer<UInt8>) -> Void
    ) {
        var start = completeSplitDelimiter(bytes, line, oversized)
        var i = start
        let d0 = delimiter[0]
        while let found = bytes.firstIndex(of: d0, from: i) {
            i = found
            if delimiterMatches(bytes, at: i) {
                complete(UnsafeBufferPointer(rebasing: bytes[start..<i]), line, oversized)
                i += delimiter.count
                start = i
            } else {
                i += 1
            }
        }
        if start < bytes.count { keep(UnsafeBufferPointer(rebasing: bytes[start...]), oversized) }
    }

    /// The unfinished last line, if any (end of stream), cut like any other; a line being skipped is dropped.
    mutating func flush(line: (UnsafeBufferPointer<UInt8>) -> Void, oversized: (UnsafeBufferPointer<UInt8>) -> Void) {
        defer {
            pending.removeAll()
            skipping = false
        }
        guard !pending.isEmpty, !skipping else { return }
        pending.withUnsafeBufferPointer { whole in
            if whole.count > limit { oversized(UnsafeBufferPointer(rebasing: whole[..<limit])) } else { line(whole) }
        }
    }

    private func delimiterMatches(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> Bool {
        if delimiter.count == 1 { return true }
        guard i + delimiter.count <= bytes.count else { return false }
        for k in 1..<delimiter.count where bytes[i + k] != delimiter[k] { return false }
        return true
    }

    /// A multi-byte delimiter whose first `k` bytes ended the previous chunk: completes the pending line and
    /// returns where this chunk's own bytes start (0 when there is no such delimiter).
    private mutating func completeSplitDelimiter(
        _ bytes: UnsafeBufferPointer<UInt8>, _ line: (UnsafeBufferPointer<UInt8>) -> Void,
        _ oversized: (UnsafeBufferPointer<UInt8>) -> Void
    ) -> Int {
        guard delimiter.count > 1, !pending.isEmpty else { return 0 }
        for k in stride(from: min(delimiter.count - 1, pending.count), through: 1, by: -1) {
            let rest = delimiter.count - k
            guard rest <= bytes.count, pending.suffix(k).elementsEqual(delimiter.prefix(k)),
                bytes.prefix(rest).elementsEqual(delimiter.suffix(rest))
            else { continue }
            pending.removeLast(k)
            complete(UnsafeBufferPointer(start: nil, count: 0), line, oversized)
            return rest
        }
        return 0
    }

    /// One line is complete: `tail` is its part in the current chunk, after whatever `pending` holds.
    private mutating func complete(
        _ tail: UnsafeBufferPointer<UInt8>, _ line: (UnsafeBufferPointer<UInt8>) -> Void,
        _ oversized: (UnsafeBufferPointer<UInt8>) -> Void
    ) {
        if skipping {
            skipping = false
            pending.removeAll(keepingCapacity: true)
            return
        }
        if pending.isEmpty {
            if tail.count > limit { oversized(UnsafeBufferPointer(rebasing: tail[..<limit])) } else { line(tail) }
            return
        }
        pending.append(contentsOf: tail)
        pending.withUnsafeBufferPointer { whole in
            if whole.count > limit { oversized(UnsafeBufferPointer(rebasing: whole[..<limit])) } else { line(whole) }
        }
        pending.removeAll(keepingCapacity: pending.count <= 1 << 20)
    }

    /// Keeps the start of an unfinished line; past `limit` hands its first `limit` bytes over and starts skipping.
    private mutating func keep(_ bytes: UnsafeBufferPointer<UInt8>, _ oversized: (UnsafeBufferPointer<UInt8>) -> Void) {
        pending.append(contentsOf: bytes)
        // The last bytes may be the start of a delimiter, not part of the line.
        if !skipping && pending.count > limit + delimiter.count - 1 {
            pending.withUnsafeBufferPointer { oversized(UnsafeBufferPointer(rebasing: $0[..<limit])) }
            skipping = true
        }
        if skipping {
            // Only what could begin a delimiter split across chunks is worth keeping.
            let keepCount = min(delimiter.count - 1, pending.count)
            pending = Array(pending.suffix(keepCount))
        }
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// The first position at or after `start` holding `byte` (`memchr`, which scans many bytes per step).
    @inline(__always)
    func firstIndex(of byte: UInt8, from start: Int) -> Int? {
        guard start < count, let base = baseAddress, let hit = memchr(base + start, Int32(byte), count - start) else { return nil }
        return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }
}

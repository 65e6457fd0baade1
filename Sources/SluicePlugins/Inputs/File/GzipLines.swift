#if canImport(Glibc)
import Glibc
#endif
import CZlib
import SluiceCore

/// The lines of a gzip file, for the file input's read mode (Logstash's `read_zip_file.rb`: `GZIPInputStream` and
/// `BufferedReader.readLine`). Lines end at `"\n"`, `"\r"` or `"\r\n"`; a last line without an end counts;
/// concatenated gzip members are read one after another. Called on the file input's thread.
enum GzipLines {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Decompresses `path`, calling `line` for every line. Returns false when `stopping` interrupted it.
    static func read(_ path: String, stopping: () -> Bool, _ line: (UnsafeBufferPointer<UInt8>) -> Void) throws(Failure) -> Bool {
        var splitter = LineSplitter()
        let finished = try inflate(path, stopping: stopping) { chunk in splitter.add(chunk, line) }
        if finished { splitter.finish(line) }
        return finished
    }

    /// `check_archive_validity`: the whole file decompresses without an error.
    static func isValid(_ path: String) -> Bool {
        (try? inflate(path, stopping: { false }) { _ in }) != nil
    }

    /// Runs zlib over the file (gzip wrapper, members in sequence), handing each piece of output to `body`.
    private static func inflate(_ path: String, stopping: () -> Bool, _ body: (UnsafeBufferPointer<UInt8>) -> Void) throws(Failure) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "zlib could not be initialised")
        }
        defer { inflateEnd(&stream) }
        var input = [UInt8](repeating: 0, count: 64 * 1024)
        var output = [UInt8](repeating: 0, count: 64 * 1024)
        var sawData = false
        var ended = false
        while !stopping() {
            let n = input.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw Failure(description: String(cString: strerror(errno))) }
            if n == 0 { break }
            sawData = true
            ended = false
            try input.withUnsafeMutableBufferPointer { (inBuf) throws(Failure) in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = UInt32(n)
                while stream.avail_in > 0 {
                    if ended {
                        // Another member follows the one that ended.
                        inflateReset(&stream)
                        ended = false
                    }
                    let rc = output.withUnsafeMutableBufferPointer { outBuf -> Int32 in
                        stream.next_out = outBuf.baseAddress
                        stream.avail_out = UInt32(outBuf.count)
                        let rc = CZlib.inflate(&stream, Z_NO_FLUSH)
                        body(UnsafeBufferPointer(rebasing: outBuf[0..<(outBuf.count - Int(stream.avail_out))]))
                        return rc
                    }
                    if rc == Z_STREAM_END { ended = true; continue }
                    if rc != Z_OK && rc != Z_BUF_ERROR {
                        throw Failure(description: stream.msg.map { String(cString: $0) } ?? "zlib error \(rc)")
                    }
                    if rc == Z_BUF_ERROR && stream.avail_in == 0 { break }
                }
            }
        }
        if stopping() { return false }
        if !sawData { throw Failure(description: "Unexpected end of ZLIB input stream") }
        if !ended { throw Failure(description: "Unexpected end of ZLIB input stream") }
        return true
    }

    /// `BufferedReader.readLine`'s line ends over a stream of pieces.
    struct LineSplitter {
        private var pending: [UInt8] = []
        private var afterCR = false

        mutating func add(_ bytes: UnsafeBufferPointer<UInt8>, _ line: (UnsafeBufferPointer<UInt8>) -> Void) {
            for b in bytes {
                if afterCR {
                    afterCR = false
                    if b == 0x0A { continue }
                }
                if b == 0x0A || b == 0x0D {
                    pending.withUnsafeBufferPointer(line)
                    pending.removeAll(keepingCapacity: true)
                    afterCR = b == 0x0D
                } else {
                    pending.append(b)
                }
            }
        }

        mutating func finish(_ line: (UnsafeBufferPointer<UInt8>) -> Void) {
            if !pending.isEmpty { pending.withUnsafeBufferPointer(line) }
            pending.removeAll()
        }
    }
}

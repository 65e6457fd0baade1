import CZlib
import NIOCore

/// One frame of the lumberjack protocol (beats → Logstash), with compressed frames already expanded.
enum BeatsFrame: Equatable {
    /// `W`: the number of data frames in the coming batch.
    case window(version: UInt8, size: UInt32)
    /// `J` (v2): one event as JSON.
    case json(version: UInt8, sequence: UInt32, payload: [UInt8])
    /// `D` (v1): one event as key/value string pairs.
    case data(version: UInt8, sequence: UInt32, pairs: [(String, String)])

    static func == (a: BeatsFrame, b: BeatsFrame) -> Bool {
        switch (a, b) {
        case (.window(let v1, let s1), .window(let v2, let s2)): return v1 == v2 && s1 == s2
        case (.json(let v1, let q1, let p1), .json(let v2, let q2, let p2)): return v1 == v2 && q1 == q2 && p1 == p2
        case (.data(let v1, let q1, let p1), .data(let v2, let q2, let p2)):
            return v1 == v2 && q1 == q2 && p1.elementsEqual(p2) { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }
}

/// A violation of the lumberjack protocol: the connection is closed without an ACK, so the sender resends.
struct BeatsProtocolError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Parses lumberjack v1/v2 frames from a byte stream, incrementally: bytes are appended as they arrive and
/// `next()` returns each complete frame (nil when more bytes are needed). Compressed frames (`C`) are inflated
/// and their frames returned in order. Frames and inflated payloads are bounded by `maximumFrameBytes` (a data
/// frame's length fields count too), so a hostile length or pair count cannot make it buffer or allocate without
/// bound: what it holds between calls is at most one incomplete frame of that size. Used on one connection's
/// event loop.
struct BeatsFrameDecoder {
    static let version1 = UInt8(ascii: "1"), version2 = UInt8(ascii: "2")
    /// The largest frame payload or inflated compressed block accepted.
    let maximumFrameBytes: Int
    private var buffer = ByteBuffer()
    private var expanded: [BeatsFrame] = []
    /// How far the lengths of an incomplete data frame at the front of `buffer` were checked, so that a large
    /// frame arriving in many reads is scanned once, not once per read.
    private var dataScan: DataScan?

    /// Progress through a data frame's strings: `offset` from the frame's start, strings and bytes counted.
    struct DataScan {
        var offset = 10
        var strings = 0
        var total = 0
    }

    init(maximumFrameBytes: Int = 64 << 20) {
        self.maximumFrameBytes = maximumFrameBytes
    }

    /// Bytes received and not yet returned as frames (an incomplete frame once `next()` returned nil).
    var bufferedBytes: Int { buffer.readableBytes }

    mutating func append(_ bytes: inout ByteBuffer) {
        if buffer.readerIndex > 0 { buffer.discardReadBytes() }
        buffer.writeBuffer(&bytes)
    }

    mutating func next() throws(BeatsProtocolError) -> BeatsFrame? {
        if !expanded.isEmpty { return expanded.removeFirst() }
        while let frame = try Self.parse(&buffer, maximumFrameBytes, &dataScan) {
            switch frame {
            case .frame(let f):
                return f
            case .compressed(let payload):
                var inflated = ByteBuffer(bytes: try Self.inflate(payload, limit: maximumFrameBytes))
                var scan: DataScan?
                while inflated.readableBytes > 0 {
                    guard case .frame(let f)? = try Self.parse(&inflated, maximumFrameBytes, &scan) else {
                        throw BeatsProtocolError("Insufficient bytes in compressed content")
                    }
                    expanded.append(f)
                }
                if !expanded.isEmpty { return expanded.removeFirst() }
            }
        }
        return nil
    }

    private enum Parsed {
        case frame(BeatsFrame)
        case compressed([UInt8])
    }

    /// One frame from the front of `buffer`, consuming it; nil (nothing consumed) when it is not complete yet.
    /// `scan` carries the progress through an incomplete data frame from one call to the next.
    private static func parse(_ buffer: inout ByteBuffer, _ limit: Int, _ scan: inout DataScan?) throws(BeatsProtocolError) -> Parsed? {
        var view = buffer
        guard let version = view.readInteger(as: UInt8.self), let type = view.readInteger(as: UInt8.self) else { return nil }
        guard version == version1 || version == version2 else {
            throw BeatsProtocolError("Invalid version of beats protocol: \(version)")
        }
        let parsed: Parsed
        switch type {
        case UInt8(ascii: "W"):
            guard let size = view.readInteger(as: UInt32.self) else { return nil }
            parsed = .frame(.window(version: version, size: size))
        case UInt8(ascii: "J"):
            guard let sequence = view.readInteger(as: UInt32.self), let length = view.readInteger(as: UInt32.self) else { return nil }
            guard length > 0 else { throw BeatsProtocolError("Invalid JSON frame length 0") }
            guard Int(length) <= limit else { throw BeatsProtocolError("JSON frame of \(length) bytes exceeds the limit of \(limit)") }
            guard let payload = view.readBytes(length: Int(length)) else { return nil }
            parsed = .frame(.json(version: version, sequence: sequence, payload: payload))
        case UInt8(ascii: "D"):
            guard let sequence = view.readInteger(as: UInt32.self), let count = view.readInteger(as: UInt32.self) else { return nil }
            guard count > 0 else { throw BeatsProtocolError("Invalid data frame: 0 pairs") }
            // Each pair takes at least its two 4-byte lengths.
            guard Int(count) <= limit / 8 else { throw BeatsProtocolError("data frame of \(count) pairs exceeds the limit of \(limit) bytes") }
            // The lengths first, resuming where the last call stopped: the strings are made once all are here.
            var progress = scan ?? DataScan()
            scan = nil
            while progress.strings < 2 * Int(count) {
                guard let length = buffer.getInteger(at: buffer.readerIndex + progress.offset, as: UInt32.self) else {
                    scan = progress
                    return nil
                }
                progress.total += 4 + Int(length)
                guard progress.total <= limit else { throw BeatsProtocolError("data frame exceeds the limit of \(limit) bytes") }
                guard buffer.readableBytes >= progress.offset + 4 + Int(length) else {
                    progress.total -= 4 + Int(length)
                    scan = progress
                    return nil
                }
                progress.offset += 4 + Int(length)
                progress.strings += 1
            }
            var pairs: [(String, String)] = []
            pairs.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let key = readString(&view), let value = readString(&view) else {
                    throw BeatsProtocolError("data frame shorter than its lengths")  // cannot happen: checked above
                }
                pairs.append((key, value))
            }
            parsed = .frame(.data(version: version, sequence: sequence, pairs: pairs))
        case UInt8(ascii: "C"):
            guard let length = view.readInteger(as: UInt32.self) else { return nil }
            guard Int(length) <= limit else { throw BeatsProtocolError("compressed frame of \(length) bytes exceeds the limit of \(limit)") }
            guard let payload = view.readBytes(length: Int(length)) else { return nil }
            parsed = .compressed(payload)
        default:
            throw BeatsProtocolError("Invalid Frame Type, received: \(type)")
        }
        buffer = view
        return parsed
    }

    private static func readString(_ view: inout ByteBuffer) -> String? {
        guard let length = view.readInteger(as: UInt32.self) else { return nil }
        return view.readString(length: Int(length))
    }

    /// Inflates a zlib stream, refusing output beyond `limit` bytes (a compression bomb).
    static func inflate(_ input: [UInt8], limit: Int) throws(BeatsProtocolError) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw BeatsProtocolError("zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var source = input
        var status: Int32 = Z_OK
        source.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = UInt32(inBuf.count)
            repeat {
                let produced = chunk.withUnsafeMutableBufferPointer { outBuf -> Int in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = UInt32(outBuf.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return outBuf.count - Int(stream.avail_out)
                }
                output.append(contentsOf: chunk[0..<produced])
            } while status == Z_OK && output.count <= limit && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        if output.count > limit { throw BeatsProtocolError("compressed frame inflates beyond \(limit) bytes") }
        guard status == Z_STREAM_END else { throw BeatsProtocolError("invalid compressed frame (zlib status \(status))") }
        return output
    }

    /// The ACK for `sequence`: `<version> 'A' <u32 sequence>`.
    static func acknowledgement(_ sequence: UInt32, version: UInt8 = version2) -> ByteBuffer {
        var out = ByteBuffer()
        out.writeInteger(version)
        out.writeInteger(UInt8(ascii: "A"))
        out.writeInteger(sequence)
        return out
    }
}

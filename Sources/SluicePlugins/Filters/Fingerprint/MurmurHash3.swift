/// MurmurHash3 (Austin Appleby), in the variants the fingerprint filter uses: x86_32 and x64_128, over little-endian
/// input as the Ruby `murmurhash3` gem hashes strings and integers.
enum MurmurHash3 {
    /// MurmurHash3_x86_32.
    static func x86_32(_ data: [UInt8], seed: UInt32 = 0) -> UInt32 {
        let c1: UInt32 = 0xcc9e2d51, c2: UInt32 = 0x1b873593
        var h = seed
        let blocks = data.count / 4
        for i in 0..<blocks {
            let j = 4 * i
            var k = UInt32(data[j]) | UInt32(data[j + 1]) << 8 | UInt32(data[j + 2]) << 16 | UInt32(data[j + 3]) << 24
            k = k &* c1
            k = k.rotatedLeft(15)
            k = k &* c2
            h ^= k
            h = h.rotatedLeft(13)
            h = h &* 5 &+ 0xe6546b64
        }
        var k: UInt32 = 0
        let tail = 4 * blocks
        let rest = data.count & 3
        if rest >= 3 { k ^= UInt32(data[tail + 2]) << 16 }
        if rest >= 2 { k ^= UInt32(data[tail + 1]) << 8 }
        if rest >= 1 {
            k ^= UInt32(data[tail])
            k = k &* c1
            k = k.rotatedLeft(15)
            k = k &* c2
            h ^= k
        }
        h ^= UInt32(truncatingIfNeeded: data.count)
        return fmix32(h)
    }

    static func fmix32(_ h0: UInt32) -> UInt32 {
        var h = h0
        h ^= h >> 16
        h = h &* 0x85ebca6b
        h ^= h >> 13
        h = h &* 0xc2b2ae35
        h ^= h >> 16
        return h
    }

    /// MurmurHash3_x64_128: the two 64-bit halves (h1, h2).
    static func x64_128(_ data: [UInt8], seed: UInt32 = 0) -> (UInt64, UInt64) {
        let c1: UInt64 = 0x87c37b91114253d5, c2: UInt64 = 0x4cf5ad432745937f
        var h1 = UInt64(seed), h2 = UInt64(seed)
        func word(_ j: Int) -> UInt64 {
            var v: UInt64 = 0
            for b in (0..<8).reversed() { v = v << 8 | UInt64(data[j + b]) }
            return v
        }
        let blocks = data.count / 16
        for i in 0..<blocks {
            var k1 = word(16 * i), k2 = word(16 * i + 8)
            k1 = k1 &* c1; k1 = k1.rotatedLeft(31); k1 = k1 &* c2; h1 ^= k1
            h1 = h1.rotatedLeft(27); h1 = h1 &+ h2; h1 = h1 &* 5 &+ 0x52dce729
            k2 = k2 &* c2; k2 = k2.rotatedLeft(33); k2 = k2 &* c1; h2 ^= k2
            h2 = h2.rotatedLeft(31); h2 = h2 &+ h1; h2 = h2 &* 5 &+ 0x38495ab5
        }
        let tail = 16 * blocks
        let rest = data.count & 15
        var k1: UInt64 = 0, k2: UInt64 = 0
        if rest > 8 {
            for b in (8..<rest).reversed() { k2 ^= UInt64(data[tail + b]) << (8 * UInt64(b - 8)) }
            k2 = k2 &* c2; k2 = k2.rotatedLeft(33); k2 = k2 &* c1; h2 ^= k2
        }
        if rest > 0 {
            for b in (0..<min(rest, 8)).reversed() { k1 ^= UInt64(data[tail + b]) << (8 * UInt64(b)) }
            k1 = k1 &* c1; k1 = k1.rotatedLeft(31); k1 = k1 &* c2; h1 ^= k1
        }
        h1 ^= UInt64(data.count); h2 ^= UInt64(data.count)
        h1 = h1 &+ h2; h2 = h2 &+ h1
        h1 = fmix64(h1); h2 = fmix64(h2)
        h1 = h1 &+ h2; h2 = h2 &+ h1
        return (h1, h2)
    }

    static func fmix64(_ k0: UInt64) -> UInt64 {
        var k = k0
        k ^= k >> 33
        k = k &* 0xff51afd7ed558ccd
        k ^= k >> 33
        k = k &* 0xc4ceb9fe1a85ec53
        k ^= k >> 33
        return k
    }

    /// The little-endian bytes of an integer, 4 or 8 of them (the gem's `int32_hash` / `int64_hash` input).
    static func littleEndian(_ value: Int, bytes count: Int) -> [UInt8] {
        let bits = UInt64(bitPattern: Int64(value))
        return (0..<count).map { UInt8(truncatingIfNeeded: bits >> (8 * UInt64($0))) }
    }
}

extension UInt32 {
    @inline(__always) func rotatedLeft(_ n: UInt32) -> UInt32 { (self << n) | (self >> (32 - n)) }
}

extension UInt64 {
    @inline(__always) func rotatedLeft(_ n: UInt64) -> UInt64 { (self << n) | (self >> (64 - n)) }
}

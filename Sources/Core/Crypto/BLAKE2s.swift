/// BLAKE2s (RFC 7693): 32-bit BLAKE2, digest 1…32 bytes, optional key of 1…32 bytes.
/// One-shot (`BLAKE2s.hash`) or incremental (`update` any number of times, then `finalize`).
/// Pure Swift; it backs Noise_IK_25519_ChaChaPoly_BLAKE2s, where messages are small, so the
/// compression is a straightforward scalar one.
public struct BLAKE2s: Sendable {
    public static let blockLength = 64
    public static let maxDigestLength = 32
    public static let maxKeyLength = 32

    public let digestLength: Int
    private var h: SIMD8<UInt32>
    /// Bytes fed to the compression function so far (RFC 7693's `t`).
    private var byteCount: UInt64 = 0
    /// Pending input; at most one block. A full block stays here until more input arrives,
    /// because the last block must be compressed with the finalisation flag.
    private var buffer = SIMD16<UInt32>()
    private var bufferCount = 0

    /// Unkeyed BLAKE2s-256.
    public init() {
        digestLength = 32
        h = blakeIV
        h[0] ^= 0x0101_0000 ^ 32
    }

    /// `digestLength` 1…32; `key` empty (unkeyed) or 1…32 bytes.
    public init(digestLength: Int, key: [UInt8] = []) throws(CryptoError) {
        try self.init(digestLength: digestLength, keyCount: key.count)
        key.withUnsafeBytes { absorbKey($0) }
    }

    public init(digestLength: Int = 32, key: SecretBytes) throws(CryptoError) {
        try self.init(digestLength: digestLength, keyCount: key.count)
        key.withUnsafeBytes { absorbKey($0) }
    }

    private init(digestLength: Int, keyCount: Int) throws(CryptoError) {
        guard (1...Self.maxDigestLength).contains(digestLength) else {
            throw .invalidParameter("BLAKE2s digest length must be 1...32, got \(digestLength)")
        }
        guard keyCount <= Self.maxKeyLength else {
            throw .invalidParameter("BLAKE2s key must be at most 32 bytes, got \(keyCount)")
        }
        self.digestLength = digestLength
        h = blakeIV
        // Parameter block word 0: digest length, key length, fanout 1, depth 1.
        h[0] ^= 0x0101_0000 ^ (UInt32(keyCount) << 8) ^ UInt32(digestLength)
    }

    /// A key is processed as a whole zero-padded first block (RFC 7693 §3.3).
    private mutating func absorbKey(_ key: UnsafeRawBufferPointer) {
        guard let base = key.baseAddress, key.count > 0 else { return }
        withUnsafeMutableBytes(of: &buffer) { $0.baseAddress!.copyMemory(from: base, byteCount: key.count) }
        bufferCount = Self.blockLength
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update(bufferPointer: $0) }
    }

    public mutating func update(bufferPointer: UnsafeRawBufferPointer) {
        guard var input = bufferPointer.baseAddress, bufferPointer.count > 0 else { return }
        var remaining = bufferPointer.count
        while remaining > 0 {
            if bufferCount == Self.blockLength {
                byteCount &+= UInt64(Self.blockLength)
                let block = buffer
                withUnsafeBytes(of: block) { compress($0.baseAddress!, isFinal: false) }
                bufferCount = 0
            }
            if bufferCount == 0 {
                // Compress whole blocks straight from the input, keeping back the last one.
                while remaining > Self.blockLength {
                    byteCount &+= UInt64(Self.blockLength)
                    compress(input, isFinal: false)
                    input += Self.blockLength
                    remaining -= Self.blockLength
                }
            }
            let take = min(Self.blockLength - bufferCount, remaining)
            let offset = bufferCount
            withUnsafeMutableBytes(of: &buffer) { ($0.baseAddress! + offset).copyMemory(from: input, byteCount: take) }
            bufferCount += take
            input += take
            remaining -= take
        }
    }

    /// The digest of everything fed so far; the state itself is left as it was.
    public func finalize() -> [UInt8] {
        var copy = self
        copy.byteCount &+= UInt64(bufferCount)
        let offset = bufferCount
        withUnsafeMutableBytes(of: &copy.buffer) { raw in
            _ = (raw.baseAddress! + offset).initializeMemory(as: UInt8.self, repeating: 0, count: Self.blockLength - offset)
        }
        let block = copy.buffer
        withUnsafeBytes(of: block) { copy.compress($0.baseAddress!, isFinal: true) }
        var digest = [UInt8](repeating: 0, count: digestLength)
        let state = copy.h
        digest.withUnsafeMutableBytes { out in
            withUnsafeBytes(of: state) { hBytes in
                // The state words are little-endian on every supported target (x86_64, aarch64).
                out.baseAddress!.copyMemory(from: hBytes.baseAddress!, byteCount: out.count)
            }
        }
        return digest
    }

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = BLAKE2s()
        hasher.update(bytes)
        return hasher.finalize()
    }

    public static func hash(_ bytes: [UInt8], digestLength: Int, key: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        var hasher = try BLAKE2s(digestLength: digestLength, key: key)
        hasher.update(bytes)
        return hasher.finalize()
    }

    private mutating func compress(_ block: UnsafeRawPointer, isFinal: Bool) {
        let m0 = loadWord(block, 0), m1 = loadWord(block, 1), m2 = loadWord(block, 2), m3 = loadWord(block, 3)
        let m4 = loadWord(block, 4), m5 = loadWord(block, 5), m6 = loadWord(block, 6), m7 = loadWord(block, 7)
        let m8 = loadWord(block, 8), m9 = loadWord(block, 9), m10 = loadWord(block, 10), m11 = loadWord(block, 11)
        let m12 = loadWord(block, 12), m13 = loadWord(block, 13), m14 = loadWord(block, 14), m15 = loadWord(block, 15)
        let iv = blakeIV
        var v = BLAKEState<UInt32>(
            h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
            iv[0], iv[1], iv[2], iv[3],
            iv[4] ^ UInt32(truncatingIfNeeded: byteCount), iv[5] ^ UInt32(truncatingIfNeeded: byteCount >> 32),
            isFinal ? ~iv[6] : iv[6], iv[7])
        // RFC 7693 §2.7 SIGMA, one line per round (rounds 10…11 of BLAKE2b do not exist in BLAKE2s).
        v.round(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15)
        v.round(m14, m10, m4, m8, m9, m15, m13, m6, m1, m12, m0, m2, m11, m7, m5, m3)
        v.round(m11, m8, m12, m0, m5, m2, m15, m13, m10, m14, m3, m6, m7, m1, m9, m4)
        v.round(m7, m9, m3, m1, m13, m12, m11, m14, m2, m6, m5, m10, m4, m0, m15, m8)
        v.round(m9, m0, m5, m7, m2, m4, m10, m15, m14, m1, m11, m12, m6, m8, m3, m13)
        v.round(m2, m12, m6, m10, m0, m11, m8, m3, m4, m13, m7, m5, m15, m14, m1, m9)
        v.round(m12, m5, m1, m15, m14, m13, m4, m10, m0, m7, m6, m3, m9, m2, m8, m11)
        v.round(m13, m11, m7, m14, m12, m1, m3, m9, m5, m0, m15, m4, m8, m6, m2, m10)
        v.round(m6, m15, m14, m9, m11, m3, m0, m8, m12, m2, m13, m7, m1, m4, m10, m5)
        v.round(m10, m2, m8, m4, m7, m6, m1, m5, m15, m11, m9, m14, m3, m12, m13, m0)
        h ^= SIMD8(v.v0, v.v1, v.v2, v.v3, v.v4, v.v5, v.v6, v.v7)
            ^ SIMD8(v.v8, v.v9, v.v10, v.v11, v.v12, v.v13, v.v14, v.v15)
    }
}

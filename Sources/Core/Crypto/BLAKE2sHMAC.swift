import CSodium

/// HMAC (RFC 2104) over BLAKE2s-256 with its 64-byte block, as the Noise framework defines it
/// (Noise spec §4.3). Keys longer than a block are hashed first, as RFC 2104 says.
public struct HMACBLAKE2s: Sendable {
    public static let macLength = 32
    private var inner = BLAKE2s()
    private var outer = BLAKE2s()

    public init(key: [UInt8]) {
        key.withUnsafeBytes { setKey($0) }
    }

    public init(key: SecretBytes) {
        key.withUnsafeBytes { setKey($0) }
    }

    private mutating func setKey(_ key: UnsafeRawBufferPointer) {
        var block = [UInt8](repeating: 0, count: BLAKE2s.blockLength)
        defer { wipe(&block) }
        if key.count > BLAKE2s.blockLength {
            var hasher = BLAKE2s()
            hasher.update(bufferPointer: key)
            var digest = hasher.finalize()
            block.replaceSubrange(0..<digest.count, with: digest)
            wipe(&digest)
        } else if key.count > 0 {
            block.replaceSubrange(0..<key.count, with: key)
        }
        for index in block.indices { block[index] ^= 0x36 }
        inner.update(block)
        for index in block.indices { block[index] ^= 0x36 ^ 0x5c }
        outer.update(block)
    }

    public mutating func update(_ bytes: [UInt8]) {
        inner.update(bytes)
    }

    public mutating func update(bufferPointer: UnsafeRawBufferPointer) {
        inner.update(bufferPointer: bufferPointer)
    }

    /// The MAC of everything fed so far; the state itself is left as it was.
    public func finalize() -> [UInt8] {
        var innerDigest = inner.finalize()
        defer { wipe(&innerDigest) }
        var outerCopy = outer
        outerCopy.update(innerDigest)
        return outerCopy.finalize()
    }

    public static func authenticate(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        var mac = HMACBLAKE2s(key: key)
        mac.update(message)
        return mac.finalize()
    }

    public static func authenticate(_ message: [UInt8], key: SecretBytes) -> [UInt8] {
        var mac = HMACBLAKE2s(key: key)
        mac.update(message)
        return mac.finalize()
    }
}

/// Noise's HKDF (spec §4.3) over HMAC-BLAKE2s: `temp = HMAC(chaining_key, ikm)`,
/// `out1 = HMAC(temp, 0x01)`, `out_i = HMAC(temp, out_{i-1} ‖ i)`. Every output is 32 bytes.
/// This is the Noise variant, not RFC 5869's: no info string, at most three outputs.
public enum BLAKE2sHKDF {
    /// `outputCount` must be 2 or 3 (Noise uses 2 for MixKey/Split, 3 for MixKeyAndHash).
    public static func derive(chainingKey: SecretBytes, inputKeyMaterial: SecretBytes,
                              outputCount: Int) throws(CryptoError) -> [SecretBytes] {
        guard outputCount == 2 || outputCount == 3 else {
            throw .invalidParameter("Noise HKDF output count must be 2 or 3, got \(outputCount)")
        }
        var extract = HMACBLAKE2s(key: chainingKey)
        inputKeyMaterial.withUnsafeBytes { extract.update(bufferPointer: $0) }
        var tempKeyBytes = extract.finalize()
        let tempKey = SecretBytes(consuming: &tempKeyBytes)

        var outputs: [SecretBytes] = []
        var previous: [UInt8] = []
        for index in 1...outputCount {
            var mac = HMACBLAKE2s(key: tempKey)
            mac.update(previous)
            mac.update([UInt8(index)])
            wipe(&previous)
            previous = mac.finalize()
            var copy = previous
            outputs.append(SecretBytes(consuming: &copy))
        }
        wipe(&previous)
        return outputs
    }

    public static func derive(chainingKey: [UInt8], inputKeyMaterial: [UInt8],
                              outputCount: Int) throws(CryptoError) -> [SecretBytes] {
        try derive(chainingKey: SecretBytes(chainingKey), inputKeyMaterial: SecretBytes(inputKeyMaterial),
                   outputCount: outputCount)
    }
}

/// Zeroes an intermediate secret before it is released.
@inline(__always)
private func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        if let base = raw.baseAddress { sodium_memzero(base, raw.count) }
    }
}

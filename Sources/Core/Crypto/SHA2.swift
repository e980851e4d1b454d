import CSodium

/// SHA-256, one-shot or incremental.
public struct SHA256: Sendable {
    public static let digestLength = 32
    private var state = crypto_hash_sha256_state()

    public init() {
        requireSodium()
        crypto_hash_sha256_init(&state)
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update(bufferPointer: $0) }
    }

    public mutating func update(bufferPointer: UnsafeRawBufferPointer) {
        withBytePointer(bufferPointer) { ptr, count in _ = crypto_hash_sha256_update(&state, ptr, UInt64(count)) }
    }

    public mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256_final(&state, &out)
        return out
    }

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(bytes)
        return h.finalize()
    }

    public static func hash(_ text: String) -> [UInt8] { hash(Array(text.utf8)) }
}

/// SHA-512, one-shot or incremental.
public struct SHA512: Sendable {
    public static let digestLength = 64
    private var state = crypto_hash_sha512_state()

    public init() {
        requireSodium()
        crypto_hash_sha512_init(&state)
    }

    public mutating func update(_ bytes: [UInt8]) {
        withBytePointer(bytes) { ptr, count in _ = crypto_hash_sha512_update(&state, ptr, UInt64(count)) }
    }

    public mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 64)
        crypto_hash_sha512_final(&state, &out)
        return out
    }

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var h = SHA512()
        h.update(bytes)
        return h.finalize()
    }
}

/// HMAC-SHA256 (RFC 2104) with keys of any length.
public struct HMACSHA256: Sendable {
    public static let macLength = 32
    private var state = crypto_auth_hmacsha256_state()

    public init(key: [UInt8]) {
        requireSodium()
        withBytePointer(key) { ptr, count in _ = crypto_auth_hmacsha256_init(&state, ptr, count) }
    }

    public init(key: SecretBytes) {
        requireSodium()
        key.withUnsafeBytes { raw in withBytePointer(raw) { ptr, count in _ = crypto_auth_hmacsha256_init(&state, ptr, count) } }
    }

    public mutating func update(_ bytes: [UInt8]) {
        withBytePointer(bytes) { ptr, count in _ = crypto_auth_hmacsha256_update(&state, ptr, UInt64(count)) }
    }

    public mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        crypto_auth_hmacsha256_final(&state, &out)
        return out
    }

    public static func authenticate(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        var h = HMACSHA256(key: key)
        h.update(message)
        return h.finalize()
    }
}

/// HKDF-SHA256 (RFC 5869). libsodium 1.0.18 (bookworm) has no HKDF API, so it is built on HMAC here.
public enum HKDF {
    /// HKDF-Extract. A `nil` salt means 32 zero bytes (spec §0).
    public static func extract(salt: [UInt8]?, inputKeyMaterial ikm: SecretBytes) -> SecretBytes {
        var h = HMACSHA256(key: salt ?? [UInt8](repeating: 0, count: 32))
        var ikmCopy = ikm.bytes
        h.update(ikmCopy)
        ikmCopy.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
        var prk = h.finalize()
        return SecretBytes(consuming: &prk)
    }

    /// HKDF-Expand; `length` at most 255 × 32.
    public static func expand(pseudoRandomKey prk: SecretBytes, info: [UInt8], length: Int) throws(CryptoError) -> SecretBytes {
        guard length >= 0, length <= 255 * 32 else {
            throw .invalidParameter("HKDF output length \(length) out of range 0...8160")
        }
        var okm: [UInt8] = []
        okm.reserveCapacity(length + 32)
        var previous: [UInt8] = []
        var counter: UInt8 = 1
        while okm.count < length {
            var h = HMACSHA256(key: prk)
            h.update(previous)
            h.update(info)
            h.update([counter])
            previous = h.finalize()
            okm.append(contentsOf: previous)
            counter &+= 1
        }
        previous.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
        okm.removeLast(okm.count - length)
        return SecretBytes(consuming: &okm)
    }

    /// Extract then expand.
    public static func deriveKey(salt: [UInt8]?, inputKeyMaterial ikm: SecretBytes, info: [UInt8], length: Int = 32) throws(CryptoError) -> SecretBytes {
        try expand(pseudoRandomKey: extract(salt: salt, inputKeyMaterial: ikm), info: info, length: length)
    }
}

import CSodium

/// The per-tier HKDF derivations of spec §3.1. Each runs HKDF-Extract with the stated salt and
/// HKDF-Expand with the info string, producing 32 bytes. The index is the 4-byte big-endian
/// *salt*, not part of the info.
public enum KeyDerivation {
    public static let signingKeyInfo = "proscenium/signing-key"
    public static let transportKeyInfo = "proscenium/transport-key"
    public static let dmKeyInfo = "proscenium/dm-key"
    public static let ratchetStorageInfo = "proscenium-ratchet-storage-v1"

    /// Ed25519 seed of the signing key at `index`.
    public static func signingSeed(masterSeed: SecretBytes, index: UInt32) -> SecretBytes {
        indexed(masterSeed: masterSeed, index: index, info: signingKeyInfo)
    }

    /// Ed25519 seed of the transport (device) key at `index`; index 0 is the EndpointId.
    public static func transportSeed(masterSeed: SecretBytes, index: UInt32) -> SecretBytes {
        indexed(masterSeed: masterSeed, index: index, info: transportKeyInfo)
    }

    /// The raw, *unclamped* DM secret at `index`. The X25519 key clamps it; the ratchet storage
    /// key is derived from it unclamped.
    public static func dmRawSecret(masterSeed: SecretBytes, index: UInt32) -> SecretBytes {
        indexed(masterSeed: masterSeed, index: index, info: dmKeyInfo)
    }

    /// Key that encrypts DM ratchet state at rest: salt none (32 zero bytes), IKM = raw DM secret.
    public static func ratchetStorageKey(dmRawSecret: SecretBytes) -> SecretBytes {
        derive(salt: nil, inputKeyMaterial: dmRawSecret, info: ratchetStorageInfo)
    }

    public static func signingKey(masterSeed: SecretBytes, index: UInt32) throws(CryptoError) -> Ed25519.SecretKey {
        try Ed25519.SecretKey(seed: signingSeed(masterSeed: masterSeed, index: index))
    }

    public static func transportKey(masterSeed: SecretBytes, index: UInt32) throws(CryptoError) -> Ed25519.SecretKey {
        try Ed25519.SecretKey(seed: transportSeed(masterSeed: masterSeed, index: index))
    }

    public static func dmKey(masterSeed: SecretBytes, index: UInt32) throws(CryptoError) -> X25519.PrivateKey {
        let raw = dmRawSecret(masterSeed: masterSeed, index: index)
        return try X25519.PrivateKey(raw: raw.bytes)
    }

    private static func indexed(masterSeed: SecretBytes, index: UInt32, info: String) -> SecretBytes {
        let salt: [UInt8] = [UInt8(truncatingIfNeeded: index >> 24), UInt8(truncatingIfNeeded: index >> 16),
                             UInt8(truncatingIfNeeded: index >> 8), UInt8(truncatingIfNeeded: index)]
        return derive(salt: salt, inputKeyMaterial: masterSeed, info: info)
    }

    private static func derive(salt: [UInt8]?, inputKeyMaterial: SecretBytes, info: String) -> SecretBytes {
        let prk = HKDF.extract(salt: salt, inputKeyMaterial: inputKeyMaterial)
        // 32 bytes is always within HKDF-Expand's range.
        return try! HKDF.expand(pseudoRandomKey: prk, info: Array(info.utf8), length: 32)
    }
}

/// Ed25519 → X25519 conversion (spec §3.7, device pairing only), via libsodium.
public enum Ed25519ToX25519 {
    /// `clamp(SHA-512(seed)[0..<32])`.
    public static func privateKey(_ key: Ed25519.SecretKey) throws(CryptoError) -> X25519.PrivateKey {
        requireSodium()
        // libsodium wants the 64-byte expanded form seed ‖ public key.
        var expanded = key.seed.bytes + key.publicKey.bytes
        var scalar = [UInt8](repeating: 0, count: 32)
        let rc = crypto_sign_ed25519_sk_to_curve25519(&scalar, expanded)
        sodium_memzero(&expanded, expanded.count)
        defer { sodium_memzero(&scalar, scalar.count) }
        guard rc == 0 else { throw .invalidParameter("Ed25519 secret key could not be converted to X25519") }
        return try X25519.PrivateKey(raw: scalar)
    }

    /// The birational map u = (1 + y) / (1 − y) of the decompressed point.
    public static func publicKey(_ key: Ed25519.PublicKey) throws(CryptoError) -> X25519.PublicKey {
        requireSodium()
        var montgomery = [UInt8](repeating: 0, count: 32)
        let rc = crypto_sign_ed25519_pk_to_curve25519(&montgomery, key.bytes)
        guard rc == 0 else { throw .invalidPublicKey }
        return try X25519.PublicKey(bytes: montgomery)
    }
}

/// Gossip topic of a user's feed (spec §5.1): SHA-256 of `"proscenium-feed-v1:"` followed by the
/// master public key's lowercase *hex string*.
public enum FeedTopicDerivation {
    public static let prefix = "proscenium-feed-v1:"

    public static func topicID(masterPublicKey: Ed25519.PublicKey) -> [UInt8] {
        SHA256.hash(prefix + masterPublicKey.hex)
    }
}

import CSodium

/// ChaCha20-Poly1305, IETF variant (RFC 8439): 32-byte key, 12-byte nonce, 16-byte tag appended.
public enum ChaCha20Poly1305 {
    public static let keyLength = 32
    public static let nonceLength = 12
    public static let tagLength = 16

    /// Returns ciphertext ‖ tag.
    public static func seal(_ plaintext: [UInt8], key: SecretBytes, nonce: [UInt8], aad: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        try checkLength(0..<key.count, keyLength, "ChaCha20-Poly1305 key")
        try checkLength(nonce, nonceLength, "ChaCha20-Poly1305 nonce")
        requireSodium()
        var out = [UInt8](repeating: 0, count: plaintext.count + tagLength)
        var outLen: UInt64 = 0
        key.withUnsafeBytes { k in
            plaintext.withUnsafeBytes { p in
                aad.withUnsafeBytes { a in
                    _ = crypto_aead_chacha20poly1305_ietf_encrypt(
                        &out, &outLen,
                        p.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(p.count),
                        a.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(a.count),
                        nil, nonce, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        return out
    }

    /// Verifies the tag and returns the plaintext.
    public static func open(_ sealed: [UInt8], key: SecretBytes, nonce: [UInt8], aad: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        try checkLength(0..<key.count, keyLength, "ChaCha20-Poly1305 key")
        try checkLength(nonce, nonceLength, "ChaCha20-Poly1305 nonce")
        guard sealed.count >= tagLength else { throw .authenticationFailed }
        requireSodium()
        var out = [UInt8](repeating: 0, count: sealed.count - tagLength)
        var outLen: UInt64 = 0
        let rc = key.withUnsafeBytes { k in
            sealed.withUnsafeBytes { c in
                aad.withUnsafeBytes { a in
                    crypto_aead_chacha20poly1305_ietf_decrypt(
                        &out, &outLen, nil,
                        c.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(c.count),
                        a.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(a.count),
                        nonce, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
        }
        guard rc == 0 else { throw .authenticationFailed }
        return out
    }
}

/// The Double Ratchet's key-derivation and message-cipher primitives, exactly as spec §8.4.
/// The ratchet state machine (issue: direct messages) is built on these.
public enum RatchetKDF {
    static let rootInfo = Array("proscenium-dm-rk".utf8)
    static let messageInfo = Array("proscenium-dm-ck-msg".utf8)
    static let chainInfo = Array("proscenium-dm-ck-chain".utf8)

    /// `KDF_RK(rk, dh)`: HKDF(salt = rk, IKM = dh, info "proscenium-dm-rk") → 64 bytes split 32/32.
    public static func rootStep(rootKey: SecretBytes, dhOutput: SecretBytes) -> (rootKey: SecretBytes, chainKey: SecretBytes) {
        // Cannot fail: the output length is a constant within HKDF's range.
        let okm = try! HKDF.deriveKey(salt: rootKey.bytes, inputKeyMaterial: dhOutput, info: rootInfo, length: 64).bytes
        return (SecretBytes(Array(okm[0..<32])), SecretBytes(Array(okm[32..<64])))
    }

    /// `KDF_CK(ck)`: PRK = Extract(zero salt, ck); two independent expands (not Signal's HMAC constants).
    public static func chainStep(chainKey: SecretBytes) -> (messageKey: SecretBytes, nextChainKey: SecretBytes) {
        let prk = HKDF.extract(salt: nil, inputKeyMaterial: chainKey)
        let messageKey = try! HKDF.expand(pseudoRandomKey: prk, info: messageInfo, length: 32)
        let nextChainKey = try! HKDF.expand(pseudoRandomKey: prk, info: chainInfo, length: 32)
        return (messageKey, nextChainKey)
    }
}

/// `ENC(mk, pt)`: ChaCha20-Poly1305 with an all-zero nonce and empty AAD. Safe only because every
/// message key is used once; the header is deliberately not bound (interop with the reference).
public enum RatchetCipher {
    private static let zeroNonce = [UInt8](repeating: 0, count: 12)

    public static func encrypt(_ plaintext: [UInt8], messageKey: SecretBytes) -> [UInt8] {
        try! ChaCha20Poly1305.seal(plaintext, key: messageKey, nonce: zeroNonce)
    }

    public static func decrypt(_ ciphertext: [UInt8], messageKey: SecretBytes) throws(CryptoError) -> [UInt8] {
        try ChaCha20Poly1305.open(ciphertext, key: messageKey, nonce: zeroNonce)
    }
}

/// Ratchet state at rest (spec §8.7): base64_std_padded(nonce ‖ ChaCha20-Poly1305(storage key, nonce, json)).
public enum SealedRatchetState {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case notBase64
        case tooShort(Int)
        case authenticationFailed

        public var description: String {
            switch self {
            case .notBase64: return "sealed ratchet state is not standard padded base64"
            case let .tooShort(count): return "sealed ratchet state has \(count) bytes, needs at least 28"
            case .authenticationFailed: return "sealed ratchet state failed authentication (wrong storage key or corrupted)"
            }
        }
    }

    public static func seal(_ stateJSON: [UInt8], storageKey: SecretBytes, nonce: [UInt8] = SecureRandom.bytes(12)) -> String {
        let sealed = try! ChaCha20Poly1305.seal(stateJSON, key: storageKey, nonce: nonce)
        return Base64.encode(nonce + sealed)
    }

    public static func open(_ text: String, storageKey: SecretBytes) throws(Failure) -> [UInt8] {
        guard let raw = Base64.decode(text) else { throw .notBase64 }
        guard raw.count >= 12 + 16 else { throw .tooShort(raw.count) }
        do {
            return try ChaCha20Poly1305.open(Array(raw[12...]), key: storageKey, nonce: Array(raw[0..<12]))
        } catch {
            throw .authenticationFailed
        }
    }
}

/// `conversation_id = hex(SHA-256("proscenium-dm-v1:" ‖ min(a,b) ‖ ":" ‖ max(a,b)))` over the two
/// master-key hex strings (spec §7.10).
public enum ConversationID {
    public static func make(_ a: String, _ b: String) -> String {
        let (low, high) = a.utf8.lexicographicallyPrecedes(b.utf8) ? (a, b) : (b, a)
        return Hex.encode(SHA256.hash("proscenium-dm-v1:" + low + ":" + high))
    }
}

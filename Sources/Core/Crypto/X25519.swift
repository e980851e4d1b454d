import CSodium

/// X25519 (RFC 7748) with clamped scalars.
public enum X25519 {
    public static let keyLength = 32

    /// `b[0] &= 248; b[31] &= 127; b[31] |= 64` (spec §3.1).
    public static func clamp(_ raw: [UInt8]) -> [UInt8] {
        var b = raw
        b[0] &= 248
        b[31] &= 127
        b[31] |= 64
        return b
    }

    public struct PublicKey: Hashable, Sendable {
        public let bytes: [UInt8]
        public init(bytes: [UInt8]) throws(CryptoError) {
            try checkLength(bytes, X25519.keyLength, "X25519 public key")
            self.bytes = bytes
        }
        /// DM keys are hex; decoding accepts either case (spec §2.3).
        public init(hex: String) throws(CryptoError) {
            guard let bytes = Hex.decode(hex) else { throw .invalidParameter("X25519 public key is not hex") }
            try self.init(bytes: bytes)
        }
        public var hex: String { Hex.encode(bytes) }
    }

    public struct PrivateKey: Sendable {
        /// The clamped scalar.
        public let scalar: SecretBytes
        public let publicKey: PublicKey

        /// Clamps `raw` first, so the stored scalar is what RFC 7748 actually multiplies with.
        public init(raw: [UInt8]) throws(CryptoError) {
            try checkLength(raw, X25519.keyLength, "X25519 private key")
            requireSodium()
            var clamped = X25519.clamp(raw)
            var pub = [UInt8](repeating: 0, count: 32)
            _ = crypto_scalarmult_base(&pub, clamped)
            scalar = SecretBytes(consuming: &clamped)
            publicKey = try PublicKey(bytes: pub)
        }

        public static func generate() -> PrivateKey {
            try! PrivateKey(raw: SecureRandom.bytes(32))
        }

        /// Raw X25519; throws for an all-zero result (peer sent a low-order point).
        public func sharedSecret(with peer: PublicKey) throws(CryptoError) -> SecretBytes {
            var out = [UInt8](repeating: 0, count: 32)
            let rc = scalar.withUnsafeBytes { s in
                crypto_scalarmult(&out, s.baseAddress!.assumingMemoryBound(to: UInt8.self), peer.bytes)
            }
            guard rc == 0 else { throw .weakSharedSecret }
            return SecretBytes(consuming: &out)
        }
    }
}

import CSodium

/// Ed25519 (RFC 8032, pure). Secret keys are 32-byte seeds (spec §0).
public enum Ed25519 {
    public static let seedLength = 32
    public static let publicKeyLength = 32
    public static let signatureLength = 64

    public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
        public let bytes: [UInt8]

        /// Accepts only a canonical encoding of a point on the curve, not of small order
        /// (iroh's parser rejects anything else).
        public init(bytes: [UInt8]) throws(CryptoError) {
            try checkLength(bytes, Ed25519.publicKeyLength, "Ed25519 public key")
            requireSodium()
            let valid = bytes.withUnsafeBytes { crypto_core_ed25519_is_valid_point($0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
            guard valid == 1 else { throw .invalidPublicKey }
            self.bytes = bytes
        }

        /// Parses the 64-char lowercase hex form used everywhere in Proscenium.
        public init(hex: String) throws(CryptoError) {
            guard hex.utf8.count == 64, let bytes = Hex.decodeLowercase(hex) else {
                throw .invalidParameter("public key must be 64 lowercase hex characters")
            }
            try self.init(bytes: bytes)
        }

        public var hex: String { Hex.encode(bytes) }
        public var description: String { hex }

        /// Strict verification: libsodium rejects non-canonical S, small-order R/A and non-canonical
        /// points, matching ed25519-dalek's `verify_strict` on every input the reference produces.
        public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
            guard signature.count == Ed25519.signatureLength else { return false }
            requireSodium()
            return signature.withUnsafeBytes { sig in
                message.withUnsafeBytes { msg in
                    bytes.withUnsafeBytes { pk in
                        crypto_sign_verify_detached(
                            sig.baseAddress!.assumingMemoryBound(to: UInt8.self),
                            msg.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(msg.count),
                            pk.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
                    }
                }
            }
        }
    }

    public struct SecretKey: Sendable {
        public let seed: SecretBytes
        public let publicKey: PublicKey
        /// libsodium's 64-byte expanded form (seed ‖ public key), kept to avoid re-deriving per signature.
        private let expanded: SecretBytes

        public init(seed: SecretBytes) throws(CryptoError) {
            try checkLength(0..<seed.count, Ed25519.seedLength, "Ed25519 seed")
            requireSodium()
            var pk = [UInt8](repeating: 0, count: 32)
            var sk = [UInt8](repeating: 0, count: 64)
            seed.withUnsafeBytes { s in
                _ = crypto_sign_seed_keypair(&pk, &sk, s.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            self.seed = seed
            self.expanded = SecretBytes(consuming: &sk)
            self.publicKey = try PublicKey(bytes: pk)
        }

        public init(seed: [UInt8]) throws(CryptoError) {
            try self.init(seed: SecretBytes(seed))
        }

        public static func generate() -> SecretKey {
            var seed = SecureRandom.bytes(32)
            // A fresh random seed always yields a valid key.
            return try! SecretKey(seed: SecretBytes(consuming: &seed))
        }

        public func signature(for message: [UInt8]) -> [UInt8] {
            var sig = [UInt8](repeating: 0, count: 64)
            expanded.withUnsafeBytes { sk in
                message.withUnsafeBytes { msg in
                    _ = crypto_sign_detached(&sig, nil,
                                             msg.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(msg.count),
                                             sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
                }
            }
            return sig
        }
    }
}

/// Why a delegation, rotation or revocation did not verify. Messages name the field at fault.
public enum SignedRecordError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidPublicKey(field: String, value: String)
    case malformedSignature(field: String)
    case badSignature(record: String)
    case mismatch(field: String, expected: String, actual: String)

    public var description: String {
        switch self {
        case let .invalidPublicKey(field, value):
            return "\(field) is not a valid Ed25519 public key: \"\(value)\""
        case let .malformedSignature(field):
            return "\(field) must be 128 hex characters"
        case let .badSignature(record):
            return "\(record) signature does not verify"
        case let .mismatch(field, expected, actual):
            return "\(field) is \(actual), expected \(expected)"
        }
    }
}

/// Signature text form: 128 hex characters, either case accepted on input (spec §2.3).
public enum SignatureHex {
    public static func decode(_ text: String) -> [UInt8]? {
        guard text.utf8.count == Ed25519.signatureLength * 2 else { return nil }
        return Hex.decode(text)
    }

    static func verify(_ signature: String, field: String, record: String, message: [UInt8],
                       signer: Ed25519.PublicKey) throws(SignedRecordError) {
        guard let bytes = decode(signature) else { throw .malformedSignature(field: field) }
        guard signer.isValidSignature(bytes, for: message) else { throw .badSignature(record: record) }
    }

    static func publicKey(_ hex: String, field: String) throws(SignedRecordError) -> Ed25519.PublicKey {
        do {
            return try Ed25519.PublicKey(hex: hex)
        } catch {
            throw .invalidPublicKey(field: field, value: hex)
        }
    }
}

/// The master key's statement "these are my current signing key and DM key" (spec §3.4).
/// Field names and declaration order are the wire JSON of the reference.
public struct SigningKeyDelegation: Codable, Equatable, Sendable {
    public var masterPublicKey: String
    public var signingPublicKey: String
    public var keyIndex: UInt32
    public var dmPublicKey: String
    public var dmKeyIndex: UInt32
    public var issuedAt: UInt64
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case masterPublicKey = "master_pubkey"
        case signingPublicKey = "signing_pubkey"
        case keyIndex = "key_index"
        case dmPublicKey = "dm_pubkey"
        case dmKeyIndex = "dm_key_index"
        case issuedAt = "issued_at"
        case signature
    }

    public init(masterPublicKey: String, signingPublicKey: String, keyIndex: UInt32, dmPublicKey: String,
                dmKeyIndex: UInt32, issuedAt: UInt64, signature: String) {
        self.masterPublicKey = masterPublicKey
        self.signingPublicKey = signingPublicKey
        self.keyIndex = keyIndex
        self.dmPublicKey = dmPublicKey
        self.dmKeyIndex = dmKeyIndex
        self.issuedAt = issuedAt
        self.signature = signature
    }

    /// Builds and signs a delegation with `master`.
    public static func signed(master: Ed25519.SecretKey, signingPublicKey: Ed25519.PublicKey, keyIndex: UInt32,
                              dmPublicKey: X25519.PublicKey, dmKeyIndex: UInt32, issuedAt: UInt64) -> SigningKeyDelegation {
        var delegation = SigningKeyDelegation(
            masterPublicKey: master.publicKey.hex, signingPublicKey: signingPublicKey.hex, keyIndex: keyIndex,
            dmPublicKey: dmPublicKey.hex, dmKeyIndex: dmKeyIndex, issuedAt: issuedAt, signature: "")
        delegation.signature = Hex.encode(master.signature(for: delegation.signedBytes))
        return delegation
    }

    /// CJSON of every field except `signature`.
    public var signedBytes: [UInt8] {
        CanonicalJSON.object([
            "master_pubkey": .string(masterPublicKey),
            "signing_pubkey": .string(signingPublicKey),
            "key_index": .unsigned(keyIndex),
            "dm_pubkey": .string(dmPublicKey),
            "dm_key_index": .unsigned(dmKeyIndex),
            "issued_at": .uint(issuedAt)
        ]).canonicalBytes
    }

    /// The §3.4 check exactly: both keys parse, and the signature verifies under the master key.
    /// Like the reference, it checks neither freshness nor that `dm_pubkey` is a valid point.
    public func verify() throws(SignedRecordError) {
        let master = try SignatureHex.publicKey(masterPublicKey, field: "master_pubkey")
        _ = try SignatureHex.publicKey(signingPublicKey, field: "signing_pubkey")
        try SignatureHex.verify(signature, field: "signature", record: "delegation", message: signedBytes, signer: master)
    }

    public var isValid: Bool {
        do {
            try verify()
            return true
        } catch {
            return false
        }
    }
}

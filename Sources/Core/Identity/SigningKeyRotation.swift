/// The master key's announcement that the signing key moved to a new index (spec §3.5), broadcast
/// as `GossipMessage::SigningKeyRotation` on the owner's feed topic.
public struct SigningKeyRotation: Codable, Equatable, Sendable {
    public static let action = "signing_key_rotation"

    public var masterPublicKey: String
    public var oldSigningPublicKey: String
    public var newSigningPublicKey: String
    public var newKeyIndex: UInt32
    public var timestamp: UInt64
    public var signature: String
    public var newDelegation: SigningKeyDelegation

    enum CodingKeys: String, CodingKey {
        case masterPublicKey = "master_pubkey"
        case oldSigningPublicKey = "old_signing_pubkey"
        case newSigningPublicKey = "new_signing_pubkey"
        case newKeyIndex = "new_key_index"
        case timestamp
        case signature
        case newDelegation = "new_delegation"
    }

    public init(masterPublicKey: String, oldSigningPublicKey: String, newSigningPublicKey: String, newKeyIndex: UInt32,
                timestamp: UInt64, signature: String, newDelegation: SigningKeyDelegation) {
        self.masterPublicKey = masterPublicKey
        self.oldSigningPublicKey = oldSigningPublicKey
        self.newSigningPublicKey = newSigningPublicKey
        self.newKeyIndex = newKeyIndex
        self.timestamp = timestamp
        self.signature = signature
        self.newDelegation = newDelegation
    }

    /// Signs a rotation from `oldSigningPublicKey` to the key `newDelegation` delegates.
    public static func signed(master: Ed25519.SecretKey, oldSigningPublicKey: Ed25519.PublicKey,
                              newDelegation: SigningKeyDelegation, timestamp: UInt64) -> SigningKeyRotation {
        var rotation = SigningKeyRotation(
            masterPublicKey: master.publicKey.hex, oldSigningPublicKey: oldSigningPublicKey.hex,
            newSigningPublicKey: newDelegation.signingPublicKey, newKeyIndex: newDelegation.keyIndex,
            timestamp: timestamp, signature: "", newDelegation: newDelegation)
        rotation.signature = Hex.encode(master.signature(for: rotation.signedBytes))
        return rotation
    }

    /// CJSON of `{action, master_pubkey, new_key_index, new_signing_pubkey, old_signing_pubkey, timestamp}`.
    public var signedBytes: [UInt8] {
        CanonicalJSON.object([
            "action": .string(Self.action),
            "master_pubkey": .string(masterPublicKey),
            "new_key_index": .unsigned(newKeyIndex),
            "new_signing_pubkey": .string(newSigningPublicKey),
            "old_signing_pubkey": .string(oldSigningPublicKey),
            "timestamp": .uint(timestamp)
        ]).canonicalBytes
    }

    /// The five §3.5 conditions, in order.
    public func verify() throws(SignedRecordError) {
        let master = try SignatureHex.publicKey(masterPublicKey, field: "master_pubkey")
        try SignatureHex.verify(signature, field: "signature", record: "rotation", message: signedBytes, signer: master)
        try newDelegation.verify()
        guard newDelegation.masterPublicKey == masterPublicKey else {
            throw .mismatch(field: "new_delegation.master_pubkey", expected: masterPublicKey, actual: newDelegation.masterPublicKey)
        }
        guard newDelegation.signingPublicKey == newSigningPublicKey else {
            throw .mismatch(field: "new_delegation.signing_pubkey", expected: newSigningPublicKey,
                            actual: newDelegation.signingPublicKey)
        }
        guard newDelegation.keyIndex == newKeyIndex else {
            throw .mismatch(field: "new_delegation.key_index", expected: String(newKeyIndex),
                            actual: String(newDelegation.keyIndex))
        }
    }

    /// Receiver rule: stale when a delegation is cached and `new_key_index <= cached.key_index`.
    public func isStale(cached: SigningKeyDelegation?) -> Bool {
        guard let cached else { return false }
        return newKeyIndex <= cached.keyIndex
    }

    /// What a receiver does with a rotation that arrived on the feed topic of `topicOwner`.
    public enum Disposition: Equatable, Sendable {
        /// Cache `newDelegation` (keeping known transport ids) and record the old key as revoked.
        case accept(SigningKeyDelegation, revoked: RevokedSigningKey)
        case ignoreStale
        case rejectWrongTopic
        case rejectInvalid(SignedRecordError)
    }

    /// The whole receiver procedure of §3.5 as a pure decision.
    public func disposition(topicOwner: String, cached: SigningKeyDelegation?) -> Disposition {
        guard masterPublicKey == topicOwner else { return .rejectWrongTopic }
        do {
            try verify()
        } catch {
            return .rejectInvalid(error)
        }
        if isStale(cached: cached) { return .ignoreStale }
        return .accept(newDelegation, revoked: RevokedSigningKey(rotation: self))
    }
}

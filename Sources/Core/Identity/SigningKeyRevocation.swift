/// Revocation of signing keys. The reference protocol has none (spec §3.5): a peer simply replaces
/// the cached delegation. This adds it without changing anything on the wire:
///
/// * A verified `SigningKeyRotation` *is* the revocation of its `old_signing_pubkey` as of the
///   rotation's `timestamp`. Receivers keep a local `SigningKeyRevocationList`. Content signed by a
///   revoked key and dated at or after the revocation time is rejected; older content stays
///   verifiable against the retired key (the master signed that the key was its own), which also
///   fixes the history problem of §16.3 for nodes that use the list.
/// * For a stolen key, where the thief can backdate content, the owner may additionally sign a
///   `SigningKeyRevocation` with reason `compromised`: every piece of content by that key is then
///   rejected. It is an optional extension message; reference nodes do not know it and simply
///   drop it, so it never breaks them.

/// One revoked signing key of one master key.
public struct RevokedSigningKey: Codable, Equatable, Sendable {
    public enum Reason: String, Codable, Sendable {
        /// Replaced by a rotation; content dated before `revokedAt` remains valid.
        case rotated
        /// Compromised; no content signed by it is valid, whatever its date.
        case compromised
    }

    public var masterPublicKey: String
    public var signingPublicKey: String
    /// Unix ms from which content signed by the key is rejected.
    public var revokedAt: UInt64
    public var reason: Reason

    enum CodingKeys: String, CodingKey {
        case masterPublicKey = "master_pubkey"
        case signingPublicKey = "signing_pubkey"
        case revokedAt = "revoked_at"
        case reason
    }

    public init(masterPublicKey: String, signingPublicKey: String, revokedAt: UInt64, reason: Reason) {
        self.masterPublicKey = masterPublicKey
        self.signingPublicKey = signingPublicKey
        self.revokedAt = revokedAt
        self.reason = reason
    }

    /// The revocation implied by a (verified) rotation.
    public init(rotation: SigningKeyRotation) {
        self.init(masterPublicKey: rotation.masterPublicKey, signingPublicKey: rotation.oldSigningPublicKey,
                  revokedAt: rotation.timestamp, reason: .rotated)
    }
}

/// Master-signed "this signing key is compromised" (extension; not in the reference protocol).
/// Signed bytes: CJSON of `{action:"signing_key_revocation", master_pubkey, revoked_signing_pubkey, timestamp}`.
public struct SigningKeyRevocation: Codable, Equatable, Sendable {
    public static let action = "signing_key_revocation"

    public var masterPublicKey: String
    public var revokedSigningPublicKey: String
    public var timestamp: UInt64
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case masterPublicKey = "master_pubkey"
        case revokedSigningPublicKey = "revoked_signing_pubkey"
        case timestamp
        case signature
    }

    public init(masterPublicKey: String, revokedSigningPublicKey: String, timestamp: UInt64, signature: String) {
        self.masterPublicKey = masterPublicKey
        self.revokedSigningPublicKey = revokedSigningPublicKey
        self.timestamp = timestamp
        self.signature = signature
    }

    public static func signed(master: Ed25519.SecretKey, revoking key: Ed25519.PublicKey, timestamp: UInt64) -> SigningKeyRevocation {
        var revocation = SigningKeyRevocation(masterPublicKey: master.publicKey.hex, revokedSigningPublicKey: key.hex,
                                              timestamp: timestamp, signature: "")
        revocation.signature = Hex.encode(master.signature(for: revocation.signedBytes))
        return revocation
    }

    public var signedBytes: [UInt8] {
        CanonicalJSON.object([
            "action": .string(Self.action),
            "master_pubkey": .string(masterPublicKey),
            "revoked_signing_pubkey": .string(revokedSigningPublicKey),
            "timestamp": .uint(timestamp)
        ]).canonicalBytes
    }

    public func verify() throws(SignedRecordError) {
        let master = try SignatureHex.publicKey(masterPublicKey, field: "master_pubkey")
        _ = try SignatureHex.publicKey(revokedSigningPublicKey, field: "revoked_signing_pubkey")
        try SignatureHex.verify(signature, field: "signature", record: "revocation", message: signedBytes, signer: master)
    }

    public var revokedKey: RevokedSigningKey {
        RevokedSigningKey(masterPublicKey: masterPublicKey, signingPublicKey: revokedSigningPublicKey,
                          revokedAt: 0, reason: .compromised)
    }
}

/// A node's local record of revoked signing keys (persisted by the storage layer as JSON or rows).
public struct SigningKeyRevocationList: Codable, Equatable, Sendable {
    public private(set) var entries: [RevokedSigningKey]

    public init(entries: [RevokedSigningKey] = []) {
        self.entries = []
        for entry in entries { record(entry) }
    }

    /// Adds a revocation. For a key already present the stricter one wins: `compromised` over
    /// `rotated`, and the earlier revocation time.
    public mutating func record(_ revocation: RevokedSigningKey) {
        guard let index = entries.firstIndex(where: {
            $0.masterPublicKey == revocation.masterPublicKey && $0.signingPublicKey == revocation.signingPublicKey
        }) else {
            entries.append(revocation)
            return
        }
        var merged = entries[index]
        if revocation.reason == .compromised { merged.reason = .compromised }
        merged.revokedAt = min(merged.revokedAt, revocation.revokedAt)
        if merged.reason == .compromised { merged.revokedAt = 0 }
        entries[index] = merged
    }

    public func revocation(master: String, signingKey: String) -> RevokedSigningKey? {
        entries.first { $0.masterPublicKey == master && $0.signingPublicKey == signingKey }
    }

    /// Whether content by `master`, signed with `signingKey` and dated `contentTimestamp`, may be
    /// accepted as far as revocation goes (its signature is checked separately).
    public func admits(master: String, signingKey: String, contentTimestamp: UInt64) -> Bool {
        guard let revoked = revocation(master: master, signingKey: signingKey) else { return true }
        switch revoked.reason {
        case .compromised: return false
        case .rotated: return contentTimestamp < revoked.revokedAt
        }
    }
}

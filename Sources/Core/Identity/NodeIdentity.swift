/// All keys of one node, derived from the master seed (spec §3.1).
public struct NodeIdentity: Sendable {
    public let masterKey: Ed25519.SecretKey
    public let signingKey: Ed25519.SecretKey
    public let signingKeyIndex: UInt32
    /// Transport key at device index 0: the reference always boots with index 0.
    public let transportKey: Ed25519.SecretKey
    public let dmKey: X25519.PrivateKey
    public let dmKeyIndex: UInt32
    public let ratchetStorageKey: SecretBytes

    public var masterPublicKey: Ed25519.PublicKey { masterKey.publicKey }
    /// The iroh EndpointId.
    public var transportID: Ed25519.PublicKey { transportKey.publicKey }
    /// Gossip topic of this user's feed (spec §5.1).
    public var feedTopicID: [UInt8] { FeedTopicDerivation.topicID(masterPublicKey: masterPublicKey) }

    public init(masterSeed: SecretBytes, signingKeyIndex: UInt32 = 0, dmKeyIndex: UInt32 = 0) throws {
        guard masterSeed.count == Ed25519.seedLength else {
            throw IdentityError.invalidMasterSeedLength(masterSeed.count)
        }
        masterKey = try Ed25519.SecretKey(seed: masterSeed)
        signingKey = try KeyDerivation.signingKey(masterSeed: masterSeed, index: signingKeyIndex)
        self.signingKeyIndex = signingKeyIndex
        transportKey = try KeyDerivation.transportKey(masterSeed: masterSeed, index: 0)
        let dmRaw = KeyDerivation.dmRawSecret(masterSeed: masterSeed, index: dmKeyIndex)
        dmKey = try X25519.PrivateKey(raw: dmRaw.bytes)
        self.dmKeyIndex = dmKeyIndex
        ratchetStorageKey = KeyDerivation.ratchetStorageKey(dmRawSecret: dmRaw)
    }

    /// The delegation of the current signing and DM keys, signed by the master key. Startup
    /// re-signs it with `issuedAt = now` (spec §3.3).
    public func delegation(issuedAt: UInt64) -> SigningKeyDelegation {
        SigningKeyDelegation.signed(master: masterKey, signingPublicKey: signingKey.publicKey, keyIndex: signingKeyIndex,
                                    dmPublicKey: dmKey.publicKey, dmKeyIndex: dmKeyIndex, issuedAt: issuedAt)
    }

    /// The same identity with the signing key at `index` (DM key unchanged).
    public func withSigningKeyIndex(_ index: UInt32) throws -> NodeIdentity {
        try NodeIdentity(masterSeed: masterKey.seed, signingKeyIndex: index, dmKeyIndex: dmKeyIndex)
    }

    /// The owner side of §3.5 steps 1–2: the identity at the next signing index and the signed
    /// rotation announcing it. The caller broadcasts, and persists the index (IdentityStore does).
    public func rotatedSigningKey(now: UInt64) throws -> (NodeIdentity, SigningKeyRotation) {
        guard signingKeyIndex < UInt32.max else { throw IdentityError.signingKeyIndexExhausted }
        let next = try withSigningKeyIndex(signingKeyIndex + 1)
        let rotation = SigningKeyRotation.signed(master: masterKey, oldSigningPublicKey: signingKey.publicKey,
                                                 newDelegation: next.delegation(issuedAt: now), timestamp: now)
        return (next, rotation)
    }

    /// The 24 words of this identity's master seed.
    public var recoveryWords: [String] {
        // A 32-byte seed is always valid BIP39 entropy.
        try! BIP39.words(fromEntropy: masterKey.seed.bytes)
    }
}

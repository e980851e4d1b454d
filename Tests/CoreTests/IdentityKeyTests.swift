import Testing
@testable import Core

/// Spec §15.1 (master seed = 2a × 32), every row except the stage control topic.
@Suite("Identity key tiers (spec §3.1, §15.1)")
struct IdentityKeyTests {
    static let masterSeed = SecretBytes([UInt8](repeating: 0x2a, count: 32))
    static let master = "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61"
    static let signing0 = "1728df4c6bb624f875c5d00cdeb35eb583fcb9bda1a5c297ea86f4046f10d10d"
    static let signing1 = "39655c239bf8d8ca99db9da2e6737d4d4df790c0acabcaeced8e72e4cfdcef19"
    static let transport0 = "3699603750c6dba549bd4b6775db3e5f13908d6aee8db088c14b77e79b25944a"
    static let dmPublic = "0a69f94503e169206b449e0d775796b3cbf27f17602a6625b8ac43e14856d12f"

    @Test("master, signing and transport keys")
    func ed25519Tiers() throws {
        let seed = Self.masterSeed
        #expect(try Ed25519.SecretKey(seed: seed).publicKey.hex == Self.master)
        #expect(Hex.encode(KeyDerivation.signingSeed(masterSeed: seed, index: 0).bytes)
                == "a7922486539e67e0151a20903f789dc3033e32c20fd0d02849f543fc36bd3f9a")
        #expect(try KeyDerivation.signingKey(masterSeed: seed, index: 0).publicKey.hex == Self.signing0)
        #expect(Hex.encode(KeyDerivation.signingSeed(masterSeed: seed, index: 1).bytes)
                == "fd37a29dbf49823a27a26cc22b6b45e250fa2eec58fe1039bdbd5ebbb0bf4d0a")
        #expect(try KeyDerivation.signingKey(masterSeed: seed, index: 1).publicKey.hex == Self.signing1)
        #expect(Hex.encode(KeyDerivation.transportSeed(masterSeed: seed, index: 0).bytes)
                == "379e7772a52af0f7b9ce1dba5acc612f11bf294f6dc3502a83ab53dbf711c942")
        #expect(try KeyDerivation.transportKey(masterSeed: seed, index: 0).publicKey.hex == Self.transport0)
        #expect(Hex.encode(KeyDerivation.transportSeed(masterSeed: seed, index: 1).bytes)
                == "481a588aebeafd62cbb787e3e800904b102193fddc184477bc813a3f9cb741d9")
        #expect(try KeyDerivation.transportKey(masterSeed: seed, index: 1).publicKey.hex
                == "2895b60614de4a41820cfe5629670f6be142b3c81c77c08f7dd9c15a1bde392f")
    }

    @Test("DM key: raw, clamped, public; ratchet storage key from the unclamped secret")
    func dmTier() throws {
        let raw = KeyDerivation.dmRawSecret(masterSeed: Self.masterSeed, index: 0)
        #expect(Hex.encode(raw.bytes) == "e5667222ceb1fcc220fb776f20135e7534861b8cff247abeeade3721e3b820b0")
        let dm = try KeyDerivation.dmKey(masterSeed: Self.masterSeed, index: 0)
        #expect(Hex.encode(dm.scalar.bytes) == "e0667222ceb1fcc220fb776f20135e7534861b8cff247abeeade3721e3b82070")
        #expect(dm.publicKey.hex == Self.dmPublic)
        #expect(Hex.encode(KeyDerivation.ratchetStorageKey(dmRawSecret: raw).bytes)
                == "8a9087ce57fe34fd938e2dd876bf9bf5d9069fb9fc87985a9af79c1b54076b9d")
        // Deriving from the clamped scalar instead would be a different key.
        #expect(Hex.encode(KeyDerivation.ratchetStorageKey(dmRawSecret: dm.scalar).bytes)
                != "8a9087ce57fe34fd938e2dd876bf9bf5d9069fb9fc87985a9af79c1b54076b9d")
    }

    @Test("§3.7 Ed25519 → X25519 of transport key 0 (libsodium)")
    func conversion() throws {
        let transport = try KeyDerivation.transportKey(masterSeed: Self.masterSeed, index: 0)
        let secret = try Ed25519ToX25519.privateKey(transport)
        #expect(Hex.encode(secret.scalar.bytes) == "d8cc6c84dee7ae9acb03d9cfee6b0becce42d53b900172490246e75ee4520042")
        let expectedPublic = "961a7f022803ef1c6127f6b8c75343bfd0fac1e54da0808fd682fe6f69b6cf49"
        #expect(secret.publicKey.hex == expectedPublic)
        #expect(try Ed25519ToX25519.publicKey(transport.publicKey).hex == expectedPublic)
        // The definition: clamp(SHA-512(seed)[0..<32]).
        #expect(Hex.encode(secret.scalar.bytes) == Hex.encode(X25519.clamp(Array(SHA512.hash(transport.seed.bytes).prefix(32)))))
    }

    @Test("§5.1 user feed topic")
    func feedTopic() throws {
        let master = try Ed25519.PublicKey(hex: Self.master)
        #expect(Hex.encode(FeedTopicDerivation.topicID(masterPublicKey: master))
                == "16c3660e8691393500420420374594d1fa7ab2f75548da9c4d7b2c01d3a1bfec")
    }

    @Test("NodeIdentity assembles the tiers; indices select keys; delegation verifies")
    func nodeIdentity() throws {
        let identity = try NodeIdentity(masterSeed: Self.masterSeed)
        #expect(identity.masterPublicKey.hex == Self.master)
        #expect(identity.signingKey.publicKey.hex == Self.signing0)
        #expect(identity.transportID.hex == Self.transport0)
        #expect(identity.dmKey.publicKey.hex == Self.dmPublic)
        #expect(Hex.encode(identity.ratchetStorageKey.bytes) == "8a9087ce57fe34fd938e2dd876bf9bf5d9069fb9fc87985a9af79c1b54076b9d")
        #expect(Hex.encode(identity.feedTopicID) == "16c3660e8691393500420420374594d1fa7ab2f75548da9c4d7b2c01d3a1bfec")
        #expect(identity.recoveryWords.joined(separator: " ") == BIP39Tests.vectorPhrase)

        let second = try NodeIdentity(masterSeed: Self.masterSeed, signingKeyIndex: 1, dmKeyIndex: 1)
        #expect(second.signingKey.publicKey.hex == Self.signing1)
        #expect(second.transportID.hex == Self.transport0)   // transport always index 0
        #expect(second.dmKey.publicKey.hex != Self.dmPublic)
        #expect(second.ratchetStorageKey != identity.ratchetStorageKey)
        let delegation = second.delegation(issuedAt: 5)
        #expect(delegation.keyIndex == 1 && delegation.dmKeyIndex == 1)
        try delegation.verify()

        #expect(throws: IdentityError.invalidMasterSeedLength(31)) {
            try NodeIdentity(masterSeed: SecretBytes([UInt8](repeating: 0, count: 31)))
        }
    }
}

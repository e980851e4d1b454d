import Testing
@testable import Core

/// Spec §15.3 (ratchet, AEAD, sealed state, ids, stage chain) and the §15.1 stage topic, byte for byte.
@Suite("Spec §15.3 vectors")
struct SpecVectors153Tests {
    let fortyTwo = SecretBytes([UInt8](repeating: 0x2a, count: 32))

    /// Signing key 0 and DM key 0 for master seed 2a×32, derived here straight from §3.1 so these
    /// vectors do not depend on the identity layer.
    func signingKey0() throws -> Ed25519.SecretKey {
        try Ed25519.SecretKey(seed: HKDF.deriveKey(salt: [0, 0, 0, 0], inputKeyMaterial: fortyTwo, info: Array("proscenium/signing-key".utf8)))
    }

    func bobDMPublic() throws -> X25519.PublicKey {
        let raw = try HKDF.deriveKey(salt: [0, 0, 0, 0], inputKeyMaterial: fortyTwo, info: Array("proscenium/dm-key".utf8))
        return try X25519.PrivateKey(raw: raw.bytes).publicKey
    }

    @Test func chainStep() {
        let (mk, ck) = RatchetKDF.chainStep(chainKey: fortyTwo)
        #expect(Hex.encode(mk.bytes) == "50aa58c7aa4a79b3c19ad7754ffa5d625cf6b2e2e9b23eb1d6ccb5fa0b1f748c")
        #expect(Hex.encode(ck.bytes) == "ff80db01918c622c99521cb58938a5934a22f05653433e2a084b936b61aef17e")
        #expect(Hex.encode(RatchetCipher.encrypt(Array("Hello Bob!".utf8), messageKey: mk))
                == "9d9cfbc784de1c38aa1411acb567c3eba7aec71ef40b3f69e70c")
    }

    @Test func rootStep() {
        let (rk, ck) = RatchetKDF.rootStep(rootKey: fortyTwo, dhOutput: SecretBytes([UInt8](repeating: 7, count: 32)))
        #expect(Hex.encode(rk.bytes) == "92bafbc770c068218ff82864e9f5634815a7f021f1f9f5d917a67f16b33a2aea")
        #expect(Hex.encode(ck.bytes) == "3c499367c80de078c2535a6d302cbf53726de11d17e3b3366354310dcb94d42c")
    }

    @Test func aliceFirstMessage() throws {
        let alice = try X25519.PrivateKey(raw: [UInt8](repeating: 1, count: 32))
        #expect(alice.publicKey.hex == "a4e09292b651c278b9772c569f5fa9bb13d906b46ab68c9df9dc2b4409f8a209")
        let bob = try bobDMPublic()
        #expect(bob.hex == "0a69f94503e169206b449e0d775796b3cbf27f17602a6625b8ac43e14856d12f")
        let dh = try alice.sharedSecret(with: bob)
        #expect(Hex.encode(dh.bytes) == "26fc9902360260c04f921da1f473759259040e49210dcc1792a29cb601e06438")
        let (rk, cks) = RatchetKDF.rootStep(rootKey: fortyTwo, dhOutput: dh)
        #expect(Hex.encode(rk.bytes) == "b3a1f9ab920a5885d6971f710cd1c4e9e78c777a32eedd83a521cc2a458348df")
        #expect(Hex.encode(cks.bytes) == "13dd035ffeac5a0a383205cd2fe8997b454bdcbfacb5a69320a6ba9738e246e4")
        let (mk, _) = RatchetKDF.chainStep(chainKey: cks)
        #expect(Hex.encode(mk.bytes) == "1373f564679a6eefc71f0fff9de8948b0a8e6e7e0c6ca9de4f0d922104c17f11")
        let plaintext = #"{"Message":{"id":"0123456789abcdef0123456789abcdef","content":"hi","timestamp":1700000000000,"media":[],"reply_to":null}}"#
        let ciphertext = RatchetCipher.encrypt(Array(plaintext.utf8), messageKey: mk)
        #expect(Hex.encode(ciphertext) == "802e3dedbfaa08586ba43dba2867f4fff68acb567ee7762689fdbcbef95d2a5f393f288003c48002ea97bad92c210d446a888a3950494383ad6e51848ababf14acd7a89bde5126bd4f50b7a20d5b12bbd7d271850dc29ef007c6d86b18c819f08fdf205723457bbca10723b22278577a2d66a793906d6bbfaeec251ab8c43372703e96d2f95375d9f1")
        #expect(try RatchetCipher.decrypt(ciphertext, messageKey: mk) == Array(plaintext.utf8))
    }

    @Test func sealedState() throws {
        let storageKey = SecretBytes(Hex.decode("8a9087ce57fe34fd938e2dd876bf9bf5d9069fb9fc87985a9af79c1b54076b9d")!)
        let sealed = SealedRatchetState.seal(Array(#"{"k":1}"#.utf8), storageKey: storageKey, nonce: Array(0..<12))
        #expect(sealed == "AAECAwQFBgcICQoLZ7BO/2tFYu29vyqO86de4XgQU5QJkas=")
        #expect(try SealedRatchetState.open(sealed, storageKey: storageKey) == Array(#"{"k":1}"#.utf8))
        #expect(throws: SealedRatchetState.Failure.authenticationFailed) {
            try SealedRatchetState.open(sealed, storageKey: SecretBytes([UInt8](repeating: 1, count: 32)))
        }
        #expect(throws: SealedRatchetState.Failure.notBase64) { try SealedRatchetState.open("not base64!", storageKey: storageKey) }
        #expect(throws: SealedRatchetState.Failure.tooShort(3)) { try SealedRatchetState.open("AAEC", storageKey: storageKey) }
    }

    @Test func identifiers() {
        let a = String(repeating: "a", count: 64), b = String(repeating: "b", count: 64)
        #expect(ConversationID.make(a, b) == "39a8144337ab0ac043fd669b4b4c573db7c46521183291f14e57a4f031494047")
        #expect(ConversationID.make(b, a) == ConversationID.make(a, b))
        #expect(NotificationID.make(kind: "like", actor: a, targetPostID: "p1", postID: nil)
                == "b2c3ff7acaf19b5631f7444403895f306de7df4078bf931dfe0522cf83923dbd")
        #expect(Base64.encode(Array(0..<32), alphabet: .urlSafe, padded: false) == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
        #expect(Hex.encode(StageTopic.make(stageID: "00112233445566778899aabbccddeeff"))
                == "ed1e48db4dfcc175254e097fc44fbaa75788190a2634aa323b5f2d5f0b24be20")
        #expect(RandomID.make(from: Array(0..<16)) == "07060504030201000f0e0d0c0b0a0908")
    }

    @Test func stageChainAndCheckpoint() throws {
        let key = try signingKey0()
        #expect(key.publicKey.hex == "1728df4c6bb624f875c5d00cdeb35eb583fcb9bda1a5c297ea86f4046f10d10d")
        var signer = StageStreamSigner(signingKey: key)
        _ = signer.authenticate(opus: [1, 2, 3])
        #expect(Hex.encode(signer.chain) == "4400c1b8638ac2dce3ce0e10b8a891175926ca29a7246e96ef41aa81f11201cc")
        #expect(Hex.encode(key.signature(for: signer.chain))
                == "eaa468bb7d4a6b1e2919795dfac4389b7e4b6a5f52ff8f8a9d0eee3fe6040edab83339d9dd635d37d8ca3d964ae9c2a0914222ac70f672210c5740658d54f906")
    }
}

@Suite("Stage stream authentication")
struct StageStreamAuthenticationTests {
    func frames(_ count: Int, key: Ed25519.SecretKey) -> [AuthenticatedStageFrame] {
        var signer = StageStreamSigner(signingKey: key)
        return (0..<count).map { signer.authenticate(opus: [UInt8(truncatingIfNeeded: $0), 0xab, UInt8(truncatingIfNeeded: $0 >> 8)]) }
    }

    @Test func listenerVerifiesFromFirstCheckpointAndKeepsVerifying() {
        let key = Ed25519.SecretKey.generate()
        let stream = frames(160, key: key)
        #expect(stream.filter(\.isCheckpoint).count == 3)
        #expect(stream[49].isCheckpoint && !stream[48].isCheckpoint)
        var verifier = StageStreamVerifier(hostSigningKey: key.publicKey)
        for (index, frame) in stream.enumerated() {
            let outcome = verifier.accept(frame)
            guard case let .play(opus, verified) = outcome else {
                Issue.record("frame \(index) rejected: \(outcome)")
                return
            }
            #expect(opus.count == 3)
            #expect(verified == (index >= 49))
        }
    }

    @Test func lateJoinerAdoptsChain() {
        let key = Ed25519.SecretKey.generate()
        let stream = frames(120, key: key)
        var verifier = StageStreamVerifier(hostSigningKey: key.publicKey)
        for frame in stream[70...] {
            if case .failed = verifier.accept(frame) { Issue.record("late joiner failed") }
        }
        #expect(verifier.isVerified)
    }

    @Test func forgedOpusIsDetectedAtNextCheckpoint() {
        let key = Ed25519.SecretKey.generate()
        var stream = frames(100, key: key)
        var verifier = StageStreamVerifier(hostSigningKey: key.publicKey)
        stream[60] = AuthenticatedStageFrame(isCheckpoint: false, payload: [9, 9, 9])
        var outcomes: [StageStreamVerifier.Outcome] = []
        for frame in stream { outcomes.append(verifier.accept(frame)) }
        #expect(outcomes[99] == .failed(.tamperDetected))
    }

    @Test func reorderedFramesAreDetected() {
        let key = Ed25519.SecretKey.generate()
        var stream = frames(100, key: key)
        stream.swapAt(70, 71)
        var verifier = StageStreamVerifier(hostSigningKey: key.publicKey)
        let outcomes = stream.map { verifier.accept($0) }
        #expect(outcomes[99] == .failed(.tamperDetected))
    }

    @Test func wrongHostKeyIsInvalidSignatureAndPermanent() {
        let stream = frames(60, key: Ed25519.SecretKey.generate())
        var verifier = StageStreamVerifier(hostSigningKey: Ed25519.SecretKey.generate().publicKey)
        let outcomes = stream.map { verifier.accept($0) }
        #expect(outcomes[49] == .failed(.invalidSignature))
        #expect(outcomes[55] == .failed(.invalidSignature))
    }

    @Test func shortCheckpointIsMalformed() {
        var verifier = StageStreamVerifier(hostSigningKey: Ed25519.SecretKey.generate().publicKey)
        #expect(verifier.accept(AuthenticatedStageFrame(isCheckpoint: true, payload: [1, 2, 3])) == .malformed)
    }
}

import Foundation
import Testing
@testable import Core

@Suite("Delegation, rotation, revocation (spec §3.4, §3.5)")
struct IdentityRecordTests {
    let identity: NodeIdentity

    init() throws {
        identity = try NodeIdentity(masterSeed: IdentityKeyTests.masterSeed)
    }

    @Test("delegation JSON uses the reference field names and round-trips")
    func delegationCodable() throws {
        let delegation = identity.delegation(issuedAt: 1_700_000_000_000)
        let keys = (try JSONSerialization.jsonObject(with: JSONEncoder().encode(delegation)) as? [String: Any]).map { Set($0.keys) }
        #expect(keys == ["master_pubkey", "signing_pubkey", "key_index", "dm_pubkey", "dm_key_index", "issued_at", "signature"])
        let wire = #"{"master_pubkey":"\#(IdentityKeyTests.master)","signing_pubkey":"\#(IdentityKeyTests.signing0)","key_index":0,"dm_pubkey":"\#(IdentityKeyTests.dmPublic)","dm_key_index":0,"issued_at":1700000000000,"signature":"\#(delegation.signature)","unknown_field":true}"#
        let decoded = try JSONDecoder().decode(SigningKeyDelegation.self, from: Data(wire.utf8))
        #expect(decoded == delegation)
        try decoded.verify()
    }

    @Test("delegation verification rejects any tampered field")
    func delegationTamper() throws {
        let good = identity.delegation(issuedAt: 42)
        try good.verify()
        var upper = good
        upper.signature = good.signature.uppercased()
        try upper.verify()   // signatures parse in either case

        var mutations: [(String, (inout SigningKeyDelegation) -> Void)] = []
        mutations.append(("key_index", { $0.keyIndex = 1 }))
        mutations.append(("dm_key_index", { $0.dmKeyIndex = 3 }))
        mutations.append(("issued_at", { $0.issuedAt = 43 }))
        mutations.append(("dm_pubkey", { $0.dmPublicKey = String(repeating: "0", count: 64) }))
        mutations.append(("signing_pubkey", { $0.signingPublicKey = IdentityKeyTests.signing1 }))
        for (field, mutate) in mutations {
            var bad = good
            mutate(&bad)
            #expect(throws: SignedRecordError.badSignature(record: "delegation"), "tampered \(field)") { try bad.verify() }
            #expect(!bad.isValid)
        }
        var wrongSigner = good
        wrongSigner.signature = Hex.encode(identity.signingKey.signature(for: good.signedBytes))
        #expect(throws: SignedRecordError.badSignature(record: "delegation")) { try wrongSigner.verify() }
        var shortSignature = good
        shortSignature.signature.removeLast()
        #expect(throws: SignedRecordError.malformedSignature(field: "signature")) { try shortSignature.verify() }
        var badMaster = good
        badMaster.masterPublicKey = good.masterPublicKey.uppercased()
        #expect(throws: SignedRecordError.invalidPublicKey(field: "master_pubkey", value: badMaster.masterPublicKey)) { try badMaster.verify() }
        var badSigning = good
        badSigning.signingPublicKey = String(repeating: "0", count: 64) // small-order / invalid point
        #expect(throws: SignedRecordError.invalidPublicKey(field: "signing_pubkey", value: badSigning.signingPublicKey)) { try badSigning.verify() }
    }

    @Test("rotation: the five §3.5 conditions")
    func rotationRules() throws {
        let (next, rotation) = try identity.rotatedSigningKey(now: 1000)
        try rotation.verify()
        let json = try JSONEncoder().encode(rotation)
        let keys = (try JSONSerialization.jsonObject(with: json) as? [String: Any]).map { Set($0.keys) }
        #expect(keys == ["master_pubkey", "old_signing_pubkey", "new_signing_pubkey", "new_key_index", "timestamp", "signature", "new_delegation"])
        #expect(try JSONDecoder().decode(SigningKeyRotation.self, from: json) == rotation)

        // 1. rotation signature
        var tampered = rotation
        tampered.timestamp += 1
        #expect(throws: SignedRecordError.badSignature(record: "rotation")) { try tampered.verify() }
        // 2. delegation check
        var badDelegation = rotation
        badDelegation.newDelegation.issuedAt += 1
        #expect(throws: SignedRecordError.badSignature(record: "delegation")) { try badDelegation.verify() }

        // 3–5: a correctly master-signed rotation whose delegation disagrees with it.
        let other = try NodeIdentity(masterSeed: SecretBytes([UInt8](repeating: 7, count: 32)))
        let foreign = SigningKeyRotation.signed(master: identity.masterKey, oldSigningPublicKey: identity.signingKey.publicKey,
                                                newDelegation: other.delegation(issuedAt: 1000), timestamp: 1000)
        #expect(throws: SignedRecordError.mismatch(field: "new_delegation.master_pubkey", expected: identity.masterPublicKey.hex,
                                                   actual: other.masterPublicKey.hex)) { try foreign.verify() }
        var wrongKey = SigningKeyRotation.signed(master: identity.masterKey, oldSigningPublicKey: identity.signingKey.publicKey,
                                                 newDelegation: next.delegation(issuedAt: 1000), timestamp: 1000)
        wrongKey.newSigningPublicKey = IdentityKeyTests.signing0
        wrongKey.signature = Hex.encode(identity.masterKey.signature(for: wrongKey.signedBytes))
        #expect(throws: SignedRecordError.mismatch(field: "new_delegation.signing_pubkey", expected: IdentityKeyTests.signing0,
                                                   actual: IdentityKeyTests.signing1)) { try wrongKey.verify() }
        var wrongIndex = SigningKeyRotation.signed(master: identity.masterKey, oldSigningPublicKey: identity.signingKey.publicKey,
                                                   newDelegation: next.delegation(issuedAt: 1000), timestamp: 1000)
        wrongIndex.newKeyIndex = 5
        wrongIndex.signature = Hex.encode(identity.masterKey.signature(for: wrongIndex.signedBytes))
        #expect(throws: SignedRecordError.mismatch(field: "new_delegation.key_index", expected: "5", actual: "1")) { try wrongIndex.verify() }
    }

    @Test("receiver rule: topic owner, staleness, acceptance records the revocation")
    func disposition() throws {
        let (next, rotation) = try identity.rotatedSigningKey(now: 5000)
        let owner = identity.masterPublicKey.hex
        #expect(rotation.disposition(topicOwner: String(repeating: "ab", count: 32), cached: nil) == .rejectWrongTopic)
        let revoked = RevokedSigningKey(masterPublicKey: owner, signingPublicKey: IdentityKeyTests.signing0, revokedAt: 5000, reason: .rotated)
        #expect(rotation.disposition(topicOwner: owner, cached: nil) == .accept(rotation.newDelegation, revoked: revoked))
        #expect(rotation.disposition(topicOwner: owner, cached: identity.delegation(issuedAt: 1)) == .accept(rotation.newDelegation, revoked: revoked))
        #expect(rotation.disposition(topicOwner: owner, cached: next.delegation(issuedAt: 1)) == .ignoreStale)
        #expect(rotation.isStale(cached: try next.withSigningKeyIndex(7).delegation(issuedAt: 1)))
        var forged = rotation
        forged.newKeyIndex = 9
        #expect(forged.disposition(topicOwner: owner, cached: nil) == .rejectInvalid(.badSignature(record: "rotation")))
    }

    @Test("revocation list: rotated keys keep earlier content, compromised keys lose all")
    func revocationList() throws {
        let master = identity.masterPublicKey.hex
        let (_, rotation) = try identity.rotatedSigningKey(now: 10_000)
        var list = SigningKeyRevocationList()
        #expect(list.admits(master: master, signingKey: IdentityKeyTests.signing0, contentTimestamp: 20_000))
        list.record(RevokedSigningKey(rotation: rotation))
        #expect(list.admits(master: master, signingKey: IdentityKeyTests.signing0, contentTimestamp: 9_999))
        #expect(!list.admits(master: master, signingKey: IdentityKeyTests.signing0, contentTimestamp: 10_000))
        #expect(!list.admits(master: master, signingKey: IdentityKeyTests.signing0, contentTimestamp: 20_000))
        #expect(list.admits(master: master, signingKey: IdentityKeyTests.signing1, contentTimestamp: 20_000))
        #expect(list.admits(master: String(repeating: "cd", count: 32), signingKey: IdentityKeyTests.signing0, contentTimestamp: 20_000))

        // An earlier revocation time wins.
        list.record(RevokedSigningKey(masterPublicKey: master, signingPublicKey: IdentityKeyTests.signing0, revokedAt: 8_000, reason: .rotated))
        #expect(!list.admits(master: master, signingKey: IdentityKeyTests.signing0, contentTimestamp: 9_000))
        list.record(RevokedSigningKey(masterPublicKey: master, signingPublicKey: IdentityKeyTests.signing0, revokedAt: 50_000, reason: .rotated))
        #expect(list.revocation(master: master, signingKey: IdentityKeyTests.signing0)?.revokedAt == 8_000)
        #expect(list.entries.count == 1)

        // A master-signed compromise revocation rejects even backdated content.
        let revocation = SigningKeyRevocation.signed(master: identity.masterKey, revoking: identity.signingKey.publicKey, timestamp: 60_000)
        #expect(String(decoding: revocation.signedBytes, as: UTF8.self)
                == #"{"action":"signing_key_revocation","master_pubkey":"\#(master)","revoked_signing_pubkey":"\#(IdentityKeyTests.signing0)","timestamp":60000}"#)
        try revocation.verify()
        var forged = revocation
        forged.revokedSigningPublicKey = IdentityKeyTests.signing1
        #expect(throws: SignedRecordError.badSignature(record: "revocation")) { try forged.verify() }
        var bySigningKey = revocation
        bySigningKey.signature = Hex.encode(identity.signingKey.signature(for: revocation.signedBytes))
        #expect(throws: SignedRecordError.badSignature(record: "revocation")) { try bySigningKey.verify() }
        list.record(revocation.revokedKey)
        #expect(!list.admits(master: master, signingKey: IdentityKeyTests.signing0, contentTimestamp: 1))
        // A later "rotated" entry cannot soften a compromise.
        list.record(RevokedSigningKey(rotation: rotation))
        #expect(list.revocation(master: master, signingKey: IdentityKeyTests.signing0)?.reason == .compromised)

        let encoded = try JSONEncoder().encode(list)
        #expect(try JSONDecoder().decode(SigningKeyRevocationList.self, from: encoded) == list)
    }
}

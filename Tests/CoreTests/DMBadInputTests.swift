import Foundation
import Testing
@testable import Core
import TestSupport

@Suite("DM bad input")
struct DMBadInputTests {
    /// Sends raw bytes to `node` from `from`'s transport id: the answer, or the error.
    static func ask(_ world: DMWorld, from: NodeIdentity, to node: DMNode, _ request: [UInt8]) async -> Result<[UInt8], any Error> {
        do {
            return .success(try await DMService.exchange(dialer: world.network.dialer(for: from.transportID),
                                                         transport: node.identity.transportID, request: request, readCap: 65536,
                                                         connectTimeout: 10, readTimeout: 10))
        } catch {
            return .failure(error)
        }
    }

    static func isRejected(_ result: Result<[UInt8], any Error>) -> Bool {
        if case let .failure(error) = result, let network = error as? PeerNetworkError {
            return network == .streamReset(code: DMService.rejectCode)
        }
        return false
    }

    @Test func rejectedLoggedCountedAndSessionStaysUsable() async throws {
        let world = DMWorld()
        let alice = try world.node("alice"), bob = try world.node("bob"), carol = try world.node("carol")
        for i in 0..<70 { try await alice.service.send("m\(i)", to: bob.master) }
        try await eventually("70 delivered") { try bob.received(from: alice).count == 70 }
        let envelopes = alice.dialer.recordedEnvelopes()
        try #require(envelopes.count == 70)
        let last = envelopes[69]

        // Garbage.
        #expect(Self.isRejected(await Self.ask(world, from: alice.identity, to: bob, Array("{\"Envelope\":".utf8))))
        #expect(Self.isRejected(await Self.ask(world, from: alice.identity, to: bob, [0xff, 0x00, 0x12])))
        #expect(Self.isRejected(await Self.ask(world, from: alice.identity, to: bob,
                                               DMHandshakeMessage.response(noiseMessage: [1]).encoded)))
        #expect(await bob.metrics().garbageRejected == 3)

        // A replay of the last envelope (within the recent window): acknowledged, not stored twice.
        let replayRecent = await Self.ask(world, from: alice.identity, to: bob, DMMessage.envelope(last).encoded)
        #expect((try? replayRecent.get()) == DMAck.encoded)
        #expect(await bob.metrics().duplicateEnvelopesAcked == 1)
        // A replay of an old envelope: its key is used up; rejected.
        #expect(Self.isRejected(await Self.ask(world, from: alice.identity, to: bob, DMMessage.envelope(envelopes[0]).encoded)))
        #expect(await bob.metrics().replaysRejected == 1)

        // Wrong sender: Carol's connection claims Alice's DM key.
        #expect(Self.isRejected(await Self.ask(world, from: carol.identity, to: bob, DMMessage.envelope(last).encoded)))
        #expect(await bob.metrics().wrongSenderRejected == 1)

        // Unknown sender DM key.
        var stranger = last
        stranger.sender = X25519.PrivateKey.generate().publicKey.hex
        #expect(Self.isRejected(await Self.ask(world, from: alice.identity, to: bob, DMMessage.envelope(stranger).encoded)))
        #expect(await bob.metrics().unknownSenderRejected == 1)

        // Truncated ciphertext, and one shorter than the tag, for the next message number.
        for length in [10, 5, 0] {
            var truncated = last
            truncated.header.messageNumber += 1
            truncated.ciphertext = Array(last.ciphertext.prefix(length))
            #expect(Self.isRejected(await Self.ask(world, from: alice.identity, to: bob, DMMessage.envelope(truncated).encoded)))
        }
        // A header that skips too far.
        var farAhead = last
        farAhead.header.messageNumber += 500
        #expect(Self.isRejected(await Self.ask(world, from: alice.identity, to: bob, DMMessage.envelope(farAhead).encoded)))
        #expect(await bob.metrics().decryptFailures == 4)

        // Handshakes: wrong Noise length; Noise static key differing from `sender`.
        let shortInit = DMMessage.handshake(.initiate(noiseMessage: [UInt8](repeating: 1, count: 95), sender: alice.identity.dmKey.publicKey.hex))
        #expect(Self.isRejected(await Self.ask(world, from: alice.identity, to: bob, shortInit.encoded)))
        var noise = NoiseIKHandshake.initiator(staticKey: carol.identity.dmKey, responderStaticKey: bob.identity.dmKey.publicKey)
        let spoofed = DMMessage.handshake(.initiate(noiseMessage: try noise.writeMessage(), sender: X25519.PrivateKey.generate().publicKey.hex))
        #expect(Self.isRejected(await Self.ask(world, from: carol.identity, to: bob, spoofed.encoded)))
        #expect(await bob.metrics().badHandshakesRejected == 2)
        #expect(bob.logs.records.filter { $0.level == .warning }.count == 12)

        // Nothing was stored, and the session still works both ways without a new handshake.
        #expect(try bob.received(from: alice).count == 70)
        try await alice.service.send("after", to: bob.master)
        try await bob.service.send("reply", to: alice.master)
        try await eventually("both arrive") { try bob.received(from: alice).last == "after" && alice.received(from: bob) == ["reply"] }
        #expect(await alice.metrics().handshakesInitiated == 1)
        #expect(await bob.metrics().handshakesInitiated == 0)
    }

    @Test func oversizedRequestIsRejected() async throws {
        let world = DMWorld()
        let alice = try world.node("alice"), bob = try world.node("bob")
        let huge = [UInt8](repeating: 0x20, count: 1_048_577)
        #expect(Self.isRejected(await Self.ask(world, from: alice.identity, to: bob, huge)))
        #expect(await bob.metrics().garbageRejected == 1)
    }
}

@Suite("DM sessions")
struct DMSessionsTests {
    static let keys = KeySequence("sessions-")

    /// A seed peer re-handshakes over our responder session while our envelope under the old one is
    /// still queued on its side... and vice versa: whatever was encrypted under an archived session decrypts.
    @Test func archivedSessionStillDecryptsAndNewerOnePromotes() throws {
        var old = try RatchetPair(sharedSecret: [UInt8](repeating: 1, count: 32))
        let (h1, c1) = try old.alice.encrypt(Array("old-session".utf8))
        var bob = DMPeerSessions(current: .init(ratchet: old.bob, generation: 1))
        // A new session arrives (Alice re-handshook); the old one is archived.
        var new = try RatchetPair(sharedSecret: [UInt8](repeating: 2, count: 32))
        bob.adopt(new.bob, now: 5)
        #expect(bob.current.generation == 2 && bob.archive.count == 1)
        let keys = Self.keys
        let envelope = EncryptedEnvelope(sender: "a", header: h1, ciphertext: c1)
        #expect(bob.decrypt(envelope, keyGenerator: { keys.next() }) == .decrypted(Array("old-session".utf8)))
        // The current session could not send, and the peer evidently uses the old one: promoted.
        #expect(bob.current.generation == 1)
        // The same envelope again is a duplicate; an older consumed key is a replay.
        #expect(bob.decrypt(envelope, keyGenerator: { keys.next() }) == .duplicate)
        let (h2, c2) = try new.alice.encrypt(Array("new-session".utf8))
        #expect(bob.decrypt(EncryptedEnvelope(sender: "a", header: h2, ciphertext: c2), keyGenerator: { keys.next() })
                == .decrypted(Array("new-session".utf8)))
        #expect(bob.current.generation == 2)  // newer than current: promoted back
        var garbage = EncryptedEnvelope(sender: "a", header: h2, ciphertext: c2)
        garbage.ciphertext[0] ^= 1
        garbage.header.messageNumber = 7
        let before = bob
        if case .failed = bob.decrypt(garbage, keyGenerator: { keys.next() }) {} else { Issue.record("garbage decrypted") }
        #expect(bob == before)
    }

    @Test func sealedRoundTripKeepsArchiveAndDigests() throws {
        let pair = try RatchetPair()
        var sessions = DMPeerSessions(current: .init(ratchet: pair.alice, generation: 3, createdAt: 42))
        sessions.archiveOnly(pair.bob, now: 43)
        sessions.broken = true
        sessions.remember([UInt8](repeating: 9, count: 16))
        let key = SecretBytes([UInt8](repeating: 7, count: 32))
        let sealed = sessions.sealed(storageKey: key)
        #expect(try DMPeerSessions(sealed: sealed, storageKey: key) == sessions)
        // The reference (and device sync) read the same sealed string as a plain §8.7 state.
        let plain = try DMJSON.parse(try SealedRatchetState.open(sealed, storageKey: key))
        #expect(try DoubleRatchet(stateJSON: plain) == pair.alice)
        // A plain reference state loads as a session without archive.
        let reference = SealedRatchetState.seal(pair.bob.stateJSON.serialized, storageKey: key)
        let loaded = try DMPeerSessions(sealed: reference, storageKey: key)
        #expect(loaded.current.ratchet == pair.bob && loaded.archive.isEmpty)
        #expect(throws: (any Error).self) { try DMPeerSessions(sealed: sealed, storageKey: SecretBytes([UInt8](repeating: 8, count: 32))) }
    }

    @Test func previewTruncatesOnCharacterBoundary() {
        #expect(DMStore.preview(String(repeating: "a", count: 80)) == String(repeating: "a", count: 80))
        #expect(DMStore.preview(String(repeating: "a", count: 81)) == String(repeating: "a", count: 77) + "...")
        let accents = String(repeating: "é", count: 50)  // 100 bytes
        #expect(DMStore.preview(accents) == String(repeating: "é", count: 38) + "...")
    }
}

import Foundation
import Synchronization
import Testing
@testable import Core
import TestSupport

/// A stand-in for the reference (seed) app's DM behaviour, per spec §8: one session per peer DM key,
/// overwritten by every accepted Init; acks every envelope whether or not it decrypted; cannot send
/// as a responder without a sending chain (the reference panics; we record it).
actor SeedPeer {
    let identity: NodeIdentity
    let network: InMemoryPeerNetwork
    private(set) var sessions: [String: DoubleRatchet] = [:]
    private(set) var received: [DMPayload] = []
    private(set) var wouldHavePanicked = 0

    init(identity: NodeIdentity, network: InMemoryPeerNetwork) {
        self.identity = identity
        self.network = network
    }

    nonisolated var handler: SeedHandler { SeedHandler(peer: self) }

    func acceptInit(_ message1: [UInt8], sender: String) throws -> [UInt8] {
        var noise = NoiseIKHandshake.responder(staticKey: identity.dmKey)
        _ = try noise.readMessage(message1)
        guard noise.remoteStaticKey?.hex == sender else { throw DMError.protocolViolation("static key mismatch") }
        let message2 = try noise.writeMessage()
        sessions[sender] = DoubleRatchet.responder(sharedSecret: SecretBytes(noise.handshakeHash), ownDMKey: identity.dmKey)
        return message2
    }

    func acceptEnvelope(_ envelope: EncryptedEnvelope) {
        guard var session = sessions[envelope.sender] else { return }
        if let plaintext = try? session.decrypt(header: envelope.header, ciphertext: envelope.ciphertext) {
            sessions[envelope.sender] = session
            if let payload = try? DMPayload.decode(plaintext) { received.append(payload) }
        }
    }

    /// Handshake if there is no session, then encrypt (without transmitting).
    func encrypt(_ payload: DMPayload, to peer: NodeIdentity) async throws -> EncryptedEnvelope? {
        let peerKey = peer.dmKey.publicKey
        if sessions[peerKey.hex] == nil {
            var noise = NoiseIKHandshake.initiator(staticKey: identity.dmKey, responderStaticKey: peerKey)
            let request = DMMessage.handshake(.initiate(noiseMessage: try noise.writeMessage(), sender: identity.dmKey.publicKey.hex))
            let answer = try await DMService.exchange(dialer: network.dialer(for: identity.transportID), transport: peer.transportID,
                                                      request: request.encoded, readCap: 65536, connectTimeout: 10, readTimeout: 10)
            guard case let .response(message2) = try DMHandshakeMessage.decode(answer) else { return nil }
            _ = try noise.readMessage(message2)
            sessions[peerKey.hex] = try DoubleRatchet.initiator(sharedSecret: SecretBytes(noise.handshakeHash), responderDMKey: peerKey)
        }
        guard var session = sessions[peerKey.hex], session.canSend else {
            wouldHavePanicked += 1
            return nil
        }
        let (header, ciphertext) = try session.encrypt(payload.encoded)
        sessions[peerKey.hex] = session
        return EncryptedEnvelope(sender: identity.dmKey.publicKey.hex, header: header, ciphertext: ciphertext)
    }

    /// Transmits; true when acked.
    nonisolated func transmit(_ envelope: EncryptedEnvelope, to peer: NodeIdentity) async -> Bool {
        let answer = try? await DMService.exchange(dialer: network.dialer(for: identity.transportID), transport: peer.transportID,
                                                   request: DMMessage.envelope(envelope).encoded, readCap: 256,
                                                   connectTimeout: 10, readTimeout: 5)
        return answer.map(DMAck.isAck) ?? false
    }

    func send(_ text: String, to peer: NodeIdentity) async throws -> Bool {
        let payload = DMPayload.message(DirectMessage(id: RandomID.generate(), content: text, timestamp: 1))
        guard let envelope = try await encrypt(payload, to: peer) else { return false }
        return await transmit(envelope, to: peer)
    }

    func texts() -> [String] {
        received.compactMap { if case let .message(m) = $0 { return m.content } else { return nil } }
    }
}

struct SeedHandler: ProtocolHandler {
    let peer: SeedPeer
    func accept(_ connection: any PeerConnection) async {
        guard let (send, receive) = try? await connection.acceptBidirectionalStream(),
              let request = try? await receive.readToEnd(limit: 1_048_576),
              let message = try? DMMessage.decode(request) else { return }
        switch message {
        case let .handshake(.initiate(message1, sender)):
            guard let message2 = try? await peer.acceptInit(message1, sender: sender) else {
                connection.close(code: 0, reason: "")
                return
            }
            try? await send.write(DMHandshakeMessage.response(noiseMessage: message2).encoded)
        case let .envelope(envelope):
            await peer.acceptEnvelope(envelope)
            try? await send.write(DMAck.encoded)  // always, as the reference does
        case .handshake(.response):
            return
        }
        try? await send.finish()
        _ = await connection.closed()
    }
}

@Suite("DM against seed behaviour")
struct DMSeedInteropTests {
    static func setUp() throws -> (DMWorld, DMNode, SeedPeer, NodeIdentity) {
        let world = DMWorld()
        let node = try world.node("ours")
        let seedIdentity = try world.identity("seed")
        try world.directory.add(seedIdentity)
        let seed = SeedPeer(identity: seedIdentity, network: world.network)
        world.network.serve(seedIdentity.transportID, alpn: DMService.alpn, handler: seed.handler)
        return (world, node, seed, seedIdentity)
    }

    @Test func weSendFirstThenSeedReplies() async throws {
        let (_, ours, seed, seedIdentity) = try Self.setUp()
        try await ours.service.send("hello seed", to: seedIdentity.masterPublicKey)
        try await eventually("seed got it") { await seed.texts() == ["hello seed"] }
        let sent1 = try await seed.send("hello node", to: ours.identity)
        #expect(sent1)
        let received = try ours.service.store.messages(peerMasterHex: seedIdentity.masterPublicKey.hex).filter { !$0.read }.map(\.content)
        #expect(received == ["hello node"])
    }

    @Test func seedSendsFirstThenWeReply() async throws {
        let (_, ours, seed, seedIdentity) = try Self.setUp()
        let sent2 = try await seed.send("seed first", to: ours.identity)
        #expect(sent2)
        #expect(try ours.service.store.messages(peerMasterHex: seedIdentity.masterPublicKey.hex).map(\.content) == ["seed first"])
        try await ours.service.send("reply", to: seedIdentity.masterPublicKey)
        try await eventually("seed got the reply") { await seed.texts() == ["reply"] }
        #expect(await ours.metrics().handshakesInitiated == 0)
    }

    /// The seed handshakes but its envelope is held back (it queues it). We then send first: our
    /// handshake overwrites the seed's session, the seed decrypts us, and its held envelope from the
    /// old session still decrypts at our end from the archive.
    @Test func weSendFirstAsResponderAndTheSeedsQueuedEnvelopeStillOpens() async throws {
        let (_, ours, seed, seedIdentity) = try Self.setUp()
        let held = try #require(try await seed.encrypt(.message(DirectMessage(id: "held1", content: "queued at seed", timestamp: 5)),
                                                       to: ours.identity))
        try await ours.service.send("we go first", to: seedIdentity.masterPublicKey)
        try await eventually("seed decrypted ours") { await seed.texts() == ["we go first"] }
        #expect(await ours.metrics().handshakesInitiated == 1)
        // The seed's outbox retry of its old-session envelope.
        let sent3 = await seed.transmit(held, to: ours.identity)
        #expect(sent3)
        let peerHex = seedIdentity.masterPublicKey.hex
        #expect(try ours.service.store.messages(peerMasterHex: peerHex).map(\.content).contains("queued at seed"))
        // The seed now has a sending chain in our session (no panic), and we read it.
        let sent4 = try await seed.send("after", to: ours.identity)
        #expect(sent4)
        #expect(await seed.wouldHavePanicked == 0)
        #expect(try ours.service.store.messages(peerMasterHex: peerHex).contains { $0.content == "after" })
        // An identical retransmission (the seed missed our ack) is acked again, stored once.
        let sent5 = await seed.transmit(held, to: ours.identity)
        #expect(sent5)
        #expect(try ours.service.store.messages(peerMasterHex: peerHex).filter { $0.content == "queued at seed" }.count == 1)
        // And we keep talking in the converged session without another handshake.
        try await ours.service.send("still here", to: seedIdentity.masterPublicKey)
        try await eventually("seed got it") { await seed.texts().last == "still here" }
        #expect(await ours.metrics().handshakesInitiated == 1)
    }
}

import Foundation
import Synchronization
import Testing
@testable import Core
import TestSupport

@Suite("DM service")
struct DMServiceTests {
    @Test func firstMessageHandshakesAndDelivers() async throws {
        let world = DMWorld()
        let alice = try world.node("alice"), bob = try world.node("bob")
        let sent = try await alice.service.send("hello bob", to: bob.master)
        try await eventually("bob has the message") { try bob.received(from: alice) == ["hello bob"] }
        try await eventually("alice sees it delivered") { try alice.messages(with: bob).first?.delivered == true }
        #expect(try alice.service.store.outboxCount() == 0)
        let stored = try #require(try bob.messages(with: alice).first)
        #expect(stored.id == sent.id && stored.timestamp == sent.timestamp && !stored.read && stored.delivered)
        let a = await alice.metrics(), b = await bob.metrics()
        #expect(a.handshakesCompleted == 1 && b.handshakesAccepted == 1 && b.messagesStored == 1)
        // Sessions are stored sealed, keyed by the peer's DM key.
        #expect(try alice.service.store.loadSessions(peerDMKeyHex: bob.identity.dmKey.publicKey.hex)?.current.ratchet.canSend == true)
        let conversations = try bob.service.store.conversations()
        #expect(conversations.count == 1 && conversations[0].unreadCount == 1 && conversations[0].preview == "hello bob")
        #expect(conversations[0].conversationID == ConversationID.make(alice.hex, bob.hex))
    }

    @Test func responderSendsFirst() async throws {
        let world = DMWorld()
        let alice = try world.node("alice"), bob = try world.node("bob")
        // Alice's handshake completes but her envelope never arrives: Bob is a responder without a sending chain.
        alice.dialer.policy.withLock { $0.failEnvelopes = true }
        try await alice.service.send("from alice", to: bob.master)
        try await eventually("bob accepted the handshake") { await bob.metrics().handshakesAccepted == 1 }
        let bobSession = try #require(try bob.service.store.loadSessions(peerDMKeyHex: alice.identity.dmKey.publicKey.hex))
        #expect(!bobSession.current.ratchet.canSend)
        // Bob sends first: he runs his own handshake instead of failing.
        try await bob.service.send("from bob", to: alice.master)
        try await eventually("alice has bob's message") { try alice.received(from: bob) == ["from bob"] }
        alice.dialer.policy.withLock { $0.failEnvelopes = false }
        await alice.service.flush(peer: bob.master)
        try await eventually("bob has alice's queued message") { try bob.received(from: alice) == ["from alice"] }
        #expect(await bob.metrics().handshakesCompleted == 1)
        // Converged: more traffic both ways needs no further handshake.
        let handshakes = await alice.metrics().handshakesInitiated + bob.metrics().handshakesInitiated
        for i in 0..<5 {
            try await alice.service.send("a\(i)", to: bob.master)
            try await bob.service.send("b\(i)", to: alice.master)
        }
        try await eventually("all arrive") { try bob.received(from: alice).count == 6 && alice.received(from: bob).count == 6 }
        #expect(await alice.metrics().handshakesInitiated + bob.metrics().handshakesInitiated == handshakes)
    }

    @Test(arguments: [1, 2, 3])
    func simultaneousFirstMessages(seed: Int) async throws {
        let world = DMWorld()
        let alice = try world.node("alice", seed: UInt64(seed)), bob = try world.node("bob", seed: UInt64(seed) + 100)
        let barrier = HandshakeBarrier()
        alice.dialer.barrier.withLock { $0 = barrier }
        bob.dialer.barrier.withLock { $0 = barrier }
        // Tasks rather than `async let` tuples: the latter crash Swift 6.0.3's MoveOnlyChecker.
        let a = Task { try await alice.service.send("hi from alice", to: bob.master) }
        let b = Task { try await bob.service.send("hi from bob", to: alice.master) }
        _ = try await a.value
        _ = try await b.value
        try await eventually("both delivered") {
            try bob.received(from: alice) == ["hi from alice"] && alice.received(from: bob) == ["hi from bob"]
        }
        alice.dialer.barrier.withLock { $0 = nil }
        bob.dialer.barrier.withLock { $0 = nil }
        let am = await alice.metrics(), bm = await bob.metrics()
        // Both handshakes ran concurrently; the lower DM key won on both sides.
        #expect(am.handshakesInitiated >= 1 && bm.handshakesInitiated >= 1)
        let aliceLower = alice.identity.dmKey.publicKey.hex < bob.identity.dmKey.publicKey.hex
        let winner = aliceLower ? am : bm, loser = aliceLower ? bm : am
        // How many races a run sees depends on scheduling (a retry can race again); the rule does not:
        // the lower key never loses one and the higher key never wins one.
        #expect(winner.handshakeRacesLost == 0 && loser.handshakeRacesWon == 0)
        #expect(winner.handshakeRacesWon + loser.handshakeRacesLost >= 1)
        // Converged: from here on, traffic needs no more handshakes.
        let handshakes = am.handshakesInitiated + bm.handshakesInitiated
        for i in 0..<10 {
            try await alice.service.send("a\(i)", to: bob.master)
            try await bob.service.send("b\(i)", to: alice.master)
        }
        try await eventually("follow-ups arrive") { try bob.received(from: alice).count == 11 && alice.received(from: bob).count == 11 }
        #expect(await alice.metrics().handshakesInitiated + bob.metrics().handshakesInitiated == handshakes)
        #expect(await alice.metrics().decryptFailures + bob.metrics().decryptFailures == 0)
    }

    @Test func thousandMessagesEachWayUnderDelaysLossAndInterleaving() async throws {
        let world = DMWorld()
        let alice = try world.node("alice", seed: 7), bob = try world.node("bob", seed: 8)
        for node in [alice, bob] {
            node.dialer.policy.withLock { $0 = .init(connectFailure: 0.05, answerLoss: 0.05, maxDelayMicroseconds: 300) }
        }
        await alice.service.start()
        await bob.service.start()
        let count = 1000
        let fromAlice = Task { try await Self.sendMany(alice, to: bob, count: count, prefix: "a", seed: 11) }
        let fromBob = Task { try await Self.sendMany(bob, to: alice, count: count, prefix: "b", seed: 12) }
        try await fromAlice.value
        try await fromBob.value
        try await eventually("everything delivered", seconds: 600) {
            try alice.service.store.outboxCount() == 0 && bob.service.store.outboxCount() == 0
        }
        await alice.service.stop()
        await bob.service.stop()
        // Exactly once, in order per conversation.
        #expect(try bob.received(from: alice) == (0..<count).map { "a\($0)" })
        #expect(try alice.received(from: bob) == (0..<count).map { "b\($0)" })
        #expect(try alice.messages(with: bob).filter { $0.fromMasterHex == alice.hex }.allSatisfy(\.delivered))
        let am = await alice.metrics(), bm = await bob.metrics()
        #expect(am.decryptFailures == 0 && bm.decryptFailures == 0)
        // Lost acks caused retransmissions that the receiver deduplicated by message id.
        #expect(am.duplicateMessages + bm.duplicateMessages + am.duplicateEnvelopesAcked + bm.duplicateEnvelopesAcked > 0)
        print("1000 each way: \(am.envelopesSent + bm.envelopesSent) envelopes, duplicate envelopes acked \(am.duplicateEnvelopesAcked + bm.duplicateEnvelopesAcked), duplicate messages \(am.duplicateMessages + bm.duplicateMessages), handshakes \(am.handshakesInitiated + bm.handshakesInitiated)")
    }

    static func sendMany(_ from: DMNode, to: DMNode, count: Int, prefix: String, seed: UInt64) async throws {
        var rng = SeededRandom(seed: seed)
        for i in 0..<count {
            try await from.service.send("\(prefix)\(i)", to: to.master)
            if rng.next() % 4 == 0 { try await Task.sleep(nanoseconds: rng.next() % 200_000) }
        }
    }

    @Test func receiverOfflineThenBack() async throws {
        let world = DMWorld()
        let alice = try world.node("alice"), bob = try world.node("bob")
        await alice.service.start()
        world.network.setOnline(bob.identity.transportID, false)
        for i in 0..<20 { try await alice.service.send("m\(i)", to: bob.master) }
        try await eventually("several retries happened") { await alice.metrics().sendFailures >= 3 }
        #expect(try bob.received(from: alice).isEmpty)
        #expect(try alice.service.store.outboxCount() == 20)
        world.network.setOnline(bob.identity.transportID, true)
        await alice.service.peerReachable(bob.master)
        try await eventually("all arrive") { try bob.received(from: alice).count == 20 }
        #expect(try bob.received(from: alice) == (0..<20).map { "m\($0)" })
        await alice.service.stop()
    }

    @Test func senderRestartKeepsOutboxAndSession() async throws {
        let world = DMWorld()
        let database = try AppDatabase.inMemory()
        let alice1 = try world.node("alice", database: database), bob = try world.node("bob")
        try await alice1.service.send("before", to: bob.master)
        try await eventually("first delivered") { try bob.received(from: alice1) == ["before"] }
        world.network.setOnline(bob.identity.transportID, false)
        for i in 0..<5 { try await alice1.service.send("queued \(i)", to: bob.master) }
        try await eventually("attempted") { await alice1.metrics().sendFailures >= 1 }
        // "Restart": a new service over the same database and identity.
        await alice1.service.shutdown()
        let alice2 = try world.node("alice", database: database)
        world.network.setOnline(bob.identity.transportID, true)
        await alice2.service.start()
        try await eventually("queue drained after restart") { try bob.received(from: alice2).count == 6 }
        await alice2.service.stop()
        #expect(try bob.received(from: alice2) == ["before"] + (0..<5).map { "queued \($0)" })
        #expect(await alice2.metrics().handshakesInitiated == 0)
        #expect(await bob.metrics().handshakesAccepted == 1)
    }

    @Test func brokenSessionReestablishesWithoutLoss() async throws {
        let world = DMWorld()
        let alice = try world.node("alice"), bobBefore = try world.node("bob")
        try await alice.service.send("one", to: bobBefore.master)
        try await eventually("one") { try bobBefore.received(from: alice) == ["one"] }
        // Bob loses his session (e.g. restored an old backup) and restarts.
        try bobBefore.database.database.execute("DELETE FROM dm_ratchet_sessions")
        let bob = try world.node("bob", database: bobBefore.database)
        try await alice.service.send("two", to: bob.master)
        try await eventually("two arrives after a re-handshake") { try bob.received(from: alice) == ["one", "two"] }
        #expect(await bob.metrics().noSessionRejected == 1)
        #expect(await alice.metrics().rejectedByPeer == 1)
        #expect(await alice.metrics().handshakesCompleted == 2)
        try await bob.service.send("reply", to: alice.master)
        try await eventually("reply") { try alice.received(from: bob) == ["reply"] }
    }

    @Test func signalsReachTheHandler() async throws {
        let world = DMWorld()
        let alice = try world.node("alice"), bob = try world.node("bob")
        let got = Mutex<[DMPayload]>([])
        await bob.service.setSignalHandler { _, payload in got.withLock { $0.append(payload) } }
        #expect(await alice.service.sendSignal(.callOffer(callID: "c1", video: false), to: bob.master))
        #expect(await alice.service.sendSignal(.typing, to: bob.master))
        try await eventually("signals") { got.withLock { $0 } == [.callOffer(callID: "c1", video: false), .typing] }
        #expect(try alice.service.store.outboxCount() == 0)
        // Read receipt updates the sender's row.
        let sent = try await bob.service.send("read me", to: alice.master)
        try await eventually("arrives") { try alice.received(from: bob) == ["read me"] }
        #expect(await alice.service.sendSignal(.read(messageID: sent.id), to: bob.master))
        try await eventually("marked read") { try bob.messages(with: alice).first?.read == true }
    }

    @Test func consoleCommands() async throws {
        let world = DMWorld()
        let alice = try world.node("alice"), bob = try world.node("bob")
        let out = try await alice.service.commandSend(peer: bob.hex, text: "hi there")
        #expect(out.text.hasPrefix("queued "))
        #expect(out.json["queued"] == .bool(true))
        try await eventually("arrives") { try bob.received(from: alice) == ["hi there"] }
        let dms = try await bob.service.commandConversations()
        let lastMessageAt = try #require(dms.json.firstLastMessageAt)
        let expected = DMJSON.array([.fields(("peer", .string(alice.hex)), ("unread", .uint(1)),
                                             ("last_message_at", lastMessageAt), ("preview", .string("hi there")))])
        #expect(dms.json == expected)
        let log = try await bob.service.commandLog(peer: alice.hex)
        #expect(log.text.hasSuffix("them: hi there"))
        #expect(try await bob.service.commandConversations().text.contains("unread 0"))
        await #expect(throws: DMError.self) { try await alice.service.commandSend(peer: "zz", text: "x") }
        await #expect(throws: DMError.self) { try await alice.service.commandSend(peer: bob.hex, text: "") }
        await #expect(throws: DMError.self) { try await alice.service.commandSend(peer: alice.hex, text: "me") }
    }
}

extension DMJSON {
    var firstLastMessageAt: DMJSON? {
        if case let .array(items) = self { return items.first?["last_message_at"] }
        return nil
    }
}

import Testing
@testable import Core

@Suite("Stage room state machine")
struct StageRoomTests {
    let stageID = "00112233445566778899aabbccddeeff"
    let host = StageTestIdentities.make(1)
    let alice = StageTestIdentities.make(2)
    let bob = StageTestIdentities.make(3)
    let mallory = StageTestIdentities.make(4)

    var ticket: StageTicket {
        StageTicket(stageID: stageID, hostPublicKey: host.signingKey.publicKey.hex, hostNodeID: host.transportID.hex, title: "T")
    }

    func signed(_ control: StageControl, by identity: NodeIdentity, clock: StageFakeClock) -> SignedStageControl {
        let message = SignedStageControl.signed(control, by: identity.signingKey, timestamp: clock.nowMillis())
        return message
    }

    func presence(_ identity: NodeIdentity, role: StageRole = .listener, clock: StageFakeClock) -> SignedStageControl {
        signed(.presence(stageID: stageID, publicKey: identity.masterPublicKey.hex, role: role, timestamp: clock.nowMillis(),
                         nodeID: identity.transportID.hex), by: identity, clock: clock)
    }

    func hostRoom(_ clock: StageFakeClock) throws -> StageRoom {
        var room = StageRoom(hosting: stageID, identity: host, clock: clock)
        for identity in [alice, bob] {
            room.learnDelegation(identity.delegation(issuedAt: 1))
            _ = try room.receive(presence(identity, clock: clock))
        }
        return room
    }

    @Test func presenceUpsertsAndExpiresAfter45Seconds() throws {
        let clock = StageFakeClock()
        var room = try hostRoom(clock)
        #expect(room.participants.count == 3)
        #expect(room.participants[alice.masterPublicKey.hex]?.nodeID == alice.transportID.hex)
        clock.advance(30_000)
        _ = try room.receive(presence(alice, clock: clock)) // alice stays fresh
        clock.advance(15_000)
        var tick = room.tick()
        #expect(tick.expired == [])          // bob last seen exactly 45 s ago: not yet "more than"
        #expect(tick.presenceDue)
        _ = room.presence(nodeID: host.transportID.hex)
        #expect(!room.tick().presenceDue)
        clock.advance(45_000)
        tick = room.tick()
        #expect(Set(tick.expired) == [alice.masterPublicKey.hex, bob.masterPublicKey.hex])
        #expect(room.participants.keys.sorted() == [host.masterPublicKey.hex]) // never expires me
    }

    @Test func handsAndSelfMuteMapSigningKeysToMasterKeys() throws {
        let clock = StageFakeClock()
        var room = try hostRoom(clock)
        var aliceRoom = StageRoom(joining: ticket, identity: alice, clock: clock)
        // What the reference sends: the SIGNING key in `pubkey` (§16.1.7).
        let raise = aliceRoom.raiseHand(true)
        #expect(raise == .raiseHand(stageID: stageID, publicKey: alice.signingKey.publicKey.hex))
        #expect(try room.receive(signed(raise, by: alice, clock: clock)) == [.handChanged(alice.masterPublicKey.hex, raised: true)])
        #expect(room.participants[alice.masterPublicKey.hex]?.handRaised == true)
        // The master key is accepted as well.
        _ = try room.receive(signed(.lowerHand(stageID: stageID, publicKey: alice.masterPublicKey.hex), by: alice, clock: clock))
        #expect(room.participants[alice.masterPublicKey.hex]?.handRaised == false)
        _ = try room.receive(signed(aliceRoom.selfMute(true), by: alice, clock: clock))
        #expect(room.participants[alice.masterPublicKey.hex]?.selfMuted == true)
        // Nobody raises someone else's hand.
        #expect(throws: StageRoomRejection.notModerator(bob.signingKey.publicKey.hex)) {
            try room.receive(signed(.raiseHand(stageID: stageID, publicKey: alice.signingKey.publicKey.hex), by: bob, clock: clock))
        }
    }

    @Test func promoteDemoteMuteKickBanByModeratorsOnly() throws {
        let clock = StageFakeClock()
        var aliceRoom = StageRoom(joining: ticket, identity: alice, clock: clock)
        _ = try aliceRoom.receive(presence(host, role: .host, clock: clock))
        _ = try aliceRoom.receive(presence(bob, clock: clock))
        let a = alice.masterPublicKey.hex, b = bob.masterPublicKey.hex
        // Bob is not a moderator.
        #expect(throws: StageRoomRejection.notModerator(bob.signingKey.publicKey.hex)) {
            try aliceRoom.receive(signed(.promoteSpeaker(stageID: stageID, publicKey: a), by: bob, clock: clock))
        }
        #expect(try aliceRoom.receive(signed(.promoteSpeaker(stageID: stageID, publicKey: a), by: host, clock: clock)) == [.promotedMe])
        #expect(aliceRoom.myRole == .speaker)
        #expect(try aliceRoom.receive(signed(.demoteSpeaker(stageID: stageID, publicKey: a), by: host, clock: clock)) == [.demotedMe])
        #expect(aliceRoom.myRole == .listener)
        _ = try aliceRoom.receive(signed(.promoteSpeaker(stageID: stageID, publicKey: b), by: host, clock: clock))
        #expect(aliceRoom.participants[b]?.role == .speaker)
        _ = try aliceRoom.receive(signed(.muteSpeaker(stageID: stageID, publicKey: b), by: host, clock: clock))
        #expect(aliceRoom.participants[b]?.hostMuted == true)
        #expect(throws: StageRoomRejection.notModerator(bob.signingKey.publicKey.hex)) {
            try aliceRoom.receive(signed(.kick(stageID: stageID, publicKey: a), by: bob, clock: clock))
        }
        #expect(try aliceRoom.receive(signed(.kick(stageID: stageID, publicKey: b), by: host, clock: clock)) == [.participantRemoved(b)])
        #expect(aliceRoom.participants[b] == nil)
        #expect(try aliceRoom.receive(signed(.ban(stageID: stageID, publicKey: a), by: host, clock: clock)) == [.removedMe(banned: true)])
        #expect(aliceRoom.isEnded)
    }

    @Test func banRemembersNodeAndOnlyHostMayBan() throws {
        let clock = StageFakeClock()
        var room = try hostRoom(clock)
        // A CoHost (granted locally; the reference never grants it) may kick but not ban.
        var bobRoom = StageRoom(joining: ticket, identity: bob, clock: clock)
        _ = try bobRoom.receive(presence(alice, clock: clock))
        let banned = try room.moderate(.ban(stageID: stageID, publicKey: alice.masterPublicKey.hex))
        #expect(banned == .ban(stageID: stageID, publicKey: alice.masterPublicKey.hex))
        #expect(room.bannedNodeIDs == [alice.transportID.hex])
        #expect(room.participants[alice.masterPublicKey.hex] == nil)
        #expect(throws: StageRoomRejection.notHost(mallory.signingKey.publicKey.hex)) {
            try bobRoom.receive(signed(.ban(stageID: stageID, publicKey: alice.masterPublicKey.hex), by: mallory, clock: clock))
        }
        #expect(throws: StageRoom.ModerationError.notModerator) { try bobRoom.moderate(.kick(stageID: stageID, publicKey: alice.masterPublicKey.hex)) }
    }

    @Test func endOnlyFromHostAndThenEverythingIsDropped() throws {
        let clock = StageFakeClock()
        var room = StageRoom(joining: ticket, identity: alice, clock: clock)
        #expect(throws: StageRoomRejection.notHost(mallory.signingKey.publicKey.hex)) {
            try room.receive(signed(.end(stageID: stageID), by: mallory, clock: clock))
        }
        #expect(throws: StageRoomRejection.wrongStage("other")) {
            try room.receive(signed(.end(stageID: "other"), by: host, clock: clock))
        }
        #expect(throws: StageRoomRejection.ignored("Announce")) {
            try room.receive(signed(.announce(stageID: stageID, title: "T", hostPublicKey: host.masterPublicKey.hex, startedAt: 1), by: host, clock: clock))
        }
        #expect(try room.receive(signed(.end(stageID: stageID), by: host, clock: clock)) == [.ended])
        #expect(throws: StageRoomRejection.ended) { try room.receive(presence(bob, clock: clock)) }
        var hostRoom = StageRoom(hosting: stageID, identity: host, clock: clock)
        #expect(hostRoom.end() == .end(stageID: stageID))
        #expect(hostRoom.isEnded)
    }

    @Test func relayMessages() throws {
        let clock = StageFakeClock()
        var room = try hostRoom(clock)
        let volunteer = StageControl.relayVolunteer(stageID: stageID, relayPublicKey: bob.masterPublicKey.hex,
                                                    relayNodeID: bob.transportID.hex, capacity: 10)
        #expect(try room.receive(signed(volunteer, by: bob, clock: clock))
                == [.relayVolunteered(publicKey: bob.masterPublicKey.hex, nodeID: bob.transportID.hex, capacity: 10)])
        var aliceRoom = StageRoom(joining: ticket, identity: alice, clock: clock)
        let assignment = StageControl.relayAssignment(stageID: stageID, relayPublicKey: bob.masterPublicKey.hex,
                                                      relayNodeID: bob.transportID.hex, listenerPublicKeys: [alice.masterPublicKey.hex])
        #expect(throws: StageRoomRejection.notHost(mallory.signingKey.publicKey.hex)) { try aliceRoom.receive(signed(assignment, by: mallory, clock: clock)) }
        #expect(try aliceRoom.receive(signed(assignment, by: host, clock: clock)) == [.reassignedMe(relayNodeID: bob.transportID.hex)])
        #expect(throws: StageRoomRejection.ignored("RelayVolunteer on a non-host")) { try aliceRoom.receive(signed(volunteer, by: bob, clock: clock)) }
    }

    @Test func reactionsAndChatAreTruncatedAndAttributed() throws {
        let clock = StageFakeClock()
        var room = try hostRoom(clock)
        let aliceRoom = StageRoom(joining: ticket, identity: alice, clock: clock)
        let chat = aliceRoom.chat(String(repeating: "x", count: 700))
        guard case let .chat(_, key, text) = chat else { Issue.record("not chat"); return }
        #expect(key == alice.signingKey.publicKey.hex && text.count == 500)
        // A non-truncating sender is truncated on receipt too.
        let long = StageControl.reaction(stageID: stageID, publicKey: alice.signingKey.publicKey.hex, emoji: String(repeating: "🎉", count: 20))
        #expect(try room.receive(signed(long, by: alice, clock: clock))
                == [.reaction(alice.masterPublicKey.hex, emoji: String(repeating: "🎉", count: 16))])
        #expect(try room.receive(signed(chat, by: alice, clock: clock)) == [.chat(alice.masterPublicKey.hex, text: String(repeating: "x", count: 500))])
    }

    @Test func presenceImpersonationAndRoleClaimsAreRefused() throws {
        let clock = StageFakeClock()
        var room = try hostRoom(clock)
        // Mallory signs a presence claiming Alice's master key, whose delegation names another key.
        let fake = signed(.presence(stageID: stageID, publicKey: alice.masterPublicKey.hex, role: .speaker, timestamp: 1, nodeID: "evil"),
                          by: mallory, clock: clock)
        #expect(throws: StageRoomRejection.impersonation(claimed: alice.masterPublicKey.hex, sender: mallory.signingKey.publicKey.hex)) {
            try room.receive(fake)
        }
        // Claiming Host or CoHost without being host yields Listener.
        _ = try room.receive(presence(mallory, role: .host, clock: clock))
        #expect(room.participants[mallory.masterPublicKey.hex]?.role == .listener)
        _ = try room.receive(presence(mallory, role: .coHost, clock: clock))
        #expect(room.participants[mallory.masterPublicKey.hex]?.role == .listener)
        #expect(!room.isModerator(mallory.signingKey.publicKey.hex))
        #expect(room.isModerator(host.signingKey.publicKey.hex) && room.isModerator(host.masterPublicKey.hex))
    }
}

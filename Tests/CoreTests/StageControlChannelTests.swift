import Synchronization
import Testing
@testable import Core

/// An in-memory gossip topic: every publish reaches every other member (not the sender, as gossip).
final class InMemoryStageBus: Sendable {
    private let members = Mutex<[(id: Int, topic: [UInt8], continuation: AsyncStream<[UInt8]>.Continuation)]>([])
    private let nextID = Mutex(0)

    /// One node's view of the bus.
    func endpoint() -> StageControlBus {
        Endpoint(bus: self, id: nextID.withLock { $0 += 1; return $0 })
    }

    fileprivate func subscribe(id: Int, topic: [UInt8]) -> AsyncStream<[UInt8]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        members.withLock { $0.append((id, topic, continuation)) }
        return stream
    }

    fileprivate func publish(from id: Int, topic: [UInt8], payload: [UInt8]) {
        for member in members.withLock({ $0 }) where member.id != id && member.topic == topic { member.continuation.yield(payload) }
    }

    fileprivate func leave(id: Int, topic: [UInt8]) {
        let gone = members.withLock { m in
            defer { m.removeAll { $0.id == id && $0.topic == topic } }
            return m.filter { $0.id == id && $0.topic == topic }
        }
        for member in gone { member.continuation.finish() }
    }

    private final class Endpoint: StageControlBus {
        let bus: InMemoryStageBus
        let id: Int
        let streams = Mutex<[[UInt8]: AsyncStream<[UInt8]>]>([:])
        init(bus: InMemoryStageBus, id: Int) {
            self.bus = bus
            self.id = id
        }
        func join(topic: [UInt8], bootstrap: [String]) async throws {
            let stream = bus.subscribe(id: id, topic: topic)
            streams.withLock { $0[topic] = stream }
        }
        func leave(topic: [UInt8]) async { bus.leave(id: id, topic: topic) }
        func publish(topic: [UInt8], payload: [UInt8]) async throws { bus.publish(from: id, topic: topic, payload: payload) }
        func messages(topic: [UInt8]) -> AsyncStream<[UInt8]> {
            streams.withLock { $0[topic] } ?? AsyncStream { $0.finish() }
        }
    }
}

@Suite("Stage control channel")
struct StageControlChannelTests {
    let stageID = "00112233445566778899aabbccddeeff"

    @Test func hostAndJoinersOverAnInMemoryBus() async throws {
        let bus = InMemoryStageBus()
        let clock = StageFakeClock()
        let host = StageTestIdentities.make(1), alice = StageTestIdentities.make(2)
        let ticket = StageTicket(stageID: stageID, hostPublicKey: host.signingKey.publicKey.hex, hostNodeID: host.transportID.hex, title: "T")
        let hostChannel = StageControlChannel(room: StageRoom(hosting: stageID, identity: host, clock: clock), identity: host,
                                              bus: bus.endpoint(), clock: clock)
        let aliceChannel = StageControlChannel(room: StageRoom(joining: ticket, identity: alice, clock: clock), identity: alice,
                                               bus: bus.endpoint(), clock: clock)
        hostChannel.learnDelegation(alice.delegation(issuedAt: 1))
        try await hostChannel.join(bootstrap: [])
        try await aliceChannel.join(bootstrap: [ticket.hostNodeID])
        let hostEvents = Mutex<[StageRoomEvent]>([]), aliceEvents = Mutex<[StageRoomEvent]>([])
        let runs = [Task { await hostChannel.run { e in hostEvents.withLock { $0 += e } } },
                    Task { await aliceChannel.run { e in aliceEvents.withLock { $0 += e } } }]
        func settle(_ until: @Sendable () -> Bool) async {
            for _ in 0..<1_000 where !until() { await Task.yield() }
        }

        await settle { hostEvents.withLock { $0.contains(.participantUpdated(alice.masterPublicKey.hex)) } }
        #expect(hostChannel.snapshot.participants[alice.masterPublicKey.hex]?.nodeID == alice.transportID.hex)
        try await hostChannel.sendPresence()
        await settle { aliceChannel.snapshot.participants[host.masterPublicKey.hex] != nil }
        #expect(aliceChannel.snapshot.isModerator(host.masterPublicKey.hex))

        try await aliceChannel.perform { $0.raiseHand(true) }
        await settle { hostChannel.snapshot.participants[alice.masterPublicKey.hex]?.handRaised == true }
        #expect(hostChannel.snapshot.participants[alice.masterPublicKey.hex]?.handRaised == true)

        let aliceKey = alice.masterPublicKey.hex, sid = stageID
        try await hostChannel.perform { try $0.moderate(.promoteSpeaker(stageID: sid, publicKey: aliceKey)) }
        await settle { aliceEvents.withLock { $0.contains(.promotedMe) } }
        #expect(aliceChannel.snapshot.myRole == .speaker)

        // A forged payload is dropped with a reason; a garbage one too.
        var forged = SignedStageControl.signed(.end(stageID: stageID), by: host.signingKey, timestamp: 1)
        forged.timestamp = 2
        #expect(aliceChannel.handle(forged.wireBytes).isEmpty)
        #expect(aliceChannel.handle(Array("nope".utf8)).isEmpty)
        #expect(aliceChannel.droppedReasons.count == 2)

        // Presence heartbeat after 15 s; expiry after 45 s without presence.
        clock.advance(15_000)
        #expect(try await hostChannel.tick().isEmpty)
        clock.advance(31_000)
        #expect(try await hostChannel.tick() == [alice.masterPublicKey.hex])

        try await hostChannel.perform { $0.end() }
        await settle { aliceEvents.withLock { $0.contains(.ended) } }
        #expect(aliceChannel.snapshot.isEnded)
        await hostChannel.leave()
        await aliceChannel.leave()
        for run in runs { await run.value }
    }
}

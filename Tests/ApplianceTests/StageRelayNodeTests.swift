import AudioPipeline
import Core
import Foundation
import Synchronization
import TestSupport
import Testing
import Transport
@testable import Appliance

/// The appliance's relay mode end to end: a `proscenium-node run` process relays a Stage hosted in
/// this test process (real QUIC on loopback, control plane over real gossip), and a listener in
/// this process hears the host's authenticated stream through it.
@Suite("Stage relay node", .serialized)
struct StageRelayNodeTests {
    /// Polls `condition` without blocking a pool thread; true once it held within `seconds`.
    func eventually(_ seconds: Double, _ condition: () async -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if await condition() { return true }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return await condition()
    }

    /// A QUIC endpoint on 127.0.0.1 serving `alpns`.
    static func endpoint(_ key: Ed25519.SecretKey, _ alpns: [(String, any ProtocolHandler)]) throws -> Endpoint {
        var config = EndpointConfig()
        config.bindAddress = try SocketAddress("127.0.0.1:0")
        var router = Router()
        for (alpn, handler) in alpns { router = router.adding(alpn: alpn, handler: handler) }
        return try Endpoint(secretKey: key, config: config, router: router)
    }

    @Test func relaysTheHostsStreamToAListenerAndStopsWhenTheStageEnds() async throws {
        try NetworkIsolation.assertLoopbackOnly()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let relayNode = try RunningNode.make(in: dir, name: "relay", extraArguments: ["--audio", "none"])
        defer { relayNode.kill() }
        let relayTicket = try EndpointTicket(parsing: try #require(try relayNode.json(["ticket", "--no-qr"])["ticket"] as? String))
        let relayMaster = try #require(try relayNode.json(["identity"])["master_pubkey"] as? String)

        // The host: gossip (control plane) and the Stage media hub with a mixer (no speakers: the
        // mix is silence, still encoded, chained and signed).
        let host = try NodeIdentity(masterSeed: SecretBytes(SecureRandom.bytes(32)))
        let gossipHandler = DeferredProtocolHandler(), stageHandler = StageMediaHandler()
        let hostEndpoint = try Self.endpoint(host.transportKey, [(GossipWire.alpn, gossipHandler), (StageMedia.alpn, stageHandler)])
        let book = try AddressBook()
        book.add(relayTicket.addr)
        let gossip = GossipService(me: hostEndpoint.id, dialer: QUICPeerDialer(endpoint: hostEndpoint, addressBook: book))
        gossipHandler.bind(gossip)
        let mixer = try StageMixer(hostSigningKey: host.signingKey)
        let hostMedia = StageHostMedia(audio: mixer)
        stageHandler.setRole(.host(hostMedia))
        let stageID = RandomID.generate()
        let clock = SystemWallClock()
        let channel = StageControlChannel(room: StageRoom(hosting: stageID, identity: host, clock: clock), identity: host,
                                          bus: GossipStageControlBus(gossip: gossip), clock: clock)
        try await channel.join(bootstrap: [])
        let volunteers = Mutex<[(key: String, node: String, capacity: UInt32)]>([])
        let control = Task {
            await channel.run { events in
                for case let .relayVolunteered(key, node, capacity) in events { volunteers.withLock { $0.append((key, node, capacity)) } }
            }
        }
        let publisher = Task {
            while !Task.isCancelled {
                if let frame = try? mixer.tick().mixed { hostMedia.publishMixed(frame) }
                try? await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        let ticket = StageTicket(stageID: stageID, hostPublicKey: host.signingKey.publicKey.hex, hostNodeID: host.transportID.hex,
                                 title: "Relay test")

        // The operator starts relaying (the host's endpoint ticket gives its address).
        let started = try relayNode.json(["relay", "start", ticket.stringForm, EndpointTicket(addr: hostEndpoint.addr).description])
        #expect(started["relaying"] as? Bool == true)
        #expect(started["stage_id"] as? String == stageID)
        // Its RelayVolunteer reaches the host over gossip, signed, with the configured capacity (20).
        #expect(await eventually(20) { volunteers.withLock { !$0.isEmpty } }, "no RelayVolunteer:\n\(relayNode.log_())")
        let volunteer = volunteers.withLock { $0.first }
        #expect(volunteer?.key == relayMaster)
        #expect(volunteer?.node == relayTicket.addr.id.hex)
        #expect(volunteer?.capacity == 20)

        // A listener connects to the relay and verifies the host's chain through it.
        let listenerBook = try AddressBook()
        listenerBook.add(relayTicket.addr)
        let listenerEndpoint = try Self.endpoint(Ed25519.SecretKey.generate(), [])
        let verified = Atomic<Int>(0), unverified = Atomic<Int>(0)
        let listening = Task {
            await StageListenerClient.listen(dialer: QUICPeerDialer(endpoint: listenerEndpoint, addressBook: listenerBook),
                                             source: relayTicket.addr.id, hostSigningKey: host.signingKey.publicKey,
                                             deliver: { _, _, ok in if ok { verified.add(1, ordering: .relaxed) } else { unverified.add(1, ordering: .relaxed) } })
        }
        // Past the first checkpoints (every 50 frames): the stream through the relay verifies.
        #expect(await eventually(30) { verified.load(ordering: .relaxed) >= 60 },
                "verified \(verified.load(ordering: .relaxed)), unverified \(unverified.load(ordering: .relaxed))\n\(relayNode.log_())")
        let relay = try relayNode.json(["relay"])
        #expect(relay["listeners"] as? Int == 1)
        #expect((relay["frames_forwarded"] as? Int ?? 0) >= 60)
        #expect(relay["frames_dropped"] as? Int == 0)
        let status = try #require(try relayNode.json(["status"])["relay"] as? [String: Any])
        #expect(status["relaying"] as? Bool == true)
        #expect(status["enabled"] as? Bool == false)

        // The host ends the Stage: the relay leaves on its own and says why.
        try await channel.perform { $0.end() }
        #expect(await eventually(20) { (try? relayNode.json(["relay"]))?["relaying"] as? Bool == false },
                "still relaying after End:\n\(relayNode.log_())")
        #expect((try relayNode.json(["relay"])["last_end"] as? String)?.contains("the host ended the stage") == true)
        #expect(relayNode.terminate(), "the relay node did not exit 0:\n\(relayNode.log_())")

        publisher.cancel()
        listening.cancel()
        hostMedia.close()
        await channel.leave()
        control.cancel()
        await gossip.shutdown()
        await listenerEndpoint.close()
        await hostEndpoint.close()
    }
}

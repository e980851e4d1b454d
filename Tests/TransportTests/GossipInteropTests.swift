import Foundation
import Testing
import Core
import Transport
import TestSupport

/// One of our gossip nodes on a real QUIC endpoint.
struct OurGossipNode {
    let endpoint: Endpoint
    let gossip: GossipService

    init() throws {
        var config = EndpointConfig()
        config.bindAddress = try SocketAddress("127.0.0.1:0")
        let handler = DeferredProtocolHandler()
        let key = Ed25519.SecretKey.generate()
        endpoint = try Endpoint(secretKey: key, config: config, router: Router().adding(alpn: GossipWire.alpn, handler: handler))
        var addresses = GossipAddrInfo()
        if let own = GossipSocketAddress(ipv4: endpoint.localAddress.description) { addresses.directAddresses = [own] }
        gossip = GossipService(me: endpoint.id, dialer: QUICPeerDialer(endpoint: endpoint), myAddresses: addresses)
        handler.bind(gossip)
    }

    var address: PeerAddress { PeerAddress(id: endpoint.id, directAddresses: [endpoint.localAddress.description]) }

    func stop() async {
        await gossip.shutdown()
        await endpoint.close()
    }
}

/// Waits (bounded) for the first event matching `match` on a subscription iterator.
private func next(_ iterator: inout AsyncStream<GossipEvent>.Iterator, seconds: Double = 20,
                  where match: (GossipEvent) -> Bool) async -> GossipEvent? {
    let deadline = MonotonicClock.nanoseconds() + UInt64(seconds * 1e9)
    while MonotonicClock.nanoseconds() < deadline {
        guard let event = await iterator.next() else { return nil }
        if match(event) { return event }
    }
    return nil
}

private func isReceived(_ event: GossipEvent) -> Bool {
    if case .received = event { return true }
    return false
}

private func content(_ event: GossipEvent?) -> [UInt8]? {
    if case let .received(content, _, _)? = event { return content }
    return nil
}

/// Wire compatibility with the real iroh-gossip 0.97 (aster-rpc 0.1.2), over our QUIC transport.
@Suite("iroh-gossip interop with aster (iroh-gossip 0.97)", .serialized, .enabled(if: PythonPeers.isEnabled))
struct GossipInteropTests {
    let topic = SHA256.hash("proscenium-feed-v1:interop")

    @Test("we bootstrap from aster: broadcasts flow both ways; 4057 bytes pass, 4058 are refused locally")
    func weJoinAster() async throws {
        let aster = try AsterGossipPeer.start(topic: topic)
        defer { aster.stop() }
        aster.send("JOIN")
        try await Task.sleep(for: .milliseconds(300))   // aster must have subscribed before our Join arrives
        let ours = try OurGossipNode()
        let asterID = try EndpointID(hex: aster.id)
        await ours.gossip.addAddress(PeerAddress(id: asterID, directAddresses: [aster.address]))
        let subscription = try await ours.gossip.subscribe(topic: topic, bootstrap: [asterID])
        var events = subscription.events.makeAsyncIterator()
        let up = await next(&events) { $0 == .neighborUp(asterID) }
        #expect(up != nil, "aster never became our neighbour")

        try await ours.gossip.broadcast(topic: TopicID(bytes: topic), content: Array("from swift".utf8))
        #expect(try aster.nextReceived() == Array("from swift".utf8))

        aster.send("BROADCAST \(Hex.encode(Array("from aster".utf8)))")
        #expect(content(await next(&events, where: isReceived)) == Array("from aster".utf8))

        let largest = [UInt8](repeating: 0x5a, count: 4057)
        try await ours.gossip.broadcast(topic: TopicID(bytes: topic), content: largest)
        #expect(try aster.nextReceived() == largest)
        await #expect(throws: GossipServiceError.self) {
            try await ours.gossip.broadcast(topic: TopicID(bytes: topic), content: largest + [0])
        }
        await ours.stop()
    }

    @Test("aster bootstraps from us; identical payloads are delivered once")
    func asterJoinsUs() async throws {
        let ours = try OurGossipNode()
        let subscription = try await ours.gossip.subscribe(topic: topic, bootstrap: [])
        var events = subscription.events.makeAsyncIterator()
        let aster = try AsterGossipPeer.start(topic: topic)
        defer { aster.stop() }
        aster.send("PEER \(ours.endpoint.id.hex) \(ours.endpoint.localAddress)")
        aster.send("JOIN \(ours.endpoint.id.hex)")
        _ = try aster.waitFor(prefix: "JOINED", timeoutSeconds: 20)
        let asterID = try EndpointID(hex: aster.id)
        #expect(await next(&events) { $0 == .neighborUp(asterID) } != nil)

        let payload = Array("same bytes twice".utf8)
        aster.send("BROADCAST \(Hex.encode(payload))")
        aster.send("BROADCAST \(Hex.encode(payload))")
        aster.send("BROADCAST \(Hex.encode(Array("marker".utf8)))")
        #expect(content(await next(&events, where: isReceived)) == payload)
        // The duplicate is suppressed (same BLAKE3 id): the next delivery is the marker.
        #expect(content(await next(&events, where: isReceived)) == Array("marker".utf8))

        try await ours.gossip.broadcast(topic: TopicID(bytes: topic), content: Array("back".utf8))
        #expect(try aster.nextReceived() == Array("back".utf8))
        await ours.stop()
    }

    @Test("a mixed swarm of 4 ours + 4 aster nodes delivers 100 broadcasts from random members to every member")
    func mixedSwarm() async throws {
        var rng = SeededRandom(seed: 44)
        let seed = try AsterGossipPeer.start(topic: topic)
        var asters = [seed]
        defer { for aster in asters { aster.stop() } }
        seed.send("JOIN")
        try await Task.sleep(for: .milliseconds(300))
        let seedID = try EndpointID(hex: seed.id)
        var ours: [OurGossipNode] = []
        var iterators: [AsyncStream<GossipEvent>.Iterator] = []
        for _ in 0..<4 {
            let node = try OurGossipNode()
            await node.gossip.addAddress(PeerAddress(id: seedID, directAddresses: [seed.address]))
            let subscription = try await node.gossip.subscribe(topic: topic, bootstrap: [seedID])
            var events = subscription.events.makeAsyncIterator()
            #expect(await next(&events) { if case .neighborUp = $0 { return true } else { return false } } != nil)
            ours.append(node)
            iterators.append(events)
        }
        for index in 1..<4 {
            let aster = try AsterGossipPeer.start(topic: topic)
            asters.append(aster)
            let contact = ours[index % ours.count]
            aster.send("PEER \(contact.endpoint.id.hex) \(contact.endpoint.localAddress)")
            aster.send("JOIN \(contact.endpoint.id.hex)")
            _ = try aster.waitFor(prefix: "JOINED", timeoutSeconds: 20)
        }
        try await Task.sleep(for: .milliseconds(500))   // let neighbour views settle

        // 100 broadcasts from random members; each member must receive every one it did not send.
        var expectedOurs = [Set<String>](repeating: [], count: ours.count)
        var expectedAsters = [Set<String>](repeating: [], count: asters.count)
        for message in 0..<100 {
            let text = "m\(message)"
            let sender = Int(rng.next(upTo: 8))
            if sender < 4 {
                try await ours[sender].gossip.broadcast(topic: TopicID(bytes: topic), content: Array(text.utf8))
            } else {
                asters[sender - 4].send("BROADCAST \(Hex.encode(Array(text.utf8)))")
            }
            for i in 0..<ours.count where i != sender { expectedOurs[i].insert(text) }
            for i in 0..<asters.count where i + 4 != sender { expectedAsters[i].insert(text) }
            try await Task.sleep(for: .milliseconds(10))
        }
        for i in 0..<ours.count {
            var got = Set<String>()
            while got.count < expectedOurs[i].count {
                guard let event = await next(&iterators[i], seconds: 20, where: isReceived), let bytes = content(event) else { break }
                got.insert(String(decoding: bytes, as: UTF8.self))
            }
            #expect(got == expectedOurs[i], "our node \(i) missed \(expectedOurs[i].subtracting(got).sorted())")
        }
        for i in 0..<asters.count {
            var got = Set<String>()
            while got.count < expectedAsters[i].count, let bytes = try? asters[i].nextReceived(timeoutSeconds: 20) {
                got.insert(String(decoding: bytes, as: UTF8.self))
            }
            #expect(got == expectedAsters[i], "aster node \(i) missed \(expectedAsters[i].subtracting(got).sorted())")
        }
        for node in ours { await node.stop() }
    }
}

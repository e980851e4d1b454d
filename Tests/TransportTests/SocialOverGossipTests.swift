import Foundation
import Testing
import Core
import Transport
import TestSupport

/// A whole feed node: QUIC endpoint serving peer/1 and gossip, GossipService, SocialService, bridge.
private struct FeedNode {
    let identity: NodeIdentity
    let endpoint: Endpoint
    let gossip: GossipService
    let bridge: GossipFeedBridge
    let social: SocialService
    let database: AppDatabase

    init(addressBook: AddressBook) async throws {
        identity = try NodeIdentity(masterSeed: SecretBytes(SecureRandom.bytes(32)))
        database = try AppDatabase.inMemory()
        var config = EndpointConfig()
        config.bindAddress = try SocketAddress("127.0.0.1:0")
        let peerHandler = DeferredProtocolHandler(), gossipHandler = DeferredProtocolHandler()
        endpoint = try Endpoint(secretKey: identity.transportKey, config: config,
                                router: Router().adding(alpn: PeerProtocolHandler.alpn, handler: peerHandler)
                                    .adding(alpn: GossipWire.alpn, handler: gossipHandler))
        addressBook.add(endpoint.addr)
        let dialer = QUICPeerDialer(endpoint: endpoint, addressBook: addressBook)
        var addresses = GossipAddrInfo()
        if let own = GossipSocketAddress(ipv4: endpoint.localAddress.description) { addresses.directAddresses = [own] }
        gossip = GossipService(me: endpoint.id, dialer: dialer, myAddresses: addresses)
        bridge = GossipFeedBridge(gossip: gossip)
        social = try SocialService(identity: identity, database: database, dialer: dialer, publisher: bridge,
                                   subscriptions: bridge, logger: Logger(label: "feed", sink: MemoryLogSink(minimumLevel: .warning)),
                                   clock: SystemWallClock())
        await bridge.bind(social)
        peerHandler.bind(social.handler)
        gossipHandler.bind(gossip)
    }

    func stop() async {
        await bridge.stop()
        await gossip.shutdown()
        await endpoint.close()
    }
}

@Suite("Feeds over real gossip and QUIC", .serialized)
struct SocialOverGossipTests {
    @Test("A follows B by transport id; B's posts reach A live over iroh-gossip, signatures verified")
    func followAndReceiveLive() async throws {
        try NetworkIsolation.assertLoopbackOnly()
        let book = try AddressBook()
        let a = try await FeedNode(addressBook: book), b = try await FeedNode(addressBook: book)
        try await b.social.start()
        try await a.social.start()
        let identity = try await a.social.follow(transportID: b.endpoint.id)
        #expect(identity.masterPublicKey == b.identity.masterPublicKey.hex)
        // Wait (bounded) until the gossip overlay between A and B is up before posting live.
        let topic = try TopicID(bytes: b.identity.feedTopicID)
        var deadline = MonotonicClock.nanoseconds() + 15_000_000_000
        while await b.gossip.neighbors(topic: topic).isEmpty, MonotonicClock.nanoseconds() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(!(await b.gossip.neighbors(topic: topic).isEmpty), "no gossip neighbour on B's topic")

        for index in 0..<5 { _ = try await b.social.post("live post \(index) #gossip") }
        let master = b.identity.masterPublicKey.hex
        deadline = MonotonicClock.nanoseconds() + 15_000_000_000
        while try a.social.store.postCount(author: master) < 5,
              MonotonicClock.nanoseconds() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let received = try a.social.store.posts(author: master, limit: 10, offset: 0)
        #expect(received.count == 5)
        #expect(received.allSatisfy { $0.content.hasPrefix("live post") && !$0.signature.isEmpty })
        #expect(a.social.metrics.snapshot.totalRejected == 0)
        await a.stop()
        await b.stop()
    }
}

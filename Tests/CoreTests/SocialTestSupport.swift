import Foundation
import Synchronization
import Testing
@testable import Core
import TestSupport

/// A wall clock that advances 1 ms on every read, so successive posts get distinct timestamps.
final class SocialTestClock: WallClock {
    private let now: Mutex<UInt64>
    init(start: UInt64 = 1_700_000_000_000) { now = Mutex(start) }
    func nowMillis() -> UInt64 { now.withLock { $0 += 1; return $0 } }
    func advance(_ millis: UInt64) { now.withLock { $0 += millis } }
}

/// Stands in for iroh-gossip: topics, subscribers, online/offline nodes, NeighborUp to the owner.
/// A node that is offline neither publishes (throws) nor receives (misses the message), like gossip.
final class SocialFeedBus: Sendable {
    struct Offline: Error {}
    private struct State {
        var services: [String: SocialService] = [:]     // transport hex → service
        var topics: [String: Set<String>] = [:]         // topic hex → subscriber transport hexes
        var offline: Set<String> = []
        var published = 0
    }
    private let state = Mutex(State())

    func attach(_ service: SocialService) { state.withLock { $0.services[service.local.transportHex] = service } }
    func setOnline(_ service: SocialService, _ online: Bool) {
        state.withLock { if online { $0.offline.remove(service.local.transportHex) } else { $0.offline.insert(service.local.transportHex) } }
    }
    var publishedCount: Int { state.withLock { $0.published } }

    func publisher(for node: String) -> some FeedPublisher { Publisher(bus: self, node: node) }
    func subscriptions(for node: String) -> some FeedSubscriptions { Subscriptions(bus: self, node: node) }

    func publish(from node: String, topic: [UInt8], payload: [UInt8]) async throws {
        let targets: [SocialService] = try state.withLock { s in
            guard !s.offline.contains(node) else { throw Offline() }
            s.published += 1
            return (s.topics[Hex.encode(topic)] ?? []).filter { $0 != node && !s.offline.contains($0) }.compactMap { s.services[$0] }
        }
        for service in targets { await service.receiveGossip(topic: topic, payload: payload) }
    }

    func subscribe(node: String, topic: [UInt8]) async {
        let topicHex = Hex.encode(topic)
        let owner: SocialService? = state.withLock { s in
            s.topics[topicHex, default: []].insert(node)
            return s.services.values.first { Hex.encode($0.ownTopic) == topicHex && $0.local.transportHex != node }
        }
        if let owner, let endpoint = try? Ed25519.PublicKey(hex: node) { await owner.neighborUp(endpoint, topic: topic) }
    }

    func unsubscribe(node: String, topic: [UInt8]) {
        _ = state.withLock { $0.topics[Hex.encode(topic)]?.remove(node) }
    }

    private struct Publisher: FeedPublisher {
        let bus: SocialFeedBus
        let node: String
        func publish(topic: [UInt8], payload: [UInt8]) async throws { try await bus.publish(from: node, topic: topic, payload: payload) }
    }

    private struct Subscriptions: FeedSubscriptions {
        let bus: SocialFeedBus
        let node: String
        func subscribe(topic: [UInt8], bootstrap: [EndpointID]) async throws { await bus.subscribe(node: node, topic: topic) }
        func unsubscribe(topic: [UInt8]) async { bus.unsubscribe(node: node, topic: topic) }
    }
}

/// Two or three nodes on one in-memory network and feed bus.
struct SocialTestbed {
    let network = InMemoryPeerNetwork()
    let bus = SocialFeedBus()
    let clock = SocialTestClock()

    struct Node {
        let service: SocialService
        let identity: NodeIdentity
        let logs: MemoryLogSink
        var master: String { identity.masterPublicKey.hex }
        var transport: EndpointID { identity.transportID }
        var metrics: SocialMetrics.Snapshot { service.metrics.snapshot }
    }

    /// A node; pass the database of an earlier one with the same seed to model its restart.
    func node(_ seedByte: UInt8, database: AppDatabase? = nil) async throws -> Node {
        let identity = try NodeIdentity(masterSeed: SecretBytes([UInt8](repeating: seedByte, count: 32)))
        let logs = MemoryLogSink()
        let transport = identity.transportID.hex
        let service = try SocialService(identity: identity, database: try database ?? AppDatabase.inMemory(clock: clock),
                                        dialer: network.dialer(for: identity.transportID),
                                        publisher: bus.publisher(for: transport), subscriptions: bus.subscriptions(for: transport),
                                        logger: Logger(label: "social.\(seedByte)", sink: logs), clock: clock)
        bus.attach(service)
        network.serve(identity.transportID, alpn: PeerProtocolHandler.alpn, handler: service.handler)
        try await service.start()
        return Node(service: service, identity: identity, logs: logs)
    }

    func setOnline(_ node: Node, _ online: Bool) {
        bus.setOnline(node.service, online)
        network.setOnline(node.transport, online)
    }
}

import Testing
import Core
import TestSupport
import Synchronization

/// GossipService end to end over the in-memory network (real timers; waits are generous bounds,
/// not speed assertions).
@Suite("Gossip service")
struct GossipServiceTests {
    static let topic = try! TopicID(bytes: [UInt8](repeating: 0x42, count: 32))

    /// Collects a subscription's events in the background.
    final class EventStorage: Sendable {
        let events = Mutex<[GossipEvent]>([])
    }

    final class EventLog: Sendable {
        let storage = EventStorage()
        let task: Task<Void, Never>

        init(_ subscription: GossipSubscription) {
            let storage = self.storage
            task = Task { for await event in subscription.events { storage.events.withLock { $0.append(event) } } }
        }

        var snapshot: [GossipEvent] { storage.events.withLock { $0 } }

        func received(_ content: [UInt8]) -> Int {
            snapshot.filter { if case .received(content, _, _) = $0 { return true } else { return false } }.count
        }

        var neighbors: Set<EndpointID> {
            var set = Set<EndpointID>()
            for event in snapshot {
                if case let .neighborUp(peer) = event { set.insert(peer) }
                if case let .neighborDown(peer) = event { set.remove(peer) }
            }
            return set
        }
    }

    struct Node {
        let key: EndpointID
        let service: GossipService
    }

    static func makeNodes(_ count: Int, network: InMemoryPeerNetwork) -> [Node] {
        (0..<count).map { index in
            let key = Ed25519.SecretKey.generate().publicKey
            var options = GossipService.Options()
            options.closeLinger = .milliseconds(100)
            let service = GossipService(me: key, dialer: network.dialer(for: key),
                                        random: GossipRandom(seed: UInt64(index + 1)), options: options)
            network.serve(key, alpn: GossipWire.alpn, handler: service)
            return Node(key: key, service: service)
        }
    }

    /// Polls `condition` every 10 ms for up to `seconds`.
    static func eventually(_ seconds: Double = 10, _ condition: () async -> Bool) async -> Bool {
        let deadline = MonotonicClock.nanoseconds() + UInt64(seconds * 1e9)
        while MonotonicClock.nanoseconds() < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return await condition()
    }

    /// Whether the neighbour graph of `members` is connected. Broadcasts made while the overlay is
    /// still split are lost for the other part (PlumTree has no anti-entropy; iroh neither).
    static func overlayConnected(_ nodes: [Node], members: [Int]) async -> Bool {
        var edges: [EndpointID: Set<EndpointID>] = [:]
        for index in members {
            for peer in await nodes[index].service.neighbors(topic: topic) {
                edges[nodes[index].key, default: []].insert(peer)
                edges[peer, default: []].insert(nodes[index].key)
            }
        }
        var seen: Set<EndpointID> = [nodes[members[0]].key]
        var frontier = [nodes[members[0]].key]
        while let next = frontier.popLast() {
            for peer in edges[next] ?? [] where seen.insert(peer).inserted { frontier.append(peer) }
        }
        return members.allSatisfy { seen.contains(nodes[$0].key) }
    }

    @Test func broadcastsReachEveryoneOnceAndDuplicatesAreSuppressed() async throws {
        let network = InMemoryPeerNetwork()
        let nodes = Self.makeNodes(4, network: network)
        var logs: [EventLog] = []
        logs.append(EventLog(await nodes[0].service.subscribe(topic: Self.topic, bootstrap: [])))
        for index in 1..<4 {
            logs.append(EventLog(await nodes[index].service.subscribe(topic: Self.topic, bootstrap: [nodes[index - 1].key])))
        }
        #expect(await Self.eventually { await Self.overlayConnected(nodes, members: Array(0..<4)) })

        for (index, node) in nodes.enumerated() {
            try await node.service.broadcast(topic: Self.topic, content: Array("from \(index)".utf8))
        }
        try await nodes[0].service.broadcast(topic: Self.topic, content: Array("same".utf8))
        try await nodes[2].service.broadcast(topic: Self.topic, content: Array("same".utf8))
        #expect(await Self.eventually {
            (0..<4).allSatisfy { sender in
                (0..<4).allSatisfy { receiver in receiver == sender || logs[receiver].received(Array("from \(sender)".utf8)) == 1 }
            }
        })
        // Both origins already know the id (it is the content hash), so only 1 and 3 deliver it.
        #expect(await Self.eventually { [1, 3].allSatisfy { logs[$0].received(Array("same".utf8)) == 1 } })
        // Nothing arrives twice, even after the lazy-push and graft timers have run.
        try await Task.sleep(for: .milliseconds(300))
        for receiver in 0..<4 {
            for sender in 0..<4 where sender != receiver {
                #expect(logs[receiver].received(Array("from \(sender)".utf8)) == 1)
            }
            #expect(logs[receiver].received(Array("same".utf8)) == (receiver == 1 || receiver == 3 ? 1 : 0))
        }
        for node in nodes { await node.service.shutdown() }
    }

    @Test func payloadLimitIsEnforcedLocally() async throws {
        let network = InMemoryPeerNetwork()
        let nodes = Self.makeNodes(2, network: network)
        _ = await nodes[0].service.subscribe(topic: Self.topic, bootstrap: [])
        let log = EventLog(await nodes[1].service.subscribe(topic: Self.topic, bootstrap: [nodes[0].key]))
        #expect(await Self.eventually { !log.neighbors.isEmpty })
        await #expect(throws: GossipServiceError.payloadTooLarge(size: 4058, maximum: 4057)) {
            try await nodes[0].service.broadcast(topic: Self.topic, content: [UInt8](repeating: 1, count: 4058))
        }
        let other = try TopicID(bytes: [UInt8](repeating: 1, count: 32))
        await #expect(throws: GossipServiceError.notSubscribed(other)) {
            try await nodes[0].service.broadcast(topic: other, content: [1])
        }
        let largest = [UInt8](repeating: 2, count: 4057)
        try await nodes[0].service.broadcast(topic: Self.topic, content: largest)
        #expect(await Self.eventually { log.received(largest) == 1 })
        for node in nodes { await node.service.shutdown() }
    }

    @Test func neighborsScopeAndLeave() async throws {
        let network = InMemoryPeerNetwork()
        let nodes = Self.makeNodes(3, network: network)
        let log0 = EventLog(await nodes[0].service.subscribe(topic: Self.topic, bootstrap: []))
        let log1 = EventLog(await nodes[1].service.subscribe(topic: Self.topic, bootstrap: [nodes[0].key]))
        let log2 = EventLog(await nodes[2].service.subscribe(topic: Self.topic, bootstrap: [nodes[0].key]))
        #expect(await Self.eventually { log0.neighbors.count == 2 && log1.neighbors.count == 2 && log2.neighbors.count == 2 })
        try await nodes[0].service.broadcastNeighbors(topic: Self.topic, content: [7, 7])
        #expect(await Self.eventually {
            [log1, log2].allSatisfy { $0.snapshot.contains(.received(content: [7, 7], from: nodes[0].key, scope: .neighbors)) }
        })
        await nodes[2].service.leave(topic: Self.topic)
        #expect(await Self.eventually {
            log0.snapshot.contains(.neighborDown(nodes[2].key)) && log1.snapshot.contains(.neighborDown(nodes[2].key))
        })
        #expect(await nodes[0].service.neighbors(topic: Self.topic) == [nodes[1].key])
        // After a crash-like shutdown the survivor sees the neighbour go.
        await nodes[1].service.shutdown()
        #expect(await Self.eventually { log0.neighbors.isEmpty })
        await nodes[0].service.shutdown()
    }

    @Test func eightServicesSurviveTwoShutdowns() async throws {
        let network = InMemoryPeerNetwork()
        let nodes = Self.makeNodes(8, network: network)
        var logs: [EventLog] = [EventLog(await nodes[0].service.subscribe(topic: Self.topic, bootstrap: []))]
        for index in 1..<8 {
            logs.append(EventLog(await nodes[index].service.subscribe(topic: Self.topic, bootstrap: [nodes[index / 2].key])))
        }
        #expect(await Self.eventually { await Self.overlayConnected(nodes, members: Array(0..<8)) })
        var sent: [(origin: Int, content: [UInt8])] = []
        for round in 0..<20 {
            let origin = round % 8
            let content = Array("round \(round)".utf8)
            try await nodes[origin].service.broadcast(topic: Self.topic, content: content)
            sent.append((origin, content))
        }
        // Everything sent so far reaches everyone (a node shutting down right after a broadcast
        // may take the only copy with it: PlumTree has no end-to-end retransmission).
        #expect(await Self.eventually {
            sent.allSatisfy { item in (0..<8).allSatisfy { $0 == item.origin || logs[$0].received(item.content) == 1 } }
        })
        // Two nodes go away (connections closed); the others repair and keep receiving.
        await nodes[3].service.shutdown()
        await nodes[6].service.shutdown()
        let survivors = [0, 1, 2, 4, 5, 7]
        #expect(await Self.eventually { survivors.allSatisfy { !logs[$0].neighbors.contains(nodes[3].key) && !logs[$0].neighbors.contains(nodes[6].key) } })
        #expect(await Self.eventually { await Self.overlayConnected(nodes, members: survivors) })
        for round in 20..<40 {
            let origin = survivors[round % survivors.count]
            let content = Array("round \(round)".utf8)
            try await nodes[origin].service.broadcast(topic: Self.topic, content: content)
            sent.append((origin, content))
        }
        #expect(await Self.eventually {
            sent.allSatisfy { item in survivors.allSatisfy { $0 == item.origin || logs[$0].received(item.content) == 1 } }
        })
        try await Task.sleep(for: .milliseconds(200))
        for item in sent { for node in survivors where node != item.origin { #expect(logs[node].received(item.content) == 1) } }
        for node in nodes { await node.service.shutdown() }
    }

    /// A hand-written peer on the raw connection: checks the stream layout byte for byte.
    @Test func wireLayoutAgainstARawPeer() async throws {
        let network = InMemoryPeerNetwork()
        let nodes = Self.makeNodes(1, network: network)
        let log = EventLog(await nodes[0].service.subscribe(topic: Self.topic, bootstrap: []))
        let raw = try Ed25519.SecretKey(seed: [UInt8](repeating: 3, count: 32)).publicKey
        let connection = try await network.dialer(for: raw).connect(to: PeerAddress(id: nodes[0].key), alpn: GossipWire.alpn,
                                                                    timeoutSeconds: 1)
        let send = try await connection.openUnidirectionalStream()
        try await send.write(GossipWire.headerFrame(topic: Self.topic) + [0, 0, 0, 3, 0, 0, 0])  // Join(None)
        #expect(await Self.eventually { log.neighbors == [raw] })
        // The service answers on the same connection: new uni stream, topic header, Neighbor{High, Some(data)}.
        let incoming = try await connection.acceptUnidirectionalStream()
        var decoder = GossipStreamDecoder()
        var first: TopicMessage<EndpointID>?
        while first == nil, let chunk = try await incoming.read(maxBytes: 4096) {
            decoder.append(chunk)
            first = try decoder.next()
        }
        #expect(decoder.topic == Self.topic)
        #expect(first == .swarm(.neighbor(priority: .high, data: GossipAddrInfo().encoded())))
        // A broadcast frame with the §3.7 bytes is delivered to the subscriber.
        let hello = [0, 0, 0, 0x2a, 1, 0] + GossipMessageID.of(content: Array("hello".utf8)).bytes + [5] + Array("hello".utf8) + [0, 0]
        try await send.write(hello)
        #expect(await Self.eventually { log.snapshot.contains(.received(content: Array("hello".utf8), from: raw, scope: .swarm(round: 0))) })
        // Garbage on a second stream is dropped without disturbing the first.
        let junk = try await connection.openUnidirectionalStream()
        try await junk.write(GossipWire.headerFrame(topic: Self.topic) + [0, 0, 0, 2, 9, 9])
        try await send.write([0, 0, 0, 0x2a, 1, 0] + GossipMessageID.of(content: Array("again".utf8)).bytes + [5] + Array("again".utf8) + [0, 0])
        #expect(await Self.eventually { log.received(Array("again".utf8)) == 1 })
        // Leaving: Disconnect{alive:false} then FIN of that stream.
        await nodes[0].service.leave(topic: Self.topic)
        var sawDisconnect = false
        while let chunk = try await incoming.read(maxBytes: 4096) {
            decoder.append(chunk)
            while let message = try decoder.next() {
                if message == .swarm(.disconnect(alive: false, respond: false)) { sawDisconnect = true }
            }
        }
        #expect(sawDisconnect)
        await nodes[0].service.shutdown()
    }
}

/// The aster (iroh-gossip 0.97) test peer itself, aster ↔ aster, so the later Swift ↔ aster
/// interop test starts from a known-good peer.
@Suite("Aster gossip peer")
struct AsterGossipPeerTests {
    @Test(.enabled(if: PythonPeers.isEnabled)) func asterToAsterBroadcast() async throws {
        let topic = [UInt8](repeating: 0x5a, count: 32)
        let a = try AsterGossipPeer.start(topic: topic)
        defer { a.stop() }
        let b = try AsterGossipPeer.start(topic: topic)
        defer { b.stop() }
        #expect(a.id.count == 64 && a.address.hasPrefix("127.0.0.1:"))
        b.send("PEER \(a.id) \(a.address)")
        _ = try b.waitFor(prefix: "OK")
        a.send("JOIN")
        try await Task.sleep(for: .milliseconds(300))  // a's subscription must exist before b's Join arrives (aster-test-peer.md)
        b.send("JOIN \(a.id)")
        _ = try b.waitFor(prefix: "JOINED", timeoutSeconds: 30)
        _ = try a.waitFor(prefix: "JOINED", timeoutSeconds: 30)
        a.send("BROADCAST " + Hex.encode(Array("hello from a".utf8)))
        _ = try a.waitFor(prefix: "SENT")
        #expect(try b.nextReceived() == Array("hello from a".utf8))
        b.send("BROADCAST " + Hex.encode([UInt8](repeating: 9, count: 4057)))
        _ = try b.waitFor(prefix: "SENT")
        #expect(try a.nextReceived() == [UInt8](repeating: 9, count: 4057))
    }
}

/// A clock that only moves when the test says so.
final class ManualGossipClock: GossipClock, Sendable {
    private struct Sleeper {
        let id: Int
        let deadline: Duration
        let continuation: CheckedContinuation<Void, any Error>
    }
    private let state = Mutex<(now: Duration, nextID: Int, sleepers: [Sleeper])>((.zero, 0, []))

    func now() -> Duration { state.withLock { $0.now } }

    func sleep(for duration: Duration) async throws {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = state.withLock { s in
                    if Task.isCancelled { return true }
                    s.sleepers.append(Sleeper(id: id, deadline: s.now + duration, continuation: continuation))
                    return false
                }
                if resumeNow { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let sleeper: Sleeper? = state.withLock { s in
                guard let index = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper that is due.
    func advance(by duration: Duration) {
        let due: [Sleeper] = state.withLock { s in
            s.now += duration
            let due = s.sleepers.filter { $0.deadline <= s.now }
            s.sleepers.removeAll { $0.deadline <= s.now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}

@Suite("Gossip service with an injected clock")
struct GossipServiceClockTests {
    /// Frames a raw peer reads from one incoming stream.
    final class FrameLog: Sendable {
        let messages = Mutex<[TopicMessage<EndpointID>]>([])
    }

    @Test func graftFollowsTheInjectedClock() async throws {
        let network = InMemoryPeerNetwork()
        let clock = ManualGossipClock()
        let key = Ed25519.SecretKey.generate().publicKey
        let service = GossipService(me: key, dialer: network.dialer(for: key), clock: clock, random: GossipRandom(seed: 7))
        network.serve(key, alpn: GossipWire.alpn, handler: service)
        let topic = GossipServiceTests.topic
        let log = GossipServiceTests.EventLog(await service.subscribe(topic: topic, bootstrap: []))

        let raw = try Ed25519.SecretKey(seed: [UInt8](repeating: 4, count: 32)).publicKey
        let connection = try await network.dialer(for: raw).connect(to: PeerAddress(id: key), alpn: GossipWire.alpn, timeoutSeconds: 1)
        let send = try await connection.openUnidirectionalStream()
        try await send.write(GossipWire.headerFrame(topic: topic) + GossipWire.frame(.swarm(.join(data: nil))))
        let incoming = try await connection.acceptUnidirectionalStream()
        let frames = FrameLog()
        let reader = Task {
            var decoder = GossipStreamDecoder()
            while let chunk = try? await incoming.read(maxBytes: 4096) {
                decoder.append(chunk)
                while let message = try? decoder.next() { frames.messages.withLock { $0.append(message) } }
            }
        }
        #expect(await GossipServiceTests.eventually { log.neighbors == [raw] })

        // Announce a message the service has not seen: it must wait graft_timeout_1 on *its* clock.
        let content = Array("announced".utf8)
        let id = GossipMessageID.of(content: content)
        try await send.write(GossipWire.frame(.gossip(.ihave([IHaveEntry(id: id, round: 0)]))))
        let isGraft: @Sendable (TopicMessage<EndpointID>) -> Bool = { $0 == .gossip(.graft(id: id, round: 0)) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(!frames.messages.withLock { $0.contains(where: isGraft) })
        clock.advance(by: .milliseconds(79))
        try await Task.sleep(for: .milliseconds(50))
        #expect(!frames.messages.withLock { $0.contains(where: isGraft) })
        clock.advance(by: .milliseconds(1))
        #expect(await GossipServiceTests.eventually { frames.messages.withLock { $0.contains(where: isGraft) } })
        // Answer the graft: the payload is delivered once, as round 1 from the raw peer.
        try await send.write(GossipWire.frame(.gossip(.gossip(GossipPayload(content: content, scope: .swarm(round: 1))))))
        #expect(await GossipServiceTests.eventually { log.received(content) == 1 })
        await service.shutdown()
        reader.cancel()
        connection.close(code: 0, reason: "done")
    }
}

import Testing
import Core

/// HyParView + PlumTree behaviour (iroh-wire.md §3.5) on a deterministic simulated network.
@Suite("Gossip state machines")
struct GossipStateMachineTests {
    static func m(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// 0 alone, 1 joins via 0, 2 joins via 1: ForwardJoin makes a triangle.
    static func triangle(seed: UInt64 = 1) -> GossipSimulation {
        var sim = GossipSimulation(nodeCount: 3, seed: seed)
        sim.join(0, bootstrap: [])
        sim.join(1, bootstrap: [0])
        sim.run(for: .seconds(1))
        sim.join(2, bootstrap: [1])
        sim.run(for: .seconds(1))
        return sim
    }

    @Test func joinViaBootstrap() {
        var sim = GossipSimulation(nodeCount: 3, seed: 1)
        sim.join(0, bootstrap: [])
        sim.join(1, bootstrap: [0])
        sim.run(for: .seconds(1))
        #expect(sim.neighbors(0) == [1])
        #expect(sim.neighbors(1) == [0])
        #expect(sim.events.contains { $0.node == 0 && $0.1 == .neighborUp(1) })
        #expect(sim.events.contains { $0.node == 1 && $0.1 == .neighborUp(0) })
        // Join, Neighbor{High} back, and Neighbor answer: no Neighbor ping-pong.
        let neighborMessages = sim.sentCount { _, _, message in
            if case .swarm(.neighbor(.high, _)) = message { return true } else { return false }
        }
        #expect(neighborMessages == 2)
        sim.join(2, bootstrap: [1])
        sim.run(for: .seconds(1))
        #expect(Set(sim.neighbors(2)) == [0, 1])
        #expect(Set(sim.neighbors(0)) == [1, 2])
        #expect(sim.sentCount { from, to, message in
            if case .swarm(.forwardJoin(let peer, 6)) = message { return from == 1 && to == 0 && peer.id == 2 }
            return false
        } == 1)
    }

    @Test func eagerPushThenPruneOnDuplicateThenLazyIHave() {
        var sim = Self.triangle()
        sim.sent.removeAll()
        sim.broadcast(0, Self.m("first"))
        sim.run(for: .seconds(1))
        for node in 0..<3 { #expect(sim.received(node, Self.m("first")) == (node == 0 ? 0 : 1)) }
        // 0 pushes to 1 and 2; both forward to each other; both duplicates are pruned.
        #expect(sim.sentCount { _, _, message in message.isPayload } == 4)
        #expect(sim.sentCount { from, to, message in message.isPrune && Set([from, to]) == [1, 2] } == 2)
        #expect(sim.topicState(1)?.tree.lazyPeers == [2])
        #expect(sim.topicState(2)?.tree.lazyPeers == [1])

        sim.sent.removeAll()
        sim.broadcast(0, Self.m("second"))
        sim.run(for: .seconds(1))
        for node in 1..<3 { #expect(sim.received(node, Self.m("second")) == 1) }
        // The tree is 0→1, 0→2; the 1–2 link only carries IHave announcements.
        #expect(sim.sentCount { _, _, message in message.isPayload } == 2)
        #expect(sim.sentCount { from, to, message in message.isIHave && Set([from, to]) == [1, 2] } == 2)
        #expect(sim.sentCount { _, _, message in message.isGraft } == 0)
        let hops = sim.deliveries.filter { $0.content == Self.m("second") }.map(\.scope)
        #expect(hops == [.swarm(round: 0), .swarm(round: 0)])
    }

    @Test func graftAfterMissedPayload() {
        var sim = Self.triangle()
        sim.broadcast(0, Self.m("warm-up"))
        sim.run(for: .seconds(1))
        sim.sent.removeAll()
        // The eager push 0→2 is lost; 2 learns of the message from 1's IHave and grafts it.
        sim.dropFilter = { from, to, message in from == 0 && to == 2 && message.isPayload }
        let start = sim.now
        sim.broadcast(0, Self.m("lost once"))
        sim.run(for: .seconds(1))
        #expect(sim.received(2, Self.m("lost once")) == 1)
        let delivery = sim.deliveries.first { $0.node == 2 && $0.content == Self.m("lost once") }
        #expect(delivery?.from == 1)
        #expect(delivery?.scope == .swarm(round: 1))
        // Not before graft_timeout_1 (80 ms) after the IHave.
        #expect((delivery?.at ?? .zero) - start >= .milliseconds(80))
        #expect(sim.sentCount { from, to, message in
            if case .gossip(.graft(let id, 1)) = message {
                return from == 2 && to == 1 && id == GossipMessageID.of(content: Self.m("lost once"))
            }
            return false
        } == 1)
        #expect(sim.topicState(2)?.tree.eagerPeers.contains(1) == true)
    }

    @Test func graftTimersRetryNextAnnouncer() {
        var tree = PlumTree<Int>(me: 1, config: PlumTreeConfig(), maxIHavesPerMessage: 116)
        let id = GossipMessageID.of(content: [1])
        var out: [GossipTopicOutput<Int>] = []
        tree.receive(.ihave([IHaveEntry(id: id, round: 3)]), from: 2, now: .zero, out: &out)
        tree.receive(.ihave([IHaveEntry(id: id, round: 4)]), from: 3, now: .zero, out: &out)
        #expect(out.filter { $0 == .schedule(after: .milliseconds(80), .sendGraft(id)) }.count == 1)
        out.removeAll()
        tree.timerFired(.sendGraft(id), now: .milliseconds(80), out: &out)
        #expect(out == [.send(to: 2, .gossip(.graft(id: id, round: 3))), .schedule(after: .milliseconds(40), .sendGraft(id))])
        out.removeAll()
        tree.timerFired(.sendGraft(id), now: .milliseconds(120), out: &out)
        #expect(out == [.send(to: 3, .gossip(.graft(id: id, round: 4))), .schedule(after: .milliseconds(40), .sendGraft(id))])
        out.removeAll()
        tree.timerFired(.sendGraft(id), now: .milliseconds(160), out: &out)
        #expect(out.isEmpty)
        #expect(tree.eagerPeers == [2, 3])
    }

    @Test func optimizationThresholdGraftsShorterPath() {
        // iroh's own optimize_tree case: IHave at round 2, Gossip at round 6 → nothing; at round 9 → graft + prune.
        var tree = PlumTree<Int>(me: 1, config: PlumTreeConfig(), maxIHavesPerMessage: 116)
        var out: [GossipTopicOutput<Int>] = []
        for (content, gossipRound, optimizes) in [([UInt8]("hi".utf8), UInt16(6), false), ([UInt8]("hi2".utf8), UInt16(9), true)] {
            let id = GossipMessageID.of(content: content)
            tree.receive(.ihave([IHaveEntry(id: id, round: 2)]), from: 2, now: .zero, out: &out)
            out.removeAll()
            tree.receive(.gossip(GossipPayload(content: content, scope: .swarm(round: gossipRound))), from: 3, now: .zero, out: &out)
            let control = out.filter { if case .send = $0 { return true } else { return false } }
            if optimizes {
                #expect(control == [.send(to: 2, .gossip(.graft(id: nil, round: 2))), .send(to: 3, .gossip(.prune))])
            } else {
                #expect(control.isEmpty)
            }
            #expect(out.contains(.emit(.received(GossipDelivery(content: content, deliveredFrom: 3, scope: .swarm(round: gossipRound))))))
            out.removeAll()
        }
    }

    @Test func spoofedIDsAreDroppedAndGraftsServeTheCache() {
        var tree = PlumTree<Int>(me: 1, config: PlumTreeConfig(), maxIHavesPerMessage: 116)
        var out: [GossipTopicOutput<Int>] = []
        let spoofed = GossipPayload(id: .of(content: [9]), content: [8], scope: .swarm(round: 0))
        tree.receive(.gossip(spoofed), from: 2, now: .zero, out: &out)
        #expect(!out.contains { if case .emit = $0 { return true } else { return false } })
        tree.broadcast([5], neighborsOnly: false, now: .zero, out: &out)
        out.removeAll()
        tree.receive(.graft(id: .of(content: [5]), round: 0), from: 4, now: .seconds(10), out: &out)
        #expect(out == [.send(to: 4, .gossip(.gossip(GossipPayload(content: [5], scope: .swarm(round: 0)))))])
        // After the 30 s cache retention the payload is gone; the id is remembered for 90 s.
        out.removeAll()
        tree.timerFired(.evictCache, now: .seconds(31), out: &out)
        out.removeAll()
        tree.receive(.graft(id: .of(content: [5]), round: 0), from: 4, now: .seconds(31), out: &out)
        #expect(out.isEmpty)
        #expect(tree.hasSeen(.of(content: [5])))
        tree.timerFired(.evictCache, now: .seconds(91), out: &out)
        #expect(!tree.hasSeen(.of(content: [5])))
    }

    @Test func identicalPayloadsAreDeliveredOnceAndNeighborsScopeIsNotForwarded() {
        var sim = Self.triangle()
        sim.broadcast(0, Self.m("same"))
        sim.run(for: .seconds(1))
        sim.broadcast(2, Self.m("same"))
        sim.run(for: .seconds(1))
        for node in 0..<3 { #expect(sim.received(node, Self.m("same")) == (node == 0 ? 0 : 1)) }
        // Re-broadcasting a known payload makes its receivers prune the re-broadcaster (as iroh).
        #expect(sim.sentCount { _, to, message in message.isPrune && to == 2 } >= 1)

        sim = Self.triangle(seed: 9)
        sim.sent.removeAll()
        sim.broadcastNeighbors(0, Self.m("hi neighbours"))
        sim.run(for: .seconds(1))
        #expect(sim.sentCount { _, _, message in message.isPayload } == 2)
        #expect(sim.sentCount { _, _, message in message.isIHave } == 0)
        for node in 1..<3 {
            #expect(sim.deliveries.contains { $0.node == node && $0.content == Self.m("hi neighbours") && $0.scope == .neighbors })
        }
    }

    /// Seven nodes joined in a chain-ish way, then two shuffle periods so passive views fill.
    static func settledSwarm(nodes: Int, seed: UInt64) -> GossipSimulation {
        var sim = GossipSimulation(nodeCount: nodes, seed: seed)
        sim.join(0, bootstrap: [])
        for node in 1..<nodes {
            sim.join(node, bootstrap: [Int(sim.rng.next(upperBound: UInt64(node)))])
            sim.run(for: .milliseconds(300))
        }
        sim.run(for: .seconds(125))
        return sim
    }

    @Test func shuffleExchangesPassiveViews() {
        var sim = GossipSimulation(nodeCount: 8, seed: 3)
        sim.join(0, bootstrap: [])
        for node in 1..<8 {
            sim.join(node, bootstrap: [node - 1])
            sim.run(for: .milliseconds(300))
        }
        let passiveBefore = (0..<8).map { sim.topicState($0)?.membership.passiveView.count ?? 0 }.reduce(0, +)
        #expect(sim.sentCount { _, _, message in message.isShuffle } == 0)
        sim.run(for: .seconds(61))
        #expect(sim.sentCount { _, _, message in message.isShuffle } >= 8)
        #expect(sim.sentCount { _, _, message in message.isShuffleReply } > 0)
        let passiveAfter = (0..<8).map { sim.topicState($0)?.membership.passiveView.count ?? 0 }.reduce(0, +)
        #expect(passiveAfter > passiveBefore)
        for node in 0..<8 {
            let state = sim.topicState(node)!
            #expect(!state.membership.passiveView.contains(node))
            #expect(Set(state.membership.passiveView).isDisjoint(with: state.membership.activeView))
            #expect(state.membership.activeView.count <= 5)
        }
    }

    @Test func viewRepairWhenNeighbourDies() {
        var sim = Self.settledSwarm(nodes: 10, seed: 5)
        // Pick a node whose passive view can refill it.
        let node = (0..<10).first { sim.topicState($0)!.membership.passiveView.count >= 2 && sim.neighbors($0).count >= 2 }!
        let before = sim.neighbors(node)
        let passiveBefore = sim.topicState(node)!.membership.passiveView
        let victim = before[0]
        sim.sent.removeAll()
        sim.kill(victim)
        sim.run(for: .seconds(3))
        let after = sim.neighbors(node)
        #expect(!after.contains(victim))
        #expect(sim.events.contains { $0.node == node && $0.1 == .neighborDown(victim) })
        // Repair: a Neighbor request to a passive peer, which either joined the active view or
        // was refused (Low priority into a full view: ShuffleReply + Disconnect{alive: true}).
        let requests = sim.sent.filter { from, _, message in
            if case .swarm(.neighbor) = message { return from == node } else { return false }
        }.map(\.to)
        #expect(!requests.isEmpty)
        for target in requests {
            #expect(passiveBefore.contains(target))
            let refused = sim.sentCount { from, to, message in
                // Either side may refuse when both request at once and a slot filled meanwhile.
                if case .swarm(.disconnect(true, _)) = message { return Set([from, to]) == Set([target, node]) } else { return false }
            } > 0
            #expect(after.contains(target) || refused)
        }
        #expect(after.count >= before.count - 1)
        // (The victim may stay passive if it once said Disconnect{alive: true}, as in iroh; a
        // later Neighbor request to it times out after 500 ms and drops it.)
        // And the repaired tree still delivers everywhere.
        sim.broadcast(node, Self.m("after repair"))
        sim.run(for: .seconds(2))
        for other in 0..<10 where other != node && other != victim {
            #expect(sim.received(other, Self.m("after repair")) == 1)
        }
    }

    /// Every peer in a node's views crashes at once (a building's power cut): it is left with no
    /// neighbour and nothing to repair from, and iroh's HyParView would leave it cut off for good.
    /// Ours keeps sending Join, with backoff, to peers it has heard of; one of them reboots and the
    /// node is back in the swarm.
    @Test func isolatedNodeRejoinsWhenAPeerItKnowsComesBack() {
        var sim = Self.settledSwarm(nodes: 6, seed: 9)
        let node = 5
        let views = Set(sim.neighbors(node) + sim.topicState(node)!.membership.passiveView)
        for victim in views.sorted() { sim.kill(victim) }
        sim.run(for: .seconds(3))
        #expect(sim.neighbors(node).isEmpty)
        #expect(sim.topicState(node)!.membership.passiveView.isEmpty)
        let comeback = views.sorted()[0]
        sim.sent.removeAll()
        sim.revive(comeback)
        sim.run(for: .seconds(40))
        #expect(sim.neighbors(node) == [comeback])
        #expect(sim.neighbors(comeback) == [node])
        // Backoff: a handful of Joins over 40 s, not one per failed dial.
        let joins = sim.sentCount { from, _, message in
            if case .swarm(.join) = message { return from == node } else { return false }
        }
        #expect(joins >= 1 && joins <= 10, "\(joins) joins")
        sim.broadcast(comeback, Self.m("back"))
        sim.run(for: .seconds(1))
        #expect(sim.received(node, Self.m("back")) == 1)
    }

    @Test func leaveSendsDisconnectNotAlive() {
        var sim = Self.triangle()
        sim.sent.removeAll()
        sim.leave(2)
        sim.run(for: .seconds(1))
        #expect(sim.sentCount { from, _, message in
            if case .swarm(.disconnect(false, false)) = message { return from == 2 } else { return false }
        } == 2)
        for node in 0..<2 {
            #expect(!sim.neighbors(node).contains(2))
            #expect(sim.topicState(node)?.membership.passiveView.contains(2) == false)
            #expect(sim.events.contains { $0.node == node && $0.1 == .neighborDown(2) })
        }
        #expect(sim.nodes[2].hasJoined(sim.topic) == false)
    }

    @Test func ownPeerDataIsAdvertisedAndUpdated() {
        let topic = try! TopicID(bytes: [UInt8](repeating: 1, count: 32))
        var node = GossipNodeState<Int>(me: 0, myData: [1], rng: GossipRandom(seed: 1))
        var out = node.handle(topic: topic, .join([5]), now: .zero)
        #expect(out.contains(.send(to: 5, topic: topic, .swarm(.join(data: [1])))))
        _ = node.handleAll(.updateMyData([2, 2]), now: .zero)
        out = node.handle(topic: topic, .join([6]), now: .zero)
        #expect(out.contains(.send(to: 6, topic: topic, .swarm(.join(data: [2, 2])))))
        // A topic joined later starts with the new data too.
        let other = try! TopicID(bytes: [UInt8](repeating: 2, count: 32))
        out = node.handle(topic: other, .join([7]), now: .zero)
        #expect(out.contains(.send(to: 7, topic: other, .swarm(.join(data: [2, 2])))))
        // Peer data learned from others is surfaced for address lookup.
        out = node.handle(topic: topic, .message(from: 9, .swarm(.join(data: [3]))), now: .zero)
        #expect(out.contains(.peerData(9, [3])))
        // Frames for a topic we never joined are ignored.
        let unknown = try! TopicID(bytes: [UInt8](repeating: 3, count: 32))
        #expect(node.handle(topic: unknown, .message(from: 9, .swarm(.join(data: nil))), now: .zero).isEmpty)
    }

    @Test func twelveNodes200BroadcastsWithThreeCrashes() {
        var sim = GossipSimulation(nodeCount: 12, seed: 2026)
        sim.join(0, bootstrap: [])
        for node in 1..<12 {
            sim.join(node, bootstrap: [Int(sim.rng.next(upperBound: UInt64(node)))])
            sim.run(for: .milliseconds(200))
        }
        sim.run(for: .seconds(65))
        var dead = Set<Int>()
        var broadcasts: [(content: [UInt8], origin: Int)] = []
        for index in 0..<200 {
            if index == 100 {
                // Three crashes midway; survivors notice through their connections.
                while dead.count < 3 { dead.insert(Int(sim.rng.next(upperBound: UInt64(12)))) }
                for victim in dead.sorted() { sim.kill(victim) }
            }
            let alive = (0..<12).filter { !dead.contains($0) }
            let origin = alive[Int(sim.rng.next(upperBound: UInt64(alive.count)))]
            let content = Self.m("message \(index) from \(origin)")
            broadcasts.append((content, origin))
            sim.broadcast(origin, content)
            sim.run(for: .milliseconds(50))
        }
        sim.run(for: .seconds(5))
        // Every survivor must get every broadcast (before and after the crashes) exactly once.
        let survivors = (0..<12).filter { !dead.contains($0) }
        var expected = 0, delivered = 0, duplicates = 0
        for (content, origin) in broadcasts {
            for node in survivors where node != origin {
                expected += 1
                let count = sim.received(node, content)
                delivered += min(count, 1)
                if count > 1 { duplicates += 1 }
            }
        }
        #expect(duplicates == 0)
        #expect(delivered == expected)
        let hops = sim.deliveries.compactMap { delivery -> Int? in
            if case let .swarm(round) = delivery.scope { return Int(round) + 1 }
            return nil
        }
        #expect(hops.count > 0)
        let ratio = Double(delivered) / Double(max(expected, 1))
        let meanHops = Double(hops.reduce(0, +)) / Double(max(hops.count, 1))
        print("gossip sim: 12 nodes, 200 broadcasts, crashed \(dead.sorted()) after 100: delivery ratio \(ratio) (\(delivered)/\(expected)), hops mean \(meanHops) max \(hops.max() ?? 0), payload sends \(sim.sentCount { _, _, m in m.isPayload }), grafts \(sim.sentCount { _, _, m in m.isGraft })")
    }
}

/// HyParView membership for one topic (iroh-wire.md §3.5), as a pure value: inputs in, commands out.
/// Randomness is injected (`GossipRandom`); it needs no clock (timers are commands).

/// Timers the topic state machines ask their driver to fire later.
public enum GossipTimer<PI: Hashable & Sendable>: Hashable, Sendable {
    case shuffle
    case pendingNeighborRequest(PI)
    /// The views are empty: try `Join` again (see `HyParViewConfig.rejoinInterval`).
    case rejoin
    case sendGraft(GossipMessageID)
    case dispatchLazyPush
    case evictCache
}

/// A payload handed to the application.
public struct GossipDelivery<PI: Hashable & Sendable>: Hashable, Sendable {
    public var content: [UInt8]
    /// The previous hop, not the author.
    public var deliveredFrom: PI
    public var scope: DeliveryScope

    public init(content: [UInt8], deliveredFrom: PI, scope: DeliveryScope) {
        self.content = content
        self.deliveredFrom = deliveredFrom
        self.scope = scope
    }
}

/// What a topic tells its application.
public enum GossipTopicEvent<PI: Hashable & Sendable>: Hashable, Sendable {
    case neighborUp(PI)
    case neighborDown(PI)
    case received(GossipDelivery<PI>)
}

/// A command for the driver of a topic state machine.
public enum GossipTopicOutput<PI: Hashable & Sendable>: Hashable, Sendable {
    case send(to: PI, TopicMessage<PI>)
    case emit(GossipTopicEvent<PI>)
    case schedule(after: Duration, GossipTimer<PI>)
    /// This topic no longer needs the peer (the node closes the connection once no topic does).
    case disconnect(PI)
    /// A peer advertised addresses (feed them to address lookup).
    case peerData(PI, [UInt8])
}

public struct HyParView<PI: Hashable & Sendable>: Sendable {
    public let me: PI
    public private(set) var myData: [UInt8]?
    public let config: HyParViewConfig
    var active = OrderedPeerSet<PI>()
    var passive = OrderedPeerSet<PI>()
    /// Peers we sent a Neighbor to and whose Neighbor has not arrived yet.
    var pendingNeighborRequests = OrderedPeerSet<PI>()
    /// Peers that told us `Disconnect{alive: true}`: a later connection loss keeps them passive.
    var aliveDisconnected = Set<PI>()
    var peerData: [PI: [UInt8]] = [:]
    var shuffleScheduled = false
    /// Every peer heard of (bootstrap, senders, peer infos), bounded: where an isolated node rejoins.
    var knownPeers = OrderedPeerSet<PI>()
    var rejoinScheduled = false
    var rejoinDelay: Duration
    var rng: GossipRandom

    public init(me: PI, myData: [UInt8]?, config: HyParViewConfig, rng: GossipRandom) {
        self.me = me
        self.myData = myData
        self.config = config
        self.rng = rng
        rejoinDelay = config.rejoinInterval
    }

    public var activeView: [PI] { active.elements }
    public var passiveView: [PI] { passive.elements }

    // MARK: inputs

    public mutating func join(_ peer: PI, out: inout [GossipTopicOutput<PI>]) {
        guard peer != me else { return }
        remember(peer)
        out.append(.send(to: peer, .swarm(.join(data: myData))))
        scheduleShuffleOnce(&out)
    }

    public mutating func updateMyData(_ data: [UInt8]) { myData = data }

    /// Remembers peers the application knows (see `GossipTopicInput.learn`).
    public mutating func learn(_ peers: [PI], out: inout [GossipTopicOutput<PI>]) {
        for peer in peers { remember(peer) }
        scheduleRejoinIfIsolated(&out)
    }

    public mutating func receive(_ message: HyParViewMessage<PI>, from: PI, out: inout [GossipTopicOutput<PI>]) {
        var isDisconnect = false
        remember(from)
        switch message {
        case let .join(data): onJoin(from, data: data, &out)
        case let .forwardJoin(peer, ttl): onForwardJoin(from, peer: peer, ttl: ttl, &out)
        case let .shuffle(origin, nodes, ttl): onShuffle(from, origin: origin, nodes: nodes, ttl: ttl, &out)
        case let .shuffleReply(nodes): onShuffleReply(nodes, &out)
        case let .neighbor(priority, data): onNeighbor(from, priority: priority, data: data, &out)
        case let .disconnect(alive, _):
            isDisconnect = true
            onDisconnect(from, alive: alive, &out)
        }
        // A peer that is not our neighbour only reached us for this one message (§3.5).
        if !isDisconnect, !active.contains(from) { out.append(.disconnect(from)) }
        scheduleShuffleOnce(&out)
    }

    public mutating func timerFired(_ timer: GossipTimer<PI>, out: inout [GossipTopicOutput<PI>]) {
        switch timer {
        case .shuffle: onShuffleTimer(&out)
        case let .pendingNeighborRequest(peer):
            if pendingNeighborRequests.remove(peer) {
                passive.remove(peer)
                refillActive(skipping: [], &out)
            }
            scheduleRejoinIfIsolated(&out)
        case .rejoin:
            rejoinScheduled = false
            guard active.isEmpty else {
                rejoinDelay = config.rejoinInterval
                return
            }
            if let peer = (passive.isEmpty ? knownPeers : passive).randomElement(excluding: [me], using: &rng) {
                out.append(.send(to: peer, .swarm(.join(data: myData))))
            }
            rejoinDelay = min(rejoinDelay * 2, config.rejoinMaxInterval)
            scheduleRejoinIfIsolated(&out)
        default: break
        }
    }

    public mutating func connectionLost(_ peer: PI, out: inout [GossipTopicOutput<PI>]) {
        pendingNeighborRequests.remove(peer)
        if active.contains(peer) {
            removeActive(peer, reason: .connectionClosed, &out)
        } else if aliveDisconnected.remove(peer) == nil {
            passive.remove(peer)
            peerData[peer] = nil
        }
        scheduleRejoinIfIsolated(&out)
    }

    /// Leave: Disconnect{alive: false} to every active peer.
    public mutating func quit(out: inout [GossipTopicOutput<PI>]) {
        for peer in active.elements {
            active.remove(peer)
            sendDisconnect(peer, alive: false, &out)
        }
    }

    // MARK: handlers

    private mutating func onJoin(_ peer: PI, data: [UInt8]?, _ out: inout [GossipTopicOutput<PI>]) {
        _ = addActive(peer, data: data, priority: .high, reply: true, &out)
        let info = GossipPeerInfo(id: peer, data: data)
        for node in active.elements where node != peer {
            out.append(.send(to: node, .swarm(.forwardJoin(peer: info, ttl: config.activeRandomWalkLength))))
        }
    }

    private mutating func onForwardJoin(_ sender: PI, peer: GossipPeerInfo<PI>, ttl: UInt16, _ out: inout [GossipTopicOutput<PI>]) {
        let peerID = peer.id
        guard peerID != me else { return }
        if active.contains(peerID) || ttl == 0 || active.count <= 1 {
            // P becomes active only once it answers our Neighbor.
            insertPeerInfo(peer, &out)
            sendNeighbor(peerID, priority: .high, &out)
            return
        }
        if ttl == config.passiveRandomWalkLength { addPassive(peerID, data: peer.data, &out) }
        if !pendingNeighborRequests.contains(peerID),
           let next = active.randomElement(excluding: [sender], using: &rng) {
            out.append(.send(to: next, .swarm(.forwardJoin(peer: peer, ttl: ttl - 1))))
        }
    }

    private mutating func onNeighbor(_ peer: PI, priority: NeighborPriority, data: [UInt8]?, _ out: inout [GossipTopicOutput<PI>]) {
        let isReply = pendingNeighborRequests.remove(peer)
        if !addActive(peer, data: data, priority: priority, reply: !isReply, &out) {
            sendDisconnect(peer, alive: true, &out)
        }
    }

    private mutating func onDisconnect(_ peer: PI, alive: Bool, _ out: inout [GossipTopicOutput<PI>]) {
        pendingNeighborRequests.remove(peer)
        if active.contains(peer) {
            removeActive(peer, reason: .disconnectReceived(alive: alive), &out)
        } else if alive, passive.contains(peer) {
            aliveDisconnected.insert(peer)
        }
    }

    private mutating func onShuffle(_ sender: PI, origin: PI, nodes: [GossipPeerInfo<PI>], ttl: UInt16,
                                    _ out: inout [GossipTopicOutput<PI>]) {
        if ttl == 0 || active.count <= 1 {
            for node in nodes { addPassive(node.id, data: node.data, &out) }
            sendShuffleReply(to: origin, count: nodes.count, &out)
        } else if let next = active.randomElement(excluding: [origin, sender], using: &rng) {
            out.append(.send(to: next, .swarm(.shuffle(origin: origin, nodes: nodes, ttl: ttl - 1))))
        }
    }

    private mutating func onShuffleReply(_ nodes: [GossipPeerInfo<PI>], _ out: inout [GossipTopicOutput<PI>]) {
        for node in nodes { addPassive(node.id, data: node.data, &out) }
        refillActive(skipping: [], &out)
    }

    private mutating func onShuffleTimer(_ out: inout [GossipTopicOutput<PI>]) {
        if let target = active.randomElement(excluding: [], using: &rng) {
            let actives = active.shuffled(excluding: [target], limit: config.shuffleActiveViewCount, using: &rng)
            let passives = passive.shuffled(excluding: [target], limit: config.shufflePassiveViewCount, using: &rng)
            var nodes = (actives + passives).map(peerInfo)
            nodes.append(GossipPeerInfo(id: me, data: myData))
            out.append(.send(to: target, .swarm(.shuffle(origin: me, nodes: nodes, ttl: config.shuffleRandomWalkLength))))
        }
        out.append(.schedule(after: config.shuffleInterval, .shuffle))
    }

    // MARK: views

    private enum RemovalReason {
        case connectionClosed
        case disconnectReceived(alive: Bool)
        case random
    }

    private mutating func remember(_ peer: PI) {
        guard peer != me, !knownPeers.contains(peer) else { return }
        if knownPeers.count >= config.knownPeersCapacity, let oldest = knownPeers.elements.first { knownPeers.remove(oldest) }
        knownPeers.insert(peer)
    }

    /// No neighbour and no request under way: schedule a `rejoin` (once).
    private mutating func scheduleRejoinIfIsolated(_ out: inout [GossipTopicOutput<PI>]) {
        guard active.isEmpty, !rejoinScheduled, !knownPeers.isEmpty || !passive.isEmpty,
              pendingNeighborRequests.elements.allSatisfy({ active.contains($0) }) else { return }
        rejoinScheduled = true
        out.append(.schedule(after: rejoinDelay, .rejoin))
    }

    private func peerInfo(_ peer: PI) -> GossipPeerInfo<PI> { GossipPeerInfo(id: peer, data: peerData[peer]) }

    private mutating func scheduleShuffleOnce(_ out: inout [GossipTopicOutput<PI>]) {
        guard !shuffleScheduled else { return }
        shuffleScheduled = true
        out.append(.schedule(after: config.shuffleInterval, .shuffle))
    }

    private mutating func insertPeerInfo(_ info: GossipPeerInfo<PI>, _ out: inout [GossipTopicOutput<PI>]) {
        remember(info.id)
        guard let data = info.data else { return }
        if peerData[info.id] != data, !data.isEmpty { out.append(.peerData(info.id, data)) }
        peerData[info.id] = data
    }

    private mutating func addPassive(_ peer: PI, data: [UInt8]?, _ out: inout [GossipTopicOutput<PI>]) {
        insertPeerInfo(GossipPeerInfo(id: peer, data: data), &out)
        guard peer != me, !active.contains(peer), !passive.contains(peer) else { return }
        if passive.count >= config.passiveViewCapacity,
           let victim = passive.randomElement(excluding: [], using: &rng) {
            passive.remove(victim)
        }
        passive.insert(peer)
    }

    /// Returns false when a Low-priority request found the active view full.
    private mutating func addActive(_ peer: PI, data: [UInt8]?, priority: NeighborPriority, reply: Bool,
                                    _ out: inout [GossipTopicOutput<PI>]) -> Bool {
        guard peer != me else { return false }
        insertPeerInfo(GossipPeerInfo(id: peer, data: data), &out)
        if active.contains(peer) {
            if reply { sendNeighbor(peer, priority: priority, &out) }
            return true
        }
        let isFull = active.count >= config.activeViewCapacity
        switch priority {
        case .high:
            if isFull, let victim = active.randomElement(excluding: [], using: &rng) {
                removeActive(victim, reason: .random, refill: false, &out)
            }
        case .low:
            if isFull { return false }
        }
        passive.remove(peer)
        if active.insert(peer) {
            out.append(.emit(.neighborUp(peer)))
            if reply { sendNeighbor(peer, priority: priority, &out) }
        }
        return true
    }

    private mutating func removeActive(_ peer: PI, reason: RemovalReason, refill: Bool = true,
                                       _ out: inout [GossipTopicOutput<PI>]) {
        guard active.remove(peer) else { return }
        // An answered request left in the pending set would count against repair forever.
        pendingNeighborRequests.remove(peer)
        out.append(.emit(.neighborDown(peer)))
        let keepPassive: Bool
        switch reason {
        case .random:
            sendDisconnect(peer, alive: true, &out)
            keepPassive = true
        case let .disconnectReceived(alive):
            out.append(.disconnect(peer))
            keepPassive = alive
        case .connectionClosed:
            out.append(.disconnect(peer))
            keepPassive = aliveDisconnected.remove(peer) != nil
        }
        if keepPassive {
            addPassive(peer, data: peerData[peer], &out)
            if case .connectionClosed = reason {} else { aliveDisconnected.insert(peer) }
        }
        if refill { refillActive(skipping: [peer], &out) }
        scheduleRejoinIfIsolated(&out)
    }

    /// View repair: ask a random passive peer to become a neighbour while there is room.
    private mutating func refillActive(skipping: [PI], _ out: inout [GossipTopicOutput<PI>]) {
        // Only requests to peers not yet active count as outstanding (iroh also keeps answered
        // requests in this set, which can stall repair; the wire behaviour is the same).
        let outstanding = pendingNeighborRequests.elements.filter { !active.contains($0) }
        guard active.count + outstanding.count < config.activeViewCapacity else { return }
        guard let candidate = passive.randomElement(excluding: skipping + outstanding, using: &rng) else { return }
        sendNeighbor(candidate, priority: active.isEmpty ? .high : .low, &out)
        out.append(.schedule(after: config.neighborRequestTimeout, .pendingNeighborRequest(candidate)))
    }

    private mutating func sendNeighbor(_ peer: PI, priority: NeighborPriority, _ out: inout [GossipTopicOutput<PI>]) {
        guard pendingNeighborRequests.insert(peer) else { return }
        out.append(.send(to: peer, .swarm(.neighbor(priority: priority, data: myData))))
    }

    private mutating func sendDisconnect(_ peer: PI, alive: Bool, _ out: inout [GossipTopicOutput<PI>]) {
        sendShuffleReply(to: peer, count: config.shuffleActiveViewCount + config.shufflePassiveViewCount, &out)
        out.append(.send(to: peer, .swarm(.disconnect(alive: alive, respond: false))))
        out.append(.disconnect(peer))
    }

    private mutating func sendShuffleReply(to peer: PI, count: Int, _ out: inout [GossipTopicOutput<PI>]) {
        var nodes = passive.shuffled(limit: count, using: &rng)
        if nodes.count < count {
            nodes += active.shuffled(limit: count - nodes.count, using: &rng)
        }
        out.append(.send(to: peer, .swarm(.shuffleReply(nodes: nodes.map(peerInfo)))))
    }
}

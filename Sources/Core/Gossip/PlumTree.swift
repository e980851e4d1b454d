/// PlumTree broadcast for one topic (iroh-wire.md §3.5): eager push along a spanning tree, lazy
/// IHave announcements to the other neighbours, Graft to repair, Prune to trim. A pure value driven
/// by an injected time (`now`, any monotonic origin) and producing commands.

public struct PlumTree<PI: Hashable & Sendable>: Sendable {
    public let me: PI
    public let config: PlumTreeConfig
    let maxIHavesPerMessage: Int

    var eager = OrderedPeerSet<PI>()
    var lazy = OrderedPeerSet<PI>()
    /// IHaves waiting for the dispatch timer, per peer in first-queued order.
    var lazyQueue: [(peer: PI, entries: [IHaveEntry])] = []
    /// Announcers of messages we have not received, in announcement order.
    var missing: [GossipMessageID: [(peer: PI, round: UInt16)]] = [:]
    /// Message id → expiry (dedup memory).
    var received: [GossipMessageID: Duration] = [:]
    /// Message id → payload (next round) and expiry, to answer Grafts.
    var cache: [GossipMessageID: (payload: GossipPayload, expiry: Duration)] = [:]
    var graftTimerScheduled = Set<GossipMessageID>()
    var dispatchScheduled = false
    var evictionStarted = false

    /// Highest round seen on a delivered message (hop count from the origin).
    public private(set) var maxDeliveryRound: UInt16 = 0

    public init(me: PI, config: PlumTreeConfig, maxIHavesPerMessage: Int) {
        self.me = me
        self.config = config
        self.maxIHavesPerMessage = max(1, maxIHavesPerMessage)
    }

    public var eagerPeers: [PI] { eager.elements }
    public var lazyPeers: [PI] { lazy.elements }

    /// Call before every input: the first call starts the periodic cache eviction.
    mutating func start(now: Duration, _ out: inout [GossipTopicOutput<PI>]) {
        guard !evictionStarted else { return }
        evictionStarted = true
        evict(now: now, &out)
    }

    // MARK: inputs

    public mutating func broadcast(_ content: [UInt8], neighborsOnly: Bool, now: Duration, out: inout [GossipTopicOutput<PI>]) {
        start(now: now, &out)
        let payload = GossipPayload(content: content, scope: neighborsOnly ? .neighbors : .swarm(round: 0))
        if !neighborsOnly {
            received[payload.id] = now + config.messageIDRetention
            cache[payload.id] = (payload, now + config.messageCacheRetention)
            lazyPush(payload, except: me, &out)
        }
        eagerPush(payload, except: me, &out)
    }

    public mutating func receive(_ message: PlumTreeMessage, from sender: PI, now: Duration, out: inout [GossipTopicOutput<PI>]) {
        start(now: now, &out)
        switch message {
        case let .gossip(payload): onGossip(payload, from: sender, now: now, &out)
        case .prune: addLazy(sender)
        case let .ihave(entries): onIHave(entries, from: sender, &out)
        case let .graft(id, _):
            addEager(sender)
            if let id, let cached = cache[id] {
                out.append(.send(to: sender, .gossip(.gossip(cached.payload))))
            }
        }
    }

    public mutating func timerFired(_ timer: GossipTimer<PI>, now: Duration, out: inout [GossipTopicOutput<PI>]) {
        start(now: now, &out)
        switch timer {
        case .dispatchLazyPush: dispatchIHaves(&out)
        case let .sendGraft(id): onGraftTimer(id, &out)
        case .evictCache: evict(now: now, &out)
        default: break
        }
    }

    public mutating func neighborUp(_ peer: PI) { addEager(peer) }

    public mutating func neighborDown(_ peer: PI) {
        for (id, announcers) in missing {
            let rest = announcers.filter { $0.peer != peer }
            missing[id] = rest.isEmpty ? nil : rest
        }
        eager.remove(peer)
        lazy.remove(peer)
    }

    /// Whether `id` is in the dedup memory.
    public func hasSeen(_ id: GossipMessageID) -> Bool { received[id] != nil }

    // MARK: handlers

    private mutating func onGossip(_ payload: GossipPayload, from sender: PI, now: Duration, _ out: inout [GossipTopicOutput<PI>]) {
        guard payload.hasValidID else { return }  // spoofed id
        if received[payload.id] != nil {
            addLazy(sender)
            out.append(.send(to: sender, .gossip(.prune)))
            return
        }
        if case let .swarm(round) = payload.scope {
            received[payload.id] = now + config.messageIDRetention
            let nextRound = round == .max ? round : round + 1
            let forward = GossipPayload(id: payload.id, content: payload.content, scope: .swarm(round: nextRound))
            cache[payload.id] = (forward, now + config.messageCacheRetention)
            eagerPush(forward, except: sender, &out)
            lazyPush(forward, except: sender, &out)
            graftTimerScheduled.remove(payload.id)
            if let announcers = missing.removeValue(forKey: payload.id) {
                optimizeTree(gossipSender: sender, round: nextRound, announcers: announcers, &out)
            }
            maxDeliveryRound = max(maxDeliveryRound, round)
        }
        out.append(.emit(.received(GossipDelivery(content: payload.content, deliveredFrom: sender, scope: payload.scope))))
    }

    /// If an IHave arrived through a path at least `optimizationThreshold` rounds shorter, make that
    /// path eager and prune the slow one.
    private mutating func optimizeTree(gossipSender: PI, round: UInt16, announcers: [(peer: PI, round: UInt16)],
                                       _ out: inout [GossipTopicOutput<PI>]) {
        guard let best = announcers.min(by: { $0.round < $1.round }),
              best.round < round, round - best.round >= config.optimizationThreshold else { return }
        if !eager.contains(best.peer) {
            addEager(best.peer)
            out.append(.send(to: best.peer, .gossip(.graft(id: nil, round: best.round))))
        }
        addLazy(gossipSender)
        out.append(.send(to: gossipSender, .gossip(.prune)))
    }

    private mutating func onIHave(_ entries: [IHaveEntry], from sender: PI, _ out: inout [GossipTopicOutput<PI>]) {
        for entry in entries where received[entry.id] == nil {
            missing[entry.id, default: []].append((sender, entry.round))
            if graftTimerScheduled.insert(entry.id).inserted {
                out.append(.schedule(after: config.graftTimeout1, .sendGraft(entry.id)))
            }
        }
    }

    private mutating func onGraftTimer(_ id: GossipMessageID, _ out: inout [GossipTopicOutput<PI>]) {
        graftTimerScheduled.remove(id)
        guard received[id] == nil, var announcers = missing[id], !announcers.isEmpty else { return }
        let next = announcers.removeFirst()
        missing[id] = announcers.isEmpty ? nil : announcers
        addEager(next.peer)
        out.append(.send(to: next.peer, .gossip(.graft(id: id, round: next.round))))
        out.append(.schedule(after: config.graftTimeout2, .sendGraft(id)))
        // Keep the entry marked so a later IHave does not start a second timer chain.
        graftTimerScheduled.insert(id)
    }

    private mutating func dispatchIHaves(_ out: inout [GossipTopicOutput<PI>]) {
        for (peer, entries) in lazyQueue {
            var start = 0
            while start < entries.count {
                let end = min(start + maxIHavesPerMessage, entries.count)
                out.append(.send(to: peer, .gossip(.ihave(Array(entries[start..<end])))))
                start = end
            }
        }
        lazyQueue.removeAll()
        dispatchScheduled = false
    }

    private mutating func evict(now: Duration, _ out: inout [GossipTopicOutput<PI>]) {
        cache = cache.filter { $0.value.expiry > now }
        received = received.filter { $0.value > now }
        out.append(.schedule(after: config.cacheEvictInterval, .evictCache))
    }

    private mutating func addEager(_ peer: PI) {
        lazy.remove(peer)
        eager.insert(peer)
    }

    private mutating func addLazy(_ peer: PI) {
        eager.remove(peer)
        lazy.insert(peer)
    }

    private func eagerPush(_ payload: GossipPayload, except sender: PI, _ out: inout [GossipTopicOutput<PI>]) {
        for peer in eager where peer != me && peer != sender {
            out.append(.send(to: peer, .gossip(.gossip(payload))))
        }
    }

    private mutating func lazyPush(_ payload: GossipPayload, except sender: PI, _ out: inout [GossipTopicOutput<PI>]) {
        guard case let .swarm(round) = payload.scope else { return }
        for peer in lazy where peer != sender {
            let entry = IHaveEntry(id: payload.id, round: round)
            if let index = lazyQueue.firstIndex(where: { $0.peer == peer }) {
                lazyQueue[index].entries.append(entry)
            } else {
                lazyQueue.append((peer, [entry]))
            }
        }
        if !dispatchScheduled {
            dispatchScheduled = true
            out.append(.schedule(after: config.dispatchTimeout, .dispatchLazyPush))
        }
    }
}

import Core

/// A deterministic discrete-event network of `GossipNodeState<Int>` nodes on one topic: a fake
/// clock, per-message latency from a seeded generator, optional message drops, node crashes.
struct GossipSimulation {
    struct Delivery: Equatable {
        let node: Int
        let content: [UInt8]
        let from: Int
        let scope: DeliveryScope
        let at: Duration
    }

    enum Action {
        case message(from: Int, to: Int, TopicMessage<Int>)
        case timer(node: Int, GossipTimer<Int>)
        case connectionLost(node: Int, peer: Int)
    }

    struct Scheduled {
        let at: Duration
        let seq: Int
        let action: Action
    }

    let topic = try! TopicID(bytes: [UInt8](repeating: 7, count: 32))
    var nodes: [GossipNodeState<Int>] = []
    var alive: [Bool] = []
    var now: Duration = .zero
    var queue: [Scheduled] = []
    var seq = 0
    var rng: GossipRandom
    var latency: ClosedRange<Int> = 5...15  // milliseconds
    /// Return true to drop a message in flight.
    var dropFilter: (Int, Int, TopicMessage<Int>) -> Bool = { _, _, _ in false }
    /// Unordered pairs of nodes with a connection (a crash is noticed by the other side of these).
    var connections = Set<[Int]>()

    var deliveries: [Delivery] = []
    var events: [(node: Int, GossipTopicEvent<Int>)] = []
    var sent: [(from: Int, to: Int, TopicMessage<Int>)] = []

    let config: GossipConfig

    init(nodeCount: Int, seed: UInt64, config: GossipConfig = GossipConfig()) {
        self.config = config
        rng = GossipRandom(seed: seed)
        for id in 0..<nodeCount {
            nodes.append(GossipNodeState(me: id, myData: nil, config: config, rng: GossipRandom(seed: seed &+ UInt64(id) &* 7919)))
            alive.append(true)
        }
    }

    func topicState(_ node: Int) -> GossipTopicState<Int>? { nodes[node].topics[topic] }
    func neighbors(_ node: Int) -> [Int] { nodes[node].neighbors(of: topic) }

    mutating func join(_ node: Int, bootstrap: [Int]) {
        apply(node, nodes[node].handle(topic: topic, .join(bootstrap), now: now))
    }

    mutating func broadcast(_ node: Int, _ content: [UInt8]) {
        apply(node, nodes[node].handle(topic: topic, .broadcast(content), now: now))
    }

    mutating func broadcastNeighbors(_ node: Int, _ content: [UInt8]) {
        apply(node, nodes[node].handle(topic: topic, .broadcastNeighbors(content), now: now))
    }

    mutating func leave(_ node: Int) {
        apply(node, nodes[node].handle(topic: topic, .quit, now: now))
    }

    /// Crash: the node stops; every peer with a connection to it notices after one latency.
    mutating func kill(_ node: Int) {
        alive[node] = false
        for pair in connections.sorted(by: { $0.lexicographicallyPrecedes($1) }) where pair.contains(node) {
            let other = pair[0] == node ? pair[1] : pair[0]
            schedule(after: .milliseconds(randomLatency()), .connectionLost(node: other, peer: node))
        }
        connections = connections.filter { !$0.contains(node) }
    }

    /// A crashed node boots again with the same id and no state, alone on the topic.
    mutating func revive(_ node: Int) {
        alive[node] = true
        nodes[node] = GossipNodeState(me: node, myData: nil, config: config, rng: GossipRandom(seed: UInt64(node) &* 104_729))
        join(node, bootstrap: [])
    }

    mutating func randomLatency() -> Int {
        latency.lowerBound + Int(rng.next(upperBound: UInt64(latency.count)))
    }

    mutating func schedule(after delay: Duration, _ action: Action) {
        seq += 1
        let item = Scheduled(at: now + delay, seq: seq, action: action)
        // Keep the queue sorted by (time, seq); insertion from the back is cheap for near events.
        var index = queue.count
        while index > 0, queue[index - 1].at > item.at { index -= 1 }
        queue.insert(item, at: index)
    }

    mutating func apply(_ node: Int, _ commands: [GossipNodeOutput<Int>]) {
        for command in commands {
            switch command {
            case let .send(to, _, message):
                sent.append((node, to, message))
                if dropFilter(node, to, message) { continue }
                if alive[to] {
                    connections.insert([min(node, to), max(node, to)])
                    schedule(after: .milliseconds(randomLatency()), .message(from: node, to: to, message))
                } else {
                    // Dialling a dead node fails.
                    schedule(after: .milliseconds(randomLatency()), .connectionLost(node: node, peer: to))
                }
            case let .emit(_, event):
                events.append((node, event))
                if case let .received(delivery) = event {
                    deliveries.append(Delivery(node: node, content: delivery.content, from: delivery.deliveredFrom,
                                               scope: delivery.scope, at: now))
                }
            case let .schedule(after, _, timer):
                schedule(after: after, .timer(node: node, timer))
            case let .disconnect(peer):
                connections.remove([min(node, peer), max(node, peer)])
            case .peerData:
                break
            }
        }
    }

    /// Runs events until the clock passes `now + duration`.
    mutating func run(for duration: Duration) {
        let end = now + duration
        while let first = queue.first, first.at <= end {
            queue.removeFirst()
            now = first.at
            switch first.action {
            case let .message(from, to, message):
                guard alive[to] else { continue }
                apply(to, nodes[to].handle(topic: topic, .message(from: from, message), now: now))
            case let .timer(node, timer):
                guard alive[node] else { continue }
                apply(node, nodes[node].handle(topic: topic, .timer(timer), now: now))
            case let .connectionLost(node, peer):
                guard alive[node] else { continue }
                apply(node, nodes[node].handleAll(.connectionLost(peer), now: now))
            }
        }
        now = end
    }

    func received(_ node: Int, _ content: [UInt8]) -> Int {
        deliveries.filter { $0.node == node && $0.content == content }.count
    }

    func sentCount(_ predicate: (Int, Int, TopicMessage<Int>) -> Bool) -> Int {
        sent.filter { predicate($0.from, $0.to, $0.2) }.count
    }
}

extension TopicMessage {
    var isPayload: Bool { if case .gossip(.gossip) = self { return true } else { return false } }
    var isPrune: Bool { if case .gossip(.prune) = self { return true } else { return false } }
    var isIHave: Bool { if case .gossip(.ihave) = self { return true } else { return false } }
    var isGraft: Bool { if case .gossip(.graft) = self { return true } else { return false } }
    var isShuffle: Bool { if case .swarm(.shuffle) = self { return true } else { return false } }
    var isShuffleReply: Bool { if case .swarm(.shuffleReply) = self { return true } else { return false } }
}

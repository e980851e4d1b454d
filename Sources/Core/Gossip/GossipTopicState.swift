/// One topic = HyParView + PlumTree, wired as iroh-gossip's `topic::State`: membership changes
/// (NeighborUp/Down) are fed to the broadcast tree after each input.

public enum GossipTopicInput<PI: Hashable & Sendable>: Sendable {
    case message(from: PI, TopicMessage<PI>)
    /// Join through these bootstrap peers (sends Join to each).
    case join([PI])
    /// Peers the application knows to be on the topic (followed accounts, …): remembered as
    /// candidates should the node ever lose every neighbour; nothing is sent now.
    case learn([PI])
    case broadcast([UInt8])
    case broadcastNeighbors([UInt8])
    case timer(GossipTimer<PI>)
    case connectionLost(PI)
    case updateMyData([UInt8])
    /// Leave: Disconnect{alive: false} to every neighbour.
    case quit
}

public struct GossipTopicState<PI: Hashable & Sendable>: Sendable {
    public private(set) var membership: HyParView<PI>
    public private(set) var tree: PlumTree<PI>
    public let config: GossipConfig

    public init(me: PI, myData: [UInt8]?, config: GossipConfig = GossipConfig(), rng: GossipRandom) {
        precondition(config.maxMessageSize >= GossipWire.minimumMaxMessageSize,
                     "max message size must be at least \(GossipWire.minimumMaxMessageSize)")
        self.config = config
        membership = HyParView(me: me, myData: myData, config: config.membership, rng: rng)
        tree = PlumTree(me: me, config: config.broadcast, maxIHavesPerMessage: config.maxIHavesPerMessage)
    }

    public var neighbors: [PI] { membership.activeView }

    /// Handles one input at time `now` and returns the commands, in order.
    public mutating func handle(_ input: GossipTopicInput<PI>, now: Duration) -> [GossipTopicOutput<PI>] {
        var out: [GossipTopicOutput<PI>] = []
        switch input {
        case let .message(from, .swarm(message)):
            membership.receive(message, from: from, out: &out)
        case let .message(from, .gossip(message)):
            tree.receive(message, from: from, now: now, out: &out)
        case let .join(peers):
            for peer in peers { membership.join(peer, out: &out) }
        case let .learn(peers):
            membership.learn(peers, out: &out)
        case let .broadcast(content):
            tree.broadcast(content, neighborsOnly: false, now: now, out: &out)
        case let .broadcastNeighbors(content):
            tree.broadcast(content, neighborsOnly: true, now: now, out: &out)
        case let .timer(timer):
            switch timer {
            case .shuffle, .pendingNeighborRequest, .rejoin: membership.timerFired(timer, out: &out)
            case .sendGraft, .dispatchLazyPush, .evictCache: tree.timerFired(timer, now: now, out: &out)
            }
        case let .connectionLost(peer):
            membership.connectionLost(peer, out: &out)
            tree.neighborDown(peer)
        case let .updateMyData(data):
            membership.updateMyData(data)
        case .quit:
            membership.quit(out: &out)
        }
        for command in out {
            switch command {
            case let .emit(.neighborUp(peer)): tree.neighborUp(peer)
            case let .emit(.neighborDown(peer)): tree.neighborDown(peer)
            default: break
            }
        }
        return out
    }
}

/// A command of the node-level state, tagged with its topic.
public enum GossipNodeOutput<PI: Hashable & Sendable>: Hashable, Sendable {
    case send(to: PI, topic: TopicID, TopicMessage<PI>)
    case emit(topic: TopicID, GossipTopicEvent<PI>)
    case schedule(after: Duration, topic: TopicID, GossipTimer<PI>)
    /// No topic needs the peer any more: close the connection.
    case disconnect(PI)
    case peerData(PI, [UInt8])
}

/// All topics of one node plus the peer→topics bookkeeping that decides when a connection can
/// be closed (iroh-gossip's `proto::State`).
public struct GossipNodeState<PI: Hashable & Sendable>: Sendable {
    public let me: PI
    public private(set) var myData: [UInt8]?
    public let config: GossipConfig
    public private(set) var topics: [TopicID: GossipTopicState<PI>] = [:]
    /// Topics each peer has spoken to us on; a peer with none left gets disconnected.
    var peerTopics: [PI: Set<TopicID>] = [:]
    var rng: GossipRandom

    public init(me: PI, myData: [UInt8]?, config: GossipConfig = GossipConfig(), rng: GossipRandom) {
        self.me = me
        self.myData = myData
        self.config = config
        self.rng = rng
    }

    public func hasJoined(_ topic: TopicID) -> Bool { topics[topic] != nil }
    public func neighbors(of topic: TopicID) -> [PI] { topics[topic]?.neighbors ?? [] }

    /// Input for one topic. `.join` creates the topic; everything else for an unknown topic is
    /// ignored (frames for topics we have not joined are dropped, §3.2).
    public mutating func handle(topic: TopicID, _ input: GossipTopicInput<PI>, now: Duration) -> [GossipNodeOutput<PI>] {
        if case .join = input, topics[topic] == nil {
            topics[topic] = GossipTopicState(me: me, myData: myData, config: config, rng: GossipRandom(seed: rng.next()))
        }
        guard var state = topics[topic] else { return [] }
        if case let .message(from, _) = input { peerTopics[from, default: []].insert(topic) }
        let commands = state.handle(input, now: now)
        if case .quit = input { topics[topic] = nil } else { topics[topic] = state }
        var out: [GossipNodeOutput<PI>] = []
        for command in commands { map(command, topic: topic, &out) }
        return out
    }

    /// Input for every topic (connection loss, new own addresses).
    public mutating func handleAll(_ input: GossipTopicInput<PI>, now: Duration) -> [GossipNodeOutput<PI>] {
        if case let .updateMyData(data) = input { myData = data }
        if case let .connectionLost(peer) = input { peerTopics[peer] = nil }
        var out: [GossipNodeOutput<PI>] = []
        for topic in topics.keys.sorted() {
            guard var state = topics[topic] else { continue }
            let commands = state.handle(input, now: now)
            topics[topic] = state
            for command in commands { map(command, topic: topic, &out) }
        }
        return out
    }

    private mutating func map(_ command: GossipTopicOutput<PI>, topic: TopicID, _ out: inout [GossipNodeOutput<PI>]) {
        switch command {
        case let .send(to, message): out.append(.send(to: to, topic: topic, message))
        case let .emit(event): out.append(.emit(topic: topic, event))
        case let .schedule(after, timer): out.append(.schedule(after: after, topic: topic, timer))
        case let .peerData(peer, data): out.append(.peerData(peer, data))
        case let .disconnect(peer):
            guard var remaining = peerTopics[peer] else { return }
            remaining.remove(topic)
            if remaining.isEmpty {
                peerTopics[peer] = nil
                out.append(.disconnect(peer))
            } else {
                peerTopics[peer] = remaining
            }
        }
    }
}

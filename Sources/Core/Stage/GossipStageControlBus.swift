import Synchronization

/// `StageControlBus` over iroh-gossip (spec §10.3): a stage's control topic is a gossip topic;
/// joining subscribes with the ticket's host node as bootstrap, and every received payload is
/// handed to the topic's `messages` streams.
public final class GossipStageControlBus: StageControlBus {
    private struct Topic {
        var listeners: [Int: AsyncStream<[UInt8]>.Continuation] = [:]
        var pump: Task<Void, Never>?
    }

    private let gossip: GossipService
    private let topics = Mutex<[[UInt8]: Topic]>([:])
    private let nextListener = Atomic<Int>(0)

    public init(gossip: GossipService) {
        self.gossip = gossip
    }

    public func join(topic: [UInt8], bootstrap: [String]) async throws {
        let peers = try bootstrap.map { try EndpointID(hex: $0) }
        let subscription = try await gossip.subscribe(topic: topic, bootstrap: peers)
        let pump = Task { [weak self] in
            for await event in subscription.events {
                guard case let .received(content, _, _) = event else { continue }
                self?.deliver(content, topic: topic)
            }
        }
        let previous = topics.withLock { t -> Task<Void, Never>? in
            defer { t[topic, default: Topic()].pump = pump }
            return t[topic]?.pump
        }
        previous?.cancel()
    }

    public func leave(topic: [UInt8]) async {
        let left = topics.withLock { $0.removeValue(forKey: topic) }
        left?.pump?.cancel()
        for continuation in left?.listeners.values ?? [:].values { continuation.finish() }
        if let id = try? TopicID(bytes: topic) { await gossip.leave(topic: id) }
    }

    public func publish(topic: [UInt8], payload: [UInt8]) async throws {
        try await gossip.broadcast(topic: try TopicID(bytes: topic), content: payload)
    }

    public func messages(topic: [UInt8]) -> AsyncStream<[UInt8]> {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let id = nextListener.add(1, ordering: .relaxed).newValue
        topics.withLock { $0[topic, default: Topic()].listeners[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            self?.topics.withLock { _ = $0[topic]?.listeners.removeValue(forKey: id) }
        }
        return stream
    }

    private func deliver(_ payload: [UInt8], topic: [UInt8]) {
        for continuation in topics.withLock({ Array(($0[topic]?.listeners ?? [:]).values) }) { continuation.yield(payload) }
    }
}

/// Connects the feed layer to iroh-gossip: `SocialService` publishes and subscribes through this
/// bridge, and every event on a subscribed topic is handed back to the service. The bridge is bound
/// to the service after both exist (the service needs the bridge at init).
public actor GossipFeedBridge: FeedPublisher, FeedSubscriptions {
    private let gossip: GossipService
    private var social: SocialService?
    private var listeners: [[UInt8]: Task<Void, Never>] = [:]

    public init(gossip: GossipService) {
        self.gossip = gossip
    }

    public func bind(_ social: SocialService) {
        self.social = social
    }

    public nonisolated func publish(topic: [UInt8], payload: [UInt8]) async throws {
        try await gossip.broadcast(topic: TopicID(bytes: topic), content: payload)
    }

    public func subscribe(topic: [UInt8], bootstrap: [EndpointID]) async throws {
        let subscription = try await gossip.subscribe(topic: topic, bootstrap: bootstrap)
        guard listeners[topic] == nil else { return }   // a re-subscribe only adds bootstrap peers
        let social = self.social
        listeners[topic] = Task {
            for await event in subscription.events {
                guard let social else { continue }
                switch event {
                case let .received(content, _, _): _ = await social.receiveGossip(topic: topic, payload: content)
                case let .neighborUp(peer): await social.neighborUp(peer, topic: topic)
                case let .neighborDown(peer): await social.neighborDown(peer, topic: topic)
                case .lagged: break
                }
            }
        }
    }

    public func unsubscribe(topic: [UInt8]) async {
        listeners.removeValue(forKey: topic)?.cancel()
        if let id = try? TopicID(bytes: topic) { await gossip.leave(topic: id) }
    }

    /// Stops every listener (the gossip service is shut down by its owner).
    public func stop() {
        for task in listeners.values { task.cancel() }
        listeners.removeAll()
    }
}

/// Runs the gossip state machines over Core/Net the way iroh-gossip 0.97 uses QUIC (§3.1–§3.2):
/// one send connection per peer (the newest; receive on all), one uni stream per topic and
/// direction opened lazily with the topic header first, Disconnect finishing that stream.

/// Monotonic time and sleeping for the gossip timers; injectable for tests.
public protocol GossipClock: Sendable {
    /// Time since an arbitrary fixed origin.
    func now() -> Duration
    func sleep(for duration: Duration) async throws
}

/// The real monotonic clock.
public struct SystemGossipClock: GossipClock {
    public init() {}
    public func now() -> Duration { .nanoseconds(Int64(MonotonicClock.nanoseconds())) }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}

/// What a subscriber sees (iroh-gossip `Event`).
public enum GossipEvent: Sendable, Equatable {
    /// `from` is the previous hop, not the author (gossip does not authenticate authors).
    case received(content: [UInt8], from: EndpointID, scope: DeliveryScope)
    case neighborUp(EndpointID)
    case neighborDown(EndpointID)
    /// The subscriber fell more than the buffer behind; its stream ends after this event.
    case lagged
}

/// A topic subscription: the event stream ends on `leave`, on lag, or when the service stops.
public struct GossipSubscription: Sendable {
    public let topic: TopicID
    public let events: AsyncStream<GossipEvent>
}

public enum GossipServiceError: Error, Equatable, Sendable, CustomStringConvertible {
    case payloadTooLarge(size: Int, maximum: Int)
    case notSubscribed(TopicID)
    case stopped

    public var description: String {
        switch self {
        case let .payloadTooLarge(size, maximum):
            return "gossip broadcast of \(size) bytes exceeds the \(maximum)-byte limit (iroh-gossip would drop it)"
        case let .notSubscribed(topic): return "gossip topic \(topic) is not subscribed"
        case .stopped: return "gossip service stopped"
        }
    }
}

public actor GossipService: ProtocolHandler {
    public struct Options: Sendable {
        public var config = GossipConfig()
        /// Events buffered per subscriber before it is declared lagged (iroh: 2048).
        public var subscriberBuffer = 2048
        public var dialTimeoutSeconds = 5.0
        /// After we drop a peer, how long to wait before closing a connection whose incoming
        /// streams have all finished (lets the last frames, e.g. Disconnect, arrive).
        public var closeLinger: Duration = .seconds(1)
        public init() {}
    }

    public nonisolated let me: EndpointID
    let dialer: any PeerDialer
    let clock: any GossipClock
    let options: Options
    let logger: Logger?
    var state: GossipNodeState<EndpointID>

    /// Per peer: the connection we send on, or messages waiting for a dial.
    private enum PeerState {
        case dialing(queue: [(TopicID, TopicMessage<EndpointID>)])
        case connected(linkID: Int)
    }
    private var peers: [EndpointID: PeerState] = [:]
    private var links: [Int: ConnectionLink] = [:]
    private var nextLinkID = 0
    private var addresses: [EndpointID: PeerAddress] = [:]
    private var subscribers: [TopicID: [Int: AsyncStream<GossipEvent>.Continuation]] = [:]
    private var nextSubscriberID = 0
    private var timerTasks: [Int: Task<Void, Never>] = [:]
    private var nextTimerID = 0
    private var stopped = false

    private final class ConnectionLink: Sendable {
        let id: Int
        let peer: EndpointID
        let connection: any PeerConnection
        let outbox: AsyncStream<Outgoing>.Continuation
        init(id: Int, peer: EndpointID, connection: any PeerConnection, outbox: AsyncStream<Outgoing>.Continuation) {
            self.id = id
            self.peer = peer
            self.connection = connection
            self.outbox = outbox
        }
    }

    private enum Outgoing: Sendable {
        case message(TopicID, TopicMessage<EndpointID>)
        /// Stop sending on this connection: finish every stream.
        case finishAll
    }

    /// Per link bookkeeping the actor owns.
    private var openIncomingStreams: [Int: Int] = [:]
    /// Links dropped because no topic needs the peer: closed once both directions are done.
    private var releasedLinks = Set<Int>()
    /// Links whose send loop has finished all its streams.
    private var sendingDoneLinks = Set<Int>()

    public init(me: EndpointID, dialer: any PeerDialer, myAddresses: GossipAddrInfo = GossipAddrInfo(),
                clock: any GossipClock = SystemGossipClock(), random: GossipRandom = .system(),
                options: Options = Options(), logger: Logger? = nil) {
        self.me = me
        self.dialer = dialer
        self.clock = clock
        self.options = options
        self.logger = logger
        state = GossipNodeState(me: me, myData: myAddresses.encoded(), config: options.config, rng: random)
    }

    // MARK: application API

    /// Joins `topic` (dialling `bootstrap`) or, if already joined, adds `bootstrap` as join peers.
    public func subscribe(topic: TopicID, bootstrap: [EndpointID]) -> GossipSubscription {
        let (stream, continuation) = AsyncStream<GossipEvent>.makeStream(bufferingPolicy: .bufferingOldest(options.subscriberBuffer + 1))
        if stopped {
            continuation.finish()
            return GossipSubscription(topic: topic, events: stream)
        }
        let id = nextSubscriberID
        nextSubscriberID += 1
        subscribers[topic, default: [:]][id] = continuation
        if state.hasJoined(topic) {
            for neighbor in state.neighbors(of: topic) { continuation.yield(.neighborUp(neighbor)) }
        }
        if !state.hasJoined(topic) || !bootstrap.isEmpty {
            run(state.handle(topic: topic, .join(bootstrap.filter { $0 != me }), now: clock.now()))
        }
        return GossipSubscription(topic: topic, events: stream)
    }

    /// Peers the application knows to be on `topic` (e.g. the feed's followed accounts): kept as
    /// rejoin candidates in case every neighbour is lost at once; no connection is made now.
    public func learnPeers(topic: TopicID, _ peers: [EndpointID]) {
        guard state.hasJoined(topic) else { return }
        run(state.handle(topic: topic, .learn(peers.filter { $0 != me }), now: clock.now()))
    }

    /// Convenience for the 32-byte topic ids the app derives.
    public func subscribe(topic: [UInt8], bootstrap: [EndpointID]) throws(GossipWireError) -> GossipSubscription {
        subscribe(topic: try TopicID(bytes: topic), bootstrap: bootstrap)
    }

    /// Broadcasts to the whole swarm. Refuses payloads that iroh-gossip peers would not accept.
    public func broadcast(topic: TopicID, content: [UInt8]) throws(GossipServiceError) {
        try checkBroadcast(topic: topic, content: content)
        run(state.handle(topic: topic, .broadcast(content), now: clock.now()))
    }

    /// Sends to direct (eager) neighbours only; not forwarded.
    public func broadcastNeighbors(topic: TopicID, content: [UInt8]) throws(GossipServiceError) {
        try checkBroadcast(topic: topic, content: content)
        run(state.handle(topic: topic, .broadcastNeighbors(content), now: clock.now()))
    }

    /// Leaves the topic: Disconnect{alive: false} to its neighbours; subscribers' streams end.
    public func leave(topic: TopicID) {
        guard state.hasJoined(topic) else { return }
        run(state.handle(topic: topic, .quit, now: clock.now()))
        for continuation in (subscribers.removeValue(forKey: topic) ?? [:]).values { continuation.finish() }
    }

    public func neighbors(topic: TopicID) -> [EndpointID] { state.neighbors(of: topic) }

    /// The topic's membership views and connection states, for diagnostics (`peers`, test failures).
    public func membershipSummary(topic: TopicID) -> String {
        guard let view = state.topics[topic]?.membership else { return "not joined" }
        func ids(_ peers: [EndpointID]) -> String { peers.map { String($0.hex.prefix(6)) }.joined(separator: ",") }
        let connections = peers.map { "\($0.key.hex.prefix(6))=\({ if case .connected = $0 { "up" } else { "dialing" } }($0.value))" }
        return "active [\(ids(view.activeView))] passive [\(ids(view.passiveView))] known [\(ids(view.knownPeers.elements))] "
            + "pending [\(ids(view.pendingNeighborRequests.elements))] rejoin \(view.rejoinScheduled) "
            + "links [\(connections.sorted().joined(separator: " "))]"
    }

    /// Our own addresses changed: later Join/Neighbor/Shuffle messages advertise the new ones.
    public func updateAddresses(_ info: GossipAddrInfo) {
        run(state.handleAll(.updateMyData(info.encoded()), now: clock.now()))
    }

    /// Tells the service where a peer can be dialled (bootstrap peers, tickets).
    public func addAddress(_ address: PeerAddress) {
        addresses[address.id] = address
    }

    /// Leaves every topic (Disconnect to neighbours), then finishes and closes every connection and
    /// stops the timers. Connections close as soon as their pending frames are written.
    public func shutdown() {
        for topic in state.topics.keys.sorted() { leave(topic: topic) }
        stopped = true
        for task in timerTasks.values { task.cancel() }
        timerTasks.removeAll()
        for link in links.values {
            if sendingDoneLinks.contains(link.id) {
                link.connection.close(code: 0, reason: "close from disconnect")
            } else {
                link.outbox.yield(.finishAll)
                link.outbox.finish()
            }
        }
        peers.removeAll()
    }

    private func checkBroadcast(topic: TopicID, content: [UInt8]) throws(GossipServiceError) {
        if stopped { throw .stopped }
        guard state.hasJoined(topic) else { throw .notSubscribed(topic) }
        let maximum = options.config.maxBroadcastPayload
        guard content.count <= maximum else { throw .payloadTooLarge(size: content.count, maximum: maximum) }
    }

    // MARK: ProtocolHandler

    public func accept(_ connection: any PeerConnection) async {
        guard !stopped else {
            connection.close(code: 0, reason: "close from disconnect")
            return
        }
        adopt(connection, peer: connection.remoteID)
    }

    // MARK: commands → I/O

    private func run(_ commands: [GossipNodeOutput<EndpointID>]) {
        for command in commands {
            switch command {
            case let .send(to, topic, message): send(message, topic: topic, to: to)
            case let .emit(topic, event): emit(event, topic: topic)
            case let .schedule(after, topic, timer): schedule(after: after, topic: topic, timer)
            case let .disconnect(peer): release(peer)
            case let .peerData(peer, data):
                guard let info = try? GossipAddrInfo.decode(data), !info.directAddresses.isEmpty else { continue }
                let known = addresses[peer]?.directAddresses ?? []
                let learned = info.directAddresses.map(\.description).filter { !known.contains($0) }
                addresses[peer] = PeerAddress(id: peer, directAddresses: known + learned)
            }
        }
    }

    private func send(_ message: TopicMessage<EndpointID>, topic: TopicID, to peer: EndpointID) {
        guard !stopped, peer != me else { return }
        switch peers[peer] {
        case let .connected(linkID):
            links[linkID]?.outbox.yield(.message(topic, message))
        case var .dialing(queue):
            queue.append((topic, message))
            peers[peer] = .dialing(queue: queue)
        case nil:
            peers[peer] = .dialing(queue: [(topic, message)])
            let address = addresses[peer] ?? PeerAddress(id: peer)
            let dialer = self.dialer
            let timeout = options.dialTimeoutSeconds
            Task {
                do {
                    let connection = try await dialer.connect(to: address, alpn: GossipWire.alpn, timeoutSeconds: timeout)
                    self.dialed(connection, peer: peer)
                } catch {
                    self.dialFailed(peer, error: error)
                }
            }
        }
    }

    private func dialed(_ connection: any PeerConnection, peer: EndpointID) {
        guard !stopped else {
            connection.close(code: 0, reason: "close from disconnect")
            return
        }
        adopt(connection, peer: peer)
    }

    private func dialFailed(_ peer: EndpointID, error: any Error) {
        guard case .dialing = peers[peer] else { return }
        logger?.debug("gossip: dial \(peer.hex.prefix(8)) failed: \(error)")
        peers[peer] = nil
        run(state.handleAll(.connectionLost(peer), now: clock.now()))
    }

    private func emit(_ event: GossipTopicEvent<EndpointID>, topic: TopicID) {
        let mapped: GossipEvent
        switch event {
        case let .neighborUp(peer): mapped = .neighborUp(peer)
        case let .neighborDown(peer): mapped = .neighborDown(peer)
        case let .received(delivery): mapped = .received(content: delivery.content, from: delivery.deliveredFrom, scope: delivery.scope)
        }
        guard let topicSubscribers = subscribers[topic] else { return }
        for (id, continuation) in topicSubscribers {
            // One slot is kept for `.lagged`: a full buffer ends the subscription (iroh behaviour).
            if case .enqueued(let remaining) = continuation.yield(mapped), remaining > 1 { continue }
            continuation.yield(.lagged)
            continuation.finish()
            subscribers[topic]?[id] = nil
        }
    }

    private func schedule(after delay: Duration, topic: TopicID, _ timer: GossipTimer<EndpointID>) {
        guard !stopped else { return }
        let id = nextTimerID
        nextTimerID += 1
        let clock = self.clock
        timerTasks[id] = Task {
            do { try await clock.sleep(for: delay) } catch { return }
            self.fire(timerID: id, topic: topic, timer)
        }
    }

    private func fire(timerID: Int, topic: TopicID, _ timer: GossipTimer<EndpointID>) {
        timerTasks[timerID] = nil
        guard !stopped else { return }
        run(state.handle(topic: topic, .timer(timer), now: clock.now()))
    }

    // MARK: connections

    /// Makes `connection` the peer's send connection and starts receiving on it.
    private func adopt(_ connection: any PeerConnection, peer: EndpointID) {
        let id = nextLinkID
        nextLinkID += 1
        let (outgoing, outbox) = AsyncStream<Outgoing>.makeStream()
        let link = ConnectionLink(id: id, peer: peer, connection: connection, outbox: outbox)
        links[id] = link
        openIncomingStreams[id] = 0
        var queued: [(TopicID, TopicMessage<EndpointID>)] = []
        switch peers[peer] {
        case let .dialing(queue): queued = queue
        case let .connected(oldID):
            // Keep the old connection for receiving; stop sending on it.
            links[oldID]?.outbox.yield(.finishAll)
            links[oldID]?.outbox.finish()
        case nil: break
        }
        peers[peer] = .connected(linkID: id)
        for (topic, message) in queued { outbox.yield(.message(topic, message)) }

        let maxMessageSize = options.config.maxMessageSize
        Task { await Self.sendLoop(link: link, outgoing: outgoing, maxMessageSize: maxMessageSize, service: self) }
        Task { await self.acceptStreams(link: link) }
        Task {
            let reason = await connection.closed()
            self.connectionClosed(linkID: id, reason: reason)
        }
    }

    /// Writes the link's outgoing messages in order; one uni stream per topic.
    private static func sendLoop(link: ConnectionLink, outgoing: AsyncStream<Outgoing>, maxMessageSize: Int,
                                 service: GossipService) async {
        var streams: [TopicID: any PeerStreamWriter] = [:]
        do {
            for await item in outgoing {
                switch item {
                case let .message(topic, message):
                    let frame: [UInt8]
                    do {
                        frame = try GossipWire.frame(message, maxMessageSize: maxMessageSize)
                    } catch {
                        // iroh's send loop fails on an oversize frame and the connection dies.
                        await service.log("gossip: dropping connection to \(link.peer.hex.prefix(8)): \(error)")
                        link.connection.close(code: 0, reason: "close from disconnect")
                        return
                    }
                    let stream: any PeerStreamWriter
                    if let existing = streams[topic] {
                        stream = existing
                    } else {
                        stream = try await link.connection.openUnidirectionalStream()
                        try await stream.write(GossipWire.headerFrame(topic: topic))
                        streams[topic] = stream
                    }
                    try await stream.write(frame)
                    if message.isDisconnect {
                        streams[topic] = nil
                        try await stream.finish()
                    }
                case .finishAll:
                    for topic in streams.keys.sorted() { try await streams[topic]?.finish() }
                    streams.removeAll()
                    await service.sendingFinished(linkID: link.id)
                    return
                }
            }
        } catch {
            await service.log("gossip: send to \(link.peer.hex.prefix(8)) failed: \(error)")
            link.connection.close(code: 0, reason: "close from disconnect")
        }
    }

    private func log(_ message: String) { logger?.debug(message) }

    private func acceptStreams(link: ConnectionLink) async {
        while let stream = try? await link.connection.acceptUnidirectionalStream() {
            openIncomingStreams[link.id, default: 0] += 1
            let maxMessageSize = options.config.maxMessageSize
            Task { await Self.receiveLoop(link: link, stream: stream, maxMessageSize: maxMessageSize, service: self) }
        }
    }

    private static func receiveLoop(link: ConnectionLink, stream: any PeerStreamReader, maxMessageSize: Int,
                                    service: GossipService) async {
        var decoder = GossipStreamDecoder(maxMessageSize: maxMessageSize)
        do {
            while let chunk = try await stream.read(maxBytes: 65536) {
                decoder.append(chunk)
                while let message = try decoder.next() {
                    guard let topic = decoder.topic else { break }
                    await service.received(message, topic: topic, from: link.peer)
                }
            }
            try decoder.finish()
        } catch {
            // A bad stream is dropped on its own (iroh does the same); the connection stays.
            await service.log("gossip: stream from \(link.peer.hex.prefix(8)) dropped: \(error)")
            stream.stop(code: 0)
        }
        await service.incomingStreamEnded(linkID: link.id)
    }

    private func received(_ message: TopicMessage<EndpointID>, topic: TopicID, from peer: EndpointID) {
        guard !stopped else { return }
        run(state.handle(topic: topic, .message(from: peer, message), now: clock.now()))
    }

    /// No topic needs `peer`: stop sending to it; close once the peer's streams are done too.
    private func release(_ peer: EndpointID) {
        guard let peerState = peers.removeValue(forKey: peer) else { return }
        guard case let .connected(linkID) = peerState, let link = links[linkID] else { return }
        releasedLinks.insert(linkID)
        link.outbox.yield(.finishAll)
        link.outbox.finish()
    }

    private func sendingFinished(linkID: Int) {
        sendingDoneLinks.insert(linkID)
        if stopped {
            links[linkID]?.connection.close(code: 0, reason: "close from disconnect")
            return
        }
        closeIfIdle(linkID)
    }

    private func incomingStreamEnded(linkID: Int) {
        openIncomingStreams[linkID, default: 1] -= 1
        closeIfIdle(linkID)
    }

    /// Closes a link we no longer send on once the peer has finished its streams too (after a
    /// short linger so the last frames are read).
    private func closeIfIdle(_ linkID: Int) {
        // A link merely replaced by a newer connection stays open: the peer may still send on it.
        guard releasedLinks.contains(linkID), sendingDoneLinks.contains(linkID), openIncomingStreams[linkID, default: 0] <= 0,
              let link = links[linkID] else { return }
        if case .connected(linkID) = peers[link.peer] { return }
        let clock = self.clock
        let linger = options.closeLinger
        Task {
            try? await clock.sleep(for: linger)
            self.closeLink(linkID)
        }
    }

    private func closeLink(_ linkID: Int) {
        guard let link = links[linkID], openIncomingStreams[linkID, default: 0] <= 0 else { return }
        if case .connected(linkID) = peers[link.peer] { return }
        link.connection.close(code: 0, reason: "close from disconnect")
    }

    private func connectionClosed(linkID: Int, reason: PeerNetworkError) {
        guard let link = links.removeValue(forKey: linkID) else { return }
        link.outbox.finish()
        openIncomingStreams[linkID] = nil
        releasedLinks.remove(linkID)
        sendingDoneLinks.remove(linkID)
        // Only the loss of the connection we send on counts as losing the peer (iroh).
        guard case .connected(linkID) = peers[link.peer] else { return }
        peers[link.peer] = nil
        logger?.debug("gossip: connection to \(link.peer.hex.prefix(8)) ended: \(reason)")
        guard !stopped else { return }
        run(state.handleAll(.connectionLost(link.peer), now: clock.now()))
    }
}

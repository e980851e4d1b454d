import Synchronization

/// The control plane of one stage over a `StageControlBus` (iroh-gossip at merge): signs and
/// publishes this node's messages, and verifies and applies everyone else's to the `StageRoom`.
public final class StageControlChannel: Sendable {
    public let topic: [UInt8]
    private let bus: any StageControlBus
    private let signingKey: Ed25519.SecretKey
    private let nodeID: String
    private let clock: any WallClock
    private let room: Mutex<StageRoom>
    /// Messages dropped (unparseable, bad signature, or refused by the room), for diagnostics.
    private let dropped = Mutex<[String]>([])

    public init(room: StageRoom, identity: NodeIdentity, bus: any StageControlBus, clock: any WallClock) {
        self.topic = StageTopic.make(stageID: room.stageID)
        self.bus = bus
        self.signingKey = identity.signingKey
        self.nodeID = identity.transportID.hex
        self.clock = clock
        self.room = Mutex(room)
    }

    /// A snapshot of the room.
    public var snapshot: StageRoom { room.withLock { $0 } }
    public var droppedReasons: [String] { dropped.withLock { $0 } }

    /// Joins the topic (host: no bootstrap; joiner: the ticket's host node) and announces presence.
    public func join(bootstrap: [String]) async throws {
        try await bus.join(topic: topic, bootstrap: bootstrap)
        try await sendPresence()
    }

    public func leave() async { await bus.leave(topic: topic) }

    /// Signs and publishes `control` as sent (callers build it with the room's helpers).
    public func send(_ control: StageControl) async throws {
        let message = SignedStageControl.signed(control, by: signingKey, timestamp: clock.nowMillis())
        try await bus.publish(topic: topic, payload: message.wireBytes)
    }

    public func sendPresence() async throws {
        let control = room.withLock { $0.presence(nodeID: nodeID) }
        try await send(control)
    }

    /// Applies a local change to the room and publishes the message it yields
    /// (hands, mute, reactions, chat, moderation, end).
    public func perform(_ change: @Sendable (inout StageRoom) throws -> StageControl) async throws {
        let control = try room.withLock { try change(&$0) }
        try await send(control)
    }

    public func learnDelegation(_ delegation: SigningKeyDelegation) {
        room.withLock { $0.learnDelegation(delegation) }
    }

    /// One received payload: parse, verify, apply. Drops (and records) anything invalid.
    @discardableResult
    public func handle(_ payload: [UInt8]) -> [StageRoomEvent] {
        do {
            let message = try SignedStageControl.decodeVerified(payload)
            return try room.withLock { try $0.receive(message) }
        } catch {
            dropped.withLock { $0.append(String(describing: error)) }
            return []
        }
    }

    /// Timers: the 15 s presence heartbeat and the 45 s expiry sweep. Returns expired participants.
    public func tick() async throws -> [String] {
        let due = room.withLock { $0.tick() }
        if due.presenceDue { try await sendPresence() }
        return due.expired
    }

    /// Consumes the topic until it ends, handing each message's events to `onEvents`.
    public func run(onEvents: @Sendable ([StageRoomEvent]) -> Void) async {
        for await payload in bus.messages(topic: topic) {
            let events = handle(payload)
            if !events.isEmpty { onEvents(events) }
        }
    }
}

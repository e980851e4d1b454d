/// The host's listener topology (spec §10.7), pure and driven by an injected clock.
///
/// Differences from the reference, on purpose: listeners are also placed when they join or leave
/// (not only when a relay volunteers), and a relay that dies (its upstream connection to the host
/// closes, or it stops proving liveness for `relayTimeout`) is dropped and its listeners are
/// re-placed at once — within 3 s of the failure. A listener moved back to the host gets a
/// `RelayAssignment` naming the host's own node id, which a reference listener follows as well.
public struct StageTopology: Sendable {
    /// Host direct-listener capacity (spec §14).
    public static let hostCapacity = 15
    /// No liveness for this long marks a relay dead (the reassignment deadline is 3 s).
    public static let relayTimeout: UInt64 = 2_000

    public struct Source: Equatable, Sendable {
        public var publicKey: String
        public var nodeID: String
        public var capacity: Int
        public var assigned: Set<String> = []
        public var lastAlive: UInt64
        public var spare: Int { capacity - assigned.count }
    }

    /// One `RelayAssignment` to publish: `listeners` now fetch from `nodeID`.
    public struct Assignment: Equatable, Sendable {
        public var relayPublicKey: String
        public var relayNodeID: String
        public var listeners: [String]
    }

    public let host: String
    public let hostNodeID: String
    public private(set) var sources: [String: Source] = [:]
    /// Listener (master key) → source key; absent = unassigned (no capacity anywhere).
    public private(set) var placement: [String: String] = [:]
    private var listenerOrder: [String] = []
    private let clock: any WallClock

    public init(hostPublicKey: String, hostNodeID: String, hostCapacity: Int = StageTopology.hostCapacity, clock: any WallClock) {
        self.host = hostPublicKey
        self.hostNodeID = hostNodeID
        self.clock = clock
        sources[hostPublicKey] = Source(publicKey: hostPublicKey, nodeID: hostNodeID, capacity: hostCapacity, lastAlive: .max)
    }

    public var listeners: [String] { listenerOrder }
    public var unassigned: [String] { listenerOrder.filter { placement[$0] == nil } }

    public func source(of listener: String) -> Source? { placement[listener].flatMap { sources[$0] } }

    /// A relay volunteered: add it (once) and place the listeners waiting for a slot.
    public mutating func addRelay(publicKey: String, nodeID: String, capacity: UInt32) -> [Assignment] {
        guard publicKey != host, sources[publicKey] == nil else { return [] }
        // A relay is a listener that forwards; it no longer needs a slot of its own elsewhere.
        removeListenerSlot(publicKey)
        let now = clock.nowMillis()
        sources[publicKey] = Source(publicKey: publicKey, nodeID: nodeID, capacity: Int(capacity), lastAlive: now)
        // The reference releases and re-places every listener here; that moves listeners between
        // relays for nothing (each move restarts a pipeline and loses audio until the next
        // checkpoint), so placed listeners stay and only waiting ones are placed.
        let before = placement
        for listener in unassigned { place(listener) }
        return diff(from: before)
    }

    /// Relay liveness (its upstream connection is open, or it sent presence).
    public mutating func relayAlive(_ publicKey: String) {
        guard publicKey != host else { return }
        let now = clock.nowMillis()
        sources[publicKey]?.lastAlive = now
    }

    /// The relay is gone: drop it and re-place its listeners on the remaining sources.
    public mutating func relayLost(_ publicKey: String) -> [Assignment] {
        guard publicKey != host, let dead = sources.removeValue(forKey: publicKey) else { return [] }
        let before = placement
        let orphans = listenerOrder.filter { dead.assigned.contains($0) }
        for listener in orphans { placement[listener] = nil }
        for listener in orphans { place(listener) }
        return diff(from: before)
    }

    /// Drops relays that missed the liveness deadline; returns the reassignments.
    public mutating func tick() -> [Assignment] {
        let now = clock.nowMillis()
        let dead = sources.values.filter { $0.publicKey != host && now &- $0.lastAlive > Self.relayTimeout }.map(\.publicKey).sorted()
        var out: [Assignment] = []
        for relay in dead { out += relayLost(relay) }
        return out
    }

    public mutating func addListener(_ publicKey: String) -> [Assignment] {
        guard publicKey != host, sources[publicKey] == nil, !listenerOrder.contains(publicKey) else { return [] }
        listenerOrder.append(publicKey)
        let before = placement
        place(publicKey)
        // New listeners dial the host by default: only a placement elsewhere needs a message.
        return diff(from: before).filter { $0.relayPublicKey != host }
    }

    /// A listener left (or became a speaker). Also retries unassigned listeners with the freed slot.
    public mutating func removeListener(_ publicKey: String) -> [Assignment] {
        let before = placement
        removeListenerSlot(publicKey)
        for waiting in unassigned { place(waiting) }
        var out = diff(from: before)
        out.removeAll { $0.listeners.isEmpty }
        return out
    }

    private mutating func removeListenerSlot(_ publicKey: String) {
        release(publicKey)
        listenerOrder.removeAll { $0 == publicKey }
    }

    private mutating func release(_ listener: String) {
        if let key = placement.removeValue(forKey: listener) { sources[key]?.assigned.remove(listener) }
    }

    /// Host first while it has room, then the source with the most spare capacity.
    private mutating func place(_ listener: String) {
        let target: String?
        if let hostSource = sources[host], hostSource.spare > 0 {
            target = host
        } else {
            target = sources.values.filter { $0.spare > 0 }
                .max { ($0.spare, $1.publicKey) < ($1.spare, $0.publicKey) }?.publicKey
        }
        guard let target else { return }
        sources[target]?.assigned.insert(listener)
        placement[listener] = target
    }

    /// One assignment per source that gained listeners.
    private func diff(from before: [String: String]) -> [Assignment] {
        var moved: [String: [String]] = [:]
        for listener in listenerOrder {
            guard let now = placement[listener], before[listener] != now else { continue }
            moved[now, default: []].append(listener)
        }
        return moved.keys.sorted().compactMap { key in
            guard let source = sources[key] else { return nil }
            return Assignment(relayPublicKey: source.publicKey, relayNodeID: source.nodeID, listeners: moved[key] ?? [])
        }
    }
}

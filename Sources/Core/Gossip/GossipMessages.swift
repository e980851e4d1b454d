/// The iroh-gossip 0.97 message tree (iroh-wire.md §3.3). The types are generic over the peer
/// identity so the state machines can be simulated with cheap ids; on the wire the identity is
/// always an `EndpointID` (see `GossipWire`).

/// A 32-byte gossip topic id.
public struct TopicID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(GossipWireError) {
        guard bytes.count == 32 else { throw .invalidLength(what: "topic id", length: bytes.count, expected: 32) }
        self.bytes = bytes
    }

    public static func < (lhs: TopicID, rhs: TopicID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    public var description: String { String(Hex.encode(bytes).prefix(10)) }
}

/// A gossip message id: BLAKE3 of the content, nothing else (§3.3).
public struct GossipMessageID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(GossipWireError) {
        guard bytes.count == 32 else { throw .invalidLength(what: "message id", length: bytes.count, expected: 32) }
        self.bytes = bytes
    }

    init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    /// The id iroh-gossip gives `content`.
    public static func of(content: [UInt8]) -> GossipMessageID { GossipMessageID(unchecked: BLAKE3.hash(content)) }

    public static func < (lhs: GossipMessageID, rhs: GossipMessageID) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    public var description: String { String(Hex.encode(bytes).prefix(10)) }
}

/// A peer and the opaque address data it advertised (`PeerInfo`).
public struct GossipPeerInfo<PI: Hashable & Sendable>: Hashable, Sendable {
    public var id: PI
    /// iroh's `PeerData`: postcard of `GossipAddrInfo` by convention; empty means "no info".
    public var data: [UInt8]?

    public init(id: PI, data: [UInt8]? = nil) {
        self.id = id
        self.data = data
    }
}

/// `hyparview::Priority`.
public enum NeighborPriority: UInt8, Hashable, Sendable {
    case high = 0
    case low = 1
}

/// `hyparview::Message`: membership.
public enum HyParViewMessage<PI: Hashable & Sendable>: Hashable, Sendable {
    case join(data: [UInt8]?)
    case forwardJoin(peer: GossipPeerInfo<PI>, ttl: UInt16)
    case shuffle(origin: PI, nodes: [GossipPeerInfo<PI>], ttl: UInt16)
    case shuffleReply(nodes: [GossipPeerInfo<PI>])
    case neighbor(priority: NeighborPriority, data: [UInt8]?)
    /// `respond` is always false in 0.97 and only kept for the wire layout.
    case disconnect(alive: Bool, respond: Bool)
}

/// `plumtree::DeliveryScope`.
public enum DeliveryScope: Hashable, Sendable {
    /// Whole swarm; the round counts hops from the origin (0 at the origin).
    case swarm(round: UInt16)
    /// Direct neighbours only: never forwarded.
    case neighbors
}

/// `plumtree::Gossip`.
public struct GossipPayload: Hashable, Sendable {
    public var id: GossipMessageID
    public var content: [UInt8]
    public var scope: DeliveryScope

    public init(id: GossipMessageID, content: [UInt8], scope: DeliveryScope) {
        self.id = id
        self.content = content
        self.scope = scope
    }

    /// A payload with its correct id.
    public init(content: [UInt8], scope: DeliveryScope) {
        self.init(id: .of(content: content), content: content, scope: scope)
    }

    /// Receivers drop payloads whose id is not BLAKE3(content) ("spoofed message id").
    public var hasValidID: Bool { id == .of(content: content) }
}

/// `plumtree::IHave`.
public struct IHaveEntry: Hashable, Sendable {
    public var id: GossipMessageID
    public var round: UInt16

    public init(id: GossipMessageID, round: UInt16) {
        self.id = id
        self.round = round
    }
}

/// `plumtree::Message`: broadcast.
public enum PlumTreeMessage: Hashable, Sendable {
    case gossip(GossipPayload)
    case prune
    case graft(id: GossipMessageID?, round: UInt16)
    case ihave([IHaveEntry])
}

/// `topic::Message`: what one frame after the stream header carries.
public enum TopicMessage<PI: Hashable & Sendable>: Hashable, Sendable {
    case swarm(HyParViewMessage<PI>)
    case gossip(PlumTreeMessage)

    public var isDisconnect: Bool {
        if case .swarm(.disconnect) = self { return true }
        return false
    }
}

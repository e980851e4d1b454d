/// iroh-gossip 0.97 defaults (iroh-wire.md §3.4).

/// HyParView (membership) parameters.
public struct HyParViewConfig: Sendable, Equatable {
    public var activeViewCapacity = 5
    public var passiveViewCapacity = 30
    /// ForwardJoin TTL.
    public var activeRandomWalkLength: UInt16 = 6
    /// ForwardJoin TTL at which the joining peer is put into the passive view.
    public var passiveRandomWalkLength: UInt16 = 3
    public var shuffleRandomWalkLength: UInt16 = 6
    public var shuffleActiveViewCount = 3
    public var shufflePassiveViewCount = 4
    public var shuffleInterval: Duration = .seconds(60)
    public var neighborRequestTimeout: Duration = .milliseconds(500)
    /// Not in iroh: a node whose active and passive views have both emptied (every neighbour died
    /// at once) sends `Join` again to a peer it has heard of, first after this delay, then doubling
    /// up to `rejoinMaxInterval`, until it has a neighbour. Without it such a node stays cut off.
    public var rejoinInterval: Duration = .milliseconds(500)
    public var rejoinMaxInterval: Duration = .seconds(30)
    /// How many peers (ever heard of) are remembered for `rejoin`.
    public var knownPeersCapacity = 64

    public init() {}
}

/// PlumTree (broadcast) parameters.
public struct PlumTreeConfig: Sendable, Equatable {
    /// Wait after an IHave before grafting.
    public var graftTimeout1: Duration = .milliseconds(80)
    /// Wait after a Graft before grafting the next announcer.
    public var graftTimeout2: Duration = .milliseconds(40)
    /// IHave batching delay.
    public var dispatchTimeout: Duration = .milliseconds(5)
    /// Round difference from which an IHave peer replaces a slow eager path.
    public var optimizationThreshold: UInt16 = 7
    /// How long payloads stay cached to answer Grafts.
    public var messageCacheRetention: Duration = .seconds(30)
    /// How long message ids are remembered for duplicate suppression.
    public var messageIDRetention: Duration = .seconds(90)
    public var cacheEvictInterval: Duration = .seconds(1)

    public init() {}
}

/// Per-topic configuration.
public struct GossipConfig: Sendable, Equatable {
    public var membership = HyParViewConfig()
    public var broadcast = PlumTreeConfig()
    public var maxMessageSize = GossipWire.defaultMaxMessageSize

    public init() {}

    /// Largest IHave batch: `(maxMessageSize − 33 − 3) / 35` = 116 with defaults. 33 is iroh's
    /// header allowance (0.35 framing), 3 the tags plus a 2-byte count, 35 the largest IHave.
    public var maxIHavesPerMessage: Int { max(1, (maxMessageSize - 33 - 3) / 35) }

    /// Largest content `broadcast` accepts (4057 with defaults).
    public var maxBroadcastPayload: Int { GossipWire.maxBroadcastPayload(maxMessageSize: maxMessageSize) }
}

/// Deterministic pseudo-random numbers (xoshiro256**), seeded by the caller: tests inject a fixed
/// seed, production seeds from `SecureRandom`. Not for cryptographic use.
public struct GossipRandom: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        // SplitMix64 expands the seed so that nearby seeds give unrelated streams.
        var expander = SplitMix64(seed: seed)
        s = (expander.next(), expander.next(), expander.next(), expander.next())
    }

    /// Seeded from the system's secure random source.
    public static func system() -> GossipRandom {
        let bytes = SecureRandom.bytes(8)
        return GossipRandom(seed: bytes.reduce(0) { $0 << 8 | UInt64($1) })
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }
}

/// A small insertion-ordered set: deterministic iteration (Swift's `Set` order changes per
/// process), O(1) membership, random picks through an injected generator.
struct OrderedPeerSet<PI: Hashable & Sendable>: Sendable, Sequence {
    private(set) var elements: [PI] = []
    private var members: Set<PI> = []

    var count: Int { elements.count }
    var isEmpty: Bool { elements.isEmpty }

    func contains(_ peer: PI) -> Bool { members.contains(peer) }

    @discardableResult
    mutating func insert(_ peer: PI) -> Bool {
        guard members.insert(peer).inserted else { return false }
        elements.append(peer)
        return true
    }

    @discardableResult
    mutating func remove(_ peer: PI) -> Bool {
        guard members.remove(peer) != nil, let index = elements.firstIndex(of: peer) else { return false }
        elements.remove(at: index)
        return true
    }

    func makeIterator() -> IndexingIterator<[PI]> { elements.makeIterator() }

    func randomElement(excluding: [PI], using rng: inout GossipRandom) -> PI? {
        let candidates = elements.filter { !excluding.contains($0) }
        guard !candidates.isEmpty else { return nil }
        return candidates[Int(rng.next(upperBound: UInt64(candidates.count)))]
    }

    /// Up to `limit` distinct elements in random order, skipping `excluding`.
    func shuffled(excluding: [PI] = [], limit: Int, using rng: inout GossipRandom) -> [PI] {
        var candidates = elements.filter { !excluding.contains($0) }
        candidates.shuffle(using: &rng)
        return Array(candidates.prefix(limit))
    }
}

/// iroh-gossip 0.97 wire format (iroh-wire.md §3.1–§3.2): ALPN `/iroh-gossip/1`, one uni stream
/// per topic and direction, frames of u32-BE length + postcard, the first frame being the topic id.

/// Why gossip bytes could not be encoded or decoded.
public enum GossipWireError: Error, Equatable, Sendable, CustomStringConvertible {
    case postcard(PostcardError)
    case framing(FramingError)
    /// A 32-byte field of the wrong length.
    case invalidLength(what: String, length: Int, expected: Int)
    /// 32 bytes on the wire that are not a valid Ed25519 point.
    case invalidEndpointID(offset: Int)
    /// An encoded message at or above the frame limit (iroh's writer refuses `len >= max`).
    case messageTooLarge(size: Int, maximum: Int)
    /// A broadcast payload above what fits one frame.
    case payloadTooLarge(size: Int, maximum: Int)
    /// The stream ended before its topic header.
    case missingStreamHeader

    public var description: String {
        switch self {
        case let .postcard(error): return "gossip: \(error)"
        case let .framing(error): return "gossip: \(error)"
        case let .invalidLength(what, length, expected): return "gossip: \(what) has \(length) bytes, expected \(expected)"
        case let .invalidEndpointID(offset): return "gossip: endpoint id at offset \(offset) is not a valid Ed25519 key"
        case let .messageTooLarge(size, maximum):
            return "gossip: encoded message of \(size) bytes is not below the \(maximum)-byte frame limit"
        case let .payloadTooLarge(size, maximum):
            return "gossip: payload of \(size) bytes exceeds the \(maximum)-byte broadcast limit"
        case .missingStreamHeader: return "gossip: stream ended before the topic header"
        }
    }
}

/// Encoding and decoding of `topic::Message<EndpointId>` and the stream framing.
public enum GossipWire {
    public static let alpn = "/iroh-gossip/1"
    /// `DEFAULT_MAX_MESSAGE_SIZE`: writers refuse postcard ≥ this, readers refuse a length > this.
    public static let defaultMaxMessageSize = 4096
    /// `MIN_MAX_MESSAGE_SIZE`.
    public static let minimumMaxMessageSize = 512
    /// Bytes a swarm broadcast adds around its content for `round < 128` and content ≥ 128 bytes:
    /// 2 tags + 32 id + 2 length varint + 2 scope bytes = 38.
    public static let broadcastOverhead = 38

    /// Largest `broadcast` content whose first-hop frame stays below `maxMessageSize`
    /// (4057 with defaults: 38 + 4057 = 4095 < 4096). Computed exactly rather than assumed.
    public static func maxBroadcastPayload(maxMessageSize: Int = defaultMaxMessageSize) -> Int {
        var size = maxMessageSize
        while size > 0, swarmGossipEncodedSize(contentLength: size, round: 1) >= maxMessageSize { size -= 1 }
        return size
    }

    /// Encoded size of a swarm `Gossip` with the given content length and round.
    public static func swarmGossipEncodedSize(contentLength: Int, round: UInt16) -> Int {
        2 + 32 + Postcard.varint(UInt64(contentLength)).count + contentLength + 1 + Postcard.varint(UInt64(round)).count
    }

    // MARK: postcard

    public static func encode(_ message: TopicMessage<EndpointID>) -> [UInt8] {
        var w = PostcardWriter(capacity: 64)
        switch message {
        case let .swarm(inner):
            w.writeVariant(0)
            encodeSwarm(inner, into: &w)
        case let .gossip(inner):
            w.writeVariant(1)
            encodeGossip(inner, into: &w)
        }
        return w.bytes
    }

    private static func encodePeerInfo(_ info: GossipPeerInfo<EndpointID>, into w: inout PostcardWriter) {
        w.writeFixed(info.id.bytes)
        w.writeOption(info.data) { $0.writeBytes($1) }
    }

    private static func encodeSwarm(_ message: HyParViewMessage<EndpointID>, into w: inout PostcardWriter) {
        switch message {
        case let .join(data):
            w.writeVariant(0)
            w.writeOption(data) { $0.writeBytes($1) }
        case let .forwardJoin(peer, ttl):
            w.writeVariant(1)
            encodePeerInfo(peer, into: &w)
            w.writeU16(ttl)
        case let .shuffle(origin, nodes, ttl):
            w.writeVariant(2)
            w.writeFixed(origin.bytes)
            w.writeSequence(nodes) { encodePeerInfo($1, into: &$0) }
            w.writeU16(ttl)
        case let .shuffleReply(nodes):
            w.writeVariant(3)
            w.writeSequence(nodes) { encodePeerInfo($1, into: &$0) }
        case let .neighbor(priority, data):
            w.writeVariant(4)
            w.writeVariant(UInt32(priority.rawValue))
            w.writeOption(data) { $0.writeBytes($1) }
        case let .disconnect(alive, respond):
            w.writeVariant(5)
            w.writeBool(alive)
            w.writeBool(respond)
        }
    }

    private static func encodeGossip(_ message: PlumTreeMessage, into w: inout PostcardWriter) {
        switch message {
        case let .gossip(payload):
            w.writeVariant(0)
            w.writeFixed(payload.id.bytes)
            w.writeBytes(payload.content)
            switch payload.scope {
            case let .swarm(round):
                w.writeVariant(0)
                w.writeU16(round)
            case .neighbors:
                w.writeVariant(1)
            }
        case .prune:
            w.writeVariant(1)
        case let .graft(id, round):
            w.writeVariant(2)
            w.writeOption(id) { $0.writeFixed($1.bytes) }
            w.writeU16(round)
        case let .ihave(entries):
            w.writeVariant(3)
            w.writeSequence(entries) { w, entry in
                w.writeFixed(entry.id.bytes)
                w.writeU16(entry.round)
            }
        }
    }

    /// Decodes one frame body. Never traps; every malformed input is a typed error.
    public static func decode(_ bytes: [UInt8]) throws(GossipWireError) -> TopicMessage<EndpointID> {
        // Lengths can never exceed the frame, so bound them by it (cheap rejection of forged counts).
        var r = PostcardReader(bytes, limits: PostcardLimits(maxByteLength: bytes.count, maxSequenceLength: bytes.count))
        do {
            let message = try decodeMessage(&r)
            try r.finish()
            return message
        } catch let error as GossipWireError {
            throw error
        } catch let error as PostcardError {
            throw .postcard(error)
        } catch {
            throw .postcard(.invalidValue(what: "message", offset: r.offset))
        }
    }

    private static func decodeMessage(_ r: inout PostcardReader) throws -> TopicMessage<EndpointID> {
        let start = r.offset
        switch try r.readVariant() {
        case 0: return .swarm(try decodeSwarm(&r))
        case 1: return .gossip(try decodeGossip(&r))
        case let other: throw PostcardError.unknownVariant(type: "topic::Message", index: other, offset: start)
        }
    }

    private static func readEndpointID(_ r: inout PostcardReader) throws -> EndpointID {
        let start = r.offset
        let raw = try r.readFixed(count: 32, what: "endpoint id")
        guard let id = try? EndpointID(bytes: raw) else { throw GossipWireError.invalidEndpointID(offset: start) }
        return id
    }

    private static func readID(_ r: inout PostcardReader) throws -> GossipMessageID {
        GossipMessageID(unchecked: try r.readFixed(count: 32, what: "message id"))
    }

    private static func readPeerData(_ r: inout PostcardReader) throws -> [UInt8]? {
        try r.readOptionTag() ? try r.readBytes() : nil
    }

    private static func readPeerInfo(_ r: inout PostcardReader) throws -> GossipPeerInfo<EndpointID> {
        let id = try readEndpointID(&r)
        return GossipPeerInfo(id: id, data: try readPeerData(&r))
    }

    private static func readPeerInfos(_ r: inout PostcardReader) throws -> [GossipPeerInfo<EndpointID>] {
        let count = try r.readSequenceLength()
        var nodes: [GossipPeerInfo<EndpointID>] = []
        nodes.reserveCapacity(min(count, r.remaining / 33))
        for _ in 0..<count { nodes.append(try readPeerInfo(&r)) }
        return nodes
    }

    private static func decodeSwarm(_ r: inout PostcardReader) throws -> HyParViewMessage<EndpointID> {
        let start = r.offset
        switch try r.readVariant() {
        case 0:
            return .join(data: try readPeerData(&r))
        case 1:
            let peer = try readPeerInfo(&r)
            return .forwardJoin(peer: peer, ttl: try r.readU16())
        case 2:
            let origin = try readEndpointID(&r)
            let nodes = try readPeerInfos(&r)
            return .shuffle(origin: origin, nodes: nodes, ttl: try r.readU16())
        case 3:
            return .shuffleReply(nodes: try readPeerInfos(&r))
        case 4:
            let priorityOffset = r.offset
            let priority: NeighborPriority
            switch try r.readVariant() {
            case 0: priority = .high
            case 1: priority = .low
            case let other: throw PostcardError.unknownVariant(type: "Priority", index: other, offset: priorityOffset)
            }
            return .neighbor(priority: priority, data: try readPeerData(&r))
        case 5:
            let alive = try r.readBool()
            return .disconnect(alive: alive, respond: try r.readBool())
        case let other:
            throw PostcardError.unknownVariant(type: "hyparview::Message", index: other, offset: start)
        }
    }

    private static func decodeGossip(_ r: inout PostcardReader) throws -> PlumTreeMessage {
        let start = r.offset
        switch try r.readVariant() {
        case 0:
            let id = try readID(&r)
            let content = try r.readBytes()
            let scopeOffset = r.offset
            let scope: DeliveryScope
            switch try r.readVariant() {
            case 0: scope = .swarm(round: try r.readU16())
            case 1: scope = .neighbors
            case let other: throw PostcardError.unknownVariant(type: "DeliveryScope", index: other, offset: scopeOffset)
            }
            return .gossip(GossipPayload(id: id, content: content, scope: scope))
        case 1:
            return .prune
        case 2:
            let id = try r.readOptionTag() ? try readID(&r) : nil
            return .graft(id: id, round: try r.readU16())
        case 3:
            let count = try r.readSequenceLength()
            var entries: [IHaveEntry] = []
            entries.reserveCapacity(min(count, r.remaining / 33))
            for _ in 0..<count {
                let id = try readID(&r)
                entries.append(IHaveEntry(id: id, round: try r.readU16()))
            }
            return .ihave(entries)
        case let other:
            throw PostcardError.unknownVariant(type: "plumtree::Message", index: other, offset: start)
        }
    }

    // MARK: framing

    /// The first frame of every stream: `StreamHeader { topic_id }` (36 bytes).
    public static func headerFrame(topic: TopicID) -> [UInt8] {
        [0, 0, 0, 32] + topic.bytes
    }

    /// One message frame; refuses (as iroh's writer does) an encoding of `maxMessageSize` or more.
    public static func frame(_ message: TopicMessage<EndpointID>,
                             maxMessageSize: Int = defaultMaxMessageSize) throws(GossipWireError) -> [UInt8] {
        let body = encode(message)
        guard body.count < maxMessageSize else { throw .messageTooLarge(size: body.count, maximum: maxMessageSize) }
        do {
            return try FrameEncoder(prefix: .u32BigEndian, maxFrameSize: maxMessageSize).frame(body)
        } catch {
            throw .framing(error)
        }
    }
}

/// Incremental reader of one incoming gossip uni stream: first the topic header, then messages.
public struct GossipStreamDecoder: Sendable {
    private var frames: FrameDecoder
    public private(set) var topic: TopicID?

    public init(maxMessageSize: Int = GossipWire.defaultMaxMessageSize) {
        // Readers reject a declared length strictly above the maximum (§3.2).
        frames = FrameDecoder(prefix: .u32BigEndian, maxFrameSize: maxMessageSize)
    }

    public mutating func append(_ bytes: [UInt8]) { frames.append(bytes) }

    /// The next complete message, or nil when more bytes are needed. The header frame is consumed
    /// silently (read `topic` afterwards).
    public mutating func next() throws(GossipWireError) -> TopicMessage<EndpointID>? {
        while true {
            let body: [UInt8]?
            do { body = try frames.nextFrame() } catch { throw .framing(error) }
            guard let body else { return nil }
            if topic == nil {
                var r = PostcardReader(body)
                do {
                    let raw = try r.readFixed(count: 32, what: "stream header topic id")
                    try r.finish()
                    topic = try TopicID(bytes: raw)
                } catch let error as PostcardError {
                    throw .postcard(error)
                } catch {
                    throw .missingStreamHeader
                }
                continue
            }
            return try GossipWire.decode(body)
        }
    }

    /// At end of stream: throws when a partial frame or no header was received.
    public func finish() throws(GossipWireError) {
        do { try frames.finish() } catch { throw .framing(error) }
        if topic == nil { throw .missingStreamHeader }
    }
}

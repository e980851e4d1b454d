/// Payloads of the user feed topics (spec §5.3), JSON inside iroh-gossip messages.

/// A shareable stage ticket (spec §10.2). Field order is part of the string form.
public struct StageTicket: Codable, Equatable, Sendable {
    public var stageID: String
    /// The host's *signing* public key.
    public var hostPublicKey: String
    public var hostNodeID: String
    public var title: String

    enum CodingKeys: String, CodingKey {
        case stageID = "stage_id"
        case hostPublicKey = "host_pubkey"
        case hostNodeID = "host_node_id"
        case title
    }

    public init(stageID: String, hostPublicKey: String, hostNodeID: String, title: String) {
        self.stageID = stageID
        self.hostPublicKey = hostPublicKey
        self.hostNodeID = hostNodeID
        self.title = title
    }

    /// Lowercase hex of the ticket's compact JSON.
    public var stringForm: String {
        // Encoding a struct of four strings cannot fail.
        Hex.encode((try? WireJSON.encode(self)) ?? [])
    }

    public init(stringForm: String) throws(WireJSONError) {
        guard let bytes = Hex.decode(stringForm) else { throw WireJSONError("stage ticket is not hex: \"\(stringForm.prefix(32))…\"") }
        self = try WireJSON.decode(StageTicket.self, from: bytes)
    }
}

/// `GossipMessage::StageAnnouncement` and `SyncSummary.active_stage` (spec §5.3, §6.3).
public struct StageAnnouncement: Codable, Equatable, Sendable {
    public var stageID: String
    public var title: String
    public var ticket: StageTicket
    /// The host's *master* key.
    public var hostPublicKey: String
    public var startedAt: UInt64

    enum CodingKeys: String, CodingKey {
        case stageID = "stage_id"
        case title, ticket
        case hostPublicKey = "host_pubkey"
        case startedAt = "started_at"
    }

    public init(stageID: String, title: String, ticket: StageTicket, hostPublicKey: String, startedAt: UInt64) {
        self.stageID = stageID
        self.title = title
        self.ticket = ticket
        self.hostPublicKey = hostPublicKey
        self.startedAt = startedAt
    }
}

/// `GossipMessage::StageEnded` payload.
public struct StageEnded: Codable, Equatable, Sendable {
    public var stageID: String
    enum CodingKeys: String, CodingKey { case stageID = "stage_id" }
    public init(stageID: String) { self.stageID = stageID }
}

/// Everything published on a user feed topic, externally tagged (spec §5.3).
public enum GossipMessage: Codable, Equatable, Sendable {
    case newPost(Post)
    case deletePost(DeletePost)
    case profileUpdate(Profile)
    case newInteraction(Interaction)
    case deleteInteraction(DeleteInteraction)
    case linkedDevices(LinkedDevicesAnnouncement)
    case signingKeyRotation(SigningKeyRotation)
    case heartbeat
    case stageAnnouncement(StageAnnouncement)
    case stageEnded(StageEnded)

    /// The Rust variant name (also used as the metrics label).
    public var variantName: String {
        switch self {
        case .newPost: return "NewPost"
        case .deletePost: return "DeletePost"
        case .profileUpdate: return "ProfileUpdate"
        case .newInteraction: return "NewInteraction"
        case .deleteInteraction: return "DeleteInteraction"
        case .linkedDevices: return "LinkedDevices"
        case .signingKeyRotation: return "SigningKeyRotation"
        case .heartbeat: return "Heartbeat"
        case .stageAnnouncement: return "StageAnnouncement"
        case .stageEnded: return "StageEnded"
        }
    }

    public init(from decoder: any Decoder) throws {
        let (tag, c) = try ExternallyTagged.tag(in: decoder)
        func payload<T: Decodable>(_ type: T.Type) throws -> T { try ExternallyTagged.payload(type, c, tag: tag, in: decoder) }
        switch tag {
        case "NewPost": self = .newPost(try payload(Post.self))
        case "DeletePost": self = .deletePost(try payload(DeletePost.self))
        case "ProfileUpdate": self = .profileUpdate(try payload(Profile.self))
        case "NewInteraction": self = .newInteraction(try payload(Interaction.self))
        case "DeleteInteraction": self = .deleteInteraction(try payload(DeleteInteraction.self))
        case "LinkedDevices": self = .linkedDevices(try payload(LinkedDevicesAnnouncement.self))
        case "SigningKeyRotation": self = .signingKeyRotation(try payload(SigningKeyRotation.self))
        case "Heartbeat": self = .heartbeat
        case "StageAnnouncement": self = .stageAnnouncement(try payload(StageAnnouncement.self))
        case "StageEnded": self = .stageEnded(try payload(StageEnded.self))
        default: throw ExternallyTagged.unknown(tag, in: decoder, type: "GossipMessage")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        let name = variantName
        switch self {
        case .newPost(let value): try ExternallyTagged.encode(name, value, to: encoder)
        case .deletePost(let value): try ExternallyTagged.encode(name, value, to: encoder)
        case .profileUpdate(let value): try ExternallyTagged.encode(name, value, to: encoder)
        case .newInteraction(let value): try ExternallyTagged.encode(name, value, to: encoder)
        case .deleteInteraction(let value): try ExternallyTagged.encode(name, value, to: encoder)
        case .linkedDevices(let value): try ExternallyTagged.encode(name, value, to: encoder)
        case .signingKeyRotation(let value): try ExternallyTagged.encode(name, value, to: encoder)
        case .heartbeat: try ExternallyTagged.encodeUnit(name, to: encoder)
        case .stageAnnouncement(let value): try ExternallyTagged.encode(name, value, to: encoder)
        case .stageEnded(let value): try ExternallyTagged.encode(name, value, to: encoder)
        }
    }

    /// Compact wire JSON (the gossip payload).
    public func wireBytes() throws -> [UInt8] { try WireJSON.encode(self) }

    public static func decode(_ bytes: [UInt8]) throws(WireJSONError) -> GossipMessage {
        try WireJSON.decode(GossipMessage.self, from: bytes)
    }
}

/// What the app hands to the gossip layer: publish `payload` on the 32-byte `topic`. The iroh-gossip
/// service (Core/Gossip) satisfies this at merge; tests use an in-memory bus.
public protocol FeedPublisher: Sendable {
    func publish(topic: [UInt8], payload: [UInt8]) async throws
}

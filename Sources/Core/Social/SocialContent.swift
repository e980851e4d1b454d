/// The signed content of spec §7: posts, likes, profiles, deletes. Field names and declaration
/// order are the reference's serde shapes; `signedBytes` is the §2.2 CJSON each signature covers.

/// Content signed with the author's signing key over its canonical bytes (spec §2.2).
public protocol SignedContent {
    var signedBytes: [UInt8] { get }
    var signature: String { get set }
}

extension SignedContent {
    public mutating func sign(with key: Ed25519.SecretKey) {
        signature = Hex.encode(key.signature(for: signedBytes))
    }
}

/// Who may see an account's content (spec §7.5). Serialized lowercase.
public enum Visibility: String, Codable, Sendable, CaseIterable {
    case `public`
    case listed
    case `private`
}

/// A blob reference inside a post (spec §7.4).
public struct MediaAttachment: Codable, Equatable, Hashable, Sendable {
    public var hash: String
    public var ticket: String
    public var mimeType: String
    public var filename: String
    public var size: UInt64

    enum CodingKeys: String, CodingKey {
        case hash, ticket
        case mimeType = "mime_type"
        case filename, size
    }

    public init(hash: String, ticket: String, mimeType: String, filename: String, size: UInt64) {
        self.hash = hash
        self.ticket = ticket
        self.mimeType = mimeType
        self.filename = filename
        self.size = size
    }

    var canonical: CanonicalJSON {
        ["hash": .string(hash), "ticket": .string(ticket), "mime_type": .string(mimeType),
         "filename": .string(filename), "size": .uint(size)]
    }
}

/// A post, reply, quote or repost (spec §7.1).
public struct Post: Codable, Equatable, Hashable, Sendable, SignedContent {
    public var id: String
    public var author: String
    public var content: String
    public var timestamp: UInt64
    public var media: [MediaAttachment]
    public var replyTo: String?
    public var replyToAuthor: String?
    public var quoteOf: String?
    public var quoteOfAuthor: String?
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case id, author, content, timestamp, media
        case replyTo = "reply_to"
        case replyToAuthor = "reply_to_author"
        case quoteOf = "quote_of"
        case quoteOfAuthor = "quote_of_author"
        case signature
    }

    public init(id: String, author: String, content: String, timestamp: UInt64, media: [MediaAttachment] = [],
                replyTo: String? = nil, replyToAuthor: String? = nil, quoteOf: String? = nil,
                quoteOfAuthor: String? = nil, signature: String = "") {
        self.id = id
        self.author = author
        self.content = content
        self.timestamp = timestamp
        self.media = media
        self.replyTo = replyTo
        self.replyToAuthor = replyToAuthor
        self.quoteOf = quoteOf
        self.quoteOfAuthor = quoteOfAuthor
        self.signature = signature
    }

    /// `media` defaults to `[]` when missing (serde `default`).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        author = try c.decode(String.self, forKey: .author)
        content = try c.decode(String.self, forKey: .content)
        timestamp = try c.decode(UInt64.self, forKey: .timestamp)
        media = try c.decodeIfPresent([MediaAttachment].self, forKey: .media) ?? []
        replyTo = try c.decodeIfPresent(String.self, forKey: .replyTo)
        replyToAuthor = try c.decodeIfPresent(String.self, forKey: .replyToAuthor)
        quoteOf = try c.decodeIfPresent(String.self, forKey: .quoteOf)
        quoteOfAuthor = try c.decodeIfPresent(String.self, forKey: .quoteOfAuthor)
        signature = try c.decode(String.self, forKey: .signature)
    }

    /// CJSON of every field except `signature`.
    public var signedBytes: [UInt8] {
        CanonicalJSON.object([
            "id": .string(id), "author": .string(author), "content": .string(content), "timestamp": .uint(timestamp),
            "media": .array(media.map(\.canonical)),
            "reply_to": .optionalString(replyTo), "reply_to_author": .optionalString(replyToAuthor),
            "quote_of": .optionalString(quoteOf), "quote_of_author": .optionalString(quoteOfAuthor)
        ]).canonicalBytes
    }

    public var isRepost: Bool { content.isEmpty && media.isEmpty && quoteOf != nil }
}

/// The only interaction kind (spec §7.2).
public enum InteractionKind: String, Codable, Sendable {
    case like = "Like"
}

/// A like (spec §7.2).
public struct Interaction: Codable, Equatable, Hashable, Sendable, SignedContent {
    public var id: String
    public var author: String
    public var kind: InteractionKind
    public var targetPostID: String
    public var targetAuthor: String
    public var timestamp: UInt64
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case id, author, kind
        case targetPostID = "target_post_id"
        case targetAuthor = "target_author"
        case timestamp, signature
    }

    public init(id: String, author: String, kind: InteractionKind = .like, targetPostID: String, targetAuthor: String,
                timestamp: UInt64, signature: String = "") {
        self.id = id
        self.author = author
        self.kind = kind
        self.targetPostID = targetPostID
        self.targetAuthor = targetAuthor
        self.timestamp = timestamp
        self.signature = signature
    }

    public var signedBytes: [UInt8] {
        CanonicalJSON.object([
            "id": .string(id), "author": .string(author), "kind": .string(kind.rawValue),
            "target_post_id": .string(targetPostID), "target_author": .string(targetAuthor), "timestamp": .uint(timestamp)
        ]).canonicalBytes
    }
}

/// A user's profile (spec §7.3).
public struct Profile: Codable, Equatable, Hashable, Sendable, SignedContent {
    public var displayName: String
    public var bio: String
    public var avatarHash: String?
    public var avatarTicket: String?
    public var visibility: Visibility
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case displayName = "display_name"
        case bio
        case avatarHash = "avatar_hash"
        case avatarTicket = "avatar_ticket"
        case visibility, signature
    }

    public init(displayName: String, bio: String = "", avatarHash: String? = nil, avatarTicket: String? = nil,
                visibility: Visibility = .public, signature: String = "") {
        self.displayName = displayName
        self.bio = bio
        self.avatarHash = avatarHash
        self.avatarTicket = avatarTicket
        self.visibility = visibility
        self.signature = signature
    }

    /// `signature` defaults to `""` when missing.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        displayName = try c.decode(String.self, forKey: .displayName)
        bio = try c.decode(String.self, forKey: .bio)
        avatarHash = try c.decodeIfPresent(String.self, forKey: .avatarHash)
        avatarTicket = try c.decodeIfPresent(String.self, forKey: .avatarTicket)
        visibility = try c.decode(Visibility.self, forKey: .visibility)
        signature = try c.decodeIfPresent(String.self, forKey: .signature) ?? ""
    }

    public var signedBytes: [UInt8] {
        CanonicalJSON.object([
            "display_name": .string(displayName), "bio": .string(bio),
            "avatar_hash": .optionalString(avatarHash), "avatar_ticket": .optionalString(avatarTicket),
            "visibility": .string(visibility.rawValue)
        ]).canonicalBytes
    }
}

/// `GossipMessage::DeletePost` payload (spec §5.3).
public struct DeletePost: Codable, Equatable, Sendable, SignedContent {
    public static let action = "delete_post"
    public var id: String
    public var author: String
    public var signature: String

    public init(id: String, author: String, signature: String = "") {
        self.id = id
        self.author = author
        self.signature = signature
    }

    public var signedBytes: [UInt8] {
        CanonicalJSON.object(["action": .string(Self.action), "author": .string(author), "id": .string(id)]).canonicalBytes
    }
}

/// `GossipMessage::DeleteInteraction` payload (spec §5.3).
public struct DeleteInteraction: Codable, Equatable, Sendable, SignedContent {
    public static let action = "delete_interaction"
    public var id: String
    public var author: String
    public var signature: String

    public init(id: String, author: String, signature: String = "") {
        self.id = id
        self.author = author
        self.signature = signature
    }

    public var signedBytes: [UInt8] {
        CanonicalJSON.object(["action": .string(Self.action), "author": .string(author), "id": .string(id)]).canonicalBytes
    }
}

/// One device in a `LinkedDevicesAnnouncement`.
public struct DeviceEntry: Codable, Equatable, Sendable {
    public var nodeID: String
    public var deviceName: String
    public var isPrimary: Bool
    public var addedAt: UInt64

    enum CodingKeys: String, CodingKey {
        case nodeID = "node_id"
        case deviceName = "device_name"
        case isPrimary = "is_primary"
        case addedAt = "added_at"
    }

    public init(nodeID: String, deviceName: String, isPrimary: Bool, addedAt: UInt64) {
        self.nodeID = nodeID
        self.deviceName = deviceName
        self.isPrimary = isPrimary
        self.addedAt = addedAt
    }

    var canonical: CanonicalJSON {
        ["node_id": .string(nodeID), "device_name": .string(deviceName), "is_primary": .bool(isPrimary),
         "added_at": .uint(addedAt)]
    }
}

/// The owner's list of devices (transport ids), signed with the signing key (spec §5.3).
public struct LinkedDevicesAnnouncement: Codable, Equatable, Sendable, SignedContent {
    public var masterPublicKey: String
    public var delegation: SigningKeyDelegation
    public var devices: [DeviceEntry]
    public var version: UInt64
    public var timestamp: UInt64
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case masterPublicKey = "master_pubkey"
        case delegation, devices, version, timestamp, signature
    }

    public init(masterPublicKey: String, delegation: SigningKeyDelegation, devices: [DeviceEntry], version: UInt64,
                timestamp: UInt64, signature: String = "") {
        self.masterPublicKey = masterPublicKey
        self.delegation = delegation
        self.devices = devices
        self.version = version
        self.timestamp = timestamp
        self.signature = signature
    }

    /// CJSON of `{master_pubkey, devices, version, timestamp}`; the delegation is not covered.
    public var signedBytes: [UInt8] {
        CanonicalJSON.object([
            "master_pubkey": .string(masterPublicKey), "devices": .array(devices.map(\.canonical)),
            "version": .uint(version), "timestamp": .uint(timestamp)
        ]).canonicalBytes
    }

    /// The three §5.3 checks.
    public func verify() throws(SignedRecordError) {
        try delegation.verify()
        guard delegation.masterPublicKey == masterPublicKey else {
            throw .mismatch(field: "delegation.master_pubkey", expected: masterPublicKey, actual: delegation.masterPublicKey)
        }
        let signer = try SignatureHex.publicKey(delegation.signingPublicKey, field: "delegation.signing_pubkey")
        try SignatureHex.verify(signature, field: "signature", record: "linked-devices announcement",
                                message: signedBytes, signer: signer)
    }
}

/// `FollowRequest` (spec §6.5): signed by the requester's signing key, carrying its delegation.
public struct FollowRequest: Codable, Equatable, Sendable, SignedContent {
    public var requester: String
    public var timestamp: UInt64
    public var signature: String
    public var delegation: SigningKeyDelegation

    public init(requester: String, timestamp: UInt64, signature: String = "", delegation: SigningKeyDelegation) {
        self.requester = requester
        self.timestamp = timestamp
        self.signature = signature
        self.delegation = delegation
    }

    public var signedBytes: [UInt8] {
        CanonicalJSON.object(["requester": .string(requester), "timestamp": .uint(timestamp)]).canonicalBytes
    }

    /// Responder steps 1–2: the enclosed delegation verifies, names the requester, and its
    /// signing key made `signature`.
    public func verify() throws(SignedRecordError) {
        try delegation.verify()
        guard delegation.masterPublicKey == requester else {
            throw .mismatch(field: "delegation.master_pubkey", expected: requester, actual: delegation.masterPublicKey)
        }
        let signer = try SignatureHex.publicKey(delegation.signingPublicKey, field: "delegation.signing_pubkey")
        try SignatureHex.verify(signature, field: "signature", record: "follow request", message: signedBytes, signer: signer)
    }
}

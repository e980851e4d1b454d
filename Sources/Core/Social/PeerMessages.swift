/// Request and response shapes of `proscenium/peer/1` (spec §6), as serde writes them.

/// `SyncRequest` (spec §6.3).
public struct SyncRequest: Codable, Equatable, Sendable {
    public var author: String
    public var postCount: UInt64
    public var interactionCount: UInt64
    public var newestTimestamp: UInt64
    public var newestInteractionTimestamp: UInt64

    enum CodingKeys: String, CodingKey {
        case author
        case postCount = "post_count"
        case interactionCount = "interaction_count"
        case newestTimestamp = "newest_timestamp"
        case newestInteractionTimestamp = "newest_interaction_timestamp"
    }

    public init(author: String, postCount: UInt64, interactionCount: UInt64, newestTimestamp: UInt64,
                newestInteractionTimestamp: UInt64) {
        self.author = author
        self.postCount = postCount
        self.interactionCount = interactionCount
        self.newestTimestamp = newestTimestamp
        self.newestInteractionTimestamp = newestInteractionTimestamp
    }
}

public enum SyncMode: String, Codable, Sendable {
    case upToDate = "UpToDate"
    case timestampCatchUp = "TimestampCatchUp"
    case needIDDiff = "NeedIdDiff"
}

/// Phase-1 answer of a sync (spec §6.3). `active_stage` is *omitted* when absent.
public struct SyncSummary: Codable, Equatable, Sendable {
    public var serverPostCount: UInt64
    public var serverInteractionCount: UInt64
    public var postsAfterCount: UInt64
    public var interactionsAfterCount: UInt64
    public var mode: SyncMode
    public var profile: Profile?
    public var activeStage: StageAnnouncement?

    enum CodingKeys: String, CodingKey {
        case serverPostCount = "server_post_count"
        case serverInteractionCount = "server_interaction_count"
        case postsAfterCount = "posts_after_count"
        case interactionsAfterCount = "interactions_after_count"
        case mode, profile
        case activeStage = "active_stage"
    }

    public init(serverPostCount: UInt64, serverInteractionCount: UInt64, postsAfterCount: UInt64,
                interactionsAfterCount: UInt64, mode: SyncMode, profile: Profile?, activeStage: StageAnnouncement? = nil) {
        self.serverPostCount = serverPostCount
        self.serverInteractionCount = serverInteractionCount
        self.postsAfterCount = postsAfterCount
        self.interactionsAfterCount = interactionsAfterCount
        self.mode = mode
        self.profile = profile
        self.activeStage = activeStage
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(serverPostCount, forKey: .serverPostCount)
        try c.encode(serverInteractionCount, forKey: .serverInteractionCount)
        try c.encode(postsAfterCount, forKey: .postsAfterCount)
        try c.encode(interactionsAfterCount, forKey: .interactionsAfterCount)
        try c.encode(mode, forKey: .mode)
        if let profile { try c.encode(profile, forKey: .profile) } else { try c.encodeNil(forKey: .profile) }
        if let activeStage { try c.encode(activeStage, forKey: .activeStage) }
    }
}

/// A frame of the sync data stream (spec §6.3).
public enum SyncFrame: Codable, Equatable, Sendable {
    case posts([Post])
    case interactions([Interaction])
    case deviceAnnouncements([LinkedDevicesAnnouncement])

    public init(from decoder: any Decoder) throws {
        let (tag, c) = try ExternallyTagged.tag(in: decoder)
        switch tag {
        case "Posts": self = .posts(try ExternallyTagged.payload([Post].self, c, tag: tag, in: decoder))
        case "Interactions": self = .interactions(try ExternallyTagged.payload([Interaction].self, c, tag: tag, in: decoder))
        case "DeviceAnnouncements":
            self = .deviceAnnouncements(try ExternallyTagged.payload([LinkedDevicesAnnouncement].self, c, tag: tag, in: decoder))
        default: throw ExternallyTagged.unknown(tag, in: decoder, type: "SyncFrame")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .posts(let posts): try ExternallyTagged.encode("Posts", posts, to: encoder)
        case .interactions(let items): try ExternallyTagged.encode("Interactions", items, to: encoder)
        case .deviceAnnouncements(let items): try ExternallyTagged.encode("DeviceAnnouncements", items, to: encoder)
        }
    }
}

/// Direct delivery for non-public authors (spec §6.4).
public struct PushMessage: Codable, Equatable, Sendable {
    public var author: String
    public var posts: [Post]
    public var interactions: [Interaction]
    public var profile: Profile?

    public init(author: String, posts: [Post] = [], interactions: [Interaction] = [], profile: Profile? = nil) {
        self.author = author
        self.posts = posts
        self.interactions = interactions
        self.profile = profile
    }
}

public struct PushAck: Codable, Equatable, Sendable {
    public var receivedPostIDs: [String]
    public var receivedInteractionIDs: [String]

    enum CodingKeys: String, CodingKey {
        case receivedPostIDs = "received_post_ids"
        case receivedInteractionIDs = "received_interaction_ids"
    }

    public init(receivedPostIDs: [String], receivedInteractionIDs: [String]) {
        self.receivedPostIDs = receivedPostIDs
        self.receivedInteractionIDs = receivedInteractionIDs
    }
}

/// Who I am: master key, delegation, transport ids, profile (spec §6.2).
public struct IdentityResponse: Codable, Equatable, Sendable {
    public var masterPublicKey: String
    public var delegation: SigningKeyDelegation
    public var transportNodeIDs: [String]
    public var profile: Profile?

    enum CodingKeys: String, CodingKey {
        case masterPublicKey = "master_pubkey"
        case delegation
        case transportNodeIDs = "transport_node_ids"
        case profile
    }

    public init(masterPublicKey: String, delegation: SigningKeyDelegation, transportNodeIDs: [String], profile: Profile?) {
        self.masterPublicKey = masterPublicKey
        self.delegation = delegation
        self.transportNodeIDs = transportNodeIDs
        self.profile = profile
    }

    /// Tightening of §16.2: the delegation verifies and names `master_pubkey`.
    public func verify() throws(SignedRecordError) {
        try delegation.verify()
        guard delegation.masterPublicKey == masterPublicKey else {
            throw .mismatch(field: "delegation.master_pubkey", expected: masterPublicKey, actual: delegation.masterPublicKey)
        }
    }
}

/// Bare answer to a `FollowRequest` (spec §6.5).
public enum FollowResponse: Codable, Equatable, Sendable {
    case pending
    case denied
    case approved(IdentityResponse)

    public init(from decoder: any Decoder) throws {
        let (tag, c) = try ExternallyTagged.tag(in: decoder)
        switch tag {
        case "Pending": self = .pending
        case "Denied": self = .denied
        case "Approved": self = .approved(try ExternallyTagged.payload(IdentityResponse.self, c, tag: tag, in: decoder))
        default: throw ExternallyTagged.unknown(tag, in: decoder, type: "FollowResponse")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .pending: try ExternallyTagged.encodeUnit("Pending", to: encoder)
        case .denied: try ExternallyTagged.encodeUnit("Denied", to: encoder)
        case .approved(let identity): try ExternallyTagged.encode("Approved", identity, to: encoder)
        }
    }
}

/// One row of a follows/followers list (spec §6.2).
public struct SocialGraphEntry: Codable, Equatable, Sendable {
    public var pubkey: String
    public var followedAt: UInt64
    public var firstSeen: UInt64
    public var lastSeen: UInt64
    public var isOnline: Bool

    enum CodingKeys: String, CodingKey {
        case pubkey
        case followedAt = "followed_at"
        case firstSeen = "first_seen"
        case lastSeen = "last_seen"
        case isOnline = "is_online"
    }

    public init(pubkey: String, followedAt: UInt64 = 0, firstSeen: UInt64 = 0, lastSeen: UInt64 = 0, isOnline: Bool = false) {
        self.pubkey = pubkey
        self.followedAt = followedAt
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.isOnline = isOnline
    }
}

public struct FollowsListResponse: Codable, Equatable, Sendable {
    public var pubkey: String
    public var follows: [SocialGraphEntry]
    public var hidden: Bool
    public init(pubkey: String, follows: [SocialGraphEntry], hidden: Bool) {
        self.pubkey = pubkey
        self.follows = follows
        self.hidden = hidden
    }
}

public struct FollowersListResponse: Codable, Equatable, Sendable {
    public var pubkey: String
    public var followers: [SocialGraphEntry]
    public var hidden: Bool
    public init(pubkey: String, followers: [SocialGraphEntry], hidden: Bool) {
        self.pubkey = pubkey
        self.followers = followers
        self.hidden = hidden
    }
}

/// `LinkRequest { noise_init }` (spec §11.2; shape only here).
public struct LinkRequest: Codable, Equatable, Sendable {
    public var noiseInit: [UInt8]
    enum CodingKeys: String, CodingKey { case noiseInit = "noise_init" }
    public init(noiseInit: [UInt8]) { self.noiseInit = noiseInit }
}

/// `LinkBundle { noise_response, encrypted_bundle }`.
public struct LinkBundleResponse: Codable, Equatable, Sendable {
    public var noiseResponse: [UInt8]
    public var encryptedBundle: [UInt8]
    enum CodingKeys: String, CodingKey {
        case noiseResponse = "noise_response"
        case encryptedBundle = "encrypted_bundle"
    }
    public init(noiseResponse: [UInt8], encryptedBundle: [UInt8]) {
        self.noiseResponse = noiseResponse
        self.encryptedBundle = encryptedBundle
    }
}

/// Device-sync entries (spec §11.4; shapes only here, the exchange belongs to device linking).
public struct FollowEntry: Codable, Equatable, Sendable {
    public var pubkey: String
    public var followedAt: UInt64
    public var state: String
    public var lastChangedAt: UInt64
    enum CodingKeys: String, CodingKey {
        case pubkey
        case followedAt = "followed_at"
        case state
        case lastChangedAt = "last_changed_at"
    }
}

public struct ModerationEntry: Codable, Equatable, Sendable {
    public var pubkey: String
    public var kind: String
    public var createdAt: UInt64
    public var state: String
    public var lastChangedAt: UInt64
    enum CodingKeys: String, CodingKey {
        case pubkey, kind
        case createdAt = "created_at"
        case state
        case lastChangedAt = "last_changed_at"
    }
}

public struct RatchetSyncEntry: Codable, Equatable, Sendable {
    public var peerPublicKey: String
    public var updatedAt: UInt64
    enum CodingKeys: String, CodingKey {
        case peerPublicKey = "peer_pubkey"
        case updatedAt = "updated_at"
    }
}

public struct DeviceSyncVector: Codable, Equatable, Sendable {
    public var postCount: UInt64
    public var newestPostTimestamp: UInt64
    public var interactionCount: UInt64
    public var newestInteractionTimestamp: UInt64
    public var follows: [FollowEntry]
    public var moderation: [ModerationEntry]
    public var bookmarks: [String]
    public var ratchetSummaries: [RatchetSyncEntry]
    public var dmNewestTimestamp: UInt64

    enum CodingKeys: String, CodingKey {
        case postCount = "post_count"
        case newestPostTimestamp = "newest_post_ts"
        case interactionCount = "interaction_count"
        case newestInteractionTimestamp = "newest_interaction_ts"
        case follows, moderation, bookmarks
        case ratchetSummaries = "ratchet_summaries"
        case dmNewestTimestamp = "dm_newest_ts"
    }
}

public struct DeviceSyncRequest: Codable, Equatable, Sendable {
    public var challenge: [UInt8]
    public var challengeSignature: String
    public var vector: DeviceSyncVector
    enum CodingKeys: String, CodingKey {
        case challenge
        case challengeSignature = "challenge_sig"
        case vector
    }
}

public struct DeviceSyncAccepted: Codable, Equatable, Sendable {
    public var challengeResponse: String
    public var vector: DeviceSyncVector
    enum CodingKeys: String, CodingKey {
        case challengeResponse = "challenge_response"
        case vector
    }
}

/// The first message on a `proscenium/peer/1` connection (spec §6.1).
public enum PeerRequest: Codable, Equatable, Sendable {
    case sync(SyncRequest)
    case push(PushMessage)
    case followRequest(FollowRequest)
    case identityRequest
    case followsListRequest
    case followersListRequest
    case linkRequest(LinkRequest)
    case deviceSyncRequest(DeviceSyncRequest)

    public var variantName: String {
        switch self {
        case .sync: return "Sync"
        case .push: return "Push"
        case .followRequest: return "FollowRequest"
        case .identityRequest: return "IdentityRequest"
        case .followsListRequest: return "FollowsListRequest"
        case .followersListRequest: return "FollowersListRequest"
        case .linkRequest: return "LinkRequest"
        case .deviceSyncRequest: return "DeviceSyncRequest"
        }
    }

    public init(from decoder: any Decoder) throws {
        let (tag, c) = try ExternallyTagged.tag(in: decoder)
        func payload<T: Decodable>(_ type: T.Type) throws -> T { try ExternallyTagged.payload(type, c, tag: tag, in: decoder) }
        switch tag {
        case "Sync": self = .sync(try payload(SyncRequest.self))
        case "Push": self = .push(try payload(PushMessage.self))
        case "FollowRequest": self = .followRequest(try payload(FollowRequest.self))
        case "IdentityRequest": self = .identityRequest
        case "FollowsListRequest": self = .followsListRequest
        case "FollowersListRequest": self = .followersListRequest
        case "LinkRequest": self = .linkRequest(try payload(LinkRequest.self))
        case "DeviceSyncRequest": self = .deviceSyncRequest(try payload(DeviceSyncRequest.self))
        default: throw ExternallyTagged.unknown(tag, in: decoder, type: "PeerRequest")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        let name = variantName
        switch self {
        case .sync(let value): try ExternallyTagged.encode(name, value, to: encoder)
        case .push(let value): try ExternallyTagged.encode(name, value, to: encoder)
        case .followRequest(let value): try ExternallyTagged.encode(name, value, to: encoder)
        case .identityRequest, .followsListRequest, .followersListRequest: try ExternallyTagged.encodeUnit(name, to: encoder)
        case .linkRequest(let value): try ExternallyTagged.encode(name, value, to: encoder)
        case .deviceSyncRequest(let value): try ExternallyTagged.encode(name, value, to: encoder)
        }
    }
}

/// The wrapped responses (spec §6.1). Sync, Push and FollowRequest answers go out *bare*
/// (`SyncSummary`, `PushAck`, `FollowResponse`); their wrapper variants exist but are never sent.
public enum PeerResponse: Codable, Equatable, Sendable {
    case identity(IdentityResponse)
    case followsList(FollowsListResponse)
    case followersList(FollowersListResponse)
    case linkBundle(LinkBundleResponse)
    case deviceSyncAccepted(DeviceSyncAccepted)
    case syncSummary(SyncSummary)
    case pushAck(PushAck)
    case followResponse(FollowResponse)

    public init(from decoder: any Decoder) throws {
        let (tag, c) = try ExternallyTagged.tag(in: decoder)
        func payload<T: Decodable>(_ type: T.Type) throws -> T { try ExternallyTagged.payload(type, c, tag: tag, in: decoder) }
        switch tag {
        case "Identity": self = .identity(try payload(IdentityResponse.self))
        case "FollowsList": self = .followsList(try payload(FollowsListResponse.self))
        case "FollowersList": self = .followersList(try payload(FollowersListResponse.self))
        case "LinkBundle": self = .linkBundle(try payload(LinkBundleResponse.self))
        case "DeviceSyncAccepted": self = .deviceSyncAccepted(try payload(DeviceSyncAccepted.self))
        case "SyncSummary": self = .syncSummary(try payload(SyncSummary.self))
        case "PushAck": self = .pushAck(try payload(PushAck.self))
        case "FollowResponse": self = .followResponse(try payload(FollowResponse.self))
        default: throw ExternallyTagged.unknown(tag, in: decoder, type: "PeerResponse")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .identity(let value): try ExternallyTagged.encode("Identity", value, to: encoder)
        case .followsList(let value): try ExternallyTagged.encode("FollowsList", value, to: encoder)
        case .followersList(let value): try ExternallyTagged.encode("FollowersList", value, to: encoder)
        case .linkBundle(let value): try ExternallyTagged.encode("LinkBundle", value, to: encoder)
        case .deviceSyncAccepted(let value): try ExternallyTagged.encode("DeviceSyncAccepted", value, to: encoder)
        case .syncSummary(let value): try ExternallyTagged.encode("SyncSummary", value, to: encoder)
        case .pushAck(let value): try ExternallyTagged.encode("PushAck", value, to: encoder)
        case .followResponse(let value): try ExternallyTagged.encode("FollowResponse", value, to: encoder)
        }
    }
}

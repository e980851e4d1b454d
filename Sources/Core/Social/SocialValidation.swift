import Synchronization

/// Limits of spec §14 that apply to social content and the peer protocol.
public enum SocialLimits {
    public static let maxPostContentBytes = 10_000
    public static let maxMediaCount = 10
    /// Posts and interactions may be at most this far in the future (no past limit).
    public static let maxTimestampDriftMillis: UInt64 = 300_000
    public static let maxDisplayNameBytes = 200
    public static let maxBioBytes = 2_000
    public static let maxPushPosts = 50
    public static let maxPushInteractions = 200
    public static let syncBatchSize = 200
    public static let followRequestTTLMillis: UInt64 = 30 * 24 * 3600 * 1000
    public static let remoteListCacheMillis: UInt64 = 60 * 60 * 1000
    /// Read caps (bytes).
    public static let peerRequestCap = 10_000_000
    public static let syncSummaryCap = 65_536
    public static let idListCap = 5_000_000
    public static let smallResponseCap = 65_536
    public static let listResponseCap = 1_000_000
    public static let syncFrameCap = FrameEncoder.syncMaxFrameSize
    /// iroh-gossip's maximum message (the payload must stay below it, with framing).
    public static let gossipMaxMessage = 4096
    public static let pushTimeoutSeconds = 10.0
    public static let syncTimeoutSeconds = 30.0
    /// Identity, follow requests and lists have no timeout of their own in the reference (iroh's
    /// idle timeout ends them); we bound them explicitly.
    public static let requestTimeoutSeconds = 30.0
}

/// Why a piece of remote input was not accepted. Every rejection is logged with its detail and
/// counted under this reason in `SocialMetrics`.
public enum SocialRejection: String, Sendable, CaseIterable, Codable {
    case contentTooLong = "content_too_long"
    case tooManyMedia = "too_many_media"
    case timestampInFuture = "timestamp_in_future"
    case displayNameTooLong = "display_name_too_long"
    case bioTooLong = "bio_too_long"
    case badSignature = "bad_signature"
    /// Signature fails and no delegation is cached for the author (it may be signed by a signing
    /// key we have not learned yet).
    case unknownDelegation = "unknown_delegation"
    case invalidDelegation = "invalid_delegation"
    case invalidKey = "invalid_key"
    case wrongAuthor = "wrong_author"
    case mutedOrBlocked = "muted_or_blocked"
    case blockedPeer = "blocked_peer"
    case malformedJSON = "malformed_json"
    case oversizedMessage = "oversized_message"
    case staleRotation = "stale_rotation"
    case staleAnnouncement = "stale_announcement"
    case unauthorized = "unauthorized"
    case tooManyItems = "too_many_items"
    case unsupportedRequest = "unsupported_request"
    case protocolViolation = "protocol_violation"
}

/// Why a record failed validation, with the detail for the log.
public struct SocialRejectionError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: SocialRejection
    public let detail: String
    public init(_ reason: SocialRejection, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }
    public var description: String { "\(reason.rawValue): \(detail)" }
}

/// The §7.6 checks. Pure functions of the record and the current time.
public enum SocialValidator {
    public static func validate(_ post: Post, now: UInt64) throws(SocialRejectionError) {
        let bytes = post.content.utf8.count
        guard bytes <= SocialLimits.maxPostContentBytes else {
            throw SocialRejectionError(.contentTooLong, "post \(post.id) content is \(bytes) bytes (max \(SocialLimits.maxPostContentBytes))")
        }
        guard post.media.count <= SocialLimits.maxMediaCount else {
            throw SocialRejectionError(.tooManyMedia, "post \(post.id) has \(post.media.count) media (max \(SocialLimits.maxMediaCount))")
        }
        try checkTimestamp(post.timestamp, now: now, what: "post \(post.id)")
    }

    public static func validate(_ interaction: Interaction, now: UInt64) throws(SocialRejectionError) {
        try checkTimestamp(interaction.timestamp, now: now, what: "interaction \(interaction.id)")
    }

    public static func validate(_ profile: Profile) throws(SocialRejectionError) {
        let nameBytes = profile.displayName.utf8.count
        guard nameBytes <= SocialLimits.maxDisplayNameBytes else {
            throw SocialRejectionError(.displayNameTooLong, "display_name is \(nameBytes) bytes (max \(SocialLimits.maxDisplayNameBytes))")
        }
        let bioBytes = profile.bio.utf8.count
        guard bioBytes <= SocialLimits.maxBioBytes else {
            throw SocialRejectionError(.bioTooLong, "bio is \(bioBytes) bytes (max \(SocialLimits.maxBioBytes))")
        }
    }

    static func checkTimestamp(_ timestamp: UInt64, now: UInt64, what: String) throws(SocialRejectionError) {
        let (limit, overflow) = now.addingReportingOverflow(SocialLimits.maxTimestampDriftMillis)
        guard overflow || timestamp <= limit else {
            throw SocialRejectionError(.timestampInFuture, "\(what) timestamp \(timestamp) is \(timestamp - now) ms ahead of now \(now) (max \(SocialLimits.maxTimestampDriftMillis))")
        }
    }
}

/// Counters of what the social layer accepted and rejected. Thread-safe; one per node.
public final class SocialMetrics: Sendable {
    public struct Snapshot: Equatable, Sendable, Codable {
        public var accepted: [String: UInt64] = [:]
        public var duplicates: [String: UInt64] = [:]
        public var rejected: [String: UInt64] = [:]

        public func rejected(_ reason: SocialRejection) -> UInt64 { rejected[reason.rawValue] ?? 0 }
        public var totalRejected: UInt64 { rejected.values.reduce(0, +) }
        public var totalAccepted: UInt64 { accepted.values.reduce(0, +) }
        public var totalDuplicates: UInt64 { duplicates.values.reduce(0, +) }
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public func accepted(_ kind: String) { state.withLock { $0.accepted[kind, default: 0] += 1 } }
    public func duplicate(_ kind: String) { state.withLock { $0.duplicates[kind, default: 0] += 1 } }
    public func rejected(_ reason: SocialRejection) { state.withLock { $0.rejected[reason.rawValue, default: 0] += 1 } }

    public var snapshot: Snapshot { state.withLock { $0 } }
}

import Synchronization

/// This node as the peer protocol presents it: keys, the delegation it hands out, its own
/// transport id, and (when hosting) the live stage for `SyncSummary.active_stage`.
public final class LocalPeer: Sendable {
    public let identity: NodeIdentity
    public let delegation: SigningKeyDelegation
    private let stage = Mutex<StageAnnouncement?>(nil)

    public init(identity: NodeIdentity, delegation: SigningKeyDelegation) {
        self.identity = identity
        self.delegation = delegation
    }

    public var masterHex: String { identity.masterPublicKey.hex }
    public var transportHex: String { identity.transportID.hex }

    public var activeStage: StageAnnouncement? {
        get { stage.withLock { $0 } }
        set { stage.withLock { $0 = newValue } }
    }
}

/// Access rule shared by sync, push and lists (spec §6.3, §6.7, §7.5).
enum PeerAccess {
    /// May `requester` sync from / list the graph of `me`, given my visibility?
    static func mayRead(requester: String, me: String, visibility: Visibility, store: SocialStore) throws -> Bool {
        switch visibility {
        case .public: return true
        case .listed: return try store.isFollower(requester, of: me)
        case .private: return try store.isFollower(requester, of: me) && store.isFollowing(me, requester)
        }
    }

    /// May `sender` push to `me`? (follower or followee; mutual when private).
    static func mayPush(sender: String, me: String, visibility: Visibility, store: SocialStore) throws -> Bool {
        let follower = try store.isFollower(sender, of: me)
        let followee = try store.isFollowing(me, sender)
        switch visibility {
        case .public, .listed: return follower || followee
        case .private: return follower && followee
        }
    }
}

/// The `proscenium/peer/1` responder (spec §6): one request per connection, read until FIN,
/// answered with one JSON document; any failure drops the connection without a message.
public struct PeerProtocolHandler: ProtocolHandler {
    public static let alpn = "proscenium/peer/1"

    public let local: LocalPeer
    public let pipeline: SocialPipeline

    public init(local: LocalPeer, pipeline: SocialPipeline) {
        self.local = local
        self.pipeline = pipeline
    }

    var store: SocialStore { pipeline.store }
    var logger: Logger { pipeline.logger }

    /// A request this handler refuses: logged, counted, connection dropped.
    struct Refusal: Error {
        let error: SocialRejectionError
    }

    public func accept(_ connection: any PeerConnection) async {
        let remote = connection.remoteID.hex
        let requester: String
        do {
            requester = try pipeline.directory.masterHex(forTransportID: remote) ?? remote
            if try store.isBlocked(requester) {
                drop(connection, SocialRejectionError(.blockedPeer, "\(requester.prefix(16)) is blocked"), request: "connection")
                return
            }
        } catch {
            logger.error("peer/1 admission of \(remote.prefix(16)) failed: \(error)")
            connection.close(code: 0, reason: "")
            return
        }
        var requestName = "request"
        do {
            let (send, bytes): (any PeerStreamWriter, [UInt8])
            do {
                (send, bytes) = try await PeerDeadline.run(on: connection, timeoutSeconds: SocialLimits.requestTimeoutSeconds) {
                    let (send, receive) = try await connection.acceptBidirectionalStream()
                    return (send, try await receive.readToEnd(limit: SocialLimits.peerRequestCap))
                }
            } catch PeerNetworkError.limitExceeded(let what) {
                throw Refusal(error: SocialRejectionError(.oversizedMessage, "PeerRequest: \(what)"))
            }
            let request: PeerRequest
            do {
                request = try WireJSON.decode(PeerRequest.self, from: bytes)
            } catch {
                throw Refusal(error: SocialRejectionError(.malformedJSON, error.message))
            }
            requestName = request.variantName
            try await serve(request, requester: requester, connection: connection, send: send)
            // The initiator closes (0, "done") once it has read the answer.
            _ = await connection.closed()
        } catch let refusal as Refusal {
            drop(connection, refusal.error, request: "\(requestName) from \(requester.prefix(16))")
        } catch let rejection as SocialRejectionError {
            drop(connection, rejection, request: "\(requestName) from \(requester.prefix(16))")
        } catch {
            logger.info("peer/1 \(requestName) from \(requester.prefix(16)) ended: \(error)")
            connection.close(code: 0, reason: "")
        }
    }

    private func drop(_ connection: any PeerConnection, _ error: SocialRejectionError, request: String) {
        pipeline.reject(error, context: "peer/1 \(request)")
        connection.close(code: 0, reason: "")
    }

    private func respond<T: Encodable>(_ value: T, on send: any PeerStreamWriter) async throws {
        try await send.write(try WireJSON.encode(value))
        try await send.finish()
    }

    func serve(_ request: PeerRequest, requester: String, connection: any PeerConnection,
               send: any PeerStreamWriter) async throws {
        switch request {
        case .identityRequest:
            try await respond(PeerResponse.identity(try identityResponse()), on: send)
        case .sync(let sync):
            try await serveSync(sync, requester: requester, connection: connection, send: send)
        case .push(let push):
            try await respond(try servePush(push, requester: requester), on: send)
        case .followRequest(let follow):
            try await respond(try serveFollowRequest(follow, remote: connection.remoteID.hex), on: send)
        case .followsListRequest:
            let (hidden, entries) = try list(requester: requester, preference: "share_follows") { try store.following(of: local.masterHex) }
            try await respond(PeerResponse.followsList(FollowsListResponse(pubkey: local.masterHex, follows: entries, hidden: hidden)), on: send)
        case .followersListRequest:
            let (hidden, entries) = try list(requester: requester, preference: "share_followers") { try store.followers(of: local.masterHex) }
            try await respond(PeerResponse.followersList(FollowersListResponse(pubkey: local.masterHex, followers: entries, hidden: hidden)), on: send)
        case .linkRequest, .deviceSyncRequest:
            throw Refusal(error: SocialRejectionError(.unsupportedRequest, "\(request.variantName) is not served by this node yet"))
        }
    }

    func identityResponse() throws -> IdentityResponse {
        IdentityResponse(masterPublicKey: local.masterHex, delegation: local.delegation,
                         transportNodeIDs: [local.transportHex], profile: try store.profile(for: local.masterHex))
    }

    private func list(requester: String, preference: String,
                      entries: () throws -> [SocialGraphEntry]) throws -> (Bool, [SocialGraphEntry]) {
        let me = local.masterHex
        let allowed = try PeerAccess.mayRead(requester: requester, me: me, visibility: store.visibility(of: me), store: store)
        guard allowed, try store.preference(preference) != "0" else { return (true, []) }
        return (false, try entries())
    }

    // MARK: Push (spec §6.4)

    func servePush(_ push: PushMessage, requester: String) throws -> PushAck {
        let me = local.masterHex
        guard push.author == requester else {
            throw Refusal(error: SocialRejectionError(.wrongAuthor, "push author \(push.author.prefix(16)) is not the sender \(requester.prefix(16))"))
        }
        guard try PeerAccess.mayPush(sender: requester, me: me, visibility: store.visibility(of: me), store: store) else {
            throw Refusal(error: SocialRejectionError(.unauthorized, "\(requester.prefix(16)) may not push to us"))
        }
        guard push.posts.count <= SocialLimits.maxPushPosts, push.interactions.count <= SocialLimits.maxPushInteractions else {
            throw Refusal(error: SocialRejectionError(.tooManyItems,
                "push carries \(push.posts.count) posts / \(push.interactions.count) interactions (max \(SocialLimits.maxPushPosts)/\(SocialLimits.maxPushInteractions))"))
        }
        if try store.isMutedOrBlocked(requester) {
            pipeline.reject(SocialRejectionError(.mutedOrBlocked, "push sender \(requester.prefix(16)) is muted"), context: "push")
            return PushAck(receivedPostIDs: [], receivedInteractionIDs: [])
        }
        let strangers = push.posts.filter { $0.author != requester }.count
            + push.interactions.filter { $0.author != requester }.count
        if strangers > 0 {
            pipeline.reject(SocialRejectionError(.wrongAuthor, "\(strangers) pushed items by other authors skipped"),
                            context: "push from \(requester.prefix(16))")
        }
        var postIDs: [String] = []
        for post in push.posts where post.author == requester {
            let outcome = pipeline.ingest(post, filterModerated: true, context: "push")
            if outcome == .accepted || outcome == .duplicate { postIDs.append(post.id) }
        }
        var interactionIDs: [String] = []
        for interaction in push.interactions where interaction.author == requester {
            _ = pipeline.ingest(interaction, filterModerated: true, context: "push")
            interactionIDs.append(interaction.id) // acked even when rejected, like the reference
        }
        if let profile = push.profile {
            // Tightened (§16.2): verified with the resolved signer even when no delegation is cached.
            _ = pipeline.ingest(profile, owner: requester, context: "push")
        }
        return PushAck(receivedPostIDs: postIDs, receivedInteractionIDs: interactionIDs)
    }

    // MARK: Follow requests (spec §6.5)

    func serveFollowRequest(_ request: FollowRequest, remote: String) throws -> FollowResponse {
        do {
            try request.verify()
        } catch {
            let reason: SocialRejection = error == .badSignature(record: "follow request") ? .badSignature : .invalidDelegation
            throw Refusal(error: SocialRejectionError(reason, "follow request from \(request.requester.prefix(16)): \(error)"))
        }
        try pipeline.directory.cache(request.delegation, transportIDs: [remote])
        let me = local.masterHex
        let now = pipeline.clock.nowMillis()
        switch try store.visibility(of: me) {
        case .public:
            return .approved(try identityResponse())
        case .private:
            return .denied
        case .listed:
            if try store.followRequestStatus(request.requester) == .approved {
                return .approved(try identityResponse())
            }
            if try store.upsertPendingFollowRequest(request.requester, timestamp: request.timestamp, now: now) {
                try store.addNotification(kind: "follow_request", actor: request.requester, targetPostID: nil, postID: nil,
                                          timestamp: now)
            }
            return .pending
        }
    }

    // MARK: Sync (spec §6.3)

    static func summary(for request: SyncRequest, store: SocialStore, profile: Profile?,
                        activeStage: StageAnnouncement?) throws -> SyncSummary {
        let author = request.author
        let total = try store.postCount(author: author)
        let totalInteractions = try store.interactionCount(author: author)
        let after = request.newestTimestamp > 0 ? try store.postCount(author: author, after: request.newestTimestamp) : total
        let interactionsAfter = request.newestInteractionTimestamp > 0
            ? try store.interactionCount(author: author, after: request.newestInteractionTimestamp) : totalInteractions
        let mode: SyncMode
        if request.postCount == total && request.interactionCount == totalInteractions {
            mode = .upToDate
        } else if total >= request.postCount && total - request.postCount == after {
            mode = .timestampCatchUp
        } else {
            mode = .needIDDiff
        }
        return SyncSummary(serverPostCount: total, serverInteractionCount: totalInteractions, postsAfterCount: after,
                           interactionsAfterCount: interactionsAfter, mode: mode, profile: profile, activeStage: activeStage)
    }

    func serveSync(_ request: SyncRequest, requester: String, connection: any PeerConnection,
                   send: any PeerStreamWriter) async throws {
        let me = local.masterHex
        guard try PeerAccess.mayRead(requester: requester, me: me, visibility: store.visibility(of: me), store: store) else {
            throw Refusal(error: SocialRejectionError(.unauthorized, "\(requester.prefix(16)) may not sync from us"))
        }
        let summary = try Self.summary(for: request, store: store, profile: try store.profile(for: me),
                                       activeStage: local.activeStage)
        try await respond(summary, on: send)
        guard summary.mode != .upToDate else { return }

        let (dataSend, dataReceive) = try await connection.acceptBidirectionalStream()
        var known: Set<String> = []
        if summary.mode == .needIDDiff {
            let body: [UInt8]
            do {
                body = try await dataReceive.readToEnd(limit: SocialLimits.idListCap)
            } catch PeerNetworkError.limitExceeded(let what) {
                throw Refusal(error: SocialRejectionError(.oversizedMessage, "sync id list: \(what)"))
            }
            // An empty body is what the discovery server sends (§16.1 item 4); treat it as "no ids"
            // instead of dropping the connection like the reference.
            if !body.isEmpty {
                do {
                    known = Set(try WireJSON.decode([String].self, from: body))
                } catch {
                    throw Refusal(error: SocialRejectionError(.malformedJSON, error.message))
                }
            }
        } else {
            _ = try await dataReceive.readToEnd(limit: SocialLimits.smallResponseCap)
        }

        let encoder = FrameEncoder(prefix: .u32BigEndian, maxFrameSize: SocialLimits.syncFrameCap)
        let batch = SocialLimits.syncBatchSize
        let author = request.author
        let after: UInt64? = summary.mode == .timestampCatchUp && request.newestTimestamp > 0 ? request.newestTimestamp : nil
        var offset = 0
        while true {
            let page = try store.posts(author: author, after: after, limit: batch, offset: offset)
            if page.isEmpty { break }
            offset += page.count
            let wanted = summary.mode == .needIDDiff ? page.filter { !known.contains($0.id) } : page
            if !wanted.isEmpty { try await dataSend.write(try encoder.frame(try WireJSON.encode(SyncFrame.posts(wanted)))) }
            if page.count < batch { break }
        }
        if request.interactionCount != summary.serverInteractionCount {
            let si = summary.serverInteractionCount
            let catchUp = si >= request.interactionCount && si - request.interactionCount == summary.interactionsAfterCount
            let interactionsAfter: UInt64? = catchUp && request.newestInteractionTimestamp > 0 ? request.newestInteractionTimestamp : nil
            offset = 0
            while true {
                let page = try store.interactions(author: author, after: interactionsAfter, limit: batch, offset: offset)
                if page.isEmpty { break }
                offset += page.count
                try await dataSend.write(try encoder.frame(try WireJSON.encode(SyncFrame.interactions(page))))
                if page.count < batch { break }
            }
        }
        try await dataSend.write(try encoder.frame([]))
        try await dataSend.finish()
    }
}

/// Why a peer/1 client call failed.
public enum PeerClientError: Error, Equatable, Sendable, CustomStringConvertible {
    case noTransportID(String)
    case network(String)
    case invalidResponse(String)
    case rejected(SocialRejectionError)
    case unexpectedResponse(String)

    public var description: String {
        switch self {
        case let .noTransportID(master): return "no transport id known for \(master.prefix(16))"
        case let .network(why): return "network: \(why)"
        case let .invalidResponse(why): return "invalid response: \(why)"
        case let .rejected(error): return "response rejected: \(error)"
        case let .unexpectedResponse(what): return "unexpected response: \(what)"
        }
    }
}

/// Outcome of one sync with one author.
public struct SyncResult: Equatable, Sendable {
    public var mode: SyncMode
    public var postsAccepted = 0
    public var interactionsAccepted = 0
    public var duplicates = 0
    public var rejected = 0
}

/// The `proscenium/peer/1` initiator: one new connection per request, closed with (0, "done").
public struct PeerProtocolClient: Sendable {
    public let dialer: any PeerDialer
    public let pipeline: SocialPipeline
    public var connectTimeoutSeconds: Double = 10
    /// Bound on identity, follow-request and list exchanges (push and sync use §14's 10 s / 30 s).
    public var requestTimeoutSeconds: Double = SocialLimits.requestTimeoutSeconds

    public init(dialer: any PeerDialer, pipeline: SocialPipeline) {
        self.dialer = dialer
        self.pipeline = pipeline
    }

    var logger: Logger { pipeline.logger }

    /// Connects, sends `request`, finishes, and reads the answer up to `cap` bytes. The
    /// connection stays open for callers that continue (sync); others close it.
    func exchange(_ request: PeerRequest, with endpoint: EndpointID, cap: Int,
                  timeoutSeconds: Double? = nil) async throws -> (any PeerConnection, [UInt8]) {
        let timeoutSeconds = timeoutSeconds ?? requestTimeoutSeconds
        let connection: any PeerConnection
        do {
            connection = try await dialer.connect(to: PeerAddress(id: endpoint), alpn: PeerProtocolHandler.alpn,
                                                  timeoutSeconds: connectTimeoutSeconds)
        } catch {
            throw PeerClientError.network("connect to \(endpoint.hex.prefix(16)): \(error)")
        }
        do {
            let payload = try WireJSON.encode(request)
            let bytes = try await PeerDeadline.run(on: connection, timeoutSeconds: timeoutSeconds) {
                let (send, receive) = try await connection.openBidirectionalStream()
                try await send.write(payload)
                try await send.finish()
                return try await receive.readToEnd(limit: cap)
            }
            return (connection, bytes)
        } catch let error as PeerDeadline.TimedOut {
            connection.close(code: 0, reason: "done")
            throw PeerClientError.network("\(request.variantName) to \(endpoint.hex.prefix(16)): \(error)")
        } catch let error as PeerNetworkError {
            connection.close(code: 0, reason: "done")
            if case .limitExceeded(let what) = error {
                throw PeerClientError.rejected(pipeline.rejectError(SocialRejectionError(.oversizedMessage, "\(request.variantName) response: \(what)")))
            }
            throw PeerClientError.network("\(request.variantName) to \(endpoint.hex.prefix(16)): \(error)")
        }
    }

    func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], what: String) throws -> T {
        do {
            return try WireJSON.decode(type, from: bytes)
        } catch {
            throw PeerClientError.rejected(pipeline.rejectError(SocialRejectionError(.malformedJSON, "\(what): \(error.message)")))
        }
    }

    /// Identity (spec §6.6). The delegation is verified before it is cached (§16.2 tightening);
    /// the profile is stored only if its signature verifies under that delegation.
    public func identity(of endpoint: EndpointID) async throws -> IdentityResponse {
        let (connection, bytes) = try await exchange(.identityRequest, with: endpoint, cap: SocialLimits.smallResponseCap)
        connection.close(code: 0, reason: "done")
        guard case .identity(let identity) = try decode(PeerResponse.self, bytes, what: "IdentityRequest response") else {
            throw PeerClientError.unexpectedResponse("IdentityRequest answered with another variant")
        }
        try cacheIdentity(identity)
        return identity
    }

    func cacheIdentity(_ identity: IdentityResponse) throws {
        do {
            try identity.verify()
        } catch {
            throw PeerClientError.rejected(pipeline.rejectError(SocialRejectionError(.invalidDelegation, "identity of \(identity.masterPublicKey.prefix(16)): \(error)")))
        }
        try pipeline.directory.cache(identity.delegation, transportIDs: identity.transportNodeIDs)
        if let profile = identity.profile {
            _ = pipeline.ingest(profile, owner: identity.masterPublicKey, context: "identity")
        }
    }

    /// Sends a follow request (spec §6.5); an `Approved` identity is verified and cached.
    public func sendFollowRequest(_ request: FollowRequest, to endpoint: EndpointID) async throws -> FollowResponse {
        let (connection, bytes) = try await exchange(.followRequest(request), with: endpoint, cap: SocialLimits.smallResponseCap)
        connection.close(code: 0, reason: "done")
        let response = try decode(FollowResponse.self, bytes, what: "FollowResponse")
        if case .approved(let identity) = response { try cacheIdentity(identity) }
        return response
    }

    public func push(_ message: PushMessage, to endpoint: EndpointID) async throws -> PushAck {
        let (connection, bytes) = try await exchange(.push(message), with: endpoint, cap: SocialLimits.smallResponseCap,
                                                     timeoutSeconds: SocialLimits.pushTimeoutSeconds)
        connection.close(code: 0, reason: "done")
        return try decode(PushAck.self, bytes, what: "PushAck")
    }

    public func followsList(of endpoint: EndpointID) async throws -> FollowsListResponse {
        let (connection, bytes) = try await exchange(.followsListRequest, with: endpoint, cap: SocialLimits.listResponseCap)
        connection.close(code: 0, reason: "done")
        guard case .followsList(let list) = try decode(PeerResponse.self, bytes, what: "FollowsList") else {
            throw PeerClientError.unexpectedResponse("FollowsListRequest answered with another variant")
        }
        return list
    }

    public func followersList(of endpoint: EndpointID) async throws -> FollowersListResponse {
        let (connection, bytes) = try await exchange(.followersListRequest, with: endpoint, cap: SocialLimits.listResponseCap)
        connection.close(code: 0, reason: "done")
        guard case .followersList(let list) = try decode(PeerResponse.self, bytes, what: "FollowersList") else {
            throw PeerClientError.unexpectedResponse("FollowersListRequest answered with another variant")
        }
        return list
    }

    /// Pulls `author`'s history from `endpoint` (spec §6.3).
    public func sync(author: String, from endpoint: EndpointID) async throws -> SyncResult {
        let store = pipeline.store
        let request = SyncRequest(author: author, postCount: try store.postCount(author: author),
                                  interactionCount: try store.interactionCount(author: author),
                                  newestTimestamp: try store.newestPostTimestamp(author: author),
                                  newestInteractionTimestamp: try store.newestInteractionTimestamp(author: author))
        let (connection, bytes) = try await exchange(.sync(request), with: endpoint, cap: SocialLimits.syncSummaryCap,
                                                     timeoutSeconds: SocialLimits.syncTimeoutSeconds)
        defer { connection.close(code: 0, reason: "done") }
        let summary = try decode(SyncSummary.self, bytes, what: "SyncSummary")
        // `profile` is the *responder's* own profile whatever author was asked for (§16.3); the
        // reference saves it under `author` unverified. We keep it only when the responder is that
        // author, and verify it like a pushed profile (§16.2).
        if let profile = summary.profile, try pipeline.directory.masterHex(forTransportID: endpoint.hex) == author {
            _ = pipeline.ingest(profile, owner: author, context: "sync summary")
        }
        var result = SyncResult(mode: summary.mode)
        guard summary.mode != .upToDate else { return result }

        let ids = summary.mode == .needIDDiff ? try store.postIDs(author: author) : nil
        let frames: [[UInt8]]
        do {
            frames = try await PeerDeadline.run(on: connection, timeoutSeconds: SocialLimits.syncTimeoutSeconds) {
                try await Self.receiveFrames(on: connection, ids: ids)
            }
        } catch let error as FramingError {
            throw PeerClientError.rejected(pipeline.rejectError(SocialRejectionError(.oversizedMessage, "sync frame: \(error)")))
        } catch let error as PeerClientError {
            throw error
        } catch {
            throw PeerClientError.network("sync of \(author.prefix(16)): \(error)")
        }
        for frame in frames { try apply(frame, author: author, into: &result) }
        return result
    }

    /// Phase 2/3: opens the data stream, sends the id list (NeedIdDiff) or nothing, and collects
    /// frames until the zero-length terminator. Frames are applied after the stream ends, so a
    /// bad stream stores nothing.
    static func receiveFrames(on connection: any PeerConnection, ids: [String]?) async throws -> [[UInt8]] {
        let (send, receive) = try await connection.openBidirectionalStream()
        if let ids { try await send.write(try WireJSON.encode(ids)) }
        try await send.finish()
        var decoder = FrameDecoder(prefix: .u32BigEndian, maxFrameSize: SocialLimits.syncFrameCap)
        var frames: [[UInt8]] = []
        while true {
            guard let chunk = try await receive.read(maxBytes: 65_536) else {
                throw PeerClientError.invalidResponse("sync stream ended before the terminator frame")
            }
            decoder.append(chunk)
            while let frame = try decoder.nextFrame() {
                if frame.isEmpty { return frames }
                frames.append(frame)
            }
        }
    }

    private func apply(_ frame: [UInt8], author: String, into result: inout SyncResult) throws {
        let decoded = try decode(SyncFrame.self, frame, what: "SyncFrame")
        func count(_ outcome: SocialPipeline.Outcome, post: Bool) {
            switch outcome {
            case .accepted: if post { result.postsAccepted += 1 } else { result.interactionsAccepted += 1 }
            case .duplicate: result.duplicates += 1
            case .rejected: result.rejected += 1
            case .ignored: break
            }
        }
        switch decoded {
        case .posts(let posts):
            // Like the reference: no mute filter and no author check on synced posts; each post
            // still verifies against its own author's signer.
            for post in posts { count(pipeline.ingest(post, filterModerated: false, context: "sync"), post: true) }
        case .interactions(let interactions):
            for interaction in interactions {
                guard interaction.author == author else {
                    pipeline.reject(SocialRejectionError(.wrongAuthor, "synced interaction by \(interaction.author.prefix(16))"),
                                    context: "sync of \(author.prefix(16))")
                    result.rejected += 1
                    continue
                }
                count(pipeline.ingest(interaction, filterModerated: false, context: "sync"), post: false)
            }
        case .deviceAnnouncements(let announcements):
            for announcement in announcements {
                _ = pipeline.apply(announcement, topicOwner: announcement.masterPublicKey, context: "sync")
            }
        }
    }
}

extension SocialPipeline {
    /// Logs and counts `error`, and returns it (for rethrowing as a client error).
    func rejectError(_ error: SocialRejectionError) -> SocialRejectionError {
        reject(error, context: "peer/1 client")
        return error
    }
}

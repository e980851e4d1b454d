/// Joining and leaving gossip topics; the iroh-gossip service (Core/Gossip) satisfies this at
/// merge. Optional: without it the service still publishes and receives what it is handed.
public protocol FeedSubscriptions: Sendable {
    func subscribe(topic: [UInt8], bootstrap: [EndpointID]) async throws
    func unsubscribe(topic: [UInt8]) async
}

/// The user feed (spec §5, §6, §7): signs, stores and distributes own content, follows people,
/// applies what arrives on followed topics, tracks followers on the own topic, and catches up
/// by sync after being offline. Timers live outside: callers drive `heartbeat()`,
/// `connectivityChanged(online:)` and `syncAll()`.
public actor SocialService {
    public nonisolated let local: LocalPeer
    public nonisolated let pipeline: SocialPipeline
    public nonisolated let client: PeerProtocolClient
    public nonisolated let handler: PeerProtocolHandler
    let publisher: any FeedPublisher
    let subscriptions: (any FeedSubscriptions)?

    private var online = true
    /// Feed topic (hex) → master key, for every followed author.
    private var topicOwners: [String: String] = [:]
    private var stageObserver: (@Sendable (StageNews) -> Void)?

    public nonisolated var store: SocialStore { pipeline.store }
    public nonisolated var directory: DelegationCache { pipeline.directory }
    public nonisolated var metrics: SocialMetrics { pipeline.metrics }
    public nonisolated var me: String { local.masterHex }
    nonisolated var logger: Logger { pipeline.logger }
    nonisolated var clock: any WallClock { pipeline.clock }

    public init(identity: NodeIdentity, database: AppDatabase, dialer: any PeerDialer, publisher: any FeedPublisher,
                subscriptions: (any FeedSubscriptions)? = nil, metrics: SocialMetrics = SocialMetrics(),
                logger: Logger, clock: any WallClock) throws {
        // Startup re-signs the delegation with issued_at = now (spec §3.3).
        let local = LocalPeer(identity: identity, delegation: identity.delegation(issuedAt: clock.nowMillis()))
        let directory = DelegationCache(database: database, clock: clock)
        let pipeline = SocialPipeline(me: local.masterHex, store: SocialStore(database: database), directory: directory,
                                      metrics: metrics, logger: logger, clock: clock)
        self.local = local
        self.pipeline = pipeline
        self.client = PeerProtocolClient(dialer: dialer, pipeline: pipeline)
        self.handler = PeerProtocolHandler(local: local, pipeline: pipeline)
        self.publisher = publisher
        self.subscriptions = subscriptions
        // Our own delegation is what content by us verifies against locally.
        try directory.cache(local.delegation, transportIDs: [local.transportHex])
        for entry in try pipeline.store.following(of: local.masterHex) {
            if let key = try? Ed25519.PublicKey(hex: entry.pubkey) {
                topicOwners[Hex.encode(FeedTopicDerivation.topicID(masterPublicKey: key))] = entry.pubkey
            }
        }
    }

    public nonisolated var ownTopic: [UInt8] { local.identity.feedTopicID }
    /// Own gossip payloads waiting in the durable outbox (offline first).
    public var pendingPublications: Int { (try? store.pendingGossipCount()) ?? 0 }
    public var isOnline: Bool { online }

    // MARK: Startup and timers

    /// Joins the own topic when public and announces this device (spec §5.2, §5.3).
    public func start() async throws {
        guard try store.visibility(of: me) == .public else { return }
        try? await subscriptions?.subscribe(topic: ownTopic, bootstrap: [])
        await distribute(.linkedDevices(deviceAnnouncement()))
    }

    func deviceAnnouncement() -> LinkedDevicesAnnouncement {
        let now = clock.nowMillis()
        var announcement = LinkedDevicesAnnouncement(
            masterPublicKey: me, delegation: local.delegation,
            devices: [DeviceEntry(nodeID: local.transportHex, deviceName: "Primary Device", isPrimary: true, addedAt: now)],
            version: 1, timestamp: now)
        announcement.sign(with: local.identity.signingKey)
        return announcement
    }

    /// `"Heartbeat"` on the own topic (every 30 s, driven by the caller).
    public func heartbeat() async {
        guard (try? store.visibility(of: me)) == .public else { return }
        await distribute(.heartbeat)
    }

    /// Network up/down. Coming back online publishes the queued content, then syncs every
    /// followed author to catch up on what was missed.
    @discardableResult
    public func connectivityChanged(online: Bool) async -> [String: SyncResult] {
        self.online = online
        guard online else { return [:] }
        await flushOutbox()
        return await syncAll()
    }

    // MARK: Own content

    /// Signs, stores (FULL durability) and distributes a post.
    @discardableResult
    public func post(_ content: String, media: [MediaAttachment] = [], replyTo: (id: String, author: String)? = nil,
                     quoteOf: (id: String, author: String)? = nil) async throws -> Post {
        var post = Post(id: RandomID.generate(), author: me, content: content, timestamp: clock.nowMillis(), media: media,
                        replyTo: replyTo?.id, replyToAuthor: replyTo?.author, quoteOf: quoteOf?.id, quoteOfAuthor: quoteOf?.author)
        try SocialValidator.validate(post, now: clock.nowMillis())
        post.sign(with: local.identity.signingKey)
        try store.insertPost(post, durability: .full)
        metrics.accepted("own_post")
        await distribute(.newPost(post))
        return post
    }

    public func reply(to postID: String, _ content: String) async throws -> Post {
        guard let parent = try store.post(id: postID) else { throw SocialCommandError.unknownPost(postID) }
        return try await post(content, replyTo: (parent.id, parent.author))
    }

    public func repost(_ postID: String) async throws -> Post {
        guard let target = try store.post(id: postID) else { throw SocialCommandError.unknownPost(postID) }
        if let existing = try store.repost(by: me, of: postID) { return existing }
        return try await post("", quoteOf: (target.id, target.author))
    }

    public func unrepost(_ postID: String) async throws -> Bool {
        guard let mine = try store.repost(by: me, of: postID) else { return false }
        return try await deletePost(mine.id)
    }

    @discardableResult
    public func like(_ postID: String) async throws -> Interaction {
        guard let target = try store.post(id: postID) else { throw SocialCommandError.unknownPost(postID) }
        if let existing = try store.like(by: me, of: postID) { return existing }
        var like = Interaction(id: RandomID.generate(), author: me, targetPostID: target.id, targetAuthor: target.author,
                               timestamp: clock.nowMillis())
        like.sign(with: local.identity.signingKey)
        try store.insertInteraction(like, durability: .full)
        await distribute(.newInteraction(like))
        return like
    }

    public func unlike(_ postID: String) async throws -> Bool {
        guard let like = try store.like(by: me, of: postID) else { return false }
        try store.deleteInteraction(id: like.id, author: me, durability: .full)
        var delete = DeleteInteraction(id: like.id, author: me)
        delete.sign(with: local.identity.signingKey)
        await distribute(.deleteInteraction(delete))
        return true
    }

    /// Deletes one of my posts and broadcasts `DeletePost`.
    @discardableResult
    public func deletePost(_ postID: String) async throws -> Bool {
        guard try store.deletePost(id: postID, author: me, durability: .full) else { return false }
        var delete = DeletePost(id: postID, author: me)
        delete.sign(with: local.identity.signingKey)
        await distribute(.deletePost(delete))
        return true
    }

    /// Signs and saves my profile. Visibility changes follow §5.7: leaving public broadcasts
    /// first and then leaves the own topic; entering public joins first and then broadcasts.
    @discardableResult
    public func setProfile(displayName: String, bio: String, visibility: Visibility, avatarHash: String? = nil,
                           avatarTicket: String? = nil) async throws -> Profile {
        var profile = Profile(displayName: displayName, bio: bio, avatarHash: avatarHash, avatarTicket: avatarTicket,
                              visibility: visibility)
        try SocialValidator.validate(profile)
        profile.sign(with: local.identity.signingKey)
        let previous = try store.visibility(of: me)
        if previous != .public, visibility == .public {
            try? await subscriptions?.subscribe(topic: ownTopic, bootstrap: [])
            try store.upsertProfile(profile, for: me, durability: .full)
            await distribute(.profileUpdate(profile))
        } else if previous == .public, visibility != .public {
            await publishOnOwnTopic(.profileUpdate(profile))
            await subscriptions?.unsubscribe(topic: ownTopic)
            try store.upsertProfile(profile, for: me, durability: .full)
        } else {
            try store.upsertProfile(profile, for: me, durability: .full)
            await distribute(.profileUpdate(profile))
        }
        return profile
    }

    // MARK: Distribution (spec §5.7)

    func distribute(_ message: GossipMessage) async {
        let visibility = (try? store.visibility(of: me)) ?? .public
        if visibility == .public {
            await publishOnOwnTopic(message)
            return
        }
        let push: PushMessage
        switch message {
        case .newPost(let post): push = PushMessage(author: me, posts: [post])
        case .newInteraction(let interaction): push = PushMessage(author: me, interactions: [interaction])
        case .profileUpdate(let profile): push = PushMessage(author: me, profile: profile)
        default:
            logger.debug("\(message.variantName) not distributed: visibility is \(visibility.rawValue) (no topic, no push fallback)")
            return
        }
        await pushToRecipients(push, visibility: visibility)
    }

    func publishOnOwnTopic(_ message: GossipMessage) async {
        let payload: [UInt8]
        do {
            payload = try message.wireBytes()
        } catch {
            logger.error("cannot encode \(message.variantName): \(error)")
            return
        }
        if payload.count >= SocialLimits.gossipMaxMessage {
            logger.warning("\(message.variantName) is \(payload.count) bytes, too large for gossip; followers get it by sync")
            return
        }
        guard online, pendingPublications == 0 else {
            queueForLater(payload, message.variantName, why: online ? "older payloads are still queued" : "offline")
            return
        }
        do {
            try await publisher.publish(topic: ownTopic, payload: payload)
        } catch {
            queueForLater(payload, message.variantName, why: "\(error)")
        }
    }

    /// Queues a payload durably: a restart or power cut before the network is back keeps it.
    private func queueForLater(_ payload: [UInt8], _ variant: String, why: String) {
        do {
            try store.enqueueGossip(topic: ownTopic, payload: payload, now: clock.nowMillis())
            logger.info("publish of \(variant) deferred (\(why))")
        } catch {
            logger.error("publish of \(variant) lost: not published (\(why)) and not queued: \(error)")
        }
    }

    /// Publishes queued payloads in order; stops at the first failure.
    public func flushOutbox() async {
        while online {
            let batch: [(id: Int64, topic: [UInt8], payload: [UInt8])]
            do { batch = try store.pendingGossip() } catch {
                logger.error("outbox unreadable: \(error)")
                return
            }
            guard !batch.isEmpty else { return }
            for entry in batch {
                do {
                    try await publisher.publish(topic: entry.topic, payload: entry.payload)
                    try store.removeGossip(id: entry.id)
                } catch {
                    logger.info("outbox flush stopped: \(error)")
                    return
                }
            }
        }
    }

    func pushToRecipients(_ push: PushMessage, visibility: Visibility) async {
        let recipients: [String]
        do {
            let followers = try store.followers(of: me).map(\.pubkey)
            recipients = visibility == .listed ? followers : try followers.filter { try store.isFollowing(me, $0) }
        } catch {
            logger.error("push recipients: \(error)")
            return
        }
        for recipient in recipients {
            let ids = (try? directory.transportIDs(forHex: recipient)) ?? []
            for id in ids {
                guard let endpoint = try? Ed25519.PublicKey(hex: id) else { continue }
                do {
                    _ = try await client.push(push, to: endpoint)
                    break
                } catch {
                    logger.info("push to \(recipient.prefix(16)) via \(id.prefix(16)) failed: \(error)")
                }
            }
        }
    }

    // MARK: Following

    /// Follows a master key: stores the follow row, joins its topic, and syncs at once.
    @discardableResult
    public func follow(master: String) async throws -> SyncResult? {
        guard let key = try? Ed25519.PublicKey(hex: master) else { throw SocialCommandError.invalidKey(master) }
        guard master != me else { throw SocialCommandError.cannotFollowSelf }
        try store.setFollowing(follower: me, followee: master, active: true, now: clock.nowMillis())
        let topic = FeedTopicDerivation.topicID(masterPublicKey: key)
        topicOwners[Hex.encode(topic)] = master
        let bootstrap = (try? await directory.transportIDs(for: key)) ?? []
        do {
            try await subscriptions?.subscribe(topic: topic, bootstrap: bootstrap)
        } catch {
            logger.info("subscribe to \(master.prefix(16)) failed (retried later): \(error)")
        }
        return try? await syncAuthor(master)
    }

    /// Follows by transport id (the reference's `follow_user`): identity first, then follow.
    @discardableResult
    public func follow(transportID: EndpointID) async throws -> IdentityResponse {
        let identity = try await client.identity(of: transportID)
        try await follow(master: identity.masterPublicKey)
        return identity
    }

    /// Unfollows: state removed, leave the topic, delete the author's stored posts (spec §6.5).
    public func unfollow(master: String) async throws {
        try store.setFollowing(follower: me, followee: master, active: false, now: clock.nowMillis())
        if let key = try? Ed25519.PublicKey(hex: master) {
            let topic = FeedTopicDerivation.topicID(masterPublicKey: key)
            topicOwners[Hex.encode(topic)] = nil
            await subscriptions?.unsubscribe(topic: topic)
        }
        try store.deletePosts(byAuthor: master)
    }

    /// Sends a signed follow request to `endpoint` (for listed accounts).
    public func requestFollow(_ endpoint: EndpointID) async throws -> FollowResponse {
        var request = FollowRequest(requester: me, timestamp: clock.nowMillis(), delegation: local.delegation)
        request.sign(with: local.identity.signingKey)
        return try await client.sendFollowRequest(request, to: endpoint)
    }

    /// Owner approval: the requester becomes a follower (sync and push access).
    public func answerFollowRequest(_ pubkey: String, approve: Bool) throws -> Bool {
        guard try store.setFollowRequestStatus(pubkey, approve ? .approved : .denied) else { return false }
        if approve { try store.upsertFollower(pubkey, of: me, online: false, now: clock.nowMillis()) }
        return true
    }

    public func setModeration(_ kind: SocialStore.ModerationKind, _ pubkey: String, active: Bool) async throws {
        try store.setModeration(kind, pubkey: pubkey, active: active, now: clock.nowMillis())
        if kind == .block, active, try store.isFollowing(me, pubkey) { try await unfollow(master: pubkey) }
    }

    // MARK: Receiving (spec §5.5, §5.6)

    /// A payload delivered on `topic` by the gossip layer.
    @discardableResult
    public func receiveGossip(topic: [UInt8], payload: [UInt8]) -> SocialPipeline.Outcome {
        guard topic != ownTopic else { return .ignored } // our own messages echoed back
        guard let owner = topicOwners[Hex.encode(topic)] else {
            logger.debug("gossip on unknown topic \(Hex.encode(topic).prefix(16)) dropped")
            return .ignored
        }
        if let stageObserver, let message = try? GossipMessage.decode(payload) {
            switch message {
            // Only the feed's owner announces its own Stages.
            case let .stageAnnouncement(announcement) where announcement.hostPublicKey == owner:
                stageObserver(.started(announcement))
            case let .stageEnded(ended):
                stageObserver(.ended(stageID: ended.stageID, host: owner))
            default: break
            }
        }
        return pipeline.receiveGossip(payload, topicOwner: owner)
    }

    /// A followed author's Stage news from its feed topic (§5.3).
    public enum StageNews: Sendable {
        case started(StageAnnouncement)
        case ended(stageID: String, host: String)
    }

    /// Who hears `StageAnnouncement` / `StageEnded` from followed feeds (the relay service).
    public func setStageObserver(_ observer: (@Sendable (StageNews) -> Void)?) {
        stageObserver = observer
    }

    /// A neighbour joined the own topic: it is a follower (spec §5.6).
    public func neighborUp(_ endpoint: EndpointID, topic: [UInt8]) async {
        guard topic == ownTopic else { return }
        var follower = endpoint.hex
        do {
            follower = try await client.identity(of: endpoint).masterPublicKey
        } catch {
            logger.info("identity of neighbour \(endpoint.hex.prefix(16)) failed, recording its endpoint id: \(error)")
        }
        let now = clock.nowMillis()
        do {
            if try store.upsertFollower(follower, of: me, online: true, now: now) {
                try store.addNotification(kind: "follower", actor: follower, targetPostID: nil, postID: nil, timestamp: now)
            }
        } catch {
            logger.error("recording follower \(follower.prefix(16)): \(error)")
        }
    }

    public func neighborDown(_ endpoint: EndpointID, topic: [UInt8]) {
        guard topic == ownTopic else { return }
        let known = try? directory.masterHex(forTransportID: endpoint.hex)
        try? store.setFollowerOffline((known ?? nil) ?? endpoint.hex, of: me)
    }

    // MARK: Sync

    /// Syncs one author, trying each cached transport id in turn.
    public func syncAuthor(_ master: String) async throws -> SyncResult {
        let ids = try directory.transportIDs(forHex: master)
        guard !ids.isEmpty else { throw PeerClientError.noTransportID(master) }
        var lastError: any Error = PeerClientError.noTransportID(master)
        for id in ids {
            guard let endpoint = try? Ed25519.PublicKey(hex: id) else { continue }
            do {
                let result = try await client.sync(author: master, from: endpoint)
                logger.info("synced \(master.prefix(16)): \(result.mode.rawValue), \(result.postsAccepted) posts, \(result.interactionsAccepted) likes")
                return result
            } catch {
                lastError = error
                logger.info("sync of \(master.prefix(16)) via \(id.prefix(16)) failed: \(error)")
            }
        }
        throw lastError
    }

    /// Syncs every followed author; failures are logged and skipped.
    public func syncAll() async -> [String: SyncResult] {
        var results: [String: SyncResult] = [:]
        for entry in (try? store.following(of: me)) ?? [] {
            if let result = try? await syncAuthor(entry.pubkey) { results[entry.pubkey] = result }
        }
        return results
    }
}

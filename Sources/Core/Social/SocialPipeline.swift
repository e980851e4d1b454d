/// Everything a node needs to accept remote social content, shared by gossip receive, push and
/// sync (spec §5.5, §6.3, §6.4): validate (§7.6), resolve the signer (§3.6), verify, store,
/// notify (§7.8). Each rejection is logged with its reason and counted; nothing is stored then.
public struct SocialPipeline: Sendable {
    public let me: String
    public let store: SocialStore
    public let directory: DelegationCache
    public let metrics: SocialMetrics
    public let logger: Logger
    public let clock: any WallClock

    public init(me: String, store: SocialStore, directory: DelegationCache, metrics: SocialMetrics, logger: Logger,
                clock: any WallClock) {
        self.me = me
        self.store = store
        self.directory = directory
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
    }

    /// Result of offering one record.
    public enum Outcome: Equatable, Sendable {
        case accepted
        case duplicate
        case ignored
        case rejected(SocialRejection)

        public var isStored: Bool { self == .accepted }
    }

    /// Logs and counts a rejection; returns the outcome for it.
    @discardableResult
    public func reject(_ error: SocialRejectionError, context: String) -> Outcome {
        metrics.rejected(error.reason)
        logger.warning("rejected \(context): \(error)")
        return .rejected(error.reason)
    }

    /// Verifies `signature` over `message` with the signer resolved for `author` (spec §3.6).
    public func verifySignature(_ signature: String, message: [UInt8], author: String, what: String) throws(SocialRejectionError) {
        let resolved: (key: Ed25519.PublicKey, delegated: Bool)?
        do {
            resolved = try directory.signer(forAuthor: author)
        } catch {
            throw SocialRejectionError(.protocolViolation, "cannot read delegation of \(author.prefix(16)): \(error)")
        }
        guard let resolved else { throw SocialRejectionError(.invalidKey, "\(what) author \"\(author.prefix(70))\" is not a public key") }
        guard let bytes = SignatureHex.decode(signature) else {
            throw SocialRejectionError(.badSignature, "\(what) signature is not 128 hex characters")
        }
        guard resolved.key.isValidSignature(bytes, for: message) else {
            if resolved.delegated {
                throw SocialRejectionError(.badSignature, "\(what) signature does not verify under the signing key of \(author.prefix(16))")
            }
            throw SocialRejectionError(.unknownDelegation, "\(what) signature does not verify and no delegation is cached for \(author.prefix(16))")
        }
    }

    // MARK: Posts and interactions

    /// The post pipeline: [mute filter] → validate → verify → INSERT OR IGNORE → notify.
    public func ingest(_ post: Post, filterModerated: Bool, context: String) -> Outcome {
        do {
            if filterModerated, try store.isMutedOrBlocked(post.author) {
                return reject(SocialRejectionError(.mutedOrBlocked, "author \(post.author.prefix(16)) is muted or blocked"),
                              context: "post \(post.id) (\(context))")
            }
            try SocialValidator.validate(post, now: clock.nowMillis())
            try verifySignature(post.signature, message: post.signedBytes, author: post.author, what: "post \(post.id)")
        } catch let error as SocialRejectionError {
            return reject(error, context: "post \(post.id) (\(context))")
        } catch {
            return reject(SocialRejectionError(.protocolViolation, "\(error)"), context: "post \(post.id) (\(context))")
        }
        do {
            guard try store.insertPost(post, durability: .normal) else {
                metrics.duplicate("post")
                return .duplicate
            }
            metrics.accepted("post")
            try notify(for: post)
            return .accepted
        } catch {
            logger.error("storing post \(post.id) failed: \(error)")
            return .ignored
        }
    }

    func notify(for post: Post) throws {
        guard post.author != me else { return }
        let now = clock.nowMillis()
        if Mentions.mentions(in: post.content).contains(me) {
            try store.addNotification(kind: "mention", actor: post.author, targetPostID: nil, postID: post.id, timestamp: now)
        }
        if post.replyToAuthor == me {
            try store.addNotification(kind: "reply", actor: post.author, targetPostID: post.replyTo, postID: post.id, timestamp: now)
        }
        if post.quoteOfAuthor == me {
            try store.addNotification(kind: "quote", actor: post.author, targetPostID: post.quoteOf, postID: post.id, timestamp: now)
        }
    }

    public func ingest(_ interaction: Interaction, filterModerated: Bool, context: String) -> Outcome {
        let label = "interaction \(interaction.id) (\(context))"
        do {
            if filterModerated, try store.isMutedOrBlocked(interaction.author) {
                return reject(SocialRejectionError(.mutedOrBlocked, "author \(interaction.author.prefix(16)) is muted or blocked"),
                              context: label)
            }
            try SocialValidator.validate(interaction, now: clock.nowMillis())
            try verifySignature(interaction.signature, message: interaction.signedBytes, author: interaction.author,
                                what: "interaction \(interaction.id)")
        } catch let error as SocialRejectionError {
            return reject(error, context: label)
        } catch {
            return reject(SocialRejectionError(.protocolViolation, "\(error)"), context: label)
        }
        do {
            guard try store.insertInteraction(interaction, durability: .normal) else {
                metrics.duplicate("interaction")
                return .duplicate
            }
            metrics.accepted("interaction")
            if interaction.targetAuthor == me, interaction.author != me {
                try store.addNotification(kind: "like", actor: interaction.author, targetPostID: interaction.targetPostID,
                                          postID: nil, timestamp: clock.nowMillis())
            }
            return .accepted
        } catch {
            logger.error("storing interaction \(interaction.id) failed: \(error)")
            return .ignored
        }
    }

    /// Profile from gossip or push: validate lengths, verify, upsert under `owner`.
    /// `requireSignature == false` is the push rule when no delegation is cached (spec §6.4 step 7).
    public func ingest(_ profile: Profile, owner: String, context: String) -> Outcome {
        do {
            try SocialValidator.validate(profile)
            try verifySignature(profile.signature, message: profile.signedBytes, author: owner, what: "profile")
            try store.upsertProfile(profile, for: owner, durability: .normal)
            metrics.accepted("profile")
            return .accepted
        } catch let error as SocialRejectionError {
            return reject(error, context: "profile of \(owner.prefix(16)) (\(context))")
        } catch {
            logger.error("storing profile of \(owner.prefix(16)) failed: \(error)")
            return .ignored
        }
    }

    // MARK: Gossip receive (spec §5.5)

    /// Parses and applies one payload received on the feed topic of `owner`.
    @discardableResult
    public func receiveGossip(_ payload: [UInt8], topicOwner owner: String) -> Outcome {
        guard payload.count <= SocialLimits.gossipMaxMessage else {
            return reject(SocialRejectionError(.oversizedMessage, "\(payload.count) bytes (max \(SocialLimits.gossipMaxMessage))"),
                          context: "gossip on \(owner.prefix(16))")
        }
        let message: GossipMessage
        do {
            message = try GossipMessage.decode(payload)
        } catch {
            return reject(SocialRejectionError(.malformedJSON, error.message), context: "gossip on \(owner.prefix(16))")
        }
        return apply(message, topicOwner: owner)
    }

    public func apply(_ message: GossipMessage, topicOwner owner: String) -> Outcome {
        let context = "gossip \(message.variantName) on \(owner.prefix(16))"
        func wrongAuthor(_ author: String) -> Outcome {
            reject(SocialRejectionError(.wrongAuthor, "author \(author.prefix(16)) is not the topic owner"), context: context)
        }
        switch message {
        case .newPost(let post):
            guard post.author == owner else { return wrongAuthor(post.author) }
            return ingest(post, filterModerated: true, context: "gossip")
        case .newInteraction(let interaction):
            guard interaction.author == owner else { return wrongAuthor(interaction.author) }
            return ingest(interaction, filterModerated: true, context: "gossip")
        case .profileUpdate(let profile):
            return ingest(profile, owner: owner, context: "gossip")
        case .deletePost(let delete):
            guard delete.author == owner else { return wrongAuthor(delete.author) }
            do {
                try verifySignature(delete.signature, message: delete.signedBytes, author: owner, what: "delete_post \(delete.id)")
                let deleted = try store.deletePost(id: delete.id, author: owner, durability: .normal)
                metrics.accepted("delete_post")
                return deleted ? .accepted : .ignored
            } catch let error as SocialRejectionError {
                return reject(error, context: context)
            } catch {
                logger.error("\(context): \(error)")
                return .ignored
            }
        case .deleteInteraction(let delete):
            guard delete.author == owner else { return wrongAuthor(delete.author) }
            do {
                try verifySignature(delete.signature, message: delete.signedBytes, author: owner,
                                    what: "delete_interaction \(delete.id)")
                let deleted = try store.deleteInteraction(id: delete.id, author: owner, durability: .normal)
                metrics.accepted("delete_interaction")
                return deleted ? .accepted : .ignored
            } catch let error as SocialRejectionError {
                return reject(error, context: context)
            } catch {
                logger.error("\(context): \(error)")
                return .ignored
            }
        case .linkedDevices(let announcement):
            return apply(announcement, topicOwner: owner, context: context)
        case .signingKeyRotation(let rotation):
            do {
                let cached = try directory.delegation(forHex: owner)
                switch rotation.disposition(topicOwner: owner, cached: cached) {
                case .rejectWrongTopic: return wrongAuthor(rotation.masterPublicKey)
                case .rejectInvalid(let error):
                    return reject(SocialRejectionError(.invalidDelegation, "\(error)"), context: context)
                case .ignoreStale:
                    return reject(SocialRejectionError(.staleRotation, "new_key_index \(rotation.newKeyIndex) <= cached \(cached?.keyIndex ?? 0)"),
                                  context: context)
                case .accept(let delegation, _):
                    try directory.cache(delegation, transportIDs: nil)
                    metrics.accepted("rotation")
                    logger.info("\(owner.prefix(16)) rotated its signing key to index \(delegation.keyIndex)")
                    return .accepted
                }
            } catch let error as SocialRejectionError {
                return reject(error, context: context)
            } catch {
                logger.error("\(context): \(error)")
                return .ignored
            }
        case .heartbeat, .stageAnnouncement, .stageEnded:
            return .ignored
        }
    }

    func apply(_ announcement: LinkedDevicesAnnouncement, topicOwner owner: String, context: String) -> Outcome {
        guard announcement.masterPublicKey == owner else {
            return reject(SocialRejectionError(.wrongAuthor, "announcement for \(announcement.masterPublicKey.prefix(16))"), context: context)
        }
        do {
            try announcement.verify()
        } catch {
            return reject(SocialRejectionError(.invalidDelegation, "\(error)"), context: context)
        }
        do {
            let cachedVersion = try store.cachedAnnouncementVersion(owner)
            guard announcement.version > cachedVersion else {
                return reject(SocialRejectionError(.staleAnnouncement, "version \(announcement.version) <= cached \(cachedVersion)"),
                              context: context)
            }
            try store.cacheAnnouncement(announcement, now: clock.nowMillis())
            try directory.cache(announcement.delegation, transportIDs: announcement.devices.map(\.nodeID))
            metrics.accepted("linked_devices")
            return .accepted
        } catch let error as SocialRejectionError {
            return reject(error, context: context)
        } catch {
            logger.error("\(context): \(error)")
            return .ignored
        }
    }
}

/// Mentions and hashtags (spec §7.7).
public enum Mentions {
    /// Master keys mentioned as `@` + a run of ≥52 hex digits that parses as a public key
    /// (64 lowercase hex in practice); each once, in order of appearance.
    public static func mentions(in text: String) -> [String] {
        var result: [String] = []
        let scalars = Array(text.unicodeScalars)
        var index = 0
        while index < scalars.count {
            if scalars[index] == "@" {
                var end = index + 1
                while end < scalars.count, scalars[end].properties.isASCIIHexDigit { end += 1 }
                let run = String(String.UnicodeScalarView(scalars[(index + 1)..<end])).lowercased()
                if run.count >= 52, (try? Ed25519.PublicKey(hex: run)) != nil, !result.contains(run) { result.append(run) }
                index = end
            } else {
                index += 1
            }
        }
        return result
    }

    /// `#` followed by the longest run of Unicode alphanumerics or `_`, lowercased.
    public static func hashtags(in text: String) -> [String] {
        var result: [String] = []
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            if characters[index] == "#" {
                var end = index + 1
                while end < characters.count, characters[end].isLetter || characters[end].isNumber || characters[end] == "_" {
                    end += 1
                }
                if end > index + 1 {
                    let tag = String(characters[(index + 1)..<end]).lowercased()
                    if !result.contains(tag) { result.append(tag) }
                }
                index = end
            } else {
                index += 1
            }
        }
        return result
    }
}

/// Why a social command could not run; the message names the bad input.
public enum SocialCommandError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownPost(String)
    case invalidKey(String)
    case cannotFollowSelf
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .unknownPost(id): return "no post with id \"\(id)\" is stored"
        case let .invalidKey(key): return "\"\(key)\" is not a public key (64 lowercase hex characters)"
        case .cannotFollowSelf: return "cannot follow yourself"
        case let .invalidArgument(what): return what
        }
    }
}

/// What a console command prints (`text`) and returns to JSON consumers (`value`).
public struct SocialCommandReply: Sendable, Equatable {
    public let text: String
    public let value: WireJSONValue

    public init(text: String, value: WireJSONValue) {
        self.text = text
        self.value = value
    }

    /// `value` as compact JSON.
    public var json: String { String(decoding: value.bytes, as: UTF8.self) }
}

/// The console surface of the feed: one method per command, plain text plus a JSON value.
public struct SocialCommands: Sendable {
    public let service: SocialService

    public init(service: SocialService) { self.service = service }

    private func reply<T: Encodable>(_ text: String, _ value: T) throws -> SocialCommandReply {
        SocialCommandReply(text: text, value: try WireJSON.value(of: value))
    }

    private static func short(_ key: String) -> String { String(key.prefix(12)) }

    private static func line(_ post: Post) -> String {
        let kind = post.isRepost ? "repost of \(post.quoteOf ?? "")" : (post.replyTo.map { "reply to \($0): " } ?? "")
        return "\(post.id) \(short(post.author)) @\(post.timestamp) \(post.isRepost ? kind : kind + post.content)"
    }

    public func post(_ content: String) async throws -> SocialCommandReply {
        let post = try await service.post(content)
        return try reply("posted \(post.id)", post)
    }

    public func reply(to postID: String, _ content: String) async throws -> SocialCommandReply {
        let post = try await service.reply(to: postID, content)
        return try reply("replied \(post.id) to \(postID)", post)
    }

    public func like(_ postID: String) async throws -> SocialCommandReply {
        let like = try await service.like(postID)
        return try reply("liked \(postID)", like)
    }

    public func unlike(_ postID: String) async throws -> SocialCommandReply {
        let removed = try await service.unlike(postID)
        return SocialCommandReply(text: removed ? "unliked \(postID)" : "\(postID) was not liked", value: .bool(removed))
    }

    public func repost(_ postID: String) async throws -> SocialCommandReply {
        let post = try await service.repost(postID)
        return try reply("reposted \(postID) as \(post.id)", post)
    }

    public func delete(_ postID: String) async throws -> SocialCommandReply {
        let deleted = try await service.deletePost(postID)
        return SocialCommandReply(text: deleted ? "deleted \(postID)" : "no own post \(postID)", value: .bool(deleted))
    }

    public func follow(_ master: String) async throws -> SocialCommandReply {
        let result = try await service.follow(master: master)
        let synced = result.map { ", synced \($0.postsAccepted) posts" } ?? ", not synced (peer unreachable)"
        return SocialCommandReply(text: "following \(Self.short(master))\(synced)", value: .string(master))
    }

    public func unfollow(_ master: String) async throws -> SocialCommandReply {
        try await service.unfollow(master: master)
        return SocialCommandReply(text: "unfollowed \(Self.short(master))", value: .string(master))
    }

    public func feed(limit: Int = 20, before: UInt64? = nil) throws -> SocialCommandReply {
        let posts = try service.store.feed(limit: limit, before: before)
        let text = posts.isEmpty ? "feed is empty" : posts.map(Self.line).joined(separator: "\n")
        return try reply(text, posts)
    }

    public func profileShow(_ pubkey: String? = nil) throws -> SocialCommandReply {
        let key = pubkey ?? service.me
        guard let profile = try service.store.profile(for: key) else {
            return SocialCommandReply(text: "no profile for \(Self.short(key))", value: .null)
        }
        return try reply("\(profile.displayName) (\(profile.visibility.rawValue))\n\(profile.bio)", profile)
    }

    public func profileSet(displayName: String, bio: String, visibility: Visibility) async throws -> SocialCommandReply {
        let profile = try await service.setProfile(displayName: displayName, bio: bio, visibility: visibility)
        return try reply("profile saved (\(profile.visibility.rawValue))", profile)
    }

    public func followers() throws -> SocialCommandReply {
        let entries = try service.store.followers(of: service.me)
        let text = entries.isEmpty ? "no followers"
            : entries.map { "\($0.pubkey) \($0.isOnline ? "online" : "offline")" }.joined(separator: "\n")
        return try reply(text, entries)
    }

    public func following() throws -> SocialCommandReply {
        let entries = try service.store.following(of: service.me)
        let text = entries.isEmpty ? "not following anyone" : entries.map(\.pubkey).joined(separator: "\n")
        return try reply(text, entries)
    }

    public func mute(_ pubkey: String, _ on: Bool = true) async throws -> SocialCommandReply {
        try await service.setModeration(.mute, pubkey, active: on)
        return SocialCommandReply(text: "\(on ? "muted" : "unmuted") \(Self.short(pubkey))", value: .string(pubkey))
    }

    public func block(_ pubkey: String, _ on: Bool = true) async throws -> SocialCommandReply {
        try await service.setModeration(.block, pubkey, active: on)
        return SocialCommandReply(text: "\(on ? "blocked" : "unblocked") \(Self.short(pubkey))", value: .string(pubkey))
    }

    public func notifications(limit: Int = 30, markRead: Bool = false) throws -> SocialCommandReply {
        let items = try service.store.notifications(limit: limit)
        if markRead { try service.store.markNotificationsRead() }
        let text = items.isEmpty ? "no notifications"
            : items.map { "\($0.read ? " " : "*") \($0.kind) from \(Self.short($0.actor))\($0.postID.map { " post \($0)" } ?? "")" }
                .joined(separator: "\n")
        return try reply(text, items)
    }

    public func bookmark(_ postID: String, _ on: Bool = true) throws -> SocialCommandReply {
        try service.store.setBookmark(postID, on, now: service.pipeline.clock.nowMillis())
        return SocialCommandReply(text: "\(on ? "bookmarked" : "removed bookmark") \(postID)", value: .string(postID))
    }

    public func bookmarks() throws -> SocialCommandReply {
        let ids = try service.store.bookmarks()
        return try reply(ids.isEmpty ? "no bookmarks" : ids.joined(separator: "\n"), ids)
    }

    public func followRequests() throws -> SocialCommandReply {
        let pending = try service.store.pendingFollowRequests(now: service.pipeline.clock.nowMillis())
        return try reply(pending.isEmpty ? "no pending follow requests" : pending.joined(separator: "\n"), pending)
    }

    public func answerFollowRequest(_ pubkey: String, approve: Bool) async throws -> SocialCommandReply {
        let done = try await service.answerFollowRequest(pubkey, approve: approve)
        let text = done ? "\(approve ? "approved" : "denied") \(Self.short(pubkey))" : "no follow request from \(Self.short(pubkey))"
        return SocialCommandReply(text: text, value: .bool(done))
    }

    public func metrics() -> SocialCommandReply {
        let snapshot = service.metrics.snapshot
        let text = "accepted \(snapshot.totalAccepted), duplicates \(snapshot.totalDuplicates), rejected \(snapshot.totalRejected)"
            + snapshot.rejected.sorted { $0.key < $1.key }.map { "\n  \($0.key): \($0.value)" }.joined()
        return SocialCommandReply(text: text, value: (try? WireJSON.value(of: snapshot)) ?? .null)
    }
}

/// The social tables of spec §7.10 behind typed operations. Own content is written with FULL
/// durability, remote content (re-fetchable by sync) with NORMAL (docs/storage.md).
public struct SocialStore: Sendable {
    public let database: AppDatabase
    var db: Database { database.database }

    public init(database: AppDatabase) { self.database = database }

    // MARK: Posts

    /// `INSERT OR IGNORE` on (author, id); true when a row was added.
    @discardableResult
    public func insertPost(_ post: Post, durability: Durability) throws -> Bool {
        let media = String(decoding: try WireJSON.encode(post.media), as: UTF8.self)
        return try db.transaction(durability: durability) { c in
            try c.execute("""
                INSERT OR IGNORE INTO posts (id, author, content, timestamp, media_json, reply_to, reply_to_author,
                                             quote_of, quote_of_author, signature)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(post.id), .text(post.author), .text(post.content), .integer(Int64(clamping: post.timestamp)),
                      .text(media), SQLValue(post.replyTo), SQLValue(post.replyToAuthor), SQLValue(post.quoteOf),
                      SQLValue(post.quoteOfAuthor), .text(post.signature)])
            return c.changes > 0
        }
    }

    /// Deletes the post `(author, id)` and its notifications; true when a post was deleted.
    @discardableResult
    public func deletePost(id: String, author: String, durability: Durability) throws -> Bool {
        try db.transaction(durability: durability) { c in
            try c.execute("DELETE FROM posts WHERE id = ? AND author = ?", [.text(id), .text(author)])
            let deleted = c.changes > 0
            if deleted { try c.execute("DELETE FROM notifications WHERE post_id = ?", [.text(id)]) }
            return deleted
        }
    }

    public func deletePosts(byAuthor author: String) throws {
        try db.execute("DELETE FROM posts WHERE author = ?", [.text(author)])
    }

    public func post(id: String, author: String? = nil) throws -> Post? {
        let rows: [Row]
        if let author {
            rows = try db.query("SELECT * FROM posts WHERE id = ? AND author = ?", [.text(id), .text(author)])
        } else {
            rows = try db.query("SELECT * FROM posts WHERE id = ? LIMIT 1", [.text(id)])
        }
        return try rows.first.map(Self.post(from:))
    }

    /// The author's posts, ascending by timestamp, paged by offset (sync streaming order).
    public func posts(author: String, after timestamp: UInt64? = nil, limit: Int, offset: Int) throws -> [Post] {
        try db.query("""
            SELECT * FROM posts WHERE author = ? AND timestamp > ? ORDER BY timestamp ASC, id ASC LIMIT ? OFFSET ?
            """, [.text(author), .integer(timestamp.map { Int64(clamping: $0) } ?? -1), .int(limit), .int(offset)])
            .map(Self.post(from:))
    }

    public func postIDs(author: String) throws -> [String] {
        try db.query("SELECT id FROM posts WHERE author = ? ORDER BY timestamp ASC, id ASC", [.text(author)])
            .map { try $0.string("id") }
    }

    public func postCount(author: String, after timestamp: UInt64? = nil) throws -> UInt64 {
        let value = try db.queryValue("SELECT COUNT(*) FROM posts WHERE author = ? AND timestamp > ?",
                                      [.text(author), .integer(timestamp.map { Int64(clamping: $0) } ?? -1)])
        return UInt64(Self.int(value))
    }

    public func newestPostTimestamp(author: String) throws -> UInt64 {
        UInt64(Self.int(try db.queryValue("SELECT COALESCE(MAX(timestamp), 0) FROM posts WHERE author = ?", [.text(author)])))
    }

    /// Home feed: newest first, muted/blocked authors filtered (spec §7.9).
    public func feed(limit: Int, before: UInt64? = nil, authors: [String]? = nil) throws -> [Post] {
        var sql = """
            SELECT * FROM posts WHERE timestamp < ?
              AND author NOT IN (SELECT pubkey FROM moderation WHERE state = 'active')
            """
        var arguments: [SQLValue] = [.integer(before.map { Int64(clamping: $0) } ?? Int64.max)]
        if let authors {
            sql += " AND author IN (" + authors.map { _ in "?" }.joined(separator: ",") + ")"
            arguments += authors.map { .text($0) }
        }
        sql += " ORDER BY timestamp DESC, id DESC LIMIT ?"
        arguments.append(.int(limit))
        return try db.query(sql, arguments).map(Self.post(from:))
    }

    /// My repost of `target`, if any (for unrepost).
    public func repost(by author: String, of target: String) throws -> Post? {
        try db.query("SELECT * FROM posts WHERE author = ? AND quote_of = ? AND content = '' LIMIT 1",
                     [.text(author), .text(target)]).first.map(Self.post(from:))
    }

    static func post(from row: Row) throws -> Post {
        let mediaJSON = try row.string("media_json")
        let media = (try? WireJSON.decode([MediaAttachment].self, from: Array(mediaJSON.utf8))) ?? []
        return Post(id: try row.string("id"), author: try row.string("author"), content: try row.string("content"),
                    timestamp: UInt64(clamping: try row.int64("timestamp")), media: media,
                    replyTo: try optionalString(row, "reply_to"), replyToAuthor: try optionalString(row, "reply_to_author"),
                    quoteOf: try optionalString(row, "quote_of"), quoteOfAuthor: try optionalString(row, "quote_of_author"),
                    signature: try row.string("signature"))
    }

    // MARK: Interactions

    /// `INSERT OR IGNORE`; the unique (author, kind, target) index makes a second like a no-op.
    @discardableResult
    public func insertInteraction(_ interaction: Interaction, durability: Durability) throws -> Bool {
        try db.transaction(durability: durability) { c in
            try c.execute("""
                INSERT OR IGNORE INTO interactions (id, author, kind, target_post_id, target_author, timestamp, signature)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [.text(interaction.id), .text(interaction.author), .text(interaction.kind.rawValue),
                      .text(interaction.targetPostID), .text(interaction.targetAuthor),
                      .integer(Int64(clamping: interaction.timestamp)), .text(interaction.signature)])
            return c.changes > 0
        }
    }

    @discardableResult
    public func deleteInteraction(id: String, author: String, durability: Durability) throws -> Bool {
        try db.transaction(durability: durability) { c in
            try c.execute("DELETE FROM interactions WHERE id = ? AND author = ?", [.text(id), .text(author)])
            return c.changes > 0
        }
    }

    public func like(by author: String, of target: String) throws -> Interaction? {
        try db.query("SELECT * FROM interactions WHERE author = ? AND kind = 'Like' AND target_post_id = ?",
                     [.text(author), .text(target)]).first.map(Self.interaction(from:))
    }

    public func interactions(author: String, after timestamp: UInt64? = nil, limit: Int, offset: Int) throws -> [Interaction] {
        try db.query("""
            SELECT * FROM interactions WHERE author = ? AND timestamp > ? ORDER BY timestamp ASC, id ASC LIMIT ? OFFSET ?
            """, [.text(author), .integer(timestamp.map { Int64(clamping: $0) } ?? -1), .int(limit), .int(offset)])
            .map(Self.interaction(from:))
    }

    public func interactionCount(author: String, after timestamp: UInt64? = nil) throws -> UInt64 {
        UInt64(Self.int(try db.queryValue("SELECT COUNT(*) FROM interactions WHERE author = ? AND timestamp > ?",
                                          [.text(author), .integer(timestamp.map { Int64(clamping: $0) } ?? -1)])))
    }

    public func newestInteractionTimestamp(author: String) throws -> UInt64 {
        UInt64(Self.int(try db.queryValue("SELECT COALESCE(MAX(timestamp), 0) FROM interactions WHERE author = ?",
                                          [.text(author)])))
    }

    public func likeCount(of postID: String) throws -> Int {
        Self.int(try db.queryValue("SELECT COUNT(*) FROM interactions WHERE target_post_id = ? AND kind = 'Like'",
                                   [.text(postID)]))
    }

    static func interaction(from row: Row) throws -> Interaction {
        Interaction(id: try row.string("id"), author: try row.string("author"),
                    kind: InteractionKind(rawValue: try row.string("kind")) ?? .like,
                    targetPostID: try row.string("target_post_id"), targetAuthor: try row.string("target_author"),
                    timestamp: UInt64(clamping: try row.int64("timestamp")), signature: try row.string("signature"))
    }

    // MARK: Profiles

    public func upsertProfile(_ profile: Profile, for pubkey: String, durability: Durability) throws {
        try db.transaction(durability: durability) { c in
            try c.execute("""
                INSERT INTO profiles (pubkey, display_name, bio, avatar_hash, avatar_ticket, visibility, signature)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(pubkey) DO UPDATE SET display_name = excluded.display_name, bio = excluded.bio,
                    avatar_hash = excluded.avatar_hash, avatar_ticket = excluded.avatar_ticket,
                    visibility = excluded.visibility, signature = excluded.signature
                """, [.text(pubkey), .text(profile.displayName), .text(profile.bio), SQLValue(profile.avatarHash),
                      SQLValue(profile.avatarTicket), .text(profile.visibility.rawValue), .text(profile.signature)])
        }
    }

    public func profile(for pubkey: String) throws -> Profile? {
        guard let row = try db.queryRow("SELECT * FROM profiles WHERE pubkey = ?", [.text(pubkey)]) else { return nil }
        return Profile(displayName: try row.string("display_name"), bio: try row.string("bio"),
                       avatarHash: try Self.optionalString(row, "avatar_hash"),
                       avatarTicket: try Self.optionalString(row, "avatar_ticket"),
                       visibility: Visibility(rawValue: try row.string("visibility")) ?? .public,
                       signature: try row.string("signature"))
    }

    /// My visibility: a missing profile row means public (spec §7.10).
    public func visibility(of pubkey: String) throws -> Visibility {
        try profile(for: pubkey)?.visibility ?? .public
    }

    // MARK: Notifications

    public struct Notification: Equatable, Sendable, Codable {
        public var id: String
        public var kind: String
        public var actor: String
        public var targetPostID: String?
        public var postID: String?
        public var timestamp: UInt64
        public var read: Bool
    }

    /// Inserts a notification with its §7.8 id; duplicates are ignored. True when new.
    @discardableResult
    public func addNotification(kind: String, actor: String, targetPostID: String?, postID: String?,
                                timestamp: UInt64) throws -> Bool {
        let id = NotificationID.make(kind: kind, actor: actor, targetPostID: targetPostID, postID: postID)
        return try db.transaction { c in
            try c.execute("""
                INSERT OR IGNORE INTO notifications (id, kind, actor, target_post_id, post_id, timestamp, read)
                VALUES (?, ?, ?, ?, ?, ?, 0)
                """, [.text(id), .text(kind), .text(actor), SQLValue(targetPostID), SQLValue(postID),
                      .integer(Int64(clamping: timestamp))])
            return c.changes > 0
        }
    }

    // MARK: Gossip outbox (own payloads waiting for the network)

    public func enqueueGossip(topic: [UInt8], payload: [UInt8], now: UInt64) throws {
        try db.transaction(durability: .full) { c in
            try c.execute("INSERT INTO gossip_outbox (topic, payload, created_at) VALUES (?, ?, ?)",
                          [.blob(topic), .blob(payload), .integer(Int64(clamping: now))])
        }
    }

    /// Oldest first.
    public func pendingGossip(limit: Int = 100) throws -> [(id: Int64, topic: [UInt8], payload: [UInt8])] {
        try db.query("SELECT id, topic, payload FROM gossip_outbox ORDER BY id ASC LIMIT ?", [.integer(Int64(limit))]).map {
            (try $0.int64(0), try $0.blob(1), try $0.blob(2))
        }
    }

    public func removeGossip(id: Int64) throws {
        try db.transaction(durability: .full) { c in try c.execute("DELETE FROM gossip_outbox WHERE id = ?", [.integer(id)]) }
    }

    public func pendingGossipCount() throws -> Int {
        try db.queryValue("SELECT COUNT(*) FROM gossip_outbox").flatMap { Int(sqlValue: $0) } ?? 0
    }

    /// Newest first; muted or blocked actors are hidden (spec §7.8).
    public func notifications(limit: Int, unreadOnly: Bool = false) throws -> [Notification] {
        try db.query("""
            SELECT * FROM notifications WHERE (? = 0 OR read = 0)
              AND actor NOT IN (SELECT pubkey FROM moderation WHERE state = 'active')
            ORDER BY timestamp DESC LIMIT ?
            """, [.bool(unreadOnly), .int(limit)]).map { row in
            Notification(id: try row.string("id"), kind: try row.string("kind"), actor: try row.string("actor"),
                         targetPostID: try Self.optionalString(row, "target_post_id"),
                         postID: try Self.optionalString(row, "post_id"),
                         timestamp: UInt64(clamping: try row.int64("timestamp")), read: try row.bool("read"))
        }
    }

    public func markNotificationsRead() throws {
        try db.execute("UPDATE notifications SET read = 1 WHERE read = 0")
    }

    // MARK: Moderation

    public enum ModerationKind: String, Sendable, Codable { case mute, block }

    public func setModeration(_ kind: ModerationKind, pubkey: String, active: Bool, now: UInt64) throws {
        try db.transaction(durability: .full) { c in
            try c.execute("""
                INSERT INTO moderation (pubkey, kind, created_at, state, last_changed_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(pubkey, kind) DO UPDATE SET state = excluded.state, last_changed_at = excluded.last_changed_at
                """, [.text(pubkey), .text(kind.rawValue), .integer(Int64(clamping: now)),
                      .text(active ? "active" : "removed"), .integer(Int64(clamping: now))])
        }
    }

    public func isModerated(_ pubkey: String, kinds: [ModerationKind] = [.mute, .block]) throws -> Bool {
        let placeholders = kinds.map { _ in "?" }.joined(separator: ",")
        return Self.int(try db.queryValue(
            "SELECT COUNT(*) FROM moderation WHERE pubkey = ? AND state = 'active' AND kind IN (\(placeholders))",
            [.text(pubkey)] + kinds.map { .text($0.rawValue) })) > 0
    }

    public func isMutedOrBlocked(_ pubkey: String) throws -> Bool { try isModerated(pubkey) }
    public func isBlocked(_ pubkey: String) throws -> Bool { try isModerated(pubkey, kinds: [.block]) }

    public func moderated(_ kind: ModerationKind) throws -> [String] {
        try db.query("SELECT pubkey FROM moderation WHERE kind = ? AND state = 'active' ORDER BY created_at",
                     [.text(kind.rawValue)]).map { try $0.string("pubkey") }
    }

    // MARK: Social graph

    /// Follow row (me → followee, state active).
    public func setFollowing(follower: String, followee: String, active: Bool, now: UInt64) throws {
        try db.transaction(durability: .full) { c in
            try c.execute("""
                INSERT INTO social_graph (follower, followee, followed_at, state, last_changed_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(follower, followee) DO UPDATE SET state = excluded.state,
                    followed_at = CASE WHEN excluded.state = 'active' THEN excluded.followed_at ELSE social_graph.followed_at END,
                    last_changed_at = excluded.last_changed_at
                """, [.text(follower), .text(followee), .integer(Int64(clamping: now)),
                      .text(active ? "active" : "removed"), .integer(Int64(clamping: now))])
        }
    }

    /// Follower row learned from gossip/approval; returns true when the row is new.
    @discardableResult
    public func upsertFollower(_ follower: String, of followee: String, online: Bool, now: UInt64) throws -> Bool {
        try db.transaction(durability: .full) { c in
            let exists = try c.queryRow("SELECT 1 FROM social_graph WHERE follower = ? AND followee = ?",
                                        [.text(follower), .text(followee)]) != nil
            if exists {
                try c.execute("""
                    UPDATE social_graph SET last_seen = ?, is_online = ?, first_seen = COALESCE(first_seen, ?)
                    WHERE follower = ? AND followee = ?
                    """, [.integer(Int64(clamping: now)), .bool(online), .integer(Int64(clamping: now)),
                          .text(follower), .text(followee)])
            } else {
                try c.execute("""
                    INSERT INTO social_graph (follower, followee, state, first_seen, last_seen, is_online, last_changed_at)
                    VALUES (?, ?, 'active', ?, ?, ?, ?)
                    """, [.text(follower), .text(followee), .integer(Int64(clamping: now)), .integer(Int64(clamping: now)),
                          .bool(online), .integer(Int64(clamping: now))])
            }
            return !exists
        }
    }

    public func setFollowerOffline(_ follower: String, of followee: String) throws {
        try db.execute("UPDATE social_graph SET is_online = 0 WHERE follower = ? AND followee = ?",
                       [.text(follower), .text(followee)])
    }

    /// *Follower* of me: any row (X → me), in any state (spec §7.5).
    public func isFollower(_ pubkey: String, of me: String) throws -> Bool {
        try db.queryRow("SELECT 1 FROM social_graph WHERE follower = ? AND followee = ?", [.text(pubkey), .text(me)]) != nil
    }

    /// *I follow X*: a row (me → X) with state active.
    public func isFollowing(_ me: String, _ pubkey: String) throws -> Bool {
        try db.queryRow("SELECT 1 FROM social_graph WHERE follower = ? AND followee = ? AND state = 'active'",
                        [.text(me), .text(pubkey)]) != nil
    }

    public func following(of me: String) throws -> [SocialGraphEntry] {
        try db.query("""
            SELECT followee, followed_at FROM social_graph WHERE follower = ? AND state = 'active' AND followed_at IS NOT NULL
            ORDER BY followed_at
            """, [.text(me)]).map {
            SocialGraphEntry(pubkey: try $0.string("followee"),
                             followedAt: UInt64(clamping: try $0.isNull("followed_at") ? 0 : try $0.int64("followed_at")))
        }
    }

    public func followers(of me: String) throws -> [SocialGraphEntry] {
        try db.query("""
            SELECT follower, first_seen, last_seen, is_online FROM social_graph WHERE followee = ? ORDER BY first_seen
            """, [.text(me)]).map {
            SocialGraphEntry(pubkey: try $0.string("follower"),
                             firstSeen: UInt64(clamping: try $0.isNull("first_seen") ? 0 : try $0.int64("first_seen")),
                             lastSeen: UInt64(clamping: try $0.isNull("last_seen") ? 0 : try $0.int64("last_seen")),
                             isOnline: try $0.bool("is_online"))
        }
    }

    // MARK: Follow requests

    public enum FollowRequestStatus: String, Sendable, Codable { case pending, approved, denied }

    public func followRequestStatus(_ pubkey: String) throws -> FollowRequestStatus? {
        guard case .text(let status)? = try db.queryValue("SELECT status FROM follow_requests WHERE pubkey = ?",
                                                          [.text(pubkey)]) else { return nil }
        return FollowRequestStatus(rawValue: status)
    }

    /// Inserts or refreshes a pending request (`expires_at = now + 30 days`). True when newly pending.
    @discardableResult
    public func upsertPendingFollowRequest(_ pubkey: String, timestamp: UInt64, now: UInt64) throws -> Bool {
        try db.transaction(durability: .full) { c in
            let previous = try c.queryValue("SELECT status FROM follow_requests WHERE pubkey = ?", [.text(pubkey)])
            try c.execute("""
                INSERT INTO follow_requests (pubkey, timestamp, status, created_at, expires_at) VALUES (?, ?, 'pending', ?, ?)
                ON CONFLICT(pubkey) DO UPDATE SET timestamp = excluded.timestamp, status = 'pending',
                    expires_at = excluded.expires_at
                """, [.text(pubkey), .integer(Int64(clamping: timestamp)), .integer(Int64(clamping: now)),
                      .integer(Int64(clamping: now + SocialLimits.followRequestTTLMillis))])
            return previous != .text("pending")
        }
    }

    public func setFollowRequestStatus(_ pubkey: String, _ status: FollowRequestStatus) throws -> Bool {
        try db.transaction(durability: .full) { c in
            try c.execute("UPDATE follow_requests SET status = ? WHERE pubkey = ?", [.text(status.rawValue), .text(pubkey)])
            return c.changes > 0
        }
    }

    /// Pending requests that have not expired (we enforce the TTL the reference only stores).
    public func pendingFollowRequests(now: UInt64) throws -> [String] {
        try db.query("SELECT pubkey FROM follow_requests WHERE status = 'pending' AND expires_at > ? ORDER BY created_at",
                     [.integer(Int64(clamping: now))]).map { try $0.string("pubkey") }
    }

    // MARK: Bookmarks, preferences

    public func setBookmark(_ postID: String, _ on: Bool, now: UInt64) throws {
        try db.transaction(durability: .full) { c in
            if on {
                try c.execute("INSERT OR IGNORE INTO bookmarks (post_id, created_at) VALUES (?, ?)",
                              [.text(postID), .integer(Int64(clamping: now))])
            } else {
                try c.execute("DELETE FROM bookmarks WHERE post_id = ?", [.text(postID)])
            }
        }
    }

    public func bookmarks() throws -> [String] {
        try db.query("SELECT post_id FROM bookmarks ORDER BY created_at DESC").map { try $0.string("post_id") }
    }

    public func preference(_ key: String) throws -> String? {
        guard case .text(let value)? = try db.queryValue("SELECT value FROM preferences WHERE key = ?", [.text(key)]) else {
            return nil
        }
        return value
    }

    public func setPreference(_ key: String, _ value: String) throws {
        try db.transaction(durability: .full) { c in
            try c.execute("INSERT INTO preferences (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                          [.text(key), .text(value)])
        }
    }

    // MARK: Device announcements

    public func cachedAnnouncementVersion(_ master: String) throws -> UInt64 {
        UInt64(Self.int(try db.queryValue("SELECT version FROM peer_device_announcements WHERE master_pubkey = ?",
                                          [.text(master)])))
    }

    public func cacheAnnouncement(_ announcement: LinkedDevicesAnnouncement, now: UInt64) throws {
        let json = String(decoding: try WireJSON.encode(announcement), as: UTF8.self)
        try db.execute("""
            INSERT INTO peer_device_announcements (master_pubkey, announcement_json, version, cached_at) VALUES (?, ?, ?, ?)
            ON CONFLICT(master_pubkey) DO UPDATE SET announcement_json = excluded.announcement_json,
                version = excluded.version, cached_at = excluded.cached_at
            """, [.text(announcement.masterPublicKey), .text(json), .integer(Int64(clamping: announcement.version)),
                  .integer(Int64(clamping: now))])
    }

    // MARK: Helpers

    static func optionalString(_ row: Row, _ name: String) throws -> String? {
        try row.isNull(name) ? nil : try row.string(name)
    }

    static func int(_ value: SQLValue?) -> Int {
        if case .integer(let number)? = value { return Int(number) }
        return 0
    }
}

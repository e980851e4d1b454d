/// The node's `social.db` schema: the reference app's tables (spec §7.10, same columns,
/// constraints and indexes, so data and sync semantics carry over) plus node-only tables.
///
/// Migrations are append-only: never edit a shipped one, add `013_…` instead (docs/storage.md).
public enum AppSchema {
    public static let migrations: [Migration] = [
        Migration("001_profiles", """
            CREATE TABLE profiles (
                pubkey TEXT PRIMARY KEY,
                display_name TEXT NOT NULL,
                bio TEXT NOT NULL,
                avatar_hash TEXT,
                avatar_ticket TEXT,
                visibility TEXT NOT NULL DEFAULT 'public',
                signature TEXT NOT NULL DEFAULT ''
            );
            """),
        Migration("002_peer_delegations", """
            CREATE TABLE peer_delegations (
                master_pubkey TEXT PRIMARY KEY,
                signing_pubkey TEXT NOT NULL,
                dm_pubkey TEXT NOT NULL DEFAULT '',
                delegation_json TEXT NOT NULL,
                transport_node_ids_json TEXT NOT NULL DEFAULT '[]',
                cached_at INTEGER NOT NULL
            );
            """),
        Migration("003_linked_devices", """
            CREATE TABLE linked_devices (
                node_id TEXT PRIMARY KEY,
                device_name TEXT NOT NULL,
                is_primary INTEGER NOT NULL DEFAULT 0,
                is_self INTEGER NOT NULL DEFAULT 0,
                added_at INTEGER NOT NULL,
                last_seen_at INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE peer_device_announcements (
                master_pubkey TEXT PRIMARY KEY,
                announcement_json TEXT NOT NULL,
                version INTEGER NOT NULL DEFAULT 0,
                cached_at INTEGER NOT NULL
            );
            """),
        Migration("004_social_graph", """
            CREATE TABLE social_graph (
                follower TEXT NOT NULL,
                followee TEXT NOT NULL,
                followed_at INTEGER,
                state TEXT NOT NULL DEFAULT 'active',
                last_changed_at INTEGER NOT NULL DEFAULT 0,
                first_seen INTEGER,
                last_seen INTEGER,
                is_online INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (follower, followee)
            );
            CREATE TABLE follow_requests (
                pubkey TEXT PRIMARY KEY,
                timestamp INTEGER NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending',
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL
            );
            CREATE TABLE moderation (
                pubkey TEXT NOT NULL,
                kind TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                state TEXT NOT NULL DEFAULT 'active',
                last_changed_at INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (pubkey, kind)
            );
            CREATE TABLE remote_social_meta (
                pubkey TEXT PRIMARY KEY,
                follows_hidden INTEGER NOT NULL DEFAULT 0,
                followers_hidden INTEGER NOT NULL DEFAULT 0,
                follows_fetched_at INTEGER,
                followers_fetched_at INTEGER
            );
            """),
        Migration("005_content", """
            CREATE TABLE posts (
                id TEXT NOT NULL,
                author TEXT NOT NULL,
                content TEXT NOT NULL,
                timestamp INTEGER NOT NULL,
                media_json TEXT NOT NULL DEFAULT '[]',
                reply_to TEXT,
                reply_to_author TEXT,
                quote_of TEXT,
                quote_of_author TEXT,
                signature TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (author, id)
            );
            CREATE INDEX idx_posts_timestamp ON posts (timestamp DESC);
            CREATE INDEX idx_posts_author_timestamp ON posts (author, timestamp DESC);
            CREATE INDEX idx_posts_reply_to ON posts (reply_to);
            CREATE INDEX idx_posts_quote_of ON posts (quote_of);
            CREATE TABLE interactions (
                id TEXT NOT NULL,
                author TEXT NOT NULL,
                kind TEXT NOT NULL,
                target_post_id TEXT NOT NULL,
                target_author TEXT NOT NULL,
                timestamp INTEGER NOT NULL,
                signature TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (author, id)
            );
            CREATE INDEX idx_interactions_target ON interactions (target_post_id, kind);
            CREATE INDEX idx_interactions_author_timestamp ON interactions (author, timestamp DESC);
            CREATE UNIQUE INDEX idx_interactions_unique ON interactions (author, kind, target_post_id);
            """),
        Migration("006_notifications", """
            CREATE TABLE notifications (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                actor TEXT NOT NULL,
                target_post_id TEXT,
                post_id TEXT,
                timestamp INTEGER NOT NULL,
                read INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX idx_notifications_ts ON notifications (timestamp DESC);
            CREATE INDEX idx_notifications_unread ON notifications (read, timestamp DESC);
            """),
        Migration("007_direct_messages", """
            CREATE TABLE dm_conversations (
                conversation_id TEXT PRIMARY KEY,
                peer_pubkey TEXT NOT NULL UNIQUE,
                last_message_at INTEGER NOT NULL DEFAULT 0,
                last_message_preview TEXT NOT NULL DEFAULT '',
                unread_count INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL
            );
            CREATE INDEX idx_dm_conversations_last_msg ON dm_conversations (last_message_at DESC);
            CREATE TABLE dm_messages (
                id TEXT PRIMARY KEY,
                conversation_id TEXT NOT NULL REFERENCES dm_conversations (conversation_id),
                from_pubkey TEXT NOT NULL,
                to_pubkey TEXT NOT NULL,
                content TEXT NOT NULL,
                timestamp INTEGER NOT NULL,
                media_json TEXT NOT NULL DEFAULT '[]',
                read INTEGER NOT NULL DEFAULT 0,
                delivered INTEGER NOT NULL DEFAULT 0,
                reply_to TEXT
            );
            CREATE INDEX idx_dm_messages_conv_time ON dm_messages (conversation_id, timestamp DESC);
            CREATE TABLE dm_outbox (
                id TEXT PRIMARY KEY,
                peer_pubkey TEXT NOT NULL,
                envelope_json TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                retry_count INTEGER NOT NULL DEFAULT 0,
                last_retry_at INTEGER,
                message_id TEXT NOT NULL DEFAULT ''
            );
            CREATE INDEX idx_dm_outbox_peer ON dm_outbox (peer_pubkey, created_at ASC);
            CREATE TABLE dm_ratchet_sessions (
                peer_pubkey TEXT PRIMARY KEY,
                state_json TEXT NOT NULL,
                updated_at INTEGER NOT NULL
            );
            """),
        Migration("008_bookmarks", """
            CREATE TABLE bookmarks (
                post_id TEXT PRIMARY KEY,
                created_at INTEGER NOT NULL
            );
            """),
        Migration("009_servers", """
            CREATE TABLE servers (
                url TEXT PRIMARY KEY,
                name TEXT NOT NULL DEFAULT '',
                description TEXT NOT NULL DEFAULT '',
                node_id TEXT NOT NULL DEFAULT '',
                registered_at INTEGER,
                visibility TEXT NOT NULL DEFAULT 'public',
                added_at INTEGER NOT NULL,
                last_synced_at INTEGER
            );
            """),
        Migration("010_push_outbox", """
            CREATE TABLE push_outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                recipient TEXT NOT NULL,
                post_id TEXT,
                interaction_id TEXT,
                created_at INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL DEFAULT 100,
                last_attempt_at INTEGER,
                expires_at INTEGER NOT NULL
            );
            CREATE INDEX idx_push_outbox_recipient ON push_outbox (recipient);
            """),
        Migration("011_preferences", """
            CREATE TABLE preferences (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            );
            """),
        // Node-only tables (not in the reference app).
        Migration("012_node", """
            CREATE TABLE address_book (
                endpoint_id TEXT NOT NULL,
                address TEXT NOT NULL,
                last_seen_at INTEGER NOT NULL,
                PRIMARY KEY (endpoint_id, address)
            );
            CREATE TABLE admin (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            );
            """),
        // Own gossip payloads not yet published (offline first): a post made offline reaches
        // followers' live feeds once the node is back, even across a restart or power cut.
        Migration("013_gossip_outbox", """
            CREATE TABLE gossip_outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                topic BLOB NOT NULL,
                payload BLOB NOT NULL,
                created_at INTEGER NOT NULL
            );
            """)
    ]

    /// Tables whose writes must survive a power cut once COMMIT returns: losing them loses a
    /// user's message, re-uses ratchet keys, or forgets a user decision (docs/storage.md has the
    /// per-table reasons). Write to these with `transaction(durability: .full)`.
    public static let fullDurabilityTables: Set<String> = [
        "dm_outbox", "dm_ratchet_sessions", "dm_messages", "dm_conversations",
        "posts", "interactions", "profiles", "linked_devices",
        "social_graph", "moderation", "follow_requests", "bookmarks", "servers", "preferences",
        "admin", "gossip_outbox"
    ]

    /// The durability a write transaction touching `table` should use. When one transaction spans
    /// several tables, use the strongest (`.full` if any is listed). For `posts`, `interactions`
    /// and `profiles` this is the level for the user's *own* content; bulk ingestion of remote
    /// content into them (gossip, sync) passes `.normal` explicitly, as it can be fetched again.
    public static func durability(forTable table: String) -> Durability {
        fullDurabilityTables.contains(table) ? .full : .normal
    }

    /// Every table the migrations create, for checks and for `wipeApplicationTables`.
    public static let applicationTables: [String] = [
        "profiles", "peer_delegations", "linked_devices", "peer_device_announcements",
        "social_graph", "follow_requests", "moderation", "remote_social_meta",
        "posts", "interactions", "notifications",
        "dm_conversations", "dm_messages", "dm_outbox", "dm_ratchet_sessions",
        "bookmarks", "servers", "push_outbox", "preferences",
        "address_book", "admin", "gossip_outbox"
    ]
}

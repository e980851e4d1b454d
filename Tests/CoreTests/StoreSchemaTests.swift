import Foundation
import Testing
@testable import Core

@Suite("Store: social.db schema (spec §7.10)")
struct StoreSchemaTests {
    /// (name, declared type, NOT NULL, default expression, position in the primary key)
    struct Column: Equatable, CustomStringConvertible {
        let name: String
        let type: String
        let notNull: Bool
        let defaultValue: String?
        let primaryKey: Int
        init(_ name: String, _ type: String, _ notNull: Bool = false, _ defaultValue: String? = nil, pk: Int = 0) {
            self.name = name
            self.type = type
            self.notNull = notNull
            self.defaultValue = defaultValue
            self.primaryKey = pk
        }
        var description: String { "\(name) \(type)\(notNull ? " NOT NULL" : "")\(defaultValue.map { " DEFAULT \($0)" } ?? "")\(primaryKey > 0 ? " PK\(primaryKey)" : "")" }
    }

    static let nn = true
    static let expectedTables: [String: [Column]] = [
        "profiles": [
            Column("pubkey", "TEXT", pk: 1), Column("display_name", "TEXT", nn), Column("bio", "TEXT", nn),
            Column("avatar_hash", "TEXT"), Column("avatar_ticket", "TEXT"),
            Column("visibility", "TEXT", nn, "'public'"), Column("signature", "TEXT", nn, "''")
        ],
        "peer_delegations": [
            Column("master_pubkey", "TEXT", pk: 1), Column("signing_pubkey", "TEXT", nn), Column("dm_pubkey", "TEXT", nn, "''"),
            Column("delegation_json", "TEXT", nn), Column("transport_node_ids_json", "TEXT", nn, "'[]'"),
            Column("cached_at", "INTEGER", nn)
        ],
        "linked_devices": [
            Column("node_id", "TEXT", pk: 1), Column("device_name", "TEXT", nn), Column("is_primary", "INTEGER", nn, "0"),
            Column("is_self", "INTEGER", nn, "0"), Column("added_at", "INTEGER", nn), Column("last_seen_at", "INTEGER", nn, "0")
        ],
        "peer_device_announcements": [
            Column("master_pubkey", "TEXT", pk: 1), Column("announcement_json", "TEXT", nn),
            Column("version", "INTEGER", nn, "0"), Column("cached_at", "INTEGER", nn)
        ],
        "social_graph": [
            Column("follower", "TEXT", nn, pk: 1), Column("followee", "TEXT", nn, pk: 2), Column("followed_at", "INTEGER"),
            Column("state", "TEXT", nn, "'active'"), Column("last_changed_at", "INTEGER", nn, "0"),
            Column("first_seen", "INTEGER"), Column("last_seen", "INTEGER"), Column("is_online", "INTEGER", nn, "0")
        ],
        "follow_requests": [
            Column("pubkey", "TEXT", pk: 1), Column("timestamp", "INTEGER", nn), Column("status", "TEXT", nn, "'pending'"),
            Column("created_at", "INTEGER", nn), Column("expires_at", "INTEGER", nn)
        ],
        "moderation": [
            Column("pubkey", "TEXT", nn, pk: 1), Column("kind", "TEXT", nn, pk: 2), Column("created_at", "INTEGER", nn),
            Column("state", "TEXT", nn, "'active'"), Column("last_changed_at", "INTEGER", nn, "0")
        ],
        "remote_social_meta": [
            Column("pubkey", "TEXT", pk: 1), Column("follows_hidden", "INTEGER", nn, "0"), Column("followers_hidden", "INTEGER", nn, "0"),
            Column("follows_fetched_at", "INTEGER"), Column("followers_fetched_at", "INTEGER")
        ],
        "posts": [
            Column("id", "TEXT", nn, pk: 2), Column("author", "TEXT", nn, pk: 1), Column("content", "TEXT", nn),
            Column("timestamp", "INTEGER", nn), Column("media_json", "TEXT", nn, "'[]'"), Column("reply_to", "TEXT"),
            Column("reply_to_author", "TEXT"), Column("quote_of", "TEXT"), Column("quote_of_author", "TEXT"),
            Column("signature", "TEXT", nn, "''")
        ],
        "interactions": [
            Column("id", "TEXT", nn, pk: 2), Column("author", "TEXT", nn, pk: 1), Column("kind", "TEXT", nn),
            Column("target_post_id", "TEXT", nn), Column("target_author", "TEXT", nn), Column("timestamp", "INTEGER", nn),
            Column("signature", "TEXT", nn, "''")
        ],
        "notifications": [
            Column("id", "TEXT", pk: 1), Column("kind", "TEXT", nn), Column("actor", "TEXT", nn), Column("target_post_id", "TEXT"),
            Column("post_id", "TEXT"), Column("timestamp", "INTEGER", nn), Column("read", "INTEGER", nn, "0")
        ],
        "dm_conversations": [
            Column("conversation_id", "TEXT", pk: 1), Column("peer_pubkey", "TEXT", nn), Column("last_message_at", "INTEGER", nn, "0"),
            Column("last_message_preview", "TEXT", nn, "''"), Column("unread_count", "INTEGER", nn, "0"), Column("created_at", "INTEGER", nn)
        ],
        "dm_messages": [
            Column("id", "TEXT", pk: 1), Column("conversation_id", "TEXT", nn), Column("from_pubkey", "TEXT", nn),
            Column("to_pubkey", "TEXT", nn), Column("content", "TEXT", nn), Column("timestamp", "INTEGER", nn),
            Column("media_json", "TEXT", nn, "'[]'"), Column("read", "INTEGER", nn, "0"), Column("delivered", "INTEGER", nn, "0"),
            Column("reply_to", "TEXT")
        ],
        "dm_outbox": [
            Column("id", "TEXT", pk: 1), Column("peer_pubkey", "TEXT", nn), Column("envelope_json", "TEXT", nn),
            Column("created_at", "INTEGER", nn), Column("retry_count", "INTEGER", nn, "0"), Column("last_retry_at", "INTEGER"),
            Column("message_id", "TEXT", nn, "''")
        ],
        "dm_ratchet_sessions": [
            Column("peer_pubkey", "TEXT", pk: 1), Column("state_json", "TEXT", nn), Column("updated_at", "INTEGER", nn)
        ],
        "bookmarks": [Column("post_id", "TEXT", pk: 1), Column("created_at", "INTEGER", nn)],
        "servers": [
            Column("url", "TEXT", pk: 1), Column("name", "TEXT", nn, "''"), Column("description", "TEXT", nn, "''"),
            Column("node_id", "TEXT", nn, "''"), Column("registered_at", "INTEGER"), Column("visibility", "TEXT", nn, "'public'"),
            Column("added_at", "INTEGER", nn), Column("last_synced_at", "INTEGER")
        ],
        "push_outbox": [
            Column("id", "INTEGER", pk: 1), Column("recipient", "TEXT", nn), Column("post_id", "TEXT"), Column("interaction_id", "TEXT"),
            Column("created_at", "INTEGER", nn), Column("attempts", "INTEGER", nn, "0"), Column("max_attempts", "INTEGER", nn, "100"),
            Column("last_attempt_at", "INTEGER"), Column("expires_at", "INTEGER", nn)
        ],
        "preferences": [Column("key", "TEXT", pk: 1), Column("value", "TEXT", nn)],
        "address_book": [
            Column("endpoint_id", "TEXT", nn, pk: 1), Column("address", "TEXT", nn, pk: 2), Column("last_seen_at", "INTEGER", nn)
        ],
        "admin": [Column("key", "TEXT", pk: 1), Column("value", "TEXT", nn)],
        "gossip_outbox": [Column("id", "INTEGER", pk: 1), Column("topic", "BLOB", nn), Column("payload", "BLOB", nn),
                          Column("created_at", "INTEGER", nn)],
        "schema_migrations": [Column("name", "TEXT", pk: 1), Column("applied_at", "INTEGER")]
    ]

    /// index name → (table, [(column, descending)], unique)
    static let expectedIndexes: [String: (String, [String], Bool)] = [
        "idx_posts_timestamp": ("posts", ["timestamp DESC"], false),
        "idx_posts_author_timestamp": ("posts", ["author", "timestamp DESC"], false),
        "idx_posts_reply_to": ("posts", ["reply_to"], false),
        "idx_posts_quote_of": ("posts", ["quote_of"], false),
        "idx_interactions_target": ("interactions", ["target_post_id", "kind"], false),
        "idx_interactions_author_timestamp": ("interactions", ["author", "timestamp DESC"], false),
        "idx_interactions_unique": ("interactions", ["author", "kind", "target_post_id"], true),
        "idx_notifications_ts": ("notifications", ["timestamp DESC"], false),
        "idx_notifications_unread": ("notifications", ["read", "timestamp DESC"], false),
        "idx_dm_conversations_last_msg": ("dm_conversations", ["last_message_at DESC"], false),
        "idx_dm_messages_conv_time": ("dm_messages", ["conversation_id", "timestamp DESC"], false),
        "idx_dm_outbox_peer": ("dm_outbox", ["peer_pubkey", "created_at"], false),
        "idx_push_outbox_recipient": ("push_outbox", ["recipient"], false)
    ]

    @Test("every §7.10 table exists with exactly its columns, types, NOT NULLs, defaults and keys")
    func tablesAndColumns() throws {
        let db = try AppDatabase.inMemory().database
        let tables = Set(try db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").map { try $0.string(0) })
        #expect(tables == Set(Self.expectedTables.keys))
        #expect(Set(AppSchema.applicationTables) == Set(Self.expectedTables.keys).subtracting(["schema_migrations"]))
        for (table, expected) in Self.expectedTables {
            let actual = try db.query("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid", [.text(table)])
                .map { row in
                    Column(try row.string("name"), try row.string("type"), try row.bool("notnull"),
                           try row.get("dflt_value", as: String?.self), pk: try row.int("pk"))
                }
            #expect(actual == expected, "table \(table)")
        }
    }

    @Test("every §7.10 index exists on its columns, in its order and uniqueness")
    func indexes() throws {
        let db = try AppDatabase.inMemory().database
        let named = try db.query("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%'")
        #expect(Set(try named.map { try $0.string("name") }) == Set(Self.expectedIndexes.keys))
        for (index, (table, columns, unique)) in Self.expectedIndexes {
            let info = try db.query("SELECT name, \"desc\" FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno", [.text(index)])
            let actual = try info.map { try $0.string("name") + (try $0.bool("desc") ? " DESC" : "") }
            #expect(actual == columns, "index \(index)")
            let list = try db.query("SELECT name, \"unique\" FROM pragma_index_list(?)", [.text(table)])
            let entry = try list.first { try $0.string("name") == index }
            #expect(try entry?.bool("unique") == unique, "index \(index) uniqueness")
        }
        // dm_conversations.peer_pubkey is UNIQUE (an automatic index).
        let conversationIndexes = try db.query("SELECT \"unique\", origin FROM pragma_index_list('dm_conversations')")
        #expect(try conversationIndexes.contains { try $0.string("origin") == "u" && $0.bool("unique") })
        // push_outbox.id is AUTOINCREMENT.
        #expect(try db.queryValue("SELECT sql FROM sqlite_master WHERE name = 'push_outbox'")?.description.contains("AUTOINCREMENT") == true)
    }

    @Test("dm_messages.conversation_id references dm_conversations and is enforced")
    func foreignKeys() throws {
        let db = try AppDatabase.inMemory().database
        let keys = try db.query("SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list('dm_messages')")
        #expect(keys.count == 1)
        #expect(try keys.first?.string("table") == "dm_conversations")
        #expect(try keys.first?.string("from") == "conversation_id")
        #expect(try keys.first?.string("to") == "conversation_id")
    }

    @Test("wipeApplicationTables empties every application table and keeps schema_migrations and admin")
    func wipeKeepsMigrations() throws {
        let app = try AppDatabase.inMemory()
        let db = app.database
        try db.transaction(durability: .full) { c in
            try c.execute("INSERT INTO profiles (pubkey, display_name, bio) VALUES ('me', 'Me', '')")
            try c.execute("INSERT INTO peer_delegations (master_pubkey, signing_pubkey, delegation_json, cached_at) VALUES ('m', 's', '{}', 1)")
            try c.execute("INSERT INTO linked_devices (node_id, device_name, added_at) VALUES ('n', 'pi', 1)")
            try c.execute("INSERT INTO peer_device_announcements (master_pubkey, announcement_json, cached_at) VALUES ('m', '{}', 1)")
            try c.execute("INSERT INTO social_graph (follower, followee, followed_at) VALUES ('me', 'you', 1)")
            try c.execute("INSERT INTO follow_requests (pubkey, timestamp, created_at, expires_at) VALUES ('r', 1, 1, 2)")
            try c.execute("INSERT INTO moderation (pubkey, kind, created_at) VALUES ('troll', 'block', 1)")
            try c.execute("INSERT INTO remote_social_meta (pubkey) VALUES ('you')")
            try c.execute("INSERT INTO posts (id, author, content, timestamp) VALUES ('p', 'me', 'hi', 1)")
            try c.execute("INSERT INTO interactions (id, author, kind, target_post_id, target_author, timestamp) VALUES ('i', 'you', 'Like', 'p', 'me', 1)")
            try c.execute("INSERT INTO notifications (id, kind, actor, timestamp) VALUES ('n', 'like', 'you', 1)")
            try c.execute("INSERT INTO dm_conversations (conversation_id, peer_pubkey, created_at) VALUES ('c', 'you', 1)")
            try c.execute("INSERT INTO dm_messages (id, conversation_id, from_pubkey, to_pubkey, content, timestamp) VALUES ('d', 'c', 'me', 'you', 'secret', 1)")
            try c.execute("INSERT INTO dm_outbox (id, peer_pubkey, envelope_json, created_at) VALUES ('o', 'you', '{}', 1)")
            try c.execute("INSERT INTO dm_ratchet_sessions (peer_pubkey, state_json, updated_at) VALUES ('k', 'sealed', 1)")
            try c.execute("INSERT INTO bookmarks (post_id, created_at) VALUES ('p', 1)")
            try c.execute("INSERT INTO servers (url, added_at) VALUES ('https://s', 1)")
            try c.execute("INSERT INTO push_outbox (recipient, created_at, expires_at) VALUES ('you', 1, 2)")
            try c.execute("INSERT INTO preferences (key, value) VALUES ('share_follows', '0')")
            try c.execute("INSERT INTO address_book (endpoint_id, address, last_seen_at) VALUES ('e', '10.0.0.1:1', 1)")
            try c.execute("INSERT INTO admin (key, value) VALUES ('pin_hash', 'h')")
            try c.execute("INSERT INTO gossip_outbox (topic, payload, created_at) VALUES (x'00', x'00', 1)")
        }
        for table in AppSchema.applicationTables {
            #expect(try db.queryValue("SELECT COUNT(*) FROM \(table)") == .integer(1), "table \(table) seeded")
        }
        try app.wipeApplicationTables()
        for table in AppSchema.applicationTables where !AppDatabase.preservedByWipe.contains(table) {
            #expect(try db.queryValue("SELECT COUNT(*) FROM \(table)") == .integer(0), "table \(table) wiped")
        }
        #expect(try db.queryValue("SELECT value FROM admin WHERE key = 'pin_hash'") == .text("h"))
        #expect(try Migrator.appliedMigrations(db) == AppSchema.migrations.map(\.name))
        // AUTOINCREMENT restarts.
        try db.execute("INSERT INTO push_outbox (recipient, created_at, expires_at) VALUES ('x', 1, 2)")
        #expect(try db.queryValue("SELECT id FROM push_outbox") == .integer(1))
    }

    @Test("per-table durability: DM, ratchet, own content and admin rows are FULL; caches NORMAL")
    func durabilityPolicy() {
        for table in ["dm_outbox", "dm_ratchet_sessions", "dm_messages", "posts", "admin", "moderation"] {
            #expect(AppSchema.durability(forTable: table) == .full, "\(table)")
        }
        for table in ["peer_delegations", "peer_device_announcements", "notifications", "remote_social_meta", "address_book", "push_outbox"] {
            #expect(AppSchema.durability(forTable: table) == .normal, "\(table)")
        }
        #expect(AppSchema.fullDurabilityTables.isSubset(of: Set(AppSchema.applicationTables)))
    }
}

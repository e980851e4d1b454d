/// The DM tables of `social.db` (spec §7.10): conversations, messages, outbox, ratchet sessions.
/// Every write that must survive a power cut uses `.full` durability (docs/dm.md, docs/storage.md).
public struct DMStore: Sendable {
    public let database: Database
    public let ownMasterHex: String
    let storageKey: SecretBytes

    public init(database: Database, ownMasterHex: String, storageKey: SecretBytes) {
        self.database = database
        self.ownMasterHex = ownMasterHex
        self.storageKey = storageKey
    }

    public struct OutboxEntry: Sendable, Equatable {
        public var id: String
        public var peerMasterHex: String
        /// Our rows hold the `DmPayload` JSON (encrypted at send time); rows imported from a
        /// reference node hold an already-encrypted `EncryptedEnvelope` JSON.
        public var body: String
        public var createdAt: UInt64
        public var messageID: String
    }

    public struct Conversation: Sendable, Equatable {
        public var conversationID: String
        public var peerMasterHex: String
        public var lastMessageAt: UInt64
        public var preview: String
        public var unreadCount: Int
    }

    public struct StoredMessage: Sendable, Equatable {
        public var id: String
        public var fromMasterHex: String
        public var toMasterHex: String
        public var content: String
        public var timestamp: UInt64
        public var read: Bool
        public var delivered: Bool
        public var replyTo: String?
    }

    /// Preview: longer than 80 bytes becomes the first 77 bytes (on a character boundary) + "...".
    public static func preview(_ content: String) -> String {
        guard content.utf8.count > 80 else { return content }
        var out = ""
        for character in content {
            if out.utf8.count + character.utf8.count > 77 { break }
            out.append(character)
        }
        return out + "..."
    }

    // MARK: sessions

    public func loadSessions(peerDMKeyHex: String) throws -> DMPeerSessions? {
        guard let row = try database.queryRow("SELECT state_json FROM dm_ratchet_sessions WHERE peer_pubkey = ?", [.text(peerDMKeyHex)]) else {
            return nil
        }
        return try DMPeerSessions(sealed: try row.string(0), storageKey: storageKey)
    }

    func saveSessions(_ sessions: DMPeerSessions, peerDMKeyHex: String, now: UInt64, in connection: DatabaseConnection) throws {
        try connection.execute("""
            INSERT INTO dm_ratchet_sessions (peer_pubkey, state_json, updated_at) VALUES (?, ?, ?)
            ON CONFLICT(peer_pubkey) DO UPDATE SET state_json = excluded.state_json, updated_at = excluded.updated_at
            """, [.text(peerDMKeyHex), .text(sessions.sealed(storageKey: storageKey)), .integer(Int64(now))])
    }

    /// Persists the sessions on their own, fsynced (before any envelope they produced leaves).
    public func saveSessions(_ sessions: DMPeerSessions, peerDMKeyHex: String, now: UInt64) throws {
        try database.transaction(durability: .full) { try saveSessions(sessions, peerDMKeyHex: peerDMKeyHex, now: now, in: $0) }
    }

    // MARK: messages and outbox

    private func upsertConversation(peerMasterHex: String, timestamp: UInt64, preview: String, now: UInt64,
                                    in connection: DatabaseConnection) throws -> String {
        let conversation = ConversationID.make(ownMasterHex, peerMasterHex)
        try connection.execute("""
            INSERT INTO dm_conversations (conversation_id, peer_pubkey, last_message_at, last_message_preview, unread_count, created_at)
            VALUES (?, ?, ?, ?, 0, ?)
            ON CONFLICT(conversation_id) DO UPDATE SET last_message_at = excluded.last_message_at,
                last_message_preview = excluded.last_message_preview
            """, [.text(conversation), .text(peerMasterHex), .integer(Int64(timestamp)), .text(Self.preview(preview)), .integer(Int64(now))])
        return conversation
    }

    /// The user's message is durable from here on: message + outbox row in one `.full` transaction.
    public func enqueueOutgoing(_ message: DirectMessage, peerMasterHex: String, outboxID: String, now: UInt64) throws {
        try database.transaction(durability: .full) { connection in
            let conversation = try upsertConversation(peerMasterHex: peerMasterHex, timestamp: message.timestamp,
                                                      preview: message.content, now: now, in: connection)
            try connection.execute("""
                INSERT INTO dm_messages (id, conversation_id, from_pubkey, to_pubkey, content, timestamp, media_json, read, delivered, reply_to)
                VALUES (?, ?, ?, ?, ?, ?, ?, 1, 0, ?)
                """, [.text(message.id), .text(conversation), .text(ownMasterHex), .text(peerMasterHex), .text(message.content),
                      .integer(Int64(message.timestamp)), .text(message.mediaJSON), message.replyTo.map { .text($0) } ?? .null])
            try connection.execute("""
                INSERT INTO dm_outbox (id, peer_pubkey, envelope_json, created_at, retry_count, last_retry_at, message_id)
                VALUES (?, ?, ?, ?, 0, NULL, ?)
                """, [.text(outboxID), .text(peerMasterHex), .text(DMPayload.message(message).json.serializedString),
                      .integer(Int64(now)), .text(message.id)])
        }
    }

    public func outbox(peerMasterHex: String) throws -> [OutboxEntry] {
        try database.query("""
            SELECT id, peer_pubkey, envelope_json, created_at, message_id FROM dm_outbox WHERE peer_pubkey = ?
            ORDER BY created_at ASC, rowid ASC
            """, [.text(peerMasterHex)]).map { row in
            OutboxEntry(id: try row.string(0), peerMasterHex: try row.string(1), body: try row.string(2),
                        createdAt: UInt64(try row.int64(3)), messageID: try row.string(4))
        }
    }

    public func outboxPeers() throws -> [String] {
        try database.query("SELECT DISTINCT peer_pubkey FROM dm_outbox ORDER BY peer_pubkey").map { try $0.string(0) }
    }

    public func outboxCount() throws -> Int {
        try database.queryValue("SELECT COUNT(*) FROM dm_outbox").flatMap { Int(sqlValue: $0) } ?? 0
    }

    public func recordAttempt(_ entry: OutboxEntry, now: UInt64) throws {
        try database.execute("UPDATE dm_outbox SET retry_count = retry_count + 1, last_retry_at = ? WHERE id = ?",
                             [.integer(Int64(now)), .text(entry.id)])
    }

    /// After the peer's ack. A lost deletion only means one redundant resend, which the receiver
    /// deduplicates by message id, so normal durability suffices.
    public func markDelivered(_ entry: OutboxEntry) throws {
        try database.transaction { connection in
            try connection.execute("DELETE FROM dm_outbox WHERE id = ?", [.text(entry.id)])
            if !entry.messageID.isEmpty {
                try connection.execute("UPDATE dm_messages SET delivered = 1 WHERE id = ?", [.text(entry.messageID)])
            }
        }
    }

    /// Receipt of a `Message` (spec §8.5): session state, conversation, message and unread count in
    /// one `.full` transaction, committed before the ack is written. Returns false for a duplicate id.
    public func storeIncoming(_ message: DirectMessage, fromMasterHex: String, sessions: DMPeerSessions, peerDMKeyHex: String,
                              now: UInt64) throws -> Bool {
        try database.transaction(durability: .full) { connection in
            try saveSessions(sessions, peerDMKeyHex: peerDMKeyHex, now: now, in: connection)
            let conversation = try upsertConversation(peerMasterHex: fromMasterHex, timestamp: message.timestamp,
                                                      preview: message.content, now: now, in: connection)
            try connection.execute("""
                INSERT OR IGNORE INTO dm_messages (id, conversation_id, from_pubkey, to_pubkey, content, timestamp, media_json, read, delivered, reply_to)
                VALUES (?, ?, ?, ?, ?, ?, ?, 0, 1, ?)
                """, [.text(message.id), .text(conversation), .text(fromMasterHex), .text(ownMasterHex), .text(message.content),
                      .integer(Int64(message.timestamp)), .text(message.mediaJSON), message.replyTo.map { .text($0) } ?? .null])
            let inserted = connection.changes > 0
            if inserted {
                try connection.execute("UPDATE dm_conversations SET unread_count = unread_count + 1 WHERE conversation_id = ?",
                                       [.text(conversation)])
            }
            return inserted
        }
    }

    /// `Read` / `Delivered` receipts, together with the session state that decrypted them.
    public func applyReceipt(messageID: String, column: String, sessions: DMPeerSessions, peerDMKeyHex: String, now: UInt64) throws {
        precondition(column == "read" || column == "delivered")
        try database.transaction(durability: .full) { connection in
            try saveSessions(sessions, peerDMKeyHex: peerDMKeyHex, now: now, in: connection)
            try connection.execute("UPDATE dm_messages SET \(column) = 1 WHERE id = ? AND to_pubkey <> ?",
                                   [.text(messageID), .text(ownMasterHex)])
        }
    }

    public func conversations() throws -> [Conversation] {
        try database.query("""
            SELECT conversation_id, peer_pubkey, last_message_at, last_message_preview, unread_count FROM dm_conversations
            ORDER BY last_message_at DESC, rowid DESC
            """).map { row in
            Conversation(conversationID: try row.string(0), peerMasterHex: try row.string(1), lastMessageAt: UInt64(try row.int64(2)),
                         preview: try row.string(3), unreadCount: try row.int(4))
        }
    }

    /// Messages of one conversation, oldest first (arrival order breaks timestamp ties).
    public func messages(peerMasterHex: String, limit: Int = 50) throws -> [StoredMessage] {
        let conversation = ConversationID.make(ownMasterHex, peerMasterHex)
        let rows = try database.query("""
            SELECT id, from_pubkey, to_pubkey, content, timestamp, read, delivered, reply_to FROM dm_messages
            WHERE conversation_id = ? ORDER BY timestamp DESC, rowid DESC LIMIT ?
            """, [.text(conversation), .integer(Int64(limit))])
        return try rows.reversed().map { row in
            StoredMessage(id: try row.string(0), fromMasterHex: try row.string(1), toMasterHex: try row.string(2),
                          content: try row.string(3), timestamp: UInt64(try row.int64(4)), read: try row.bool(5),
                          delivered: try row.bool(6), replyTo: try row.isNull(7) ? nil : try row.string(7))
        }
    }

    public func markConversationRead(peerMasterHex: String) throws {
        let conversation = ConversationID.make(ownMasterHex, peerMasterHex)
        try database.transaction { connection in
            try connection.execute("UPDATE dm_conversations SET unread_count = 0 WHERE conversation_id = ?", [.text(conversation)])
            try connection.execute("UPDATE dm_messages SET read = 1 WHERE conversation_id = ? AND from_pubkey = ?",
                                   [.text(conversation), .text(peerMasterHex)])
        }
    }
}

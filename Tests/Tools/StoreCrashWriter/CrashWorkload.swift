import Core

/// Rows of one crash-test transaction, a pure function of its id: a conversation, `rowCount`
/// messages and `rowCount` outbox entries; some payloads are large (16 KiB) so a row spans several pages (overflow chains).
public enum CrashWorkload {
    public static func rowCount(_ id: Int64) -> Int { 2 + Int(id % 5) }

    public static func conversationID(_ id: Int64) -> String { "crash-\(id)" }

    public static func payload(_ id: Int64, _ index: Int, kind: String) -> String {
        let large = (id + Int64(index)) % 7 == 0
        let unit = "\(kind):\(id).\(index)|"
        let repeats = large ? 16_384 / unit.utf8.count : 4 + Int(id % 50)
        return String(repeating: unit, count: repeats)
    }

    public static func write(transaction id: Int64, to connection: DatabaseConnection) throws {
        let conversation = conversationID(id)
        let count = rowCount(id)
        try connection.execute(
            "INSERT INTO dm_conversations (conversation_id, peer_pubkey, unread_count, created_at) VALUES (?, ?, ?, ?)",
            [.text(conversation), .text("peer-\(id)"), .int(count), .integer(id)])
        for index in 0..<count {
            try connection.execute(
                "INSERT INTO dm_messages (id, conversation_id, from_pubkey, to_pubkey, content, timestamp) VALUES (?, ?, ?, ?, ?, ?)",
                [.text("\(conversation)/m\(index)"), .text(conversation), .text("me"), .text("peer-\(id)"),
                 .text(payload(id, index, kind: "m")), .integer(id)])
            try connection.execute(
                "INSERT INTO dm_outbox (id, peer_pubkey, envelope_json, created_at, message_id) VALUES (?, ?, ?, ?, ?)",
                [.text("\(conversation)/o\(index)"), .text("peer-\(id)"), .text(payload(id, index, kind: "o")),
                 .integer(id), .text("\(conversation)/m\(index)")])
        }
    }
}

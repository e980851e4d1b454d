import Foundation
import Synchronization
import Testing
import TestSupport
@testable import Core
import store_crash_writer

/// Kill -9 a writer mid-stream, repeatedly, and prove SQLite + our transaction wrapper keep every
/// acknowledged commit whole and never expose half a transaction.
@Suite("Store: crash safety", .serialized)
struct StoreCrashTests {
    static let rounds = 6

    @Test("SIGKILL at random moments: integrity ok, every printed commit complete, no partial transaction")
    func killedWriterLosesNothingAcknowledged() throws {
        let writer = try #require(Self.locateWriter(), "store-crash-writer not found next to the test bundle (set STORE_CRASH_WRITER)")
        let dir = try TemporaryDirectory("store-crash")
        defer { dir.remove() }
        var generator = SystemRandomNumberGenerator()
        var acknowledged: [Int64] = []

        for round in 0..<Self.rounds {
            let run = try ChildProcess(executable: writer, arguments: [dir.path])
            if round == 0 {
                // First round: kill anywhere from launch on, so the kill may land inside the
                // migrations of a brand-new database.
                usleep(UInt32.random(in: 0...150_000, using: &generator))
            } else {
                // Later rounds: wait (by event, not by speed) until this run has committed once,
                // then kill after a random delay.
                let started = run.waitForLine(timeoutSeconds: 120)
                #expect(started, "round \(round): writer never committed; stderr: \(run.stderrText())")
                usleep(UInt32.random(in: 0...250_000, using: &generator))
            }
            // Only complete lines count; the writer prints each with one atomic write(2).
            let ids = run.kill().compactMap { line in line.hasPrefix("committed ") ? Int64(line.dropFirst("committed ".count)) : nil }
            #expect(run.wasKilledBySignal, "round \(round): writer exited by itself; stderr: \(run.stderrText())")
            // Ids are consecutive and continue from the previous round's last durable one.
            #expect(ids == ids.sorted())
            acknowledged.append(contentsOf: ids)
        }
        // A test that never committed anything would prove nothing.
        #expect(acknowledged.count >= Self.rounds - 1, "only \(acknowledged.count) commits acknowledged")

        let app = try AppDatabase.open(directory: dir.path)
        let problems = try Self.audit(app.database, acknowledged: acknowledged)
        #expect(problems.isEmpty, "\(problems.count) problem(s): \(problems.prefix(20))")
        let onDisk = try app.database.queryValue("SELECT COUNT(*) FROM dm_conversations")
        print("store crash test: \(Self.rounds) SIGKILLs, \(acknowledged.count) acknowledged commits, \(onDisk ?? .null) transactions on disk")
    }

    @Test("the audit itself catches a missing row, a torn payload, an orphan and a lost acknowledged commit")
    func auditDetectsDamage() throws {
        let app = try AppDatabase.inMemory()
        let db = app.database
        for id in Int64(1)...6 {
            try db.transaction(durability: .full) { try CrashWorkload.write(transaction: id, to: $0) }
        }
        #expect(try Self.audit(db, acknowledged: [1, 2, 3, 4, 5, 6]).isEmpty)

        try db.execute("DELETE FROM dm_outbox WHERE id = ?", [.text(CrashWorkload.conversationID(2) + "/o1")])
        try db.execute("UPDATE dm_messages SET content = content || 'x' WHERE id = ?", [.text(CrashWorkload.conversationID(3) + "/m0")])
        try db.execute("DELETE FROM dm_messages WHERE conversation_id = ?", [.text(CrashWorkload.conversationID(6))])
        try db.execute("DELETE FROM dm_conversations WHERE created_at = 6")
        try db.execute("INSERT INTO dm_outbox (id, peer_pubkey, envelope_json, created_at) VALUES ('stray', 'p', '{}', 99)")
        let problems = try Self.audit(db, acknowledged: [1, 2, 3, 4, 5, 6])
        #expect(problems.contains { $0.contains("transaction 2") && $0.contains("outbox") })
        #expect(problems.contains { $0.contains("transaction 3") && $0.contains("message 0") })
        #expect(problems.contains { $0.contains("orphan") })
        #expect(problems.contains { $0.contains("acknowledged but missing: [6]") })
    }

    /// Everything that must hold after any sequence of kills; returns human-readable problems.
    static func audit(_ db: Database, acknowledged: [Int64]) throws -> [String] {
        var problems: [String] = []
        let integrity = try db.query("PRAGMA integrity_check").map { try $0.string(0) }
        if integrity != ["ok"] { problems.append("integrity_check: \(integrity)") }
        if try !db.query("PRAGMA foreign_key_check").isEmpty { problems.append("foreign_key_check reports violations") }

        // Every transaction present on disk is whole and byte-exact.
        let present = try db.query("SELECT created_at FROM dm_conversations ORDER BY created_at").map { try $0.int64(0) }
        for id in present {
            problems += try transactionProblems(id, db)
        }
        // Nothing outside a present transaction: no orphan message or outbox row.
        let presentSet = Set(present)
        let messageTransactions = Set(try db.query("SELECT DISTINCT timestamp FROM dm_messages").map { try $0.int64(0) })
        let outboxTransactions = Set(try db.query("SELECT DISTINCT created_at FROM dm_outbox").map { try $0.int64(0) })
        let orphans = messageTransactions.union(outboxTransactions).subtracting(presentSet)
        if !orphans.isEmpty { problems.append("orphan rows of transactions \(orphans.sorted())") }
        // Every acknowledged id is on disk (the converse need not hold: a kill between COMMIT and
        // the print leaves a durable but unannounced transaction, which is fine).
        let missing = Set(acknowledged).subtracting(presentSet)
        if !missing.isEmpty { problems.append("acknowledged but missing: \(missing.sorted())") }
        var seen = Set<Int64>()
        let repeated = acknowledged.filter { !seen.insert($0).inserted }
        if !repeated.isEmpty { problems.append("ids acknowledged twice: \(repeated)") }
        // Ids are dense: the writer resumes right after the last durable one.
        if let last = present.last, present != Array(1...last) { problems.append("transaction ids have gaps") }
        return problems
    }

    static func transactionProblems(_ id: Int64, _ db: Database) throws -> [String] {
        var problems: [String] = []
        let conversation = CrashWorkload.conversationID(id)
        let count = CrashWorkload.rowCount(id)
        let header = try db.queryValue("SELECT unread_count FROM dm_conversations WHERE conversation_id = ?", [.text(conversation)])
        if header != .int(count) { problems.append("transaction \(id): header row count \(String(describing: header)), expected \(count)") }
        let messages = try db.query("SELECT id, content FROM dm_messages WHERE conversation_id = ? ORDER BY id", [.text(conversation)])
        if messages.count != count { problems.append("transaction \(id): \(messages.count) of \(count) messages") }
        for (index, row) in messages.enumerated() {
            if try row.string("id") != "\(conversation)/m\(index)" || row.string("content") != CrashWorkload.payload(id, index, kind: "m") {
                problems.append("transaction \(id): message \(index) differs")
            }
        }
        let outbox = try db.query("SELECT id, envelope_json FROM dm_outbox WHERE created_at = ? ORDER BY id", [.integer(id)])
        if outbox.count != count { problems.append("transaction \(id): \(outbox.count) of \(count) outbox rows") }
        for (index, row) in outbox.enumerated() {
            if try row.string("id") != "\(conversation)/o\(index)" || row.string("envelope_json") != CrashWorkload.payload(id, index, kind: "o") {
                problems.append("transaction \(id): outbox \(index) differs")
            }
        }
        return problems
    }

    /// The writer is built into the same products directory as the test bundle.
    static func locateWriter() -> String? {
        BuiltProducts.locate("store-crash-writer", override: "STORE_CRASH_WRITER")
    }
}


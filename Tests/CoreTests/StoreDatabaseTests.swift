import CSQLite
import Foundation
import Testing
@testable import Core

@Suite("Store: SQLite wrapper")
struct StoreDatabaseTests {
    private func scratch() throws -> Database {
        let db = try Database.inMemory()
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n)")
        return db
    }

    @Test("every type binds and reads back exactly, by name and by index")
    func roundTripEveryType() throws {
        let db = try scratch()
        let bigBlob = (0..<1_048_576).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        // (-0.0 reads back as 0.0: SQLite stores integral REALs as integers. Equality still holds.)
        let cases: [(Int64, Double, String, [UInt8])] = [
            (Int64.max, Double.pi, "", []),
            (Int64.min, -0.0, "héllo wörld 🎭 日本語 ﷽", [0, 0, 0]),
            (0, 1e308, "nul\u{0}inside\u{0}", Array(0...255)),
            (-1, Double.leastNonzeroMagnitude, String(repeating: "ж", count: 100_000), bigBlob)
        ]
        for (index, value) in cases.enumerated() {
            try db.execute("INSERT INTO t (id, i, r, s, b, n) VALUES (?, ?, ?, ?, ?, ?)",
                           [.int(index), .integer(value.0), .real(value.1), .text(value.2), .blob(value.3), nil])
        }
        let rows = try db.query("SELECT id, i, r, s, b, n, typeof(b) AS tb, typeof(s) AS ts FROM t ORDER BY id")
        #expect(rows.count == cases.count)
        for (row, value) in zip(rows, cases) {
            #expect(try row.int64("i") == value.0)
            #expect(try row.int64(1) == value.0)
            #expect(try row.double("r") == value.1)
            #expect(try row.string("s") == value.2)
            #expect(try row.string(3).utf8.count == value.2.utf8.count)
            #expect(try row.blob("b") == value.3)
            #expect(try row.blob(4) == value.3)
            #expect(try row.isNull("n"))
            #expect(try row.value(named: "n") == .null)
            // An empty blob stays a zero-length BLOB and an empty string stays TEXT, never NULL.
            #expect(try row.string("tb") == "blob")
            #expect(try row.string("ts") == "text")
        }
    }

    @Test("Bool, Int, optionals and literals bind and read through SQLValueConvertible")
    func convertibleTypes() throws {
        let db = try scratch()
        let absent: String? = nil
        let present: String? = "x"
        try db.execute("INSERT INTO t (id, i, s, n) VALUES (?, ?, ?, ?)", [1, .bool(true), SQLValue(absent), SQLValue(present)])
        try db.execute("INSERT INTO t (id, i, s, n) VALUES (?, ?, ?, ?)", [2, SQLValue(false), "lit", 2.5])
        let rows = try db.query("SELECT i, s, n FROM t ORDER BY id")
        #expect(try rows[0].bool("i") == true)
        #expect(try rows[1].bool("i") == false)
        #expect(try rows[0].get("s", as: String?.self) == nil)
        #expect(try rows[0].get("n", as: String?.self) == "x")
        #expect(try rows[1].get("s", as: String?.self) == "lit")
        #expect(try rows[1].double("n") == 2.5)
        #expect(try rows[0].int("i") == 1)
        // INTEGER widens to Double; nothing else converts implicitly.
        #expect(try rows[0].double("i") == 1.0)
    }

    @Test("getters throw typed errors naming the column and SQL instead of trapping")
    func getterErrors() throws {
        let db = try scratch()
        try db.execute("INSERT INTO t (id, i, s) VALUES (1, NULL, '12')")
        let row = try #require(try db.queryRow("SELECT i, s FROM t"))
        let nullAsInt = storeError { _ = try row.int64("i") }
        #expect(nullAsInt?.kind == .typeMismatch)
        #expect(nullAsInt?.message.contains("'i'") == true)
        #expect(nullAsInt?.sql == "SELECT i, s FROM t")
        #expect(storeError { _ = try row.int64("s") }?.kind == .typeMismatch)
        #expect(storeError { _ = try row.blob("s") }?.kind == .typeMismatch)
        #expect(storeError { _ = try row.string("missing") }?.kind == .noSuchColumn)
        #expect(storeError { _ = try row.string(7) }?.kind == .noSuchColumn)
        #expect(storeError { _ = try row.string(-1) }?.kind == .noSuchColumn)
        #expect(try row.get("i", as: Int64?.self) == nil)
        #expect(try row.string("S") == "12") // column names match case-insensitively, like SQL
    }

    @Test("a failing statement throws StoreError with code, extended code, message and the SQL")
    func failingStatementNamesSQL() throws {
        let db = try scratch()
        let syntax = storeError { try db.execute("SELEKT 1") }
        #expect(syntax?.kind == .sqlite)
        #expect(syntax?.code == SQLITE_ERROR)
        #expect(syntax?.sql == "SELEKT 1")
        #expect(syntax?.message.contains("syntax error") == true)
        #expect(syntax?.description.contains("SELEKT 1") == true)

        let missing = storeError { _ = try db.query("SELECT * FROM nowhere WHERE id = ?", [1]) }
        #expect(missing?.code == SQLITE_ERROR)
        #expect(missing?.message.contains("no such table: nowhere") == true)
        #expect(missing?.sql == "SELECT * FROM nowhere WHERE id = ?")

        // The connection is still fine afterwards.
        #expect(try db.queryValue("SELECT 40 + 2") == .integer(42))
    }

    @Test("API misuse is a typed error, never a crash")
    func misuse() throws {
        let db = try scratch()
        #expect(storeError { try db.execute("INSERT INTO t (id) VALUES (?)", []) }?.kind == .misuse)
        #expect(storeError { try db.execute("INSERT INTO t (id) VALUES (?)", [1, 2]) }?.kind == .misuse)
        #expect(storeError { try db.execute("SELECT 1; SELECT 2") }?.kind == .misuse)
        #expect(storeError { try db.execute("   -- only a comment") }?.kind == .misuse)
        #expect(storeError { try db.execute("INSERT INTO t (id) VALUES (:id)", named: [:]) }?.kind == .misuse)
        #expect(storeError { try db.execute("INSERT INTO t (id) VALUES (:id)", named: ["id": 1, "extra": 2]) }?.kind == .misuse)
        #expect(storeError { try db.execute("INSERT INTO t (id) VALUES (?)", named: ["id": 1]) }?.kind == .misuse)
        // Trailing whitespace and comments after one statement are fine.
        try db.execute("INSERT INTO t (id) VALUES (?); -- done\n", [5])
        #expect(try db.queryValue("SELECT COUNT(*) FROM t") == .integer(1))
        db.close()
        #expect(!db.isOpen)
        let closed = storeError { _ = try db.queryValue("SELECT 1") }
        #expect(closed?.kind == .misuse)
        #expect(closed?.message.contains("closed") == true)
    }

    @Test("named parameters bind by name with or without the prefix")
    func namedParameters() throws {
        let db = try scratch()
        try db.execute("INSERT INTO t (id, s, i) VALUES (:id, @s, $i)", named: ["id": 9, "@s": "named", "i": 7])
        let rows = try db.query("SELECT s, i FROM t WHERE id = :id AND i = :id - 2", named: ["id": 9])
        #expect(rows.count == 1)
        #expect(try rows[0].string("s") == "named")
        // Values are bound, never spliced: SQL in a value is just text.
        let hostile = "x'); DROP TABLE t; --"
        try db.execute("INSERT INTO t (id, s) VALUES (?, ?)", [10, .text(hostile)])
        #expect(try db.queryValue("SELECT s FROM t WHERE id = 10") == .text(hostile))
        #expect(try db.queryValue("SELECT COUNT(*) FROM t") == .integer(2))
    }

    @Test("constraint violations report SQLITE_CONSTRAINT with the precise extended code")
    func constraintViolations() throws {
        let app = try AppDatabase.inMemory()
        let db = app.database
        try db.execute("INSERT INTO profiles (pubkey, display_name, bio) VALUES ('a', 'A', '')")
        let primaryKey = storeError { try db.execute("INSERT INTO profiles (pubkey, display_name, bio) VALUES ('a', 'B', '')") }
        #expect(primaryKey?.isConstraintViolation == true)
        #expect(primaryKey?.extendedCode == StoreError.ExtendedCode.constraintPrimaryKey)
        #expect(primaryKey?.isDuplicateKey == true)

        let notNull = storeError { try db.execute("INSERT INTO profiles (pubkey, display_name, bio) VALUES (?, ?, ?)", ["b", nil, ""]) }
        #expect(notNull?.code == SQLITE_CONSTRAINT)
        #expect(notNull?.extendedCode == StoreError.ExtendedCode.constraintNotNull)

        let like = "INSERT INTO interactions (id, author, kind, target_post_id, target_author, timestamp) VALUES (?, 'me', 'Like', 'p1', 'you', 1)"
        try db.execute(like, ["i1"])
        let unique = storeError { try db.execute(like, ["i2"]) }
        #expect(unique?.extendedCode == StoreError.ExtendedCode.constraintUnique)
        #expect(unique?.sql == like)

        let foreignKey = storeError {
            try db.execute("INSERT INTO dm_messages (id, conversation_id, from_pubkey, to_pubkey, content, timestamp) VALUES ('m', 'nope', 'a', 'b', 'hi', 1)")
        }
        #expect(foreignKey?.extendedCode == StoreError.ExtendedCode.constraintForeignKey)
    }

    @Test("transaction commits on return and rolls back everything on throw")
    func transactionRollback() throws {
        let db = try scratch()
        let committed = try db.transaction { connection -> Int in
            try connection.execute("INSERT INTO t (id) VALUES (1)")
            try connection.execute("INSERT INTO t (id) VALUES (2)")
            return connection.changes
        }
        #expect(committed == 1)
        var thrown: ExpectedFailure?
        do {
            try db.transaction { connection in
                try connection.execute("INSERT INTO t (id) VALUES (3)")
                try connection.execute("UPDATE t SET s = 'changed'")
                throw ExpectedFailure(reason: "abort")
            }
        } catch let error as ExpectedFailure {
            thrown = error
        }
        #expect(thrown == ExpectedFailure(reason: "abort"))
        #expect(try db.queryValue("SELECT COUNT(*) FROM t") == .integer(2))
        #expect(try db.queryValue("SELECT COUNT(*) FROM t WHERE s IS NOT NULL") == .integer(0))

        // A failing statement inside rolls back the earlier ones too, and the connection is reusable.
        let failure = storeError {
            try db.transaction { connection in
                try connection.execute("INSERT INTO t (id) VALUES (4)")
                try connection.execute("INSERT INTO t (id) VALUES (1)")
            }
        }
        #expect(failure?.isConstraintViolation == true)
        #expect(try db.queryValue("SELECT COUNT(*) FROM t") == .integer(2))
        #expect(try db.withConnection { $0.isInTransaction } == false)
        try db.transaction { try $0.execute("INSERT INTO t (id) VALUES (5)") }
        #expect(try db.queryValue("SELECT COUNT(*) FROM t") == .integer(3))
    }

    @Test("nested transactions are savepoints: an inner failure rolls back only the inner work")
    func nestedSavepoints() throws {
        let db = try scratch()
        try db.transaction { outer in
            try outer.execute("INSERT INTO t (id) VALUES (1)")
            do {
                try outer.transaction { inner in
                    try inner.execute("INSERT INTO t (id) VALUES (2)")
                    throw ExpectedFailure(reason: "inner")
                }
            } catch is ExpectedFailure {}
            try outer.transaction { inner in
                try inner.execute("INSERT INTO t (id) VALUES (3)")
            }
            #expect(outer.isInTransaction)
        }
        let ids = try db.query("SELECT id FROM t ORDER BY id").map { try $0.int64(0) }
        #expect(ids == [1, 3])

        // An inner error that propagates rolls back the outer transaction as well.
        #expect(throws: ExpectedFailure.self) {
            try db.transaction { outer in
                try outer.execute("INSERT INTO t (id) VALUES (4)")
                try outer.transaction { _ in throw ExpectedFailure(reason: "propagate") }
            }
        }
        #expect(try db.queryValue("SELECT COUNT(*) FROM t") == .integer(2))
    }

    @Test("file databases run in WAL with foreign keys, busy_timeout 5000 and synchronous NORMAL")
    func connectionPragmas() throws {
        let dir = try TemporaryDirectory("store-pragmas")
        defer { dir.remove() }
        let db = try Database(path: dir.path + "/p.db")
        #expect(try db.queryValue("PRAGMA journal_mode") == .text("wal"))
        #expect(try db.queryValue("PRAGMA foreign_keys") == .integer(1))
        #expect(try db.queryValue("PRAGMA busy_timeout") == .integer(5000))
        #expect(try db.queryValue("PRAGMA synchronous") == .integer(1))
        try db.execute("CREATE TABLE x (a)")
        #expect(FileManager.default.fileExists(atPath: dir.path + "/p.db-wal"))
        db.close()
        // WAL is persistent in the file header: a plain reopen still reports it.
        let reopened = try Database(path: dir.path + "/p.db")
        #expect(try reopened.queryValue("PRAGMA journal_mode") == .text("wal"))
    }

    @Test("a second connection waits for the write lock (busy_timeout) instead of failing with SQLITE_BUSY")
    func busyTimeoutWaits() throws {
        let dir = try TemporaryDirectory("store-busy")
        defer { dir.remove() }
        let first = try Database(path: dir.path + "/b.db")
        let second = try Database(path: dir.path + "/b.db")
        try first.execute("CREATE TABLE w (x INTEGER)")
        let holding = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        Thread.detachNewThread {
            do {
                try first.transaction { connection in
                    try connection.execute("INSERT INTO w VALUES (1)")
                    holding.signal()
                    usleep(300_000) // hold the write lock while the other connection tries to begin
                }
            } catch {
                failure.record("\(error)")
            }
            done.signal()
        }
        holding.wait()
        try second.transaction { try $0.execute("INSERT INTO w VALUES (2)") }
        done.wait()
        #expect(failure.recorded == nil)
        #expect(try second.query("SELECT x FROM w ORDER BY rowid").map { try $0.int64(0) } == [1, 2])
    }

    @Test("durability .full switches PRAGMA synchronous to FULL inside the transaction and back after")
    func durabilitySwitch() throws {
        let dir = try TemporaryDirectory("store-durability")
        defer { dir.remove() }
        let db = try Database(path: dir.path + "/d.db")
        let normal: SQLValue = 1
        let full: SQLValue = 2
        #expect(try db.transaction(durability: .full) { try $0.queryValue("PRAGMA synchronous") } == full)
        #expect(try db.queryValue("PRAGMA synchronous") == normal)
        #expect(try db.transaction(durability: .normal) { try $0.queryValue("PRAGMA synchronous") } == normal)

        // Nested: .normal inside .full keeps FULL; .full inside .normal is refused (SQLite cannot
        // change the level inside a transaction) and the refusal rolls the outer work back.
        let nested = try db.transaction(durability: .full) { outer in
            try outer.transaction(durability: .normal) { try $0.queryValue("PRAGMA synchronous") }
        }
        #expect(nested == full)
        let db2Table = "CREATE TABLE IF NOT EXISTS n (x)"
        try db.execute(db2Table)
        let refused = storeError {
            try db.transaction { outer in
                try outer.execute("INSERT INTO n VALUES (1)")
                try outer.transaction(durability: .full) { try $0.execute("INSERT INTO n VALUES (2)") }
            }
        }
        #expect(refused?.kind == .misuse)
        #expect(try db.queryValue("SELECT COUNT(*) FROM n") == .integer(0))
        #expect(try db.queryValue("PRAGMA synchronous") == normal)

        // Restored after a rollback too.
        #expect(throws: ExpectedFailure.self) {
            try db.transaction(durability: .full) { _ in throw ExpectedFailure(reason: "x") }
        }
        #expect(try db.queryValue("PRAGMA synchronous") == normal)
    }

    @Test("statements are cached and stay correct past the cache limit")
    func statementCache() throws {
        let db = try scratch()
        for id in 0..<500 {
            try db.execute("INSERT INTO t (id, i) VALUES (?, ?)", [.int(id), .int(id * 2)])
        }
        // More distinct statements than the cache holds.
        for extra in 0..<(DatabaseConnection.statementCacheLimit * 2) {
            #expect(try db.queryValue("SELECT i + \(extra) FROM t WHERE id = ?", [7]) == .int(14 + extra))
        }
        #expect(try db.queryValue("SELECT SUM(i) FROM t") == .int(499 * 500))
        // A cached statement sees schema changes (sqlite re-prepares it).
        try db.execute("ALTER TABLE t ADD COLUMN extra TEXT DEFAULT 'd'")
        let row = try #require(try db.queryRow("SELECT * FROM t WHERE id = ?", [3]))
        #expect(try row.string("extra") == "d")
    }

    @Test("one Database is safe to use from many threads at once")
    func concurrentUse() async throws {
        let db = try scratch()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in 0..<50 {
                        try db.transaction { connection in
                            try connection.execute("INSERT INTO t (id, i) VALUES (?, ?)", [.int(worker * 1000 + index), .int(worker)])
                            let mine = try connection.queryValue("SELECT COUNT(*) FROM t WHERE i = ?", [.int(worker)])
                            #expect(mine == .int(index + 1))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try db.queryValue("SELECT COUNT(*) FROM t") == .integer(400))
    }

    @Test("opening a path that cannot be opened throws a StoreError naming the path")
    func openFailure() {
        let error = storeError { _ = try Database(path: "/nonexistent-dir-proscenium/x.db") }
        #expect(error?.code == SQLITE_CANTOPEN)
        #expect(error?.message.contains("/nonexistent-dir-proscenium/x.db") == true)
        let readOnly = storeError { _ = try Database(path: "/nonexistent-dir-proscenium/y.db", flags: .readOnly) }
        #expect(readOnly?.kind == .sqlite)
    }
}

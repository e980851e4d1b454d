import CSQLite
import Foundation
import Testing
@testable import Core

@Suite("Store: migrations")
struct StoreMigrationTests {
    private let clock = FixedClock(millis: 1_700_000_123_456)

    @Test("migrations run in order, are recorded with applied_at in seconds, and are idempotent")
    func recordedAndIdempotent() throws {
        let db = try Database.inMemory()
        let list = [
            Migration("001_a", "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"),
            Migration("002_b", "CREATE TABLE b (y INTEGER); INSERT INTO b SELECT x + 1 FROM a;")
        ]
        #expect(try Migrator.migrate(db, migrations: list, clock: clock) == ["001_a", "002_b"])
        #expect(try Migrator.migrate(db, migrations: list, clock: clock) == [])
        let rows = try db.query("SELECT name, applied_at FROM schema_migrations ORDER BY name")
        #expect(try rows.map { try $0.string("name") } == ["001_a", "002_b"])
        #expect(try rows.map { try $0.int64("applied_at") } == [1_700_000_123, 1_700_000_123])
        #expect(try db.queryValue("SELECT y FROM b") == .integer(2))

        // A later build adds a migration: only the new one runs.
        let extended = list + [Migration("003_c", "ALTER TABLE a ADD COLUMN z TEXT;")]
        #expect(try Migrator.migrate(db, migrations: extended, clock: clock) == ["003_c"])
        #expect(try Migrator.appliedMigrations(db) == ["001_a", "002_b", "003_c"])
    }

    @Test("a failing migration is rolled back whole, not recorded, and names itself and its SQL")
    func failingMigrationRollsBack() throws {
        let db = try Database.inMemory()
        let list = [
            Migration("001_ok", "CREATE TABLE ok (x);"),
            Migration("002_bad", "CREATE TABLE half (x); INSERT INTO missing VALUES (1);"),
            Migration("003_never", "CREATE TABLE never (x);")
        ]
        let error = storeError { try Migrator.migrate(db, migrations: list, clock: clock) }
        #expect(error?.kind == .sqlite)
        #expect(error?.message.contains("002_bad") == true)
        #expect(error?.sql == "INSERT INTO missing VALUES (1);")
        #expect(try Migrator.appliedMigrations(db) == ["001_ok"])
        let tables = try db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").map { try $0.string(0) }
        #expect(tables == ["ok", "schema_migrations"])
    }

    @Test("out-of-order lists and databases from a newer build are refused")
    func refusesInconsistentHistory() throws {
        let db = try Database.inMemory()
        let unordered = [Migration("002_b", "CREATE TABLE b (x);"), Migration("001_a", "CREATE TABLE a (x);")]
        #expect(storeError { try Migrator.migrate(db, migrations: unordered, clock: clock) }?.kind == .migration)
        let duplicate = [Migration("001_a", "CREATE TABLE a (x);"), Migration("001_a", "CREATE TABLE b (x);")]
        #expect(storeError { try Migrator.migrate(db, migrations: duplicate, clock: clock) }?.kind == .migration)

        try Migrator.migrate(db, migrations: [Migration("001_a", "CREATE TABLE a (x);"), Migration("002_b", "CREATE TABLE b (x);")], clock: clock)
        let older = storeError { try Migrator.migrate(db, migrations: [Migration("001_a", "CREATE TABLE a (x);")], clock: clock) }
        #expect(older?.kind == .migration)
        #expect(older?.message.contains("002_b") == true)
    }

    @Test("AppDatabase.open creates social.db, applies 001…013 once, and reopens without re-running")
    func appDatabaseOpenTwice() throws {
        let dir = try TemporaryDirectory("store-open")
        defer { dir.remove() }
        let dataDirectory = dir.path + "/nested/data"
        let first = try AppDatabase.open(directory: dataDirectory, clock: clock)
        let expected = AppSchema.migrations.map(\.name)
        #expect(expected.first == "001_profiles")
        #expect(expected.contains("011_preferences"))
        #expect(expected.contains("012_node"))
        #expect(expected.last == "013_gossip_outbox")
        #expect(try Migrator.appliedMigrations(first.database) == expected)
        try first.database.execute("INSERT INTO preferences (key, value) VALUES ('accent_color', 'teal')")
        first.database.close()
        #expect(FileManager.default.fileExists(atPath: dataDirectory + "/social.db"))

        let second = try AppDatabase.open(directory: dataDirectory, clock: FixedClock(millis: 9_999_999_999_999))
        #expect(try Migrator.appliedMigrations(second.database) == expected)
        #expect(try second.database.queryValue("SELECT MAX(applied_at) FROM schema_migrations") == .integer(1_700_000_123))
        #expect(try second.database.queryValue("SELECT value FROM preferences WHERE key = 'accent_color'") == .text("teal"))
        #expect(try second.database.queryValue("PRAGMA journal_mode") == .text("wal"))
    }

    @Test("AppDatabase.open refuses a data directory that is a file")
    func openRejectsFileAsDirectory() throws {
        let dir = try TemporaryDirectory("store-notdir")
        defer { dir.remove() }
        let file = dir.path + "/plain"
        #expect(FileManager.default.createFile(atPath: file, contents: Data([1])))
        #expect(storeError { _ = try AppDatabase.open(directory: file) }?.kind == .configuration)
    }
}

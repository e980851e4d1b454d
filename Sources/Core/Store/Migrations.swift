/// One schema step. `name` is recorded in `schema_migrations` once `sql` has run; names sort in
/// application order (`001_…`, `002_…`), so a list is validated to be strictly increasing.
public struct Migration: Sendable, Equatable {
    public let name: String
    /// One or more statements without parameters. Runs inside a transaction, so it must not contain
    /// BEGIN/COMMIT or pragmas that are no-ops in a transaction (`foreign_keys`, `journal_mode`).
    public let sql: String

    public init(_ name: String, _ sql: String) {
        self.name = name
        self.sql = sql
    }
}

/// Applies migrations in order, each in its own transaction together with its
/// `schema_migrations(name, applied_at)` row (`applied_at` in Unix seconds, spec §0), so a crash
/// leaves every migration either fully applied and recorded, or not at all.
public enum Migrator {
    public static let tableName = "schema_migrations"

    /// Applies the migrations of `migrations` not yet recorded; returns the names applied now.
    /// Throws `.migration` if the list is not strictly increasing, or if the database records a
    /// migration this list does not contain (it was written by a newer build: refuse rather than
    /// run against a schema we do not understand).
    @discardableResult
    public static func migrate(_ database: Database, migrations: [Migration], clock: any WallClock) throws -> [String] {
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.name >= next.name {
            throw StoreError(kind: .migration, message: "migration names must be strictly increasing: '\(previous.name)' then '\(next.name)'")
        }
        if let empty = migrations.first(where: { $0.name.isEmpty }) {
            throw StoreError(kind: .migration, message: "migration with an empty name before '\(empty.sql.prefix(40))'")
        }
        try database.execute("CREATE TABLE IF NOT EXISTS \(tableName) (name TEXT PRIMARY KEY, applied_at INTEGER)")
        let recorded = Set(try database.query("SELECT name FROM \(tableName)").map { try $0.string(0) })
        let unknown = recorded.subtracting(migrations.map(\.name))
        guard unknown.isEmpty else {
            throw StoreError(kind: .migration,
                             message: "database records migrations this build does not know: \(unknown.sorted().joined(separator: ", "))")
        }
        var applied: [String] = []
        for migration in migrations where !recorded.contains(migration.name) {
            let ran = try database.transaction(durability: .full) { connection -> Bool in
                // Re-check under the write lock: another process may have migrated meanwhile.
                let already = try connection.queryValue("SELECT 1 FROM \(tableName) WHERE name = ?", [.text(migration.name)])
                guard already == nil else { return false }
                do {
                    try connection.executeScript(migration.sql)
                } catch let error as StoreError {
                    throw StoreError(kind: error.kind, code: error.code, extendedCode: error.extendedCode,
                                     message: "migration \(migration.name): \(error.message)", sql: error.sql)
                }
                let seconds = Int64(clamping: clock.nowMillis() / 1000)
                try connection.execute("INSERT INTO \(tableName) (name, applied_at) VALUES (?, ?)",
                                       [.text(migration.name), .integer(seconds)])
                return true
            }
            if ran { applied.append(migration.name) }
        }
        return applied
    }

    /// Names recorded in `schema_migrations`, in order.
    public static func appliedMigrations(_ database: Database) throws -> [String] {
        try database.query("SELECT name FROM \(tableName) ORDER BY name").map { try $0.string(0) }
    }
}

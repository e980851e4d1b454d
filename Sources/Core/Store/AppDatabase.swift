#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The node's `social.db` in its data directory (spec §3.3), opened and migrated.
public struct AppDatabase: Sendable {
    public static let fileName = "social.db"
    /// Tables `wipeApplicationTables` keeps: the migration record (spec §3.2 step 5) and the
    /// node's admin settings (PIN hash, node configuration) — those belong to the device, not to
    /// the identity being replaced.
    public static let preservedByWipe: Set<String> = [Migrator.tableName, "admin"]

    public let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// Creates `directory` (mode 0700) if needed, opens `directory/social.db` and applies every
    /// pending migration of `AppSchema.migrations`.
    public static func open(directory: String, clock: any WallClock = SystemWallClock()) throws -> AppDatabase {
        try createDirectory(directory)
        let path = directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName
        let database = try Database(path: path)
        do {
            try Migrator.migrate(database, migrations: AppSchema.migrations, clock: clock)
        } catch {
            database.close()
            throw error
        }
        return AppDatabase(database: database)
    }

    /// An in-memory, migrated database with the same schema, for tests of other modules.
    public static func inMemory(clock: any WallClock = SystemWallClock()) throws -> AppDatabase {
        let database = try Database.inMemory()
        try Migrator.migrate(database, migrations: AppSchema.migrations, clock: clock)
        return AppDatabase(database: database)
    }

    /// Identity recovery (spec §3.2 step 5): deletes every row of every application table in one
    /// durable transaction, keeping `preservedByWipe`. Tables are found in `sqlite_master`, so a
    /// table added by a later migration is wiped without anyone remembering to list it here.
    public func wipeApplicationTables() throws {
        try database.transaction(durability: .full) { connection in
            // Children and parents are deleted in one transaction; check foreign keys at COMMIT.
            try connection.execute("PRAGMA defer_foreign_keys=ON")
            let tables = try connection.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).map { try $0.string(0) }
            for table in tables where !AppDatabase.preservedByWipe.contains(table) {
                // Identifier from sqlite_master, quoted; never from outside input.
                try connection.execute("DELETE FROM \"\(table.replacingDoubleQuotes())\"")
            }
            let hasSequence = try connection.queryValue("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")
            if hasSequence != nil {
                // Restart AUTOINCREMENT counters too: nothing of the old identity should remain.
                try connection.execute("DELETE FROM sqlite_sequence")
            }
        }
    }

    private static func createDirectory(_ directory: String) throws {
        guard !directory.isEmpty else {
            throw StoreError(kind: .configuration, message: "data directory path is empty")
        }
        var prefix = directory.hasPrefix("/") ? "/" : ""
        for component in directory.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                let reason = String(cString: strerror(errno))
                throw StoreError(kind: .configuration, message: "cannot create directory '\(prefix)': \(reason)")
            }
            prefix += "/"
        }
        var info = stat()
        guard stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw StoreError(kind: .configuration, message: "data directory '\(directory)' is not a directory")
        }
    }
}

extension String {
    /// Doubles `"` so the string can sit inside a quoted SQL identifier.
    func replacingDoubleQuotes() -> String {
        var result = ""
        for character in self {
            result.append(character)
            if character == "\"" { result.append("\"") }
        }
        return result
    }
}

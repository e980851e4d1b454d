import CSQLite
import Synchronization

/// A SQLite database: one connection, safe to share between threads and tasks.
///
/// Thread-safety: the connection is only ever touched inside `lock.withLock`, so at most one
/// caller uses it at a time; that invariant is what makes the `@unchecked Sendable` sound. A
/// `transaction { }` holds the lock for its whole body, so other callers wait rather than
/// interleave their statements into it. The lock is not reentrant: inside a closure, use the
/// `DatabaseConnection` you are given (nested `transaction` on it becomes a savepoint), never the
/// `Database` again — that would deadlock. Because we serialize access ourselves, the handle is
/// opened with SQLITE_OPEN_NOMUTEX.
///
/// One connection (rather than the reference app's pool of 5) is plenty for a headless node whose
/// writes are small; WAL still lets another process (e.g. a backup) read concurrently.
public final class Database: @unchecked Sendable {
    /// `sqlite3_open_v2` flags. `.noMutex` is always added (see the type comment).
    public struct OpenFlags: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        public static let readOnly = OpenFlags(rawValue: SQLITE_OPEN_READONLY)
        public static let readWrite = OpenFlags(rawValue: SQLITE_OPEN_READWRITE)
        public static let create = OpenFlags(rawValue: SQLITE_OPEN_CREATE)
        /// Refuse to open a path that is a symbolic link.
        public static let noFollow = OpenFlags(rawValue: SQLITE_OPEN_NOFOLLOW)
        public static let readWriteCreate: OpenFlags = [.readWrite, .create]
    }

    /// Pragmas applied on open (spec §7.10: WAL, foreign keys, 5 s busy timeout).
    public static let busyTimeoutMilliseconds = 5000

    public let path: String
    private let lock = Mutex(())
    private let connection: DatabaseConnection

    /// Opens (and with `.create`, creates) the database file at `path` and applies the connection
    /// pragmas: `busy_timeout=5000`, `journal_mode=WAL`, `foreign_keys=ON`, `synchronous=NORMAL`.
    public init(path: String, flags: OpenFlags = .readWriteCreate) throws {
        self.path = path
        connection = try DatabaseConnection(path: path, flags: flags.rawValue | SQLITE_OPEN_NOMUTEX)
        do {
            try Database.configure(connection, path: path, readOnly: flags.contains(.readOnly))
        } catch {
            connection.close()
            throw error
        }
    }

    /// A private in-memory database (journal mode `memory`; everything else as for files).
    public static func inMemory() throws -> Database {
        try Database(path: ":memory:")
    }

    private static func configure(_ connection: DatabaseConnection, path: String, readOnly: Bool) throws {
        try connection.execute("PRAGMA busy_timeout=\(busyTimeoutMilliseconds)")
        if !readOnly {
            let mode = try connection.queryValue("PRAGMA journal_mode=WAL")
            let expected: SQLValue = path == ":memory:" || path.isEmpty ? "memory" : "wal"
            guard mode == expected else {
                throw StoreError(kind: .configuration,
                                 message: "journal_mode=WAL refused for '\(path)' (mode is \(mode.map { $0.description } ?? "unknown"))")
            }
        }
        try connection.execute("PRAGMA foreign_keys=ON")
        try connection.execute("PRAGMA synchronous=\(DatabaseConnection.normalSynchronous)")
    }

    /// Closes the connection. Further calls throw `StoreError` (`.misuse`, "database is closed").
    public func close() {
        lock.withLock { _ in connection.close() }
    }

    public var isOpen: Bool {
        lock.withLock { _ in connection.isOpen }
    }

    /// Runs `body` with exclusive use of the connection (no transaction is opened).
    public func withConnection<R>(_ body: (DatabaseConnection) throws -> R) throws -> R {
        var outcome: Result<R, any Error>?
        lock.withLock { _ in
            outcome = Result { try body(connection) }
        }
        // `outcome` is always set: withLock runs its closure exactly once.
        return try outcome!.get()
    }

    /// See `DatabaseConnection.transaction(durability:_:)`.
    public func transaction<R>(durability: Durability = .normal, _ body: (DatabaseConnection) throws -> R) throws -> R {
        try withConnection { connection in
            try connection.transaction(durability: durability, body)
        }
    }

    public func execute(_ sql: String, _ arguments: [SQLValue] = []) throws {
        try withConnection { try $0.execute(sql, arguments) }
    }

    public func execute(_ sql: String, named arguments: [String: SQLValue]) throws {
        try withConnection { try $0.execute(sql, named: arguments) }
    }

    public func executeScript(_ sql: String) throws {
        try withConnection { try $0.executeScript(sql) }
    }

    public func query(_ sql: String, _ arguments: [SQLValue] = []) throws -> [Row] {
        try withConnection { try $0.query(sql, arguments) }
    }

    public func query(_ sql: String, named arguments: [String: SQLValue]) throws -> [Row] {
        try withConnection { try $0.query(sql, named: arguments) }
    }

    public func queryRow(_ sql: String, _ arguments: [SQLValue] = []) throws -> Row? {
        try withConnection { try $0.queryRow(sql, arguments) }
    }

    public func queryValue(_ sql: String, _ arguments: [SQLValue] = []) throws -> SQLValue? {
        try withConnection { try $0.queryValue(sql, arguments) }
    }
}

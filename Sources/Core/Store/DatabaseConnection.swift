import CSQLite

/// How hard a write transaction's COMMIT pushes data to stable storage.
///
/// In WAL mode `synchronous=NORMAL` fsyncs only at checkpoints: a committed transaction always
/// survives a process crash (the OS has the pages), and the file never corrupts, but the last
/// commits can roll back after a power cut. `FULL` fsyncs the WAL on every commit, so a commit that
/// returned is on the medium. `PRAGMA synchronous` is a per-connection setting, so we switch it
/// per transaction (docs/storage.md explains which tables need `.full`).
public enum Durability: Sendable, Equatable {
    case normal
    case full
}

/// One open SQLite connection. Not thread-safe on its own: it is owned by a `Database`, which hands
/// it to closures under its mutex. Never keep a `DatabaseConnection` beyond the closure it was passed to.
///
/// Every statement takes its values as bound parameters (`?` / `:name`); SQL text is never built
/// from values. Statements are prepared once and cached by their SQL text.
public final class DatabaseConnection {
    /// Baseline `PRAGMA synchronous` outside `.full` transactions.
    static let normalSynchronous = "NORMAL"
    /// Prepared statements kept per connection; past this the cache is flushed (cheap to rebuild,
    /// and dynamic SQL such as `IN (?, ?, …)` lists cannot grow it without bound).
    static let statementCacheLimit = 128

    private var handle: OpaquePointer?
    private var statementCache: [String: OpaquePointer] = [:]
    private var transactionDepth = 0
    private var synchronousRaised = false

    init(path: String, flags: Int32) throws {
        var opened: OpaquePointer?
        let result = sqlite3_open_v2(path, &opened, flags, nil)
        guard result == SQLITE_OK, let opened else {
            let error = StoreError.sqlite(opened, result: result, sql: nil)
            sqlite3_close_v2(opened)
            throw StoreError(kind: .sqlite, code: error.code, extendedCode: error.extendedCode,
                             message: "cannot open '\(path)': \(error.message)")
        }
        handle = opened
        sqlite3_extended_result_codes(opened, 1)
    }

    deinit {
        close()
    }

    /// Finalizes cached statements and closes the handle; later calls throw `.misuse`.
    func close() {
        for statement in statementCache.values { sqlite3_finalize(statement) }
        statementCache.removeAll()
        if let handle {
            // v2 defers the close if something is still unfinalized instead of failing with BUSY.
            sqlite3_close_v2(handle)
        }
        handle = nil
    }

    var isOpen: Bool { handle != nil }

    // MARK: - Statements

    /// Runs one statement, discarding any rows it returns.
    public func execute(_ sql: String, _ arguments: [SQLValue] = []) throws {
        try withStatement(sql) { statement in
            try bind(arguments, to: statement, sql: sql)
            try step(statement, sql: sql, collecting: false)
        }
    }

    /// Runs one statement with `:name` / `@name` / `$name` parameters; keys are given without the prefix.
    public func execute(_ sql: String, named arguments: [String: SQLValue]) throws {
        try withStatement(sql) { statement in
            try bind(named: arguments, to: statement, sql: sql)
            try step(statement, sql: sql, collecting: false)
        }
    }

    /// Runs one statement and returns all of its rows.
    public func query(_ sql: String, _ arguments: [SQLValue] = []) throws -> [Row] {
        try withStatement(sql) { statement in
            try bind(arguments, to: statement, sql: sql)
            return try step(statement, sql: sql, collecting: true)
        }
    }

    public func query(_ sql: String, named arguments: [String: SQLValue]) throws -> [Row] {
        try withStatement(sql) { statement in
            try bind(named: arguments, to: statement, sql: sql)
            return try step(statement, sql: sql, collecting: true)
        }
    }

    /// The first row, or nil when there is none.
    public func queryRow(_ sql: String, _ arguments: [SQLValue] = []) throws -> Row? {
        try query(sql, arguments).first
    }

    /// The first column of the first row, or nil when there is no row.
    public func queryValue(_ sql: String, _ arguments: [SQLValue] = []) throws -> SQLValue? {
        try query(sql, arguments).first?.values.first
    }

    /// Runs a script of several statements without parameters (schema migrations, DDL). Statements
    /// are not cached. Fails on the first error, naming that statement.
    public func executeScript(_ sql: String) throws {
        let db = try liveHandle()
        var offset = 0
        let bytes = Array(sql.utf8) + [0]
        try bytes.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            while offset < buffer.count - 1 {
                var statement: OpaquePointer?
                var tail: UnsafePointer<CChar>?
                let start = base + offset
                let result = sqlite3_prepare_v2(db, start, Int32(buffer.count - 1 - offset), &statement, &tail)
                let consumed = tail.map { $0 - start } ?? (buffer.count - 1 - offset)
                let text = String(decoding: UnsafeRawBufferPointer(start: start, count: consumed), as: UTF8.self)
                    .trimmingSpaces()
                guard result == SQLITE_OK else {
                    sqlite3_finalize(statement)
                    throw StoreError.sqlite(db, result: result, sql: text)
                }
                offset += max(consumed, 1)
                guard let statement else { continue } // whitespace or a comment
                defer { sqlite3_finalize(statement) }
                try step(statement, sql: text, collecting: false)
            }
        }
    }

    /// Rows changed by the most recent INSERT/UPDATE/DELETE.
    public var changes: Int {
        guard let handle else { return 0 }
        return Int(sqlite3_changes64(handle))
    }

    /// Rowid of the most recent successful INSERT.
    public var lastInsertRowID: Int64 {
        guard let handle else { return 0 }
        return sqlite3_last_insert_rowid(handle)
    }

    /// True while a transaction (ours, or a raw BEGIN) is open.
    public var isInTransaction: Bool {
        guard let handle else { return false }
        return sqlite3_get_autocommit(handle) == 0
    }

    // MARK: - Transactions

    /// Runs `body` in a transaction: `BEGIN IMMEDIATE` (takes the write lock up front, so a busy
    /// database waits in `busy_timeout` here rather than failing mid-transaction), `COMMIT` when
    /// `body` returns, `ROLLBACK` when it throws (the error is rethrown).
    ///
    /// Nested calls become savepoints: an inner throw rolls back only the inner work, unless the
    /// outer body lets the error propagate too. `.full` durability sets `PRAGMA synchronous=FULL`
    /// before BEGIN and restores NORMAL after COMMIT/ROLLBACK. SQLite refuses to change the level
    /// inside a transaction, so a nested `.full` inside a `.normal` transaction throws `.misuse`
    /// (open the outer transaction with `.full` instead); nested `.normal` inside `.full` is fine.
    public func transaction<R>(durability: Durability = .normal, _ body: (DatabaseConnection) throws -> R) throws -> R {
        let db = try liveHandle()
        if transactionDepth > 0 {
            guard durability == .normal || synchronousRaised else {
                throw StoreError(kind: .misuse,
                                 message: "durability .full requested inside a .normal transaction; open the outermost transaction with .full")
            }
            return try savepoint(body)
        }
        guard sqlite3_get_autocommit(db) != 0 else {
            throw StoreError(kind: .misuse, message: "a transaction opened with a raw BEGIN is still active; use transaction { }")
        }
        if durability == .full {
            try execute("PRAGMA synchronous=FULL")
            synchronousRaised = true
        }
        defer { restoreSynchronous() }
        try execute("BEGIN IMMEDIATE")
        transactionDepth = 1
        defer { transactionDepth = 0 }
        let result: R
        do {
            result = try body(self)
            try execute("COMMIT")
        } catch {
            rollbackIfActive()
            throw error
        }
        return result
    }

    private func savepoint<R>(_ body: (DatabaseConnection) throws -> R) throws -> R {
        // The name is derived from our own depth counter, never from input.
        let name = "proscenium_sp\(transactionDepth)"
        try execute("SAVEPOINT \(name)")
        transactionDepth += 1
        defer { transactionDepth -= 1 }
        do {
            let result = try body(self)
            try execute("RELEASE \(name)")
            return result
        } catch {
            if isInTransaction {
                try? execute("ROLLBACK TO \(name)")
                try? execute("RELEASE \(name)")
            }
            throw error
        }
    }

    private func rollbackIfActive() {
        // A failed statement may already have rolled the transaction back (e.g. SQLITE_FULL);
        // ROLLBACK would then fail with "no transaction is active".
        if isInTransaction { try? execute("ROLLBACK") }
    }

    private func restoreSynchronous() {
        guard synchronousRaised else { return }
        // If this fails the connection stays at FULL: slower, never less durable.
        if (try? execute("PRAGMA synchronous=\(DatabaseConnection.normalSynchronous)")) != nil {
            synchronousRaised = false
        }
    }

    // MARK: - Internals

    private func liveHandle() throws -> OpaquePointer {
        guard let handle else { throw StoreError(kind: .misuse, message: "database is closed") }
        return handle
    }

    /// Prepares (or reuses) the statement for `sql`, runs `body`, and always resets it afterwards.
    private func withStatement<R>(_ sql: String, _ body: (OpaquePointer) throws -> R) throws -> R {
        let statement = try cachedStatement(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        return try body(statement)
    }

    private func cachedStatement(_ sql: String) throws -> OpaquePointer {
        if let statement = statementCache[sql] { return statement }
        let db = try liveHandle()
        var statement: OpaquePointer?
        var trailingStatement: OpaquePointer?
        let result: Int32 = sql.withCString { text in
            var tail: UnsafePointer<CChar>?
            let result = sqlite3_prepare_v3(db, text, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, &tail)
            if result == SQLITE_OK, let tail, tail.pointee != 0 {
                // Only whitespace and comments may follow; a second statement would be silently ignored.
                var rest: UnsafePointer<CChar>?
                if sqlite3_prepare_v2(db, tail, -1, &trailingStatement, &rest) != SQLITE_OK {
                    return SQLITE_ERROR
                }
            }
            return result
        }
        if let trailingStatement {
            sqlite3_finalize(trailingStatement)
            sqlite3_finalize(statement)
            throw StoreError(kind: .misuse, message: "several statements given where one was expected; use executeScript", sql: sql)
        }
        guard result == SQLITE_OK else {
            sqlite3_finalize(statement)
            throw StoreError.sqlite(db, result: result, sql: sql)
        }
        guard let statement else {
            throw StoreError(kind: .misuse, message: "SQL text contains no statement", sql: sql)
        }
        if statementCache.count >= DatabaseConnection.statementCacheLimit {
            for cached in statementCache.values { sqlite3_finalize(cached) }
            statementCache.removeAll()
        }
        statementCache[sql] = statement
        return statement
    }

    private func bind(_ arguments: [SQLValue], to statement: OpaquePointer, sql: String) throws {
        let expected = Int(sqlite3_bind_parameter_count(statement))
        guard arguments.count == expected else {
            throw StoreError(kind: .misuse, message: "statement has \(expected) parameter(s), \(arguments.count) argument(s) given", sql: sql)
        }
        for (offset, value) in arguments.enumerated() {
            try bind(value, at: Int32(offset + 1), to: statement, sql: sql)
        }
    }

    private func bind(named arguments: [String: SQLValue], to statement: OpaquePointer, sql: String) throws {
        let count = sqlite3_bind_parameter_count(statement)
        var used = Set<String>()
        if count > 0 {
            for index in 1...count {
                guard let cName = sqlite3_bind_parameter_name(statement, index) else {
                    throw StoreError(kind: .misuse, message: "parameter \(index) is positional; named binding needs :name parameters", sql: sql)
                }
                let fullName = String(cString: cName)
                let key = String(fullName.dropFirst())
                guard let value = arguments[key] ?? arguments[fullName] else {
                    throw StoreError(kind: .misuse, message: "no value given for parameter \(fullName)", sql: sql)
                }
                used.insert(arguments[key] != nil ? key : fullName)
                try bind(value, at: index, to: statement, sql: sql)
            }
        }
        let unused = Set(arguments.keys).subtracting(used)
        guard unused.isEmpty else {
            throw StoreError(kind: .misuse, message: "statement has no parameter(s) named \(unused.sorted().joined(separator: ", "))", sql: sql)
        }
    }

    /// SQLite's SQLITE_TRANSIENT (a macro Swift cannot import): "copy the bytes before returning".
    private static var transient: sqlite3_destructor_type {
        unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
    }

    private func bind(_ value: SQLValue, at index: Int32, to statement: OpaquePointer, sql: String) throws {
        let result: Int32
        switch value {
        case let .integer(number):
            result = sqlite3_bind_int64(statement, index, number)
        case let .real(number):
            result = sqlite3_bind_double(statement, index, number)
        case let .text(string):
            var text = string
            result = text.withUTF8 { utf8 in
                guard let base = utf8.baseAddress, utf8.count > 0 else {
                    return sqlite3_bind_text(statement, index, "", 0, DatabaseConnection.transient)
                }
                // Explicit length: text may contain NUL characters.
                return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) { characters in
                    sqlite3_bind_text64(statement, index, characters, UInt64(utf8.count), DatabaseConnection.transient, UInt8(SQLITE_UTF8))
                }
            }
        case let .blob(bytes):
            if bytes.isEmpty {
                // A zero-length blob, not NULL (bind_blob with a nil pointer would store NULL).
                result = sqlite3_bind_zeroblob(statement, index, 0)
            } else {
                result = bytes.withUnsafeBytes { raw in
                    sqlite3_bind_blob64(statement, index, raw.baseAddress, UInt64(raw.count), DatabaseConnection.transient)
                }
            }
        case .null:
            result = sqlite3_bind_null(statement, index)
        }
        guard result == SQLITE_OK else {
            throw StoreError.sqlite(handle, result: result, sql: sql)
        }
    }

    @discardableResult
    private func step(_ statement: OpaquePointer, sql: String, collecting: Bool) throws -> [Row] {
        var rows: [Row] = []
        var names: [String]?
        while true {
            let result = sqlite3_step(statement)
            if result == SQLITE_DONE { return rows }
            guard result == SQLITE_ROW else {
                throw StoreError.sqlite(handle, result: result, sql: sql)
            }
            guard collecting else { continue }
            let columnCount = sqlite3_column_count(statement)
            if names == nil {
                names = (0..<columnCount).map { column in
                    sqlite3_column_name(statement, column).map { String(cString: $0) } ?? ""
                }
            }
            let values = (0..<columnCount).map { readColumn(statement, $0) }
            rows.append(Row(columnNames: names ?? [], values: values, sql: sql))
        }
    }

    private func readColumn(_ statement: OpaquePointer, _ column: Int32) -> SQLValue {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return .integer(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT:
            return .real(sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(statement, column) else { return .text("") }
            let length = Int(sqlite3_column_bytes(statement, column))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self))
        case SQLITE_BLOB:
            let length = Int(sqlite3_column_bytes(statement, column))
            guard length > 0, let bytes = sqlite3_column_blob(statement, column) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: length)))
        default:
            return .null
        }
    }
}

extension String {
    /// Trims ASCII whitespace without Foundation (Core does not import it).
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}

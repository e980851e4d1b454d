import CSQLite

/// Why a storage operation failed. SQLite failures carry the primary and extended result codes,
/// SQLite's own message and the SQL text that failed, so a log line alone locates the bug.
public struct StoreError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// SQLite returned an error code (`code`/`extendedCode` are set).
        case sqlite
        /// A `Row` getter named a column the result does not have.
        case noSuchColumn
        /// A `Row` getter asked for a type the stored value does not have (e.g. NULL as Int64).
        case typeMismatch
        /// Bad use of the API: wrong argument count, unknown named parameter, several statements
        /// where one was expected, use after `close()`.
        case misuse
        /// The migration list is inconsistent, or the database holds migrations this build doesn't know.
        case migration
        /// The database or its directory could not be set up as required (e.g. WAL refused).
        case configuration
    }

    public let kind: Kind
    /// Primary result code (`SQLITE_CONSTRAINT`, …); 0 when `kind != .sqlite`.
    public let code: Int32
    /// Extended result code (`SQLITE_CONSTRAINT_UNIQUE`, …); 0 when `kind != .sqlite`.
    public let extendedCode: Int32
    public let message: String
    /// The statement that failed, when there is one.
    public let sql: String?

    public init(kind: Kind, code: Int32 = 0, extendedCode: Int32 = 0, message: String, sql: String? = nil) {
        self.kind = kind
        self.code = code
        self.extendedCode = extendedCode
        self.message = message
        self.sql = sql
    }

    /// Any UNIQUE, PRIMARY KEY, NOT NULL, CHECK or FOREIGN KEY violation.
    public var isConstraintViolation: Bool { kind == .sqlite && code == SQLITE_CONSTRAINT }

    public var description: String {
        var text: String
        switch kind {
        case .sqlite: text = "SQLite error \(code) (extended \(extendedCode)): \(message)"
        default: text = "\(kind.rawValue): \(message)"
        }
        if let sql { text += " — in SQL: \(sql)" }
        return text
    }

    static func sqlite(_ handle: OpaquePointer?, result: Int32, sql: String?) -> StoreError {
        let extended = handle.map { sqlite3_extended_errcode($0) } ?? result
        // sqlite3_extended_errcode reflects the most recent API call; prefer the result we were given
        // when they disagree (e.g. an error returned by sqlite3_open_v2 before the handle is usable).
        let extendedCode = (extended & 0xff) == (result & 0xff) ? extended : result
        let message: String
        if let handle, let cMessage = sqlite3_errmsg(handle) {
            message = String(cString: cMessage)
        } else {
            message = String(cString: sqlite3_errstr(result))
        }
        return StoreError(kind: .sqlite, code: result & 0xff, extendedCode: extendedCode, message: message, sql: sql)
    }
}

extension StoreError {
    /// Extended result codes that Swift cannot import (sqlite3.h defines them as macro expressions).
    public enum ExtendedCode {
        public static let constraintCheck: Int32 = SQLITE_CONSTRAINT | (1 << 8)
        public static let constraintForeignKey: Int32 = SQLITE_CONSTRAINT | (3 << 8)
        public static let constraintNotNull: Int32 = SQLITE_CONSTRAINT | (5 << 8)
        public static let constraintPrimaryKey: Int32 = SQLITE_CONSTRAINT | (6 << 8)
        public static let constraintUnique: Int32 = SQLITE_CONSTRAINT | (8 << 8)
    }

    /// A duplicate key: PRIMARY KEY or UNIQUE.
    public var isDuplicateKey: Bool {
        extendedCode == ExtendedCode.constraintPrimaryKey || extendedCode == ExtendedCode.constraintUnique
    }
}

/// One SQLite value, as bound to a parameter or read from a column.
///
/// The cases mirror SQLite's five storage classes. Booleans are stored as INTEGER 0/1 (spec §7.10:
/// "Boolean columns store 0/1"). Timestamps are Int64 milliseconds; callers holding a `UInt64`
/// convert with `Int64(clamping:)` — SQLite has no unsigned integers.
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case null

    /// Wraps any convertible Swift value (`SQLValue(flag)`, `SQLValue(optionalName)`).
    public init<T: SQLValueConvertible>(_ value: T) {
        self = value.sqlValue
    }

    public static func bool(_ value: Bool) -> SQLValue { .integer(value ? 1 : 0) }
    public static func int(_ value: Int) -> SQLValue { .integer(Int64(value)) }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The storage-class name SQLite's `typeof()` would report; used in error messages.
    public var typeName: String {
        switch self {
        case .integer: return "integer"
        case .real: return "real"
        case .text: return "text"
        case .blob: return "blob"
        case .null: return "null"
        }
    }

    public var description: String {
        switch self {
        case let .integer(value): return String(value)
        case let .real(value): return String(value)
        case let .text(value): return "'" + value + "'"
        case let .blob(bytes): return "x'" + Hex.encode(bytes) + "'"
        case .null: return "NULL"
        }
    }
}

extension SQLValue: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral {
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .real(value) }
    public init(stringLiteral value: String) { self = .text(value) }
    public init(booleanLiteral value: Bool) { self = .integer(value ? 1 : 0) }
    public init(nilLiteral: ()) { self = .null }
}

/// A Swift type that maps to and from one SQLite value. Reading is strict: a TEXT column never
/// silently becomes an Int64. The only widening allowed is INTEGER → Double.
public protocol SQLValueConvertible {
    var sqlValue: SQLValue { get }
    /// Returns nil when `sqlValue` has the wrong storage class for `Self`.
    init?(sqlValue: SQLValue)
}

extension Int64: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self) }
    public init?(sqlValue: SQLValue) {
        guard case let .integer(value) = sqlValue else { return nil }
        self = value
    }
}

extension Int: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
    public init?(sqlValue: SQLValue) {
        guard case let .integer(value) = sqlValue, let exact = Int(exactly: value) else { return nil }
        self = exact
    }
}

extension Double: SQLValueConvertible {
    public var sqlValue: SQLValue { .real(self) }
    public init?(sqlValue: SQLValue) {
        switch sqlValue {
        case let .real(value): self = value
        case let .integer(value): self = Double(value)
        default: return nil
        }
    }
}

extension String: SQLValueConvertible {
    public var sqlValue: SQLValue { .text(self) }
    public init?(sqlValue: SQLValue) {
        guard case let .text(value) = sqlValue else { return nil }
        self = value
    }
}

extension Bool: SQLValueConvertible {
    public var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    public init?(sqlValue: SQLValue) {
        guard case let .integer(value) = sqlValue else { return nil }
        self = value != 0
    }
}

extension Array: SQLValueConvertible where Element == UInt8 {
    public var sqlValue: SQLValue { .blob(self) }
    public init?(sqlValue: SQLValue) {
        guard case let .blob(value) = sqlValue else { return nil }
        self = value
    }
}

extension Optional: SQLValueConvertible where Wrapped: SQLValueConvertible {
    public var sqlValue: SQLValue {
        switch self {
        case let .some(value): return value.sqlValue
        case .none: return .null
        }
    }

    /// NULL reads as `.some(nil)`; a non-NULL value of the wrong type is still a mismatch.
    public init?(sqlValue: SQLValue) {
        if case .null = sqlValue {
            self = .none
            return
        }
        guard let wrapped = Wrapped(sqlValue: sqlValue) else { return nil }
        self = .some(wrapped)
    }
}

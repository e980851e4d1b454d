/// One result row, fully copied out of SQLite (so it stays valid after the statement is reset and
/// can cross threads). Getters throw `StoreError` (`.noSuchColumn`, `.typeMismatch`) instead of
/// trapping, naming the column and the SQL.
public struct Row: Sendable, Equatable, CustomStringConvertible {
    public let columnNames: [String]
    public let values: [SQLValue]
    /// The statement that produced the row, for error messages.
    public let sql: String

    public init(columnNames: [String], values: [SQLValue], sql: String) {
        self.columnNames = columnNames
        self.values = values
        self.sql = sql
    }

    public var count: Int { values.count }

    public var description: String {
        "(" + zip(columnNames, values).map { "\($0)=\($1)" }.joined(separator: ", ") + ")"
    }

    /// The raw value in column `index` (0-based).
    public func value(at index: Int) throws -> SQLValue {
        guard values.indices.contains(index) else {
            throw StoreError(kind: .noSuchColumn, message: "column index \(index) out of range 0..<\(values.count)", sql: sql)
        }
        return values[index]
    }

    /// The raw value in the column called `name` (exact match first, then case-insensitive, as SQL does).
    public func value(named name: String) throws -> SQLValue {
        if let index = columnNames.firstIndex(of: name) { return values[index] }
        let lowered = name.lowercased()
        if let index = columnNames.firstIndex(where: { $0.lowercased() == lowered }) { return values[index] }
        throw StoreError(kind: .noSuchColumn,
                         message: "no column named '\(name)' (columns: \(columnNames.joined(separator: ", ")))", sql: sql)
    }

    public func get<T: SQLValueConvertible>(_ index: Int, as type: T.Type = T.self) throws -> T {
        try convert(try value(at: index), column: "#\(index)")
    }

    public func get<T: SQLValueConvertible>(_ name: String, as type: T.Type = T.self) throws -> T {
        try convert(try value(named: name), column: name)
    }

    public func int64(_ name: String) throws -> Int64 { try get(name) }
    public func int64(_ index: Int) throws -> Int64 { try get(index) }
    public func int(_ name: String) throws -> Int { try get(name) }
    public func int(_ index: Int) throws -> Int { try get(index) }
    public func double(_ name: String) throws -> Double { try get(name) }
    public func double(_ index: Int) throws -> Double { try get(index) }
    public func string(_ name: String) throws -> String { try get(name) }
    public func string(_ index: Int) throws -> String { try get(index) }
    public func blob(_ name: String) throws -> [UInt8] { try get(name) }
    public func blob(_ index: Int) throws -> [UInt8] { try get(index) }
    public func bool(_ name: String) throws -> Bool { try get(name) }
    public func bool(_ index: Int) throws -> Bool { try get(index) }
    public func isNull(_ name: String) throws -> Bool { try value(named: name).isNull }
    public func isNull(_ index: Int) throws -> Bool { try value(at: index).isNull }

    private func convert<T: SQLValueConvertible>(_ value: SQLValue, column: String) throws -> T {
        guard let converted = T(sqlValue: value) else {
            throw StoreError(kind: .typeMismatch,
                             message: "column '\(column)' holds \(value.typeName), cannot read it as \(T.self)", sql: sql)
        }
        return converted
    }
}

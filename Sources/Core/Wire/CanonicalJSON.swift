/// A JSON value as the reference signs it (spec §2.2, "CJSON"): serde_json's `Value` with
/// `BTreeMap` objects. Every signature except stage checkpoints and device-sync challenges covers
/// `canonicalBytes` of such a value, rebuilt from typed fields (never from received bytes).
///
/// Floats are deliberately absent: nothing Proscenium signs contains one, and serde_json's float
/// formatting would be one more thing to match exactly.
///
/// Object keys are Swift `String`s, whose equality is Unicode canonical equivalence, so two keys
/// that differ only in normalisation cannot both be present. Signed objects use fixed ASCII field
/// names, so this never matters in practice.
public enum CanonicalJSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case string(String)
    case array([CanonicalJSON])
    case object([String: CanonicalJSON])

    /// The exact bytes serde_json's compact writer produces for this value with sorted keys.
    public var canonicalBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        CanonicalJSONWriter.write(self, into: &out)
        return out
    }

    /// `canonicalBytes` as a String (always valid UTF-8).
    public var canonicalString: String { String(decoding: canonicalBytes, as: UTF8.self) }

    /// `.string(s)` for a value, `.null` for nil: the "absent optional is an explicit null" rule.
    public static func optionalString(_ value: String?) -> CanonicalJSON {
        value.map { .string($0) } ?? .null
    }

    /// Unsigned integers of any width (u32 indices, u64 timestamps).
    public static func unsigned<T: UnsignedInteger>(_ value: T) -> CanonicalJSON { .uint(UInt64(value)) }
}

extension CanonicalJSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// Integer literals become `.uint` when non-negative (both print identically).
    public init(integerLiteral value: Int64) { self = value >= 0 ? .uint(UInt64(value)) : .int(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: CanonicalJSON...) { self = .array(elements) }
    /// A duplicate key keeps the last value, as serde_json's map insertion does.
    public init(dictionaryLiteral elements: (String, CanonicalJSON)...) {
        var object: [String: CanonicalJSON] = [:]
        for (key, value) in elements { object[key] = value }
        self = .object(object)
    }
}

/// The writer behind `CanonicalJSON.canonicalBytes`. Kept separate so the escaping rules sit in
/// one place and can be reused to write a single string.
public enum CanonicalJSONWriter {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func write(_ value: CanonicalJSON, into out: inout [UInt8]) {
        switch value {
        case .null:
            out.append(contentsOf: [0x6e, 0x75, 0x6c, 0x6c]) // null
        case .bool(let flag):
            out.append(contentsOf: flag ? Array("true".utf8) : Array("false".utf8))
        case .int(let number):
            out.append(contentsOf: String(number).utf8)
        case .uint(let number):
            out.append(contentsOf: String(number).utf8)
        case .string(let text):
            writeString(text, into: &out)
        case .array(let elements):
            out.append(0x5b) // [
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(0x2c) }
                write(element, into: &out)
            }
            out.append(0x5d) // ]
        case .object(let members):
            out.append(0x7b) // {
            // BTreeMap<String, _> order: lexicographic over the UTF-8 bytes. Swift's `String <`
            // compares by canonical equivalence, which is a different order, so compare bytes.
            let sorted = members.map { (key: Array($0.key.utf8), value: $0.value) }
                .sorted { $0.key.lexicographicallyPrecedes($1.key) }
            for (index, member) in sorted.enumerated() {
                if index > 0 { out.append(0x2c) }
                writeEscaped(member.key, into: &out)
                out.append(0x3a) // :
                write(member.value, into: &out)
            }
            out.append(0x7d) // }
        }
    }

    /// A JSON string literal with serde_json's escaping.
    public static func writeString(_ text: String, into out: inout [UInt8]) {
        writeEscaped(Array(text.utf8), into: &out)
    }

    private static func writeEscaped(_ utf8: [UInt8], into out: inout [UInt8]) {
        out.append(0x22)
        for byte in utf8 {
            switch byte {
            case 0x22: out.append(contentsOf: [0x5c, 0x22])       // \"
            case 0x5c: out.append(contentsOf: [0x5c, 0x5c])       // \\
            case 0x08: out.append(contentsOf: [0x5c, 0x62])       // \b
            case 0x0c: out.append(contentsOf: [0x5c, 0x66])       // \f
            case 0x0a: out.append(contentsOf: [0x5c, 0x6e])       // \n
            case 0x0d: out.append(contentsOf: [0x5c, 0x72])       // \r
            case 0x09: out.append(contentsOf: [0x5c, 0x74])       // \t
            case 0x00..<0x20:
                out.append(contentsOf: [0x5c, 0x75, 0x30, 0x30, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0f)]])
            default:
                // Multi-byte UTF-8 sequences never contain bytes below 0x80, so copying them byte
                // by byte emits non-ASCII characters (and U+007F, U+2028, U+2029, '/') raw.
                out.append(byte)
            }
        }
        out.append(0x22)
    }
}

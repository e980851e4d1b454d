/// A small JSON value with **ordered** object members, for byte-exact serde-shaped wire JSON
/// (spec §2.1: struct fields in declaration order, compact, serde_json escaping) and a strict
/// parser that accepts any member order and ignores unknown members. Core has no Foundation.
public indirect enum DMJSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([DMJSON])
    case object([Member])

    public struct Member: Equatable, Sendable {
        public var key: String
        public var value: DMJSON
        public init(_ key: String, _ value: DMJSON) {
            self.key = key
            self.value = value
        }
    }

    public static func bytes(_ values: [UInt8]) -> DMJSON { .array(values.map { .uint(UInt64($0)) }) }
    public static func optionalString(_ value: String?) -> DMJSON { value.map { .string($0) } ?? .null }
    public static func fields(_ members: (String, DMJSON)...) -> DMJSON { .object(members.map { Member($0.0, $0.1) }) }

    // MARK: reading

    public subscript(key: String) -> DMJSON? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case let .bool(b) = self { return b } else { return nil } }
    public var isNull: Bool { self == .null }

    public var uint64Value: UInt64? {
        switch self {
        case let .uint(v): return v
        case let .int(v): return v >= 0 ? UInt64(v) : nil
        default: return nil
        }
    }

    public var uint32Value: UInt32? { uint64Value.flatMap { UInt32(exactly: $0) } }

    /// A JSON array of integers 0–255 (serde's `Vec<u8>`).
    public var byteArray: [UInt8]? {
        guard case let .array(items) = self else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let v = item.uint64Value, v <= 255 else { return nil }
            out.append(UInt8(v))
        }
        return out
    }

    // MARK: writing

    public var serialized: [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    public var serializedString: String { String(decoding: serialized, as: UTF8.self) }

    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: out += Array("null".utf8)
        case let .bool(b): out += Array((b ? "true" : "false").utf8)
        case let .int(v):
            if v < 0 { out.append(UInt8(ascii: "-")) }
            Self.writeDigits(v.magnitude, into: &out)
        case let .uint(v): Self.writeDigits(v, into: &out)
        case let .double(v): out += Array(String(v).utf8)
        case let .string(s): CanonicalJSONWriter.writeString(s, into: &out)
        case let .array(items):
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case let .object(members):
            out.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                CanonicalJSONWriter.writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                member.value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeDigits(_ value: UInt64, into out: inout [UInt8]) {
        if value < 10 {
            out.append(0x30 &+ UInt8(value))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while rest > 0 {
                buffer[count] = 0x30 &+ UInt8(rest % 10)
                rest /= 10
                count += 1
            }
            for index in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[index]) }
        }
    }

    // MARK: parsing

    public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    public static let maxDepth = 64

    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> DMJSON {
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.index == bytes.count else { throw parser.error("trailing data") }
        return value
    }

    public static func parse(_ text: String) throws(ParseError) -> DMJSON { try parse(Array(text.utf8)) }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        func error(_ reason: String) -> ParseError { ParseError(offset: index, reason: reason) }

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0a, 0x0d: index += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: String) throws(ParseError) {
            let lit = Array(literal.utf8)
            guard index + lit.count <= bytes.count, Array(bytes[index..<index + lit.count]) == lit else {
                throw error("expected \(literal)")
            }
            index += lit.count
        }

        mutating func value(depth: Int) throws(ParseError) -> DMJSON {
            guard depth < DMJSON.maxDepth else { throw error("nesting deeper than \(DMJSON.maxDepth)") }
            guard index < bytes.count else { throw error("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "["):
                index += 1
                var items: [DMJSON] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard index < bytes.count else { throw error("unterminated array") }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                    throw error("expected , or ]")
                }
            case UInt8(ascii: "{"):
                index += 1
                var members: [Member] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected member name") }
                    let key = try string()
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected :") }
                    index += 1
                    skipSpace()
                    members.append(Member(key, try value(depth: depth + 1)))
                    skipSpace()
                    guard index < bytes.count else { throw error("unterminated object") }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                    throw error("expected , or }")
                }
            default:
                return try number()
            }
        }

        mutating func number() throws(ParseError) -> DMJSON {
            // Fast path: a plain non-negative integer (every byte of every key is one).
            var fast: UInt64 = 0
            var cursor = index
            while cursor < bytes.count, bytes[cursor] >= 0x30, bytes[cursor] <= 0x39, cursor - index < 19 {
                fast = fast * 10 + UInt64(bytes[cursor] - 0x30)
                cursor += 1
            }
            if cursor > index, cursor - index < 19, cursor == bytes.count || !Self.continuesNumber(bytes[cursor]) {
                index = cursor
                return .uint(fast)
            }
            let start = index
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            var isInteger = true
            while index < bytes.count {
                let c = bytes[index]
                if c >= 0x30 && c <= 0x39 { index += 1; continue }
                if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                    isInteger = false
                    index += 1
                    continue
                }
                break
            }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            guard !text.isEmpty, text != "-" else { throw error("unexpected character") }
            if isInteger {
                if text.hasPrefix("-") {
                    if let v = Int64(text) { return .int(v) }
                } else if let v = UInt64(text) {
                    return .uint(v)
                }
            }
            guard let v = Double(text) else { throw error("bad number \(text)") }
            return .double(v)
        }

        static func continuesNumber(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            guard index + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16) else {
                throw error("bad \\u escape")
            }
            index += 4
            return v
        }

        mutating func string() throws(ParseError) -> String {
            index += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard index < bytes.count else { throw error("unterminated string") }
                let c = bytes[index]
                index += 1
                if c == UInt8(ascii: "\"") { break }
                if c < 0x20 { throw error("control character in string") }
                if c != UInt8(ascii: "\\") { out.append(c); continue }
                guard index < bytes.count else { throw error("unterminated escape") }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5c)
                case UInt8(ascii: "/"): out.append(0x2f)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        try expect("\\u")
                        let low = try hex4()
                        guard low >= 0xDC00 && low < 0xE000 else { throw error("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw error("invalid unicode scalar") }
                    out += Array(String(Character(u)).utf8)
                default: throw error("bad escape")
                }
            }
            // serde_json rejects invalid UTF-8; so do we.
            let text = String(decoding: out, as: UTF8.self)
            guard text.utf8.elementsEqual(out) else { throw error("string is not valid UTF-8") }
            return text
        }
    }
}

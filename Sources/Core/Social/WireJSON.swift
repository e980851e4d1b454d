import Foundation

/// Wire JSON exactly as serde_json writes it (spec §2.1): fields in declaration order, `Option`
/// as an explicit `null`, byte vectors as integer arrays, strings escaped like serde_json. Built
/// from any `Encodable` through `WireJSONEncoder`, so the synthesized conformances of the content
/// types give the reference's bytes without hand-written writers.
public indirect enum WireJSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case string(String)
    case array([WireJSONValue])
    /// Members in insertion (declaration) order.
    case object([(String, WireJSONValue)])

    public static func == (lhs: WireJSONValue, rhs: WireJSONValue) -> Bool { lhs.bytes == rhs.bytes }

    /// Compact serde_json bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        write(into: &out)
        return out
    }

    private func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: Array("null".utf8))
        case .bool(let flag): out.append(contentsOf: Array((flag ? "true" : "false").utf8))
        case .int(let number): out.append(contentsOf: Array(String(number).utf8))
        case .uint(let number): out.append(contentsOf: Array(String(number).utf8))
        case .string(let text): CanonicalJSONWriter.writeString(text, into: &out)
        case .array(let elements):
            out.append(0x5b)
            for (index, element) in elements.enumerated() {
                if index > 0 { out.append(0x2c) }
                element.write(into: &out)
            }
            out.append(0x5d)
        case .object(let members):
            out.append(0x7b)
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(0x2c) }
                CanonicalJSONWriter.writeString(member.0, into: &out)
                out.append(0x3a)
                member.1.write(into: &out)
            }
            out.append(0x7d)
        }
    }

    /// The same value as CJSON (keys sorted at every level): signing bytes of nested structs.
    public var canonical: CanonicalJSON {
        switch self {
        case .null: return .null
        case .bool(let flag): return .bool(flag)
        case .int(let number): return .int(number)
        case .uint(let number): return .uint(number)
        case .string(let text): return .string(text)
        case .array(let elements): return .array(elements.map(\.canonical))
        case .object(let members):
            var object: [String: CanonicalJSON] = [:]
            for (key, value) in members { object[key] = value.canonical }
            return .object(object)
        }
    }
}

/// Why wire JSON could not be encoded or decoded; the message names the type and the cause.
public struct WireJSONError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Encodes and decodes Proscenium wire JSON.
public enum WireJSON {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        try WireJSON.value(of: value).bytes
    }

    public static func value<T: Encodable>(of value: T) throws -> WireJSONValue {
        let root = WireBox()
        try root.encode(value, codingPath: [])
        return root.resolve()
    }

    /// Decodes with Foundation's decoder: any field order, unknown fields ignored, missing
    /// optionals absent. Errors are rethrown as `WireJSONError` naming the type.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(WireJSONError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw WireJSONError("invalid \(T.self) JSON (\(bytes.count) bytes): \(describe(error))")
        }
    }

    private static func describe(_ error: any Error) -> String {
        guard let decoding = error as? DecodingError else { return String(describing: error) }
        switch decoding {
        case let .keyNotFound(key, context):
            return "missing field \(path(context.codingPath + [key]))"
        case let .typeMismatch(type, context):
            return "wrong type at \(path(context.codingPath)), expected \(type): \(context.debugDescription)"
        case let .valueNotFound(type, context):
            return "null at \(path(context.codingPath)), expected \(type)"
        case let .dataCorrupted(context):
            return "\(context.debugDescription) at \(path(context.codingPath))"
        @unknown default:
            return String(describing: error)
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "<root>" : keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
}

/// A coding key for externally tagged enums and other dynamic keys.
public struct WireKey: CodingKey, Hashable {
    public let stringValue: String
    public let intValue: Int?
    public init(_ string: String) { stringValue = string; intValue = nil }
    public init?(stringValue: String) { self.stringValue = stringValue; intValue = nil }
    public init?(intValue: Int) { stringValue = String(intValue); self.intValue = intValue }
}

/// Helpers for serde's externally tagged enums (spec §2.1).
public enum ExternallyTagged {
    /// Returns `(tag, container)` for a one-key object, or `(tag, nil)` for a bare string (unit variant).
    public static func tag(in decoder: any Decoder) throws -> (String, KeyedDecodingContainer<WireKey>?) {
        if let single = try? decoder.singleValueContainer(), let name = try? single.decode(String.self) {
            return (name, nil)
        }
        let container = try decoder.container(keyedBy: WireKey.self)
        guard container.allKeys.count == 1, let key = container.allKeys.first else {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath,
                debugDescription: "externally tagged enum needs exactly one key, found \(container.allKeys.map(\.stringValue))"))
        }
        return (key.stringValue, container)
    }

    public static func unknown(_ tag: String, in decoder: any Decoder, type: String) -> DecodingError {
        DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath,
                                                          debugDescription: "unknown \(type) variant \"\(tag)\""))
    }

    public static func payload<T: Decodable>(_ type: T.Type, _ container: KeyedDecodingContainer<WireKey>?, tag: String,
                                             in decoder: any Decoder) throws -> T {
        guard let container else {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath,
                                                                    debugDescription: "variant \(tag) needs a payload"))
        }
        return try container.decode(type, forKey: WireKey(tag))
    }

    public static func encodeUnit(_ tag: String, to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(tag)
    }

    public static func encode<T: Encodable>(_ tag: String, _ payload: T, to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: WireKey.self)
        try container.encode(payload, forKey: WireKey(tag))
    }
}

// MARK: - The encoder

/// One node of the value being built; containers hold references so nested writes land in place.
final class WireBox {
    enum Content {
        case empty
        case value(WireJSONValue)
        case object([(String, WireBox)])
        case array([WireBox])
    }
    var content: Content = .empty

    func resolve() -> WireJSONValue {
        switch content {
        case .empty: return .null
        case .value(let value): return value
        case .object(let members): return .object(members.map { ($0.0, $0.1.resolve()) })
        case .array(let elements): return .array(elements.map { $0.resolve() })
        }
    }

    func encode<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws {
        if let primitive = WireBox.primitive(value) {
            content = .value(primitive)
        } else {
            try value.encode(to: WireEncoderImpl(box: self, codingPath: codingPath))
        }
    }

    static func primitive(_ value: Any) -> WireJSONValue? {
        switch value {
        case let v as String: return .string(v)
        case let v as Bool: return .bool(v)
        case let v as UInt8: return .uint(UInt64(v))
        case let v as UInt16: return .uint(UInt64(v))
        case let v as UInt32: return .uint(UInt64(v))
        case let v as UInt64: return .uint(v)
        case let v as UInt: return .uint(UInt64(v))
        case let v as Int8: return .int(Int64(v))
        case let v as Int16: return .int(Int64(v))
        case let v as Int32: return .int(Int64(v))
        case let v as Int64: return .int(v)
        case let v as Int: return .int(Int64(v))
        case let v as [UInt8]: return .array(v.map { .uint(UInt64($0)) })
        default: return nil
        }
    }

    func appendMember(_ key: String) -> WireBox {
        let child = WireBox()
        if case .object(var members) = content {
            members.removeAll { $0.0 == key }
            members.append((key, child))
            content = .object(members)
        } else {
            content = .object([(key, child)])
        }
        return child
    }

    func appendElement() -> WireBox {
        let child = WireBox()
        if case .array(var elements) = content {
            elements.append(child)
            content = .array(elements)
        } else {
            content = .array([child])
        }
        return child
    }

    var elementCount: Int {
        if case .array(let elements) = content { return elements.count }
        return 0
    }
}

struct WireEncoderImpl: Encoder {
    let box: WireBox
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object = box.content {} else { box.content = .object([]) }
        return KeyedEncodingContainer(WireKeyedContainer<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array = box.content {} else { box.content = .array([]) }
        return WireUnkeyedContainer(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        WireSingleContainer(box: box, codingPath: codingPath)
    }
}

struct WireKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: WireBox
    var codingPath: [any CodingKey]

    private func put(_ value: WireJSONValue, _ key: Key) { box.appendMember(key.stringValue).content = .value(value) }

    mutating func encodeNil(forKey key: Key) throws { put(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { throw floatError(key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { throw floatError(key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(.int(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(.uint(UInt64(value)), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(.uint(UInt64(value)), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(.uint(UInt64(value)), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(.uint(UInt64(value)), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(.uint(value), key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try box.appendMember(key.stringValue).encode(value, codingPath: codingPath + [key])
    }

    // serde writes `None` as an explicit null: the synthesized conformances call these.
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws { throw floatError(key) }
    mutating func encodeIfPresent(_ value: Float?, forKey key: Key) throws { throw floatError(key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int8?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int16?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int32?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt8?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt16?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt32?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent(_ value: UInt64?, forKey key: Key) throws { try encodeOptional(value, key) }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws { try encodeOptional(value, key) }

    private mutating func encodeOptional<T: Encodable>(_ value: T?, _ key: Key) throws {
        if let value { try encode(value, forKey: key) } else { put(.null, key) }
    }

    private func floatError(_ key: Key) -> EncodingError {
        EncodingError.invalidValue(0, EncodingError.Context(codingPath: codingPath + [key],
                                                            debugDescription: "floats are not used on the Proscenium wire"))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = box.appendMember(key.stringValue)
        child.content = .object([])
        return KeyedEncodingContainer(WireKeyedContainer<NestedKey>(box: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = box.appendMember(key.stringValue)
        child.content = .array([])
        return WireUnkeyedContainer(box: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        WireEncoderImpl(box: box.appendMember("super"), codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        WireEncoderImpl(box: box.appendMember(key.stringValue), codingPath: codingPath + [key])
    }
}

struct WireUnkeyedContainer: UnkeyedEncodingContainer {
    let box: WireBox
    var codingPath: [any CodingKey]
    var count: Int { box.elementCount }

    mutating func encodeNil() throws { box.appendElement().content = .value(.null) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try box.appendElement().encode(value, codingPath: codingPath)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = box.appendElement()
        child.content = .object([])
        return KeyedEncodingContainer(WireKeyedContainer<NestedKey>(box: child, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = box.appendElement()
        child.content = .array([])
        return WireUnkeyedContainer(box: child, codingPath: codingPath)
    }

    mutating func superEncoder() -> any Encoder { WireEncoderImpl(box: box.appendElement(), codingPath: codingPath) }
}

struct WireSingleContainer: SingleValueEncodingContainer {
    let box: WireBox
    var codingPath: [any CodingKey]

    mutating func encodeNil() throws { box.content = .value(.null) }
    mutating func encode(_ value: Bool) throws { box.content = .value(.bool(value)) }
    mutating func encode(_ value: String) throws { box.content = .value(.string(value)) }
    mutating func encode(_ value: Double) throws { throw floatError() }
    mutating func encode(_ value: Float) throws { throw floatError() }
    mutating func encode(_ value: Int) throws { box.content = .value(.int(Int64(value))) }
    mutating func encode(_ value: Int8) throws { box.content = .value(.int(Int64(value))) }
    mutating func encode(_ value: Int16) throws { box.content = .value(.int(Int64(value))) }
    mutating func encode(_ value: Int32) throws { box.content = .value(.int(Int64(value))) }
    mutating func encode(_ value: Int64) throws { box.content = .value(.int(value)) }
    mutating func encode(_ value: UInt) throws { box.content = .value(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt8) throws { box.content = .value(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt16) throws { box.content = .value(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt32) throws { box.content = .value(.uint(UInt64(value))) }
    mutating func encode(_ value: UInt64) throws { box.content = .value(.uint(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try box.encode(value, codingPath: codingPath) }

    private func floatError() -> EncodingError {
        EncodingError.invalidValue(0, EncodingError.Context(codingPath: codingPath,
                                                            debugDescription: "floats are not used on the Proscenium wire"))
    }
}

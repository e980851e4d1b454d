/// postcard, the serde binary format of every iroh protocol message (iroh-wire.md §0.1).
/// It is not self-describing: callers write and read fields in declaration order.

/// Why postcard bytes could not be decoded. Every case names the byte offset at fault.
public enum PostcardError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Input ended `needed` bytes short while reading `what`.
    case truncated(what: String, offset: Int, needed: Int)
    /// A varint still had its continuation bit set after the maximum length for its type.
    case varintTooLong(type: String, offset: Int)
    /// A varint's final byte carries bits that do not fit the type.
    case varintOverflow(type: String, offset: Int)
    /// A varint used more bytes than necessary (only when `rejectNonMinimalVarints` is set).
    case nonMinimalVarint(type: String, offset: Int)
    case invalidBool(byte: UInt8, offset: Int)
    case invalidOptionTag(byte: UInt8, offset: Int)
    case invalidUTF8(offset: Int)
    /// A length prefix beyond the configured maximum (or beyond the remaining input for bytes).
    case lengthTooLarge(what: String, length: UInt64, maximum: Int, offset: Int)
    /// Bytes were left over after the last field.
    case trailingBytes(count: Int, offset: Int)
    /// A higher layer met an enum variant index it does not know.
    case unknownVariant(type: String, index: UInt32, offset: Int)
    /// A higher layer rejected a decoded value.
    case invalidValue(what: String, offset: Int)

    public var description: String {
        switch self {
        case let .truncated(what, offset, needed):
            return "postcard: input ends \(needed) byte(s) short reading \(what) at offset \(offset)"
        case let .varintTooLong(type, offset):
            return "postcard: varint for \(type) at offset \(offset) is longer than \(type) allows"
        case let .varintOverflow(type, offset):
            return "postcard: varint at offset \(offset) overflows \(type)"
        case let .nonMinimalVarint(type, offset):
            return "postcard: varint for \(type) at offset \(offset) is not minimally encoded"
        case let .invalidBool(byte, offset):
            return "postcard: bool at offset \(offset) is \(byte), must be 0 or 1"
        case let .invalidOptionTag(byte, offset):
            return "postcard: Option tag at offset \(offset) is \(byte), must be 0 or 1"
        case let .invalidUTF8(offset):
            return "postcard: string at offset \(offset) is not valid UTF-8"
        case let .lengthTooLarge(what, length, maximum, offset):
            return "postcard: \(what) length \(length) at offset \(offset) exceeds the limit \(maximum)"
        case let .trailingBytes(count, offset):
            return "postcard: \(count) unexpected trailing byte(s) at offset \(offset)"
        case let .unknownVariant(type, index, offset):
            return "postcard: unknown \(type) variant \(index) at offset \(offset)"
        case let .invalidValue(what, offset):
            return "postcard: invalid \(what) at offset \(offset)"
        }
    }
}

/// Bounds applied while decoding untrusted input.
public struct PostcardLimits: Sendable, Equatable {
    /// Largest byte-string / string length accepted.
    public var maxByteLength: Int
    /// Largest sequence element count accepted.
    public var maxSequenceLength: Int
    /// postcard itself accepts padded varints such as `80 00` for 0; set this to refuse them.
    public var rejectNonMinimalVarints: Bool

    public init(maxByteLength: Int = 1 << 24, maxSequenceLength: Int = 1 << 20, rejectNonMinimalVarints: Bool = false) {
        self.maxByteLength = maxByteLength
        self.maxSequenceLength = maxSequenceLength
        self.rejectNonMinimalVarints = rejectNonMinimalVarints
    }
}

/// Appends postcard encodings to a byte buffer.
public struct PostcardWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func writeU8(_ value: UInt8) { bytes.append(value) }
    public mutating func writeI8(_ value: Int8) { bytes.append(UInt8(bitPattern: value)) }
    public mutating func writeU16(_ value: UInt16) { writeVarint(UInt64(value)) }
    public mutating func writeU32(_ value: UInt32) { writeVarint(UInt64(value)) }
    public mutating func writeU64(_ value: UInt64) { writeVarint(value) }
    /// `usize`, as a 64-bit varint (every target of interest is 64-bit or reads it as such).
    public mutating func writeUsize(_ value: Int) {
        precondition(value >= 0, "usize cannot be negative")
        writeVarint(UInt64(value))
    }

    public mutating func writeI16(_ value: Int16) { writeVarint(UInt64(Postcard.zigzag(Int64(value)))) }
    public mutating func writeI32(_ value: Int32) { writeVarint(UInt64(Postcard.zigzag(Int64(value)))) }
    public mutating func writeI64(_ value: Int64) { writeVarint(Postcard.zigzag(value)) }

    /// f32/f64 are raw little-endian IEEE 754.
    public mutating func writeF32(_ value: Float) { appendLittleEndian(UInt64(value.bitPattern), count: 4) }
    public mutating func writeF64(_ value: Double) { appendLittleEndian(value.bitPattern, count: 8) }

    public mutating func writeBool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    /// Byte string (`serde_bytes`, `Bytes`, or `Vec<u8>`): varint length then the bytes.
    public mutating func writeBytes(_ value: [UInt8]) {
        writeUsize(value.count)
        bytes.append(contentsOf: value)
    }

    public mutating func writeString(_ value: String) {
        writeUsize(value.utf8.count)
        bytes.append(contentsOf: value.utf8)
    }

    /// Fixed-size array such as `[u8; 32]`: the bytes only, no length.
    public mutating func writeFixed(_ value: [UInt8]) { bytes.append(contentsOf: value) }

    /// Enum variant index (declaration order from 0).
    public mutating func writeVariant(_ index: UInt32) { writeVarint(UInt64(index)) }

    /// Element count of a sequence/set/map; the caller writes the elements.
    public mutating func writeSequenceLength(_ count: Int) { writeUsize(count) }

    /// `Option<T>`: `00`, or `01` followed by what `body` writes.
    public mutating func writeOption<T>(_ value: T?, _ body: (inout PostcardWriter, T) -> Void) {
        guard let value else {
            bytes.append(0)
            return
        }
        bytes.append(1)
        body(&self, value)
    }

    /// A sequence: count, then each element through `body`.
    public mutating func writeSequence<S: Collection>(_ elements: S, _ body: (inout PostcardWriter, S.Element) -> Void) {
        writeUsize(elements.count)
        for element in elements { body(&self, element) }
    }

    public mutating func writeVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    private mutating func appendLittleEndian(_ value: UInt64, count: Int) {
        for shift in 0..<count { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(shift)))) }
    }
}

/// Reads postcard fields from untrusted bytes. Every failure is a typed `PostcardError`; no input
/// can make it trap.
public struct PostcardReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var offset: Int
    public let limits: PostcardLimits

    public init(_ bytes: [UInt8], limits: PostcardLimits = PostcardLimits()) {
        self.bytes = bytes
        self.offset = 0
        self.limits = limits
    }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset >= bytes.count }

    /// Call after the last field: postcard messages must be consumed exactly.
    public func finish() throws(PostcardError) {
        guard isAtEnd else { throw .trailingBytes(count: remaining, offset: offset) }
    }

    public mutating func readU8() throws(PostcardError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(what: "u8", offset: offset, needed: 1) }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readI8() throws(PostcardError) -> Int8 { Int8(bitPattern: try readU8()) }

    public mutating func readU16() throws(PostcardError) -> UInt16 {
        UInt16(try readVarint(maxBytes: 3, bits: 16, type: "u16"))
    }

    public mutating func readU32() throws(PostcardError) -> UInt32 {
        UInt32(try readVarint(maxBytes: 5, bits: 32, type: "u32"))
    }

    public mutating func readU64() throws(PostcardError) -> UInt64 {
        try readVarint(maxBytes: 10, bits: 64, type: "u64")
    }

    /// `usize` as a 64-bit varint, refused when it does not fit a (non-negative) `Int`.
    public mutating func readUsize() throws(PostcardError) -> Int {
        let start = offset
        let value = try readVarint(maxBytes: 10, bits: 64, type: "usize")
        guard value <= UInt64(Int.max) else { throw .varintOverflow(type: "usize", offset: start) }
        return Int(value)
    }

    public mutating func readI16() throws(PostcardError) -> Int16 {
        Int16(truncatingIfNeeded: Postcard.unzigzag(try readVarint(maxBytes: 3, bits: 16, type: "i16")))
    }

    public mutating func readI32() throws(PostcardError) -> Int32 {
        Int32(truncatingIfNeeded: Postcard.unzigzag(try readVarint(maxBytes: 5, bits: 32, type: "i32")))
    }

    public mutating func readI64() throws(PostcardError) -> Int64 {
        Postcard.unzigzag(try readVarint(maxBytes: 10, bits: 64, type: "i64"))
    }

    public mutating func readF32() throws(PostcardError) -> Float {
        Float(bitPattern: UInt32(truncatingIfNeeded: try readLittleEndian(count: 4, what: "f32")))
    }

    public mutating func readF64() throws(PostcardError) -> Double {
        Double(bitPattern: try readLittleEndian(count: 8, what: "f64"))
    }

    public mutating func readBool() throws(PostcardError) -> Bool {
        let start = offset
        switch try readU8() {
        case 0: return false
        case 1: return true
        case let other: throw .invalidBool(byte: other, offset: start)
        }
    }

    /// Byte string: varint length (bounded by `limits.maxByteLength`) then the bytes.
    public mutating func readBytes() throws(PostcardError) -> [UInt8] {
        let count = try readLength(what: "byte string", maximum: limits.maxByteLength)
        return try readFixed(count: count, what: "byte string")
    }

    public mutating func readString() throws(PostcardError) -> String {
        let count = try readLength(what: "string", maximum: limits.maxByteLength)
        let start = offset
        let raw = try readFixed(count: count, what: "string")
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8(offset: start) }
        return text
    }

    /// Exactly `count` raw bytes (a fixed array such as `[u8; 32]`).
    public mutating func readFixed(count: Int, what: String = "fixed array") throws(PostcardError) -> [UInt8] {
        precondition(count >= 0, "fixed array length cannot be negative")
        guard count <= remaining else { throw .truncated(what: what, offset: offset, needed: count - remaining) }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    /// Enum variant index.
    public mutating func readVariant() throws(PostcardError) -> UInt32 {
        UInt32(try readVarint(maxBytes: 5, bits: 32, type: "variant index"))
    }

    /// Element count of a sequence, bounded by `limits.maxSequenceLength`.
    public mutating func readSequenceLength() throws(PostcardError) -> Int {
        try readLength(what: "sequence", maximum: limits.maxSequenceLength, boundedByRemaining: false)
    }

    /// `Option` tag: false for None (`00`), true for Some (`01`).
    public mutating func readOptionTag() throws(PostcardError) -> Bool {
        let start = offset
        switch try readU8() {
        case 0: return false
        case 1: return true
        case let other: throw .invalidOptionTag(byte: other, offset: start)
        }
    }

    public mutating func readOption<T>(_ body: (inout PostcardReader) throws(PostcardError) -> T) throws(PostcardError) -> T? {
        guard try readOptionTag() else { return nil }
        return try body(&self)
    }

    public mutating func readSequence<T>(_ body: (inout PostcardReader) throws(PostcardError) -> T) throws(PostcardError) -> [T] {
        let count = try readSequenceLength()
        var out: [T] = []
        // Reserve no more than the input could possibly hold, so a forged count cannot allocate.
        out.reserveCapacity(min(count, remaining))
        for _ in 0..<count { out.append(try body(&self)) }
        return out
    }

    /// LEB128 with postcard's bounds: at most `maxBytes` bytes, and the last permitted byte may
    /// only carry the bits that are left of the type.
    public mutating func readVarint(maxBytes: Int, bits: Int, type: String) throws(PostcardError) -> UInt64 {
        let start = offset
        var value: UInt64 = 0
        for index in 0..<maxBytes {
            guard offset < bytes.count else { throw .truncated(what: type, offset: offset, needed: 1) }
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7f) << UInt64(7 * index)
            if byte & 0x80 == 0 {
                if index == maxBytes - 1 {
                    let lastBits = bits - 7 * (maxBytes - 1)
                    if UInt64(byte) >> UInt64(lastBits) != 0 { throw .varintOverflow(type: type, offset: start) }
                }
                if limits.rejectNonMinimalVarints, index > 0, byte == 0 {
                    throw .nonMinimalVarint(type: type, offset: start)
                }
                return value
            }
        }
        throw .varintTooLong(type: type, offset: start)
    }

    private mutating func readLength(what: String, maximum: Int, boundedByRemaining: Bool = true) throws(PostcardError) -> Int {
        let start = offset
        let raw = try readVarint(maxBytes: 10, bits: 64, type: "\(what) length")
        guard raw <= UInt64(maximum) else {
            throw .lengthTooLarge(what: what, length: raw, maximum: maximum, offset: start)
        }
        let count = Int(raw)
        if boundedByRemaining, count > remaining {
            throw .truncated(what: what, offset: offset, needed: count - remaining)
        }
        return count
    }

    private mutating func readLittleEndian(count: Int, what: String) throws(PostcardError) -> UInt64 {
        let raw = try readFixed(count: count, what: what)
        var value: UInt64 = 0
        for (shift, byte) in raw.enumerated() { value |= UInt64(byte) << UInt64(8 * shift) }
        return value
    }
}

/// Shared helpers.
public enum Postcard {
    /// Zig-zag: 0, -1, 1, -2 … → 0, 1, 2, 3 …
    public static func zigzag(_ value: Int64) -> UInt64 {
        UInt64(bitPattern: (value << 1) ^ (value >> 63))
    }

    public static func unzigzag(_ value: UInt64) -> Int64 {
        Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1)
    }

    /// The varint bytes of `value`, for tests and one-off use.
    public static func varint(_ value: UInt64) -> [UInt8] {
        var writer = PostcardWriter(capacity: 10)
        writer.writeVarint(value)
        return writer.bytes
    }
}

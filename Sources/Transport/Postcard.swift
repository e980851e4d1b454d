/// The few postcard (serde) shapes the address and ticket formats need (iroh-wire.md §0.1).
/// Kept private to Transport and small so it can be swapped for Core's codec later.
struct PostcardWriter {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func byte(_ value: UInt8) { bytes.append(value) }
    mutating func raw(_ data: [UInt8]) { bytes.append(contentsOf: data) }

    mutating func lengthPrefixed(_ data: [UInt8]) {
        varint(UInt64(data.count))
        bytes.append(contentsOf: data)
    }
}

struct PostcardReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func byte(_ what: String) throws(TransportError) -> UInt8 {
        guard offset < bytes.count else { throw .invalidTicket("truncated at \(what) (offset \(offset))") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint(_ what: String) throws(TransportError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte(what)
            if shift == 63 && b > 1 { throw .invalidTicket("varint overflow in \(what)") }
            result |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .invalidTicket("varint too long in \(what)") }
        }
    }

    mutating func raw(_ count: Int, _ what: String) throws(TransportError) -> [UInt8] {
        guard count >= 0, bytes.count - offset >= count else {
            throw .invalidTicket("truncated \(what): need \(count) bytes, have \(bytes.count - offset)")
        }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func lengthPrefixed(_ what: String) throws(TransportError) -> [UInt8] {
        let length = try varint(what)
        guard length <= UInt64(bytes.count - offset) else { throw .invalidTicket("\(what) length \(length) exceeds the input") }
        return try raw(Int(length), what)
    }
}

/// RFC 4648 base32 (alphabet a-z2-7), lowercase, no padding: the ticket text encoding.
enum Base32 {
    private static let alphabet: [UInt8] = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    static func encode(_ data: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((data.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in data {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 0x1f)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 0x1f)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Accepts either case; `nil` for a character outside the alphabet or non-zero trailing bits.
    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for char in text.utf8 {
            let value: UInt32
            switch char {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(char - UInt8(ascii: "a"))
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(char - UInt8(ascii: "A"))
            case UInt8(ascii: "2")...UInt8(ascii: "7"): value = UInt32(char - UInt8(ascii: "2") + 26)
            default: return nil
            }
            buffer = (buffer << 5) | value
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> UInt32(bits - 8)) & 0xff))
                bits -= 8
            }
        }
        if bits >= 5 || (buffer & ((1 << UInt32(bits)) - 1)) != 0 { return nil }
        return out
    }
}

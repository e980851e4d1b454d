/// RFC 4648 base64. Proscenium uses the standard alphabet with padding (ratchet state at rest, link
/// bundles) and the URL-safe alphabet without padding (pairing PSK), spec §2.3.
public enum Base64 {
    public enum Alphabet: Sendable { case standard, urlSafe }

    private static let standardTable: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlSafeTable: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ bytes: [UInt8], alphabet: Alphabet = .standard, padded: Bool = true) -> String {
        let table = alphabet == .standard ? standardTable : urlSafeTable
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)], table[Int(n & 63)]]
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let n = UInt32(bytes[index]) << 16
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)]]
            if padded { out += [0x3d, 0x3d] }
        } else if rest == 2 {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)]]
            if padded { out.append(0x3d) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Strict decoding: the given alphabet only, padding required iff `padded`, no whitespace,
    /// non-zero trailing bits rejected. `nil` on any violation.
    public static func decode(_ text: String, alphabet: Alphabet = .standard, padded: Bool = true) -> [UInt8]? {
        var chars = Array(text.utf8)
        if padded {
            guard chars.count % 4 == 0 else { return nil }
            var pad = 0
            while pad < 2, chars.last == 0x3d { chars.removeLast(); pad += 1 }
        } else if chars.contains(0x3d) {
            return nil
        }
        guard chars.count % 4 != 1 else { return nil }
        var values: [UInt8] = []
        values.reserveCapacity(chars.count)
        for c in chars {
            guard let v = value(of: c, alphabet) else { return nil }
            values.append(v)
        }
        var out: [UInt8] = []
        out.reserveCapacity(values.count * 3 / 4)
        var index = 0
        while index + 4 <= values.count {
            let n = UInt32(values[index]) << 18 | UInt32(values[index + 1]) << 12 | UInt32(values[index + 2]) << 6 | UInt32(values[index + 3])
            out += [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
            index += 4
        }
        let rest = values.count - index
        if rest == 2 {
            guard values[index + 1] & 0x0f == 0 else { return nil }
            out.append(values[index] << 2 | values[index + 1] >> 4)
        } else if rest == 3 {
            guard values[index + 2] & 0x03 == 0 else { return nil }
            let n = UInt32(values[index]) << 18 | UInt32(values[index + 1]) << 12 | UInt32(values[index + 2]) << 6
            out += [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff)]
        }
        return out
    }

    private static func value(of c: UInt8, _ alphabet: Alphabet) -> UInt8? {
        switch c {
        case 0x41...0x5a: return c - 0x41
        case 0x61...0x7a: return c - 0x61 + 26
        case 0x30...0x39: return c - 0x30 + 52
        case 0x2b: return alphabet == .standard ? 62 : nil
        case 0x2f: return alphabet == .standard ? 63 : nil
        case 0x2d: return alphabet == .urlSafe ? 62 : nil
        case 0x5f: return alphabet == .urlSafe ? 63 : nil
        default: return nil
        }
    }
}

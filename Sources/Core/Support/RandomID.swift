/// Post, interaction, message, call and stage ids (spec §2.3): 16 random bytes read as two
/// little-endian u64 values, each printed as 16 zero-padded lowercase hex digits.
public enum RandomID {
    public static func generate() -> String {
        make(from: SecureRandom.bytes(16))
    }

    /// Deterministic form, for tests.
    public static func make(from bytes: [UInt8]) -> String {
        precondition(bytes.count == 16, "RandomID needs 16 bytes")
        func littleEndianWord(_ offset: Int) -> UInt64 {
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
        }
        func pad16(_ value: UInt64) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        return pad16(littleEndianWord(0)) + pad16(littleEndianWord(8))
    }
}

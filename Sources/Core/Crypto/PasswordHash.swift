import CSodium

/// Salted, slow password hashing (libsodium `crypto_pwhash_str`, Argon2id) for secrets people type,
/// such as the admin PIN. The stored string carries algorithm, limits and salt, so verification needs
/// nothing else and old hashes keep verifying if the limits change later.
public enum PasswordHash {
    /// How much work one hash costs. `interactive` is libsodium's interactive preset with the memory
    /// halved (32 MiB), so a Pi Zero 2 W (512 MiB RAM) hashes a PIN in well under a second.
    public struct Limits: Sendable, Equatable {
        public let operations: UInt64
        public let memoryBytes: Int

        public init(operations: UInt64, memoryBytes: Int) {
            self.operations = operations
            self.memoryBytes = memoryBytes
        }

        public static let interactive = Limits(operations: UInt64(crypto_pwhash_OPSLIMIT_INTERACTIVE),
                                               memoryBytes: 32 * 1024 * 1024)
        /// libsodium's minimum; only for tests.
        public static let minimum = Limits(operations: UInt64(crypto_pwhash_OPSLIMIT_MIN),
                                           memoryBytes: Int(crypto_pwhash_MEMLIMIT_MIN))
    }

    /// Returns the self-describing `$argon2id$...` string to store.
    public static func hash(_ password: [UInt8], limits: Limits = .interactive) throws(CryptoError) -> String {
        requireSodium()
        var out = [CChar](repeating: 0, count: Int(crypto_pwhash_STRBYTES))
        let rc = password.withUnsafeBufferPointer { pw in
            pw.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(pw.count, 1)) { ptr in
                crypto_pwhash_str_alg(&out, ptr, UInt64(pw.count), limits.operations, limits.memoryBytes,
                                      crypto_pwhash_ALG_ARGON2ID13)
            }
        }
        guard rc == 0 else { throw .invalidParameter("password hashing failed (out of memory for \(limits.memoryBytes) bytes?)") }
        let length = out.firstIndex(of: 0) ?? out.count
        return String(decoding: out[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func hash(_ password: String, limits: Limits = .interactive) throws(CryptoError) -> String {
        try hash(Array(password.utf8), limits: limits)
    }

    /// True when `password` matches `stored`; false for a wrong password or a malformed string.
    public static func verify(_ password: [UInt8], against stored: String) -> Bool {
        requireSodium()
        var storedC = Array(stored.utf8CString)
        guard storedC.count <= Int(crypto_pwhash_STRBYTES) else { return false }
        storedC.append(contentsOf: [CChar](repeating: 0, count: Int(crypto_pwhash_STRBYTES) - storedC.count))
        let pwCopy = password.isEmpty ? [UInt8(0)] : password
        return pwCopy.withUnsafeBufferPointer { pw in
            pw.baseAddress!.withMemoryRebound(to: CChar.self, capacity: pw.count) { ptr in
                crypto_pwhash_str_verify(storedC, ptr, UInt64(password.count)) == 0
            }
        }
    }

    public static func verify(_ password: String, against stored: String) -> Bool {
        verify(Array(password.utf8), against: stored)
    }
}

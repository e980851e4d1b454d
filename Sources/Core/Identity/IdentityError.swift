/// Why an identity could not be created, recovered, loaded or rotated. Every file problem names
/// the file, so a damaged data directory is never mistaken for a missing one.
public enum IdentityError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `master_key.key` is absent: there is no identity in `directory`.
    case noIdentity(directory: String)
    /// `create`/`recover` refused because `master_key.key` already exists.
    case identityAlreadyExists(path: String)
    /// A key file has the wrong size.
    case keyFileWrongLength(path: String, expected: Int, actual: Int)
    /// An index file is not a decimal u32.
    case indexFileNotDecimal(path: String, content: String)
    /// A file exists but could not be read (permissions, a directory in its place, I/O error).
    case unreadableFile(path: String, reason: String)
    /// A file or directory could not be written.
    case writeFailed(path: String, reason: String)
    /// The recovery phrase is not valid BIP39.
    case invalidRecoveryPhrase(BIP39.Error)
    /// The phrase is valid BIP39 but not 24 words (32 bytes of entropy), as Proscenium requires.
    case recoveryPhraseWrongLength(words: Int)
    case invalidMasterSeedLength(Int)
    case signingKeyIndexExhausted

    public var description: String {
        switch self {
        case let .noIdentity(directory):
            return "no identity in \(directory): master_key.key does not exist"
        case let .identityAlreadyExists(path):
            return "an identity already exists (\(path)); refusing to overwrite it"
        case let .keyFileWrongLength(path, expected, actual):
            return "\(path) is corrupt: expected \(expected) bytes, found \(actual)"
        case let .indexFileNotDecimal(path, content):
            return "\(path) is corrupt: expected a decimal number 0...\(UInt32.max), found \"\(content)\""
        case let .unreadableFile(path, reason):
            return "cannot read \(path): \(reason)"
        case let .writeFailed(path, reason):
            return "cannot write \(path): \(reason)"
        case let .invalidRecoveryPhrase(error):
            return "invalid recovery phrase: \(error)"
        case let .recoveryPhraseWrongLength(words):
            return "a Proscenium recovery phrase has 24 words; this valid phrase has \(words)"
        case let .invalidMasterSeedLength(count):
            return "master seed must be 32 bytes, got \(count)"
        case .signingKeyIndexExhausted:
            return "signing key index is at its maximum; cannot rotate further"
        }
    }
}

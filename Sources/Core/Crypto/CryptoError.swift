/// Why a cryptographic operation failed. Messages name the input at fault.
public enum CryptoError: Error, Equatable, CustomStringConvertible {
    case libraryUnavailable
    case invalidLength(what: String, expected: Int, actual: Int)
    case invalidPublicKey
    case weakSharedSecret
    case authenticationFailed
    case invalidParameter(String)

    public var description: String {
        switch self {
        case .libraryUnavailable: return "libsodium failed to initialise"
        case let .invalidLength(what, expected, actual): return "\(what) must be \(expected) bytes, got \(actual)"
        case .invalidPublicKey: return "not a valid Ed25519 public key"
        case .weakSharedSecret: return "X25519 produced an all-zero shared secret (low-order point)"
        case .authenticationFailed: return "ciphertext failed authentication"
        case let .invalidParameter(text): return text
        }
    }
}

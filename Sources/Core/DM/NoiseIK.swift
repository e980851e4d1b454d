/// `Noise_IK_25519_ChaChaPoly_BLAKE2s` (Noise rev. 34), as the DM handshake uses it (spec §8.3):
/// our own CipherState / SymmetricState / HandshakeState over Core's X25519, ChaCha20-Poly1305,
/// BLAKE2s, HMAC-BLAKE2s and the Noise HKDF. Only the IK pattern is implemented.

/// Why a Noise operation failed; messages name the input at fault.
public enum NoiseError: Error, Equatable, Sendable, CustomStringConvertible {
    case messageTooShort(message: Int, minimum: Int, actual: Int)
    case messageTooLong(Int)
    case decryptionFailed(String)
    case invalidKey(String)
    case wrongTurn(String)
    case nonceExhausted

    public var description: String {
        switch self {
        case let .messageTooShort(message, minimum, actual):
            return "Noise IK message \(message) must be at least \(minimum) bytes, got \(actual)"
        case let .messageTooLong(count): return "Noise message of \(count) bytes exceeds 65535"
        case let .decryptionFailed(what): return "Noise: \(what) failed authentication"
        case let .invalidKey(what): return "Noise: \(what)"
        case let .wrongTurn(what): return "Noise: \(what)"
        case .nonceExhausted: return "Noise: cipher nonce exhausted"
        }
    }
}

/// Noise §5.1: a key (or none) and a 64-bit nonce; ChaChaPoly's nonce is 4 zero bytes ‖ u64 LE.
public struct NoiseCipherState: Sendable {
    private var key: SecretBytes?
    public private(set) var nonce: UInt64 = 0

    public init(key: SecretBytes? = nil) {
        self.key = key
    }

    public var hasKey: Bool { key != nil }

    static func nonceBytes(_ n: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { bytes[4 + index] = UInt8(truncatingIfNeeded: n >> (8 * UInt64(index))) }
        return bytes
    }

    public mutating func encrypt(associatedData: [UInt8], plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard let key else { return plaintext }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        // Cannot fail: key and nonce lengths are fixed here.
        let sealed = try! ChaCha20Poly1305.seal(plaintext, key: key, nonce: Self.nonceBytes(nonce), aad: associatedData)
        nonce += 1
        return sealed
    }

    public mutating func decrypt(associatedData: [UInt8], ciphertext: [UInt8], what: String = "ciphertext") throws(NoiseError) -> [UInt8] {
        guard let key else { return ciphertext }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        do {
            let opened = try ChaCha20Poly1305.open(ciphertext, key: key, nonce: Self.nonceBytes(nonce), aad: associatedData)
            nonce += 1
            return opened
        } catch {
            throw .decryptionFailed(what)
        }
    }
}

/// Noise §5.2: chaining key, handshake hash, and the cipher state keyed from them.
public struct NoiseSymmetricState: Sendable {
    public private(set) var chainingKey: [UInt8]
    public private(set) var handshakeHash: [UInt8]
    private var cipher = NoiseCipherState()

    /// `InitializeSymmetric(protocol_name)`: names longer than HASHLEN (32) are hashed.
    public init(protocolName: String) {
        let name = Array(protocolName.utf8)
        handshakeHash = name.count <= 32 ? name + [UInt8](repeating: 0, count: 32 - name.count) : BLAKE2s.hash(name)
        chainingKey = handshakeHash
    }

    public mutating func mixKey(_ inputKeyMaterial: SecretBytes) {
        // Cannot fail: two outputs is a valid count.
        let outputs = try! BLAKE2sHKDF.derive(chainingKey: SecretBytes(chainingKey), inputKeyMaterial: inputKeyMaterial, outputCount: 2)
        chainingKey = outputs[0].bytes
        cipher = NoiseCipherState(key: outputs[1])
    }

    public mutating func mixHash(_ data: [UInt8]) {
        var hasher = BLAKE2s()
        hasher.update(handshakeHash)
        hasher.update(data)
        handshakeHash = hasher.finalize()
    }

    public mutating func encryptAndHash(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        let ciphertext = try cipher.encrypt(associatedData: handshakeHash, plaintext: plaintext)
        mixHash(ciphertext)
        return ciphertext
    }

    public mutating func decryptAndHash(_ ciphertext: [UInt8], what: String) throws(NoiseError) -> [UInt8] {
        let plaintext = try cipher.decrypt(associatedData: handshakeHash, ciphertext: ciphertext, what: what)
        mixHash(ciphertext)
        return plaintext
    }

    /// The two transport cipher states (initiator→responder, responder→initiator).
    public func split() -> (NoiseCipherState, NoiseCipherState) {
        let outputs = try! BLAKE2sHKDF.derive(chainingKey: SecretBytes(chainingKey), inputKeyMaterial: SecretBytes([]), outputCount: 2)
        return (NoiseCipherState(key: outputs[0]), NoiseCipherState(key: outputs[1]))
    }
}

/// Noise §5.3 for the IK pattern only:
/// ```
/// IK:  <- s
///      ...
///      -> e, es, s, ss
///      <- e, ee, se
/// ```
/// Ephemeral keys can be injected (tests against the independent Python implementation).
public struct NoiseIKHandshake: Sendable {
    public static let protocolName = "Noise_IK_25519_ChaChaPoly_BLAKE2s"
    /// Sizes with empty payloads (spec §8.3): 32 + 48 + 16 and 32 + 16.
    public static let initiatorMessageLength = 96
    public static let responderMessageLength = 48
    public static let maxMessageLength = 65535

    public enum Role: Sendable, Equatable { case initiator, responder }

    public let role: Role
    private var symmetric: NoiseSymmetricState
    private let staticKey: X25519.PrivateKey
    private var ephemeralKey: X25519.PrivateKey?
    public private(set) var remoteStaticKey: X25519.PublicKey?
    private var remoteEphemeralKey: X25519.PublicKey?
    /// 0: message 1 next, 1: message 2 next, 2: complete.
    private var step = 0

    public static func initiator(staticKey: X25519.PrivateKey, responderStaticKey: X25519.PublicKey,
                                 ephemeralKey: X25519.PrivateKey? = nil, prologue: [UInt8] = []) -> NoiseIKHandshake {
        NoiseIKHandshake(role: .initiator, staticKey: staticKey, remoteStatic: responderStaticKey,
                         ephemeralKey: ephemeralKey, prologue: prologue)
    }

    public static func responder(staticKey: X25519.PrivateKey, ephemeralKey: X25519.PrivateKey? = nil,
                                 prologue: [UInt8] = []) -> NoiseIKHandshake {
        NoiseIKHandshake(role: .responder, staticKey: staticKey, remoteStatic: nil, ephemeralKey: ephemeralKey, prologue: prologue)
    }

    private init(role: Role, staticKey: X25519.PrivateKey, remoteStatic: X25519.PublicKey?,
                 ephemeralKey: X25519.PrivateKey?, prologue: [UInt8]) {
        self.role = role
        self.staticKey = staticKey
        self.ephemeralKey = ephemeralKey
        remoteStaticKey = remoteStatic
        symmetric = NoiseSymmetricState(protocolName: Self.protocolName)
        symmetric.mixHash(prologue)
        // Pre-message `<- s`: both sides hash the responder's static key.
        symmetric.mixHash(role == .initiator ? remoteStatic!.bytes : staticKey.publicKey.bytes)
    }

    public var isComplete: Bool { step == 2 }

    /// `h`; after message 2 this is the DM ratchet's shared secret.
    public var handshakeHash: [UInt8] { symmetric.handshakeHash }

    public func split() -> (NoiseCipherState, NoiseCipherState) { symmetric.split() }

    /// Writes the next message (1 for the initiator, 2 for the responder).
    public mutating func writeMessage(payload: [UInt8] = []) throws(NoiseError) -> [UInt8] {
        var out: [UInt8] = []
        switch (role, step) {
        case (.initiator, 0):
            let e = freshEphemeral()
            out += e.publicKey.bytes
            symmetric.mixHash(e.publicKey.bytes)
            symmetric.mixKey(try dh(e, remoteStaticKey!, "es"))
            out += try symmetric.encryptAndHash(staticKey.publicKey.bytes)
            symmetric.mixKey(try dh(staticKey, remoteStaticKey!, "ss"))
        case (.responder, 1):
            let e = freshEphemeral()
            out += e.publicKey.bytes
            symmetric.mixHash(e.publicKey.bytes)
            symmetric.mixKey(try dh(e, remoteEphemeralKey!, "ee"))
            symmetric.mixKey(try dh(e, remoteStaticKey!, "se"))
        default:
            throw .wrongTurn("\(role) cannot write at step \(step)")
        }
        out += try symmetric.encryptAndHash(payload)
        guard out.count <= Self.maxMessageLength else { throw .messageTooLong(out.count) }
        step += 1
        return out
    }

    /// Reads the next message and returns its payload. On failure the handshake is unusable
    /// (Noise has no recovery); callers discard it.
    public mutating func readMessage(_ message: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard message.count <= Self.maxMessageLength else { throw .messageTooLong(message.count) }
        switch (role, step) {
        case (.responder, 0):
            guard message.count >= Self.initiatorMessageLength else {
                throw .messageTooShort(message: 1, minimum: Self.initiatorMessageLength, actual: message.count)
            }
            let re = try publicKey(Array(message[0..<32]), "initiator ephemeral key")
            remoteEphemeralKey = re
            symmetric.mixHash(re.bytes)
            symmetric.mixKey(try dh(staticKey, re, "es"))
            let rs = try symmetric.decryptAndHash(Array(message[32..<80]), what: "initiator static key")
            remoteStaticKey = try publicKey(rs, "initiator static key")
            symmetric.mixKey(try dh(staticKey, remoteStaticKey!, "ss"))
            let payload = try symmetric.decryptAndHash(Array(message[80...]), what: "message 1 payload")
            step = 1
            return payload
        case (.initiator, 1):
            guard message.count >= Self.responderMessageLength else {
                throw .messageTooShort(message: 2, minimum: Self.responderMessageLength, actual: message.count)
            }
            let re = try publicKey(Array(message[0..<32]), "responder ephemeral key")
            remoteEphemeralKey = re
            symmetric.mixHash(re.bytes)
            let e = ephemeralKey!
            symmetric.mixKey(try dh(e, re, "ee"))
            symmetric.mixKey(try dh(staticKey, re, "se"))
            let payload = try symmetric.decryptAndHash(Array(message[32...]), what: "message 2 payload")
            step = 2
            return payload
        default:
            throw .wrongTurn("\(role) cannot read at step \(step)")
        }
    }

    private mutating func freshEphemeral() -> X25519.PrivateKey {
        if let ephemeralKey { return ephemeralKey }
        let generated = X25519.PrivateKey.generate()
        ephemeralKey = generated
        return generated
    }

    private func dh(_ key: X25519.PrivateKey, _ remote: X25519.PublicKey, _ token: String) throws(NoiseError) -> SecretBytes {
        do {
            return try key.sharedSecret(with: remote)
        } catch {
            throw .invalidKey("\(token): the peer's key is a low-order point")
        }
    }

    private func publicKey(_ bytes: [UInt8], _ what: String) throws(NoiseError) -> X25519.PublicKey {
        do { return try X25519.PublicKey(bytes: bytes) } catch { throw .invalidKey("\(what) must be 32 bytes") }
    }
}

/// Stage control-plane topic (spec §10.3): SHA-256("proscenium-stage-v1:" ‖ UTF-8(stage_id)).
public enum StageTopic {
    public static func make(stageID: String) -> [UInt8] {
        SHA256.hash("proscenium-stage-v1:" + stageID)
    }
}

/// One frame of the host's mixed stream after authentication (spec §10.8): tag 0x00 = plain Opus,
/// tag 0x01 = checkpoint, whose payload is chain (32) ‖ signature (64) ‖ Opus.
public struct AuthenticatedStageFrame: Equatable, Sendable {
    public static let checkpointInterval: UInt64 = 50
    public static let checkpointExtra = 96

    public let isCheckpoint: Bool
    public let payload: [UInt8]

    public init(isCheckpoint: Bool, payload: [UInt8]) {
        self.isCheckpoint = isCheckpoint
        self.payload = payload
    }

    public var tag: UInt8 { isCheckpoint ? 1 : 0 }
}

/// The host side: chains every mixed Opus packet and signs every 50th chain value.
public struct StageStreamSigner: Sendable {
    private let signingKey: Ed25519.SecretKey
    public private(set) var chain = [UInt8](repeating: 0, count: 32)
    public private(set) var frameCount: UInt64 = 0

    public init(signingKey: Ed25519.SecretKey) {
        self.signingKey = signingKey
    }

    public mutating func authenticate(opus: [UInt8]) -> AuthenticatedStageFrame {
        frameCount += 1
        chain = Self.extend(chain, with: opus)
        guard frameCount % AuthenticatedStageFrame.checkpointInterval == 0 else {
            return AuthenticatedStageFrame(isCheckpoint: false, payload: opus)
        }
        return AuthenticatedStageFrame(isCheckpoint: true, payload: chain + signingKey.signature(for: chain) + opus)
    }

    static func extend(_ chain: [UInt8], with opus: [UInt8]) -> [UInt8] {
        var hash = SHA256()
        hash.update(chain)
        hash.update(opus)
        return hash.finalize()
    }
}

/// The listener/relay side of §10.8. A late joiner plays unverified frames until the first valid
/// checkpoint, adopts its chain value, and from then on checks every frame. A failure is permanent
/// for the connection: the caller disconnects and reconnects with a fresh verifier.
public struct StageStreamVerifier: Sendable {
    public enum Failure: String, Error, Sendable {
        case tamperDetected = "tamper_detected"
        case invalidSignature = "invalid_signature"
    }

    public enum Outcome: Equatable, Sendable {
        /// Play this Opus packet; `verified` says whether the chain vouches for it.
        case play(opus: [UInt8], verified: Bool)
        /// A checkpoint shorter than 96 bytes: skip the frame.
        case malformed
        case failed(Failure)
    }

    private enum State: Sendable {
        case unverified
        case verified(chain: [UInt8])
        case failed(Failure)
    }

    private let hostKey: Ed25519.PublicKey
    private var state: State = .unverified

    public init(hostSigningKey: Ed25519.PublicKey) {
        self.hostKey = hostSigningKey
    }

    public var isVerified: Bool {
        if case .verified = state { return true }
        return false
    }

    public mutating func accept(_ frame: AuthenticatedStageFrame) -> Outcome {
        if case let .failed(reason) = state { return .failed(reason) }
        guard frame.isCheckpoint else {
            if case let .verified(chain) = state {
                state = .verified(chain: StageStreamSigner.extend(chain, with: frame.payload))
                return .play(opus: frame.payload, verified: true)
            }
            return .play(opus: frame.payload, verified: false)
        }
        guard frame.payload.count >= AuthenticatedStageFrame.checkpointExtra else { return .malformed }
        let claimed = Array(frame.payload[0..<32])
        let signature = Array(frame.payload[32..<96])
        let opus = Array(frame.payload[96...])
        switch state {
        case .unverified:
            guard hostKey.isValidSignature(signature, for: claimed) else { return fail(.invalidSignature) }
            // The adopted hash already covers this frame's Opus packet: do not hash it again.
            state = .verified(chain: claimed)
        case let .verified(chain):
            let next = StageStreamSigner.extend(chain, with: opus)
            guard constantTimeEqual(next, claimed) else { return fail(.tamperDetected) }
            guard hostKey.isValidSignature(signature, for: claimed) else { return fail(.invalidSignature) }
            state = .verified(chain: next)
        case let .failed(reason):
            return .failed(reason)
        }
        return .play(opus: opus, verified: true)
    }

    private mutating func fail(_ reason: Failure) -> Outcome {
        state = .failed(reason)
        return .failed(reason)
    }
}

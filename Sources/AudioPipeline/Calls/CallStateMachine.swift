/// Why a call ended (or never started). Names what happened, from this node's point of view.
public enum CallEndReason: Equatable, Sendable, CustomStringConvertible {
    /// We hung up an established call.
    case localHangup
    /// The peer sent `CallHangup`, or ended the media stream cleanly (FIN / close "call ended").
    case remoteHangup
    /// We rejected an incoming call, or cancelled our outgoing one before it was answered.
    case localReject
    /// The peer rejected our offer (or was busy, which looks the same on the wire, §9.1).
    case remoteReject
    /// Our offer was not answered within the ring timeout (30 s, §14).
    case noAnswer
    /// The caller cancelled its offer before we answered.
    case remoteCancelled
    /// We did not answer an incoming call within the ring timeout; we sent `CallReject`.
    case missed
    /// The `CallOffer` could not be delivered (§9.1: the call fails at once).
    case offerNotDelivered
    /// The media connection was not up within the connect timeout after the answer.
    case connectTimeout
    /// Dialling or accepting the media stream failed.
    case connectFailed(String)
    /// Active, but no audio frame arrived for the silence timeout: the peer died or the path is black-holed.
    case peerSilent(millis: Int64)
    /// The media connection or stream failed (loss, reset, idle timeout).
    case networkLost(String)
    /// The local audio device could not be opened.
    case audioFailed(String)

    public var code: String {
        switch self {
        case .localHangup: return "local_hangup"
        case .remoteHangup: return "remote_hangup"
        case .localReject: return "local_reject"
        case .remoteReject: return "remote_reject"
        case .noAnswer: return "no_answer"
        case .remoteCancelled: return "remote_cancelled"
        case .missed: return "missed"
        case .offerNotDelivered: return "offer_not_delivered"
        case .connectTimeout: return "connect_timeout"
        case .connectFailed: return "connect_failed"
        case .peerSilent: return "peer_silent"
        case .networkLost: return "network_lost"
        case .audioFailed: return "audio_failed"
        }
    }

    public var description: String {
        switch self {
        case .localHangup: return "hung up"
        case .remoteHangup: return "peer hung up"
        case .localReject: return "rejected"
        case .remoteReject: return "peer rejected (or busy)"
        case .noAnswer: return "no answer"
        case .remoteCancelled: return "caller cancelled"
        case .missed: return "missed (not answered)"
        case .offerNotDelivered: return "offer could not be delivered"
        case .connectTimeout: return "media connection timed out"
        case let .connectFailed(why): return "media connection failed: \(why)"
        case let .peerSilent(ms): return "no audio from peer for \(ms) ms"
        case let .networkLost(why): return "network lost: \(why)"
        case let .audioFailed(why): return "audio device failed: \(why)"
        }
    }
}

/// The call lifecycle of one node (§9.1: at most one call at a time), as a pure state machine.
///
/// ```
/// idle/ended ─dial──────────▶ outgoingRinging ─answerReceived─▶ connecting ─mediaConnected─▶ active
/// idle/ended ─offerReceived─▶ incomingRinging ─answer─────────▶ connecting                    │
///        every state except idle/ended ─hangup/reject/timeout/failure──▶ ended(reason) ◀──────┘
/// ```
///
/// Events come from the local user, from DM signals and from the media path; the machine answers
/// with effects (signals to send, media to start or stop) for the caller to carry out. Time comes
/// only from the injected clock: `tick()` fires the ring, connect and media-silence timeouts.
public struct CallStateMachine {
    public enum Direction: String, Equatable, Sendable {
        case outgoing
        case incoming
    }

    public enum Phase: Equatable, Sendable {
        case idle
        case outgoingRinging
        case incomingRinging
        /// Answered; the media stream is being set up (caller dials, callee waits for it).
        case connecting
        case active
        case ended(CallEndReason)

        public var name: String {
            switch self {
            case .idle: return "idle"
            case .outgoingRinging: return "ringing"
            case .incomingRinging: return "incoming"
            case .connecting: return "connecting"
            case .active: return "active"
            case .ended: return "ended"
            }
        }

        /// A call exists and is not over.
        public var isBusy: Bool {
            switch self {
            case .idle, .ended: return false
            default: return true
            }
        }
    }

    /// The current (or last) call.
    public struct Call: Equatable, Sendable {
        public let id: String
        /// The peer's master public key (hex), as DM signalling identifies it.
        public let peer: String
        public let direction: Direction
        public let startedMicros: Int64
        public var answeredMicros: Int64?
        public var activeMicros: Int64?
        public var endedMicros: Int64?
        /// Last time an audio frame arrived (or the moment the call went active).
        public var lastMediaMicros: Int64?
    }

    public enum Event: Equatable, Sendable {
        /// Local: call `peer` with the fresh `callID`.
        case dial(callID: String, peer: String)
        /// The `CallOffer` send failed (§9.1: the call fails at once).
        case offerFailed
        case offerReceived(callID: String, peer: String)
        /// Local: answer the ringing incoming call.
        case answer
        /// Local: reject the incoming call, or cancel the outgoing one.
        case reject
        /// Local: hang up (an outgoing ringing call is cancelled, an incoming one rejected).
        case hangup
        case answerReceived(callID: String, peer: String)
        case rejectReceived(callID: String, peer: String)
        case hangupReceived(callID: String, peer: String)
        /// The media stream is open (caller: dialled and opened; callee: accepted).
        case mediaConnected
        case mediaConnectFailed(String)
        /// An audio frame arrived.
        case mediaReceived
        /// The peer finished the media stream (FIN) or closed the connection with "call ended".
        case mediaEnded
        /// The media connection or stream failed.
        case mediaLost(String)
        case audioFailed(String)
    }

    public enum Effect: Equatable, Sendable {
        case sendOffer(callID: String, peer: String)
        case sendAnswer(callID: String, peer: String)
        case sendReject(callID: String, peer: String)
        case sendHangup(callID: String, peer: String)
        /// Caller: dial the peer on `proscenium/call/1` and open the bi stream.
        case dialMedia(callID: String, peer: String)
        /// Callee: be ready to accept the caller's media connection.
        case awaitMedia(callID: String, peer: String)
        case stopMedia(callID: String)
        /// The call ended; tell the user.
        case ended(callID: String, reason: CallEndReason)
    }

    public struct Timeouts: Equatable, Sendable {
        /// §14: 30 s for the caller's answer timer and the callee's incoming timer.
        public var ringMicros: Int64 = 30_000_000
        /// From answer to an open media stream (not in the spec; the reference waits forever).
        public var connectMicros: Int64 = 10_000_000
        /// Active with no frame for this long ends the call (frames flow every 20 ms, even muted).
        public var mediaSilenceMicros: Int64 = 2_500_000
        public init() {}
    }

    public let timeouts: Timeouts
    public private(set) var phase: Phase = .idle
    public private(set) var call: Call?
    /// Offers auto-rejected because a call was in progress.
    public private(set) var busyRejections = 0
    private let clock: any AudioClock

    public init(clock: any AudioClock, timeouts: Timeouts = Timeouts()) {
        self.clock = clock
        self.timeouts = timeouts
    }

    /// Applies `event`; returns what to do. Events that do not fit the phase (a stale call id, a
    /// second answer) change nothing and return no effects.
    public mutating func handle(_ event: Event) -> [Effect] {
        let now = clock.nowMicros()
        switch (event, phase) {
        case let (.dial(id, peer), .idle), let (.dial(id, peer), .ended):
            call = Call(id: id, peer: peer, direction: .outgoing, startedMicros: now)
            phase = .outgoingRinging
            return [.sendOffer(callID: id, peer: peer)]
        case (.offerFailed, .outgoingRinging):
            return end(.offerNotDelivered, now: now)

        case let (.offerReceived(id, peer), current):
            if current.isBusy {
                if call?.id == id { return [] }   // a repeated offer for this call
                busyRejections += 1
                return [.sendReject(callID: id, peer: peer)]
            }
            call = Call(id: id, peer: peer, direction: .incoming, startedMicros: now)
            phase = .incomingRinging
            return []

        case (.answer, .incomingRinging):
            guard let c = call else { return [] }
            call?.answeredMicros = now
            phase = .connecting
            return [.sendAnswer(callID: c.id, peer: c.peer), .awaitMedia(callID: c.id, peer: c.peer)]
        case let (.answerReceived(id, peer), .outgoingRinging):
            guard let c = call, c.id == id, c.peer == peer else { return [] }
            call?.answeredMicros = now
            phase = .connecting
            return [.dialMedia(callID: c.id, peer: c.peer)]

        case (.reject, .incomingRinging), (.hangup, .incomingRinging),
             (.reject, .outgoingRinging), (.hangup, .outgoingRinging):
            guard let c = call else { return [] }
            return [.sendReject(callID: c.id, peer: c.peer)] + end(.localReject, now: now)
        case (.hangup, .connecting), (.hangup, .active), (.reject, .connecting), (.reject, .active):
            guard let c = call else { return [] }
            return [.sendHangup(callID: c.id, peer: c.peer)] + end(.localHangup, now: now)

        case let (.rejectReceived(id, peer), current) where current.isBusy:
            guard let c = call, c.id == id, c.peer == peer else { return [] }
            return end(Self.remoteEnd(current), now: now)
        case let (.hangupReceived(id, peer), current) where current.isBusy:
            guard let c = call, c.id == id, c.peer == peer else { return [] }
            return end(Self.remoteEnd(current), now: now)

        case (.mediaConnected, .connecting):
            call?.activeMicros = now
            call?.lastMediaMicros = now
            phase = .active
            return []
        case let (.mediaConnectFailed(why), .connecting):
            return hangupAndEnd(.connectFailed(why), now: now)
        case (.mediaReceived, .active):
            call?.lastMediaMicros = now
            return []
        case (.mediaEnded, .connecting), (.mediaEnded, .active):
            return end(.remoteHangup, now: now)
        case let (.mediaLost(why), .connecting), let (.mediaLost(why), .active):
            return hangupAndEnd(.networkLost(why), now: now)
        case let (.audioFailed(why), current) where current.isBusy:
            return hangupAndEnd(.audioFailed(why), now: now)

        default:
            return []
        }
    }

    /// Fires whichever timeout has expired.
    public mutating func tick() -> [Effect] {
        let now = clock.nowMicros()
        guard let c = call else { return [] }
        switch phase {
        case .outgoingRinging where now - c.startedMicros >= timeouts.ringMicros:
            // §9.1: the caller's timer clears the call; nothing is sent to the peer.
            return end(.noAnswer, now: now)
        case .incomingRinging where now - c.startedMicros >= timeouts.ringMicros:
            return [.sendReject(callID: c.id, peer: c.peer)] + end(.missed, now: now)
        case .connecting where now - (c.answeredMicros ?? c.startedMicros) >= timeouts.connectMicros:
            return hangupAndEnd(.connectTimeout, now: now)
        case .active:
            let silent = now - (c.lastMediaMicros ?? c.activeMicros ?? now)
            if silent >= timeouts.mediaSilenceMicros {
                return hangupAndEnd(.peerSilent(millis: silent / 1_000), now: now)
            }
            return []
        default:
            return []
        }
    }

    /// What a `CallReject` or `CallHangup` from the peer means in `phase`.
    private static func remoteEnd(_ phase: Phase) -> CallEndReason {
        switch phase {
        case .outgoingRinging: return .remoteReject
        case .incomingRinging: return .remoteCancelled
        default: return .remoteHangup
        }
    }

    /// Ends a call the peer may not know is over: tell it (best effort), then stop.
    private mutating func hangupAndEnd(_ reason: CallEndReason, now: Int64) -> [Effect] {
        guard let c = call else { return [] }
        return [.sendHangup(callID: c.id, peer: c.peer)] + end(reason, now: now)
    }

    private mutating func end(_ reason: CallEndReason, now: Int64) -> [Effect] {
        guard let c = call else { return [] }
        let hadMedia = phase == .connecting || phase == .active
        call?.endedMicros = now
        phase = .ended(reason)
        return (hadMedia ? [.stopMedia(callID: c.id)] : []) + [.ended(callID: c.id, reason: reason)]
    }
}

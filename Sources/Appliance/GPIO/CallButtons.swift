/// What the buttons are for.
public enum ButtonRole: String, Sendable, CaseIterable {
    case pushToTalk = "ptt"
    case answer
    case hangUp = "hangup"
}

/// The call situation the buttons act on (fed by the call service when it exists).
public enum CallPhase: String, Sendable, CaseIterable {
    case idle
    /// An incoming call is ringing.
    case ringing
    /// We are calling out and waiting for an answer.
    case outgoing
    case inCall = "in_call"
}

public enum CallAction: String, Sendable, Equatable {
    case answer
    case reject
    case hangUp = "hang_up"
    case startTalking = "talk_start"
    case stopTalking = "talk_stop"
    /// Long press on the answer button while idle: call the configured default contact.
    case callDefault = "call_default"
}

/// Maps button events to call actions. Intercom conventions:
/// - answer button: short press answers a ringing call and hangs up an active or outgoing one;
///   a long press rejects a ringing call, or (idle) calls the default contact.
/// - separate hang-up button: any short or long press rejects/hangs up.
/// - push-to-talk: talk while held; pressing it while ringing answers.
public enum CallButtonMapper {
    public static func action(for event: ButtonEvent, on role: ButtonRole, phase: CallPhase) -> CallAction? {
        switch (role, event, phase) {
        case (.answer, .shortPress, .ringing): return .answer
        case (.answer, .longPress, .ringing): return .reject
        case (.answer, .shortPress, .inCall), (.answer, .shortPress, .outgoing): return .hangUp
        case (.answer, .longPress, .idle): return .callDefault

        case (.hangUp, .shortPress, .ringing), (.hangUp, .longPress, .ringing): return .reject
        case (.hangUp, .shortPress, .inCall), (.hangUp, .longPress, .inCall),
             (.hangUp, .shortPress, .outgoing), (.hangUp, .longPress, .outgoing): return .hangUp

        case (.pushToTalk, .pressed, .ringing): return .answer
        case (.pushToTalk, .pressed, .inCall), (.pushToTalk, .pressed, .idle): return .startTalking
        case (.pushToTalk, .released, .inCall), (.pushToTalk, .released, .idle): return .stopTalking
        default: return nil
        }
    }
}

/// LED blink patterns as pure functions of time.
public enum LEDPattern: Sendable, Equatable {
    case off
    case on
    /// Symmetric or asymmetric blinking, starting with the on phase.
    case blink(onMillis: UInt64, offMillis: UInt64)
    /// Ringing: two short flashes, then a pause (like a phone's ring cadence).
    case ringing

    /// (on, duration) phases of one period; empty for steady patterns.
    var phases: [(on: Bool, millis: UInt64)] {
        switch self {
        case .off, .on: return []
        case let .blink(on, off): return [(true, on), (false, off)]
        case .ringing: return [(true, 150), (false, 150), (true, 150), (false, 750)]
        }
    }

    /// Whether the LED is lit `elapsed` ms after the pattern started.
    public func isOn(elapsedMillis elapsed: UInt64) -> Bool {
        switch self {
        case .off: return false
        case .on: return true
        default:
            let period = phases.reduce(0) { $0 + $1.millis }
            var t = elapsed % period
            for phase in phases {
                if t < phase.millis { return phase.on }
                t -= phase.millis
            }
            return false
        }
    }

    /// Elapsed time of the next change after `elapsed`; nil for steady patterns.
    public func nextChange(afterElapsedMillis elapsed: UInt64) -> UInt64? {
        let phases = self.phases
        guard !phases.isEmpty else { return nil }
        let period = phases.reduce(0) { $0 + $1.millis }
        let base = elapsed - elapsed % period
        var boundary = base
        for phase in phases {
            boundary += phase.millis
            if boundary > elapsed { return boundary }
        }
        return base + period
    }

    /// The call LED for each call phase.
    public static func callLED(for phase: CallPhase, talking: Bool = false) -> LEDPattern {
        switch phase {
        case .idle: return talking ? .on : .off
        case .ringing: return .ringing
        case .outgoing: return .blink(onMillis: 500, offMillis: 500)
        case .inCall: return .on
        }
    }
}

/// Everything the GPIO service decides, without the I/O: button machines per line, call-phase
/// mapping, LED patterns. Driven by edge events and an injected clock (ms); the worker thread only
/// moves values between this and libgpiod.
struct GPIOController: Sendable {
    struct Button: Sendable {
        let role: ButtonRole
        let offset: UInt32
        var machine: ButtonMachine
    }

    struct LED: Sendable {
        /// "online", "call", "transmit" or "relay".
        let role: String
        let offset: UInt32
        var lit: Bool?
    }

    /// A call action and the button that caused it.
    struct Decision: Sendable, Equatable {
        let role: ButtonRole
        let action: CallAction
    }

    private(set) var buttons: [Button]
    private(set) var leds: [LED]
    private(set) var phase: CallPhase = .idle
    private(set) var talking = false
    private(set) var lastDecision: Decision?
    private var patternStart: UInt64

    init(buttons: [(role: ButtonRole, offset: UInt32)], leds: [(role: String, offset: UInt32)],
         debounceMillis: UInt64, longPressMillis: UInt64, startMillis: UInt64) {
        self.buttons = buttons.map {
            Button(role: $0.role, offset: $0.offset,
                   machine: ButtonMachine(debounceMillis: debounceMillis, longPressMillis: longPressMillis))
        }
        self.leds = leds.map { LED(role: $0.role, offset: $0.offset, lit: nil) }
        patternStart = startMillis
    }

    /// The call service (or `gpio phase`) changed the phase; LED patterns restart from their start.
    mutating func setPhase(_ newPhase: CallPhase, atMillis now: UInt64) {
        guard newPhase != phase else { return }
        phase = newPhase
        patternStart = now
        if newPhase != .inCall && newPhase != .idle { talking = false }
    }

    /// A raw edge on `offset` (logical level). Unknown offsets are ignored.
    mutating func edge(offset: UInt32, active: Bool, atMillis now: UInt64) -> [Decision] {
        var decisions = advance(toMillis: now)
        guard let index = buttons.firstIndex(where: { $0.offset == offset }) else { return decisions }
        let events = buttons[index].machine.input(active: active, atMillis: now)
        decisions += decide(events, role: buttons[index].role)
        return decisions
    }

    /// Runs debounce and long-press deadlines up to `now`.
    mutating func advance(toMillis now: UInt64) -> [Decision] {
        var decisions: [Decision] = []
        for index in buttons.indices {
            let events = buttons[index].machine.advance(toMillis: now)
            decisions += decide(events, role: buttons[index].role)
        }
        return decisions
    }

    private mutating func decide(_ events: [ButtonEvent], role: ButtonRole) -> [Decision] {
        var decisions: [Decision] = []
        for event in events {
            guard let action = CallButtonMapper.action(for: event, on: role, phase: phase) else { continue }
            if action == .startTalking { talking = true }
            if action == .stopTalking { talking = false }
            let decision = Decision(role: role, action: action)
            lastDecision = decision
            decisions.append(decision)
        }
        return decisions
    }

    /// Whether this box currently relays a Stage (set by the relay service).
    private(set) var relaying = false

    mutating func setRelaying(_ active: Bool) { relaying = active }

    func pattern(for led: LED) -> LEDPattern {
        switch led.role {
        case "online": return .on
        case "transmit": return talking ? .on : .off
        case "relay": return relaying ? .on : .off
        default: return LEDPattern.callLED(for: phase, talking: talking)
        }
    }

    /// LED levels that changed since the last call, to write to the lines.
    mutating func ledChanges(atMillis now: UInt64) -> [(offset: UInt32, lit: Bool)] {
        var changes: [(offset: UInt32, lit: Bool)] = []
        let elapsed = now >= patternStart ? now - patternStart : 0
        for index in leds.indices {
            let lit = pattern(for: leds[index]).isOn(elapsedMillis: elapsed)
            if leds[index].lit != lit {
                leds[index].lit = lit
                changes.append((leds[index].offset, lit))
            }
        }
        return changes
    }

    /// The next time something is due: a debounce or long-press deadline, or an LED change.
    func nextDeadline(afterMillis now: UInt64) -> UInt64? {
        var candidates = buttons.compactMap(\.machine.nextDeadline)
        let elapsed = now >= patternStart ? now - patternStart : 0
        for led in leds {
            if let change = pattern(for: led).nextChange(afterElapsedMillis: elapsed) { candidates.append(patternStart + change) }
        }
        return candidates.min()
    }

    func snapshot(chip: String) -> GPIOSnapshot {
        GPIOSnapshot(
            enabled: true, chip: chip,
            lines: buttons.map { GPIOLineState(role: $0.role.rawValue, offset: Int($0.offset), active: $0.machine.isPressed) },
            leds: leds.map { GPIOLineState(role: $0.role, offset: Int($0.offset), active: $0.lit ?? false) },
            lastEvent: lastDecision.map { "\($0.role.rawValue): \($0.action.rawValue)" })
    }
}

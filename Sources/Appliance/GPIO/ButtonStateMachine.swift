/// Pure button logic driven by an injected clock (milliseconds, monotonic). The GPIO thread feeds it
/// edges and calls `advance(toMillis:)` at `nextDeadline`; tests do the same with made-up times.

/// Turns bouncy edges into stable levels: a new level counts once it has held for `debounceMillis`.
public struct Debouncer: Sendable, Equatable {
    public let debounceMillis: UInt64
    public private(set) var stableActive: Bool
    private var pending: (active: Bool, since: UInt64)?

    public init(debounceMillis: UInt64, initiallyActive: Bool = false) {
        self.debounceMillis = debounceMillis
        stableActive = initiallyActive
    }

    public static func == (lhs: Debouncer, rhs: Debouncer) -> Bool {
        lhs.debounceMillis == rhs.debounceMillis && lhs.stableActive == rhs.stableActive
            && lhs.pending?.active == rhs.pending?.active && lhs.pending?.since == rhs.pending?.since
    }

    /// When the pending level will become stable, if one is pending.
    public var deadline: UInt64? { pending.map { $0.since + debounceMillis } }

    /// Records the raw level after an edge. Returns the new stable level at once when debouncing is off.
    public mutating func input(active: Bool, atMillis now: UInt64) -> Bool? {
        if active == stableActive {
            pending = nil                      // bounced back before it counted
            return nil
        }
        if debounceMillis == 0 {
            stableActive = active
            pending = nil
            return active
        }
        if pending?.active != active { pending = (active, now) }
        return nil
    }

    /// Commits a pending level whose time has come; returns it.
    public mutating func advance(toMillis now: UInt64) -> Bool? {
        guard let p = pending, now >= p.since + debounceMillis else { return nil }
        stableActive = p.active
        pending = nil
        return p.active
    }
}

/// What a (debounced) button did.
public enum ButtonEvent: Sendable, Equatable {
    case pressed
    /// Released before the long-press time.
    case shortPress
    /// Still held at the long-press time (fires once, while held).
    case longPress
    /// Released, after `heldMillis`.
    case released(heldMillis: UInt64)
}

/// Classifies stable presses into short and long presses.
public struct PressClassifier: Sendable, Equatable {
    public let longPressMillis: UInt64
    private var pressedAt: UInt64?
    private var longFired = false

    public init(longPressMillis: UInt64) { self.longPressMillis = longPressMillis }

    public var deadline: UInt64? {
        guard let pressedAt, !longFired else { return nil }
        return pressedAt + longPressMillis
    }

    public mutating func press(atMillis now: UInt64) -> [ButtonEvent] {
        guard pressedAt == nil else { return [] }
        pressedAt = now
        longFired = false
        return [.pressed]
    }

    public mutating func release(atMillis now: UInt64) -> [ButtonEvent] {
        guard let start = pressedAt else { return [] }
        var events: [ButtonEvent] = []
        let held = now >= start ? now - start : 0
        if !longFired {
            events.append(held >= longPressMillis ? .longPress : .shortPress)
        }
        events.append(.released(heldMillis: held))
        pressedAt = nil
        longFired = false
        return events
    }

    public mutating func advance(toMillis now: UInt64) -> [ButtonEvent] {
        guard let deadline, now >= deadline else { return [] }
        longFired = true
        return [.longPress]
    }
}

/// Debouncer + classifier for one button.
public struct ButtonMachine: Sendable, Equatable {
    public private(set) var debouncer: Debouncer
    public private(set) var classifier: PressClassifier

    public init(debounceMillis: UInt64, longPressMillis: UInt64) {
        debouncer = Debouncer(debounceMillis: debounceMillis)
        classifier = PressClassifier(longPressMillis: longPressMillis)
    }

    public var isPressed: Bool { debouncer.stableActive }

    /// The next time `advance` has something to do.
    public var nextDeadline: UInt64? {
        [debouncer.deadline, classifier.deadline].compactMap { $0 }.min()
    }

    /// A raw edge (logical level: true = pressed).
    public mutating func input(active: Bool, atMillis now: UInt64) -> [ButtonEvent] {
        var events = advance(toMillis: now)
        if let stable = debouncer.input(active: active, atMillis: now) {
            events += stable ? classifier.press(atMillis: now) : classifier.release(atMillis: now)
        }
        return events
    }

    public mutating func advance(toMillis now: UInt64) -> [ButtonEvent] {
        var events: [ButtonEvent] = []
        // Both may be due; process them in time order so a long press is judged on the stable press time.
        while true {
            let debounceDue = debouncer.deadline.map { $0 <= now } ?? false
            let longDue = classifier.deadline.map { $0 <= now } ?? false
            if debounceDue && (!longDue || debouncer.deadline! <= classifier.deadline!) {
                let at = debouncer.deadline!
                if let stable = debouncer.advance(toMillis: now) {
                    events += stable ? classifier.press(atMillis: at) : classifier.release(atMillis: at)
                }
            } else if longDue {
                events += classifier.advance(toMillis: now)
            } else {
                return events
            }
        }
    }
}

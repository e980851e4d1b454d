import Core

/// Mutable facts about the running node that admin commands read and change.
actor NodeState {
    let identity: NodeIdentity
    let dataDirectory: String
    let startedAtNanos: UInt64
    let logSink: StreamLogSink
    private(set) var config: NodeConfig
    /// Addresses peers can dial (interface addresses when bound to a wildcard); empty while the transport is down.
    private(set) var listenAddresses: [String] = []
    private(set) var metricsAddress: String?
    private(set) var gpio: GPIOSnapshot = GPIOSnapshot(enabled: false, chip: "", lines: [], leds: [], lastEvent: nil)

    init(identity: NodeIdentity, dataDirectory: String, config: NodeConfig, logSink: StreamLogSink) {
        self.identity = identity
        self.dataDirectory = dataDirectory
        self.config = config
        self.logSink = logSink
        startedAtNanos = MonotonicClock.nanoseconds()
    }

    var uptimeSeconds: UInt64 { (MonotonicClock.nanoseconds() - startedAtNanos) / 1_000_000_000 }

    func setListenAddresses(_ addresses: [String]) { listenAddresses = addresses }
    var boundAddress: String? { listenAddresses.first }
    func setMetricsAddress(_ address: String?) { metricsAddress = address }
    func setGPIO(_ snapshot: GPIOSnapshot) { gpio = snapshot }

    /// Applies `config set`; returns the key so the caller can say whether it is live.
    func setConfig(_ key: String, text: String) throws -> ConfigKey {
        let changed = try config.set(key, text: text)
        if changed.qualifiedName == "node.log_level" { logSink.setMinimumLevel(config.logLevel) }
        return changed
    }

    var identityReport: IdentityReport {
        IdentityReport(identity: identity, addresses: listenAddresses)
    }
}

/// What the GPIO service last reported, for `status`.
struct GPIOSnapshot: Sendable, Equatable {
    var enabled: Bool
    var chip: String
    /// (role, offset, pressed)
    var lines: [GPIOLineState]
    var leds: [GPIOLineState]
    var lastEvent: String?

    var json: JSONValue {
        .object([
            "enabled": .bool(enabled), "chip": .string(chip),
            "buttons": .array(lines.map(\.json)), "leds": .array(leds.map(\.json)),
            "last_event": lastEvent.map { .string($0) } ?? .null
        ])
    }
}

struct GPIOLineState: Sendable, Equatable {
    var role: String
    var offset: Int
    var active: Bool

    var json: JSONValue { .object(["role": .string(role), "offset": .int(offset), "active": .bool(active)]) }
}

/// Resolved once by `shutdown` (command, console or signal); the runtime waits on it.
actor ShutdownLatch {
    private var reason: String?
    private var waiters: [CheckedContinuation<String, Never>] = []

    func trigger(_ why: String) {
        guard reason == nil else { return }
        reason = why
        for waiter in waiters { waiter.resume(returning: why) }
        waiters.removeAll()
    }

    func wait() async -> String {
        if let reason { return reason }
        return await withCheckedContinuation { waiters.append($0) }
    }

    var isTriggered: Bool { reason != nil }
}

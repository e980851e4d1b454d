/// Exponential back-off for restarting a failed service: `initial`, doubled per consecutive failure,
/// capped at `maximum`. Pure, so tests pin the exact schedule.
public struct BackoffPolicy: Sendable, Equatable {
    public let initialMillis: UInt64
    public let maximumMillis: UInt64
    public let multiplier: UInt64

    public init(initialMillis: UInt64 = 500, maximumMillis: UInt64 = 60_000, multiplier: UInt64 = 2) {
        precondition(initialMillis > 0 && maximumMillis >= initialMillis && multiplier >= 1)
        self.initialMillis = initialMillis
        self.maximumMillis = maximumMillis
        self.multiplier = multiplier
    }

    /// Delay before restart number `attempt` (1 = first restart).
    public func delayMillis(attempt: Int) -> UInt64 {
        guard attempt > 1 else { return initialMillis }
        var delay = initialMillis
        for _ in 1..<attempt {
            let (next, overflow) = delay.multipliedReportingOverflow(by: multiplier)
            if overflow || next >= maximumMillis { return maximumMillis }
            delay = next
        }
        return delay
    }
}

/// Counts consecutive failures of one service. A service that stayed up for `stableMillis` is
/// considered healthy again, so its next failure restarts quickly instead of at the capped delay.
public struct RestartTracker: Sendable, Equatable {
    public let policy: BackoffPolicy
    public let stableMillis: UInt64
    public private(set) var consecutiveFailures = 0
    public private(set) var startedAtMillis: UInt64?

    public init(policy: BackoffPolicy, stableMillis: UInt64 = 30_000) {
        self.policy = policy
        self.stableMillis = stableMillis
    }

    public mutating func recordStarted(atMillis now: UInt64) {
        startedAtMillis = now
    }

    /// Records a failure at `now`; returns the delay before the next start attempt.
    public mutating func recordFailure(atMillis now: UInt64) -> UInt64 {
        if let started = startedAtMillis, now >= started, now - started >= stableMillis {
            consecutiveFailures = 0
        }
        startedAtMillis = nil
        consecutiveFailures += 1
        return policy.delayMillis(attempt: consecutiveFailures)
    }
}

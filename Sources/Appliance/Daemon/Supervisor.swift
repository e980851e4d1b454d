import Core
import Synchronization

/// Starts services in order, restarts failed ones with exponential back-off, and stops them in
/// reverse order within a fixed total time budget. One instance per node; no global state.
public actor Supervisor {
    /// Injected so tests can run restart schedules without waiting.
    public typealias Sleep = @Sendable (_ millis: UInt64) async -> Void
    public typealias Now = @Sendable () -> UInt64

    private struct Entry {
        let service: any Service
        var state: ServiceState = .idle
        var tracker: RestartTracker
        var generation = 0
        var restarts = 0
    }

    private var entries: [Entry]
    private let logger: Logger
    private let sleep: Sleep
    private let now: Now
    private let stopBudgetMillis: UInt64
    private var shuttingDown = false

    public init(services: [any Service], policy: BackoffPolicy = BackoffPolicy(), stableMillis: UInt64 = 30_000,
                stopBudgetMillis: UInt64 = 5000, logger: Logger,
                now: @escaping Now = { MonotonicClock.nanoseconds() / 1_000_000 },
                sleep: @escaping Sleep = { millis in try? await Task.sleep(nanoseconds: millis * 1_000_000) }) {
        entries = services.map { Entry(service: $0, tracker: RestartTracker(policy: policy, stableMillis: stableMillis)) }
        self.logger = logger
        self.now = now
        self.sleep = sleep
        self.stopBudgetMillis = stopBudgetMillis
    }

    /// Names and states in start order.
    public var states: [(name: String, state: ServiceState)] {
        entries.map { ($0.service.name, $0.state) }
    }

    /// Restart attempts per service since the node started (for metrics).
    public var restartCounts: [String: Int] {
        Dictionary(uniqueKeysWithValues: entries.map { ($0.service.name, $0.restarts) })
    }

    public func state(of name: String) -> ServiceState? {
        entries.first { $0.service.name == name }?.state
    }

    /// Starts every service in order. A service that fails to start does not stop the others; it is
    /// retried in the background.
    public func startAll() async {
        for index in entries.indices {
            await attemptStart(index, generation: entries[index].generation)
        }
    }

    /// Called by a running service (or its owner) when it has broken; the supervisor stops it and
    /// schedules a restart.
    public func reportFailure(_ name: String, reason: String) async {
        guard !shuttingDown, let index = entries.firstIndex(where: { $0.service.name == name }) else { return }
        guard entries[index].state == .running else { return }
        logger.error("service \(name) failed: \(reason)")
        entries[index].state = .stopping
        await entries[index].service.stop()
        scheduleRestart(index, reason: reason)
    }

    private func attemptStart(_ index: Int, generation: Int) async {
        guard !shuttingDown, entries[index].generation == generation else { return }
        let service = entries[index].service
        entries[index].state = .starting
        do {
            try await service.start()
            guard !shuttingDown else { return }
            entries[index].state = .running
            entries[index].tracker.recordStarted(atMillis: now())
            logger.info("service \(service.name) running")
        } catch {
            logger.error("service \(service.name) failed to start: \(error)")
            await service.stop()
            scheduleRestart(index, reason: "\(error)")
        }
    }

    private func scheduleRestart(_ index: Int, reason: String) {
        guard !shuttingDown else { return }
        let delay = entries[index].tracker.recordFailure(atMillis: now())
        entries[index].state = .failed(reason: reason, retryInMillis: delay)
        entries[index].generation += 1
        entries[index].restarts += 1
        let generation = entries[index].generation
        let name = entries[index].service.name
        logger.notice("restarting \(name) in \(delay) ms (failure \(entries[index].tracker.consecutiveFailures) in a row)")
        let sleep = self.sleep
        Task {
            await sleep(delay)
            await self.attemptStart(index, generation: generation)
        }
    }

    /// Stops services in reverse start order. Each gets an equal share of what is left of the budget;
    /// one that overruns its share is logged and abandoned so the node still exits in time.
    public func stopAll() async {
        shuttingDown = true
        let deadline = now() + stopBudgetMillis
        for index in entries.indices.reversed() {
            switch entries[index].state {
            case .idle, .stopped, .abandoned: continue
            default: break
            }
            let remainingServices = UInt64(index + 1)
            let current = now()
            let share = deadline > current ? (deadline - current) / remainingServices : 0
            let service = entries[index].service
            entries[index].state = .stopping
            let finished = await Self.run(withinMillis: share, sleep: sleep) { await service.stop() }
            if finished {
                entries[index].state = .stopped
                logger.info("service \(service.name) stopped")
            } else {
                entries[index].state = .abandoned
                logger.warning("service \(service.name) did not stop within \(share) ms; abandoned")
            }
        }
    }

    /// Runs `operation` on its own task; true if it finished within `millis`. The operation keeps
    /// running if it overruns (actor methods cannot be interrupted), but nobody waits for it.
    static func run(withinMillis millis: UInt64, sleep: @escaping Sleep,
                    _ operation: @escaping @Sendable () async -> Void) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let race = FirstResult(continuation)
            Task {
                await operation()
                race.finish(true)
            }
            Task {
                await sleep(millis)
                race.finish(false)
            }
        }
    }
}

/// Resumes a continuation with whichever result arrives first.
final class FirstResult: Sendable {
    private let continuation: Mutex<CheckedContinuation<Bool, Never>?>

    init(_ continuation: CheckedContinuation<Bool, Never>) {
        self.continuation = Mutex(continuation)
    }

    func finish(_ value: Bool) {
        let pending = continuation.withLock { stored -> CheckedContinuation<Bool, Never>? in
            defer { stored = nil }
            return stored
        }
        pending?.resume(returning: value)
    }
}

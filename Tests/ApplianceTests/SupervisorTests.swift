import Core
import Synchronization
import Testing
@testable import Appliance

/// Records what services did, in order.
final class EventLog: Sendable {
    private let entries = Mutex<[String]>([])
    func add(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}

struct MemorySinkForTests {
    let sink = MemoryLogSink()
    var logger: Logger { Logger(label: "test", sink: sink) }
}

actor RecordingService: Service {
    nonisolated let name: String
    private let log: EventLog
    private var failuresLeft: Int
    private let hangOnStop: Bool

    init(_ name: String, log: EventLog, failStarts: Int = 0, hangOnStop: Bool = false) {
        self.name = name
        self.log = log
        failuresLeft = failStarts
        self.hangOnStop = hangOnStop
    }

    func start() async throws {
        if failuresLeft > 0 {
            failuresLeft -= 1
            log.add("fail \(name)")
            throw AdminCommandError("\(name) broke")
        }
        log.add("start \(name)")
    }

    func stop() async {
        log.add("stop \(name)")
        if hangOnStop {
            // Never returns in test time: simulates a service stuck in I/O.
            try? await Task.sleep(nanoseconds: 3_600_000_000_000)
        }
    }
}

@Suite("Back-off and supervisor")
struct SupervisorTests {
    @Test func systemdStatusLineNamesTroubledServices() {
        #expect(NodeRuntime.statusLine([("a", .running), ("b", .running)]) == "running: 2 services")
        #expect(NodeRuntime.statusLine([("a", .running), ("gpio", .failed(reason: "no chip", retryInMillis: 4000))])
            == "degraded: gpio failed (no chip); retry in 4000 ms")
    }

    @Test func backoffDoublesUpToTheCap() {
        let policy = BackoffPolicy(initialMillis: 500, maximumMillis: 60_000)
        #expect((1...10).map { policy.delayMillis(attempt: $0) } == [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000])
        #expect(policy.delayMillis(attempt: 1000) == 60_000)
        #expect(policy.delayMillis(attempt: 0) == 500)
    }

    @Test func restartTrackerResetsAfterStableRun() {
        var tracker = RestartTracker(policy: BackoffPolicy(initialMillis: 100, maximumMillis: 1000), stableMillis: 10_000)
        tracker.recordStarted(atMillis: 0)
        #expect(tracker.recordFailure(atMillis: 10) == 100)
        tracker.recordStarted(atMillis: 200)
        #expect(tracker.recordFailure(atMillis: 300) == 200)
        tracker.recordStarted(atMillis: 600)
        #expect(tracker.recordFailure(atMillis: 700) == 400)
        // Ran for 10 s: healthy again, so the next failure restarts at the initial delay.
        tracker.recordStarted(atMillis: 1000)
        #expect(tracker.recordFailure(atMillis: 11_000) == 100)
        #expect(tracker.consecutiveFailures == 1)
    }

    @Test func startsInOrderAndStopsInReverse() async {
        let log = EventLog()
        let services: [any Service] = ["a", "b", "c"].map { RecordingService($0, log: log) }
        let supervisor = Supervisor(services: services, logger: MemorySinkForTests().logger)
        await supervisor.startAll()
        #expect(await supervisor.states.map(\.state) == [.running, .running, .running])
        await supervisor.stopAll()
        #expect(log.all == ["start a", "start b", "start c", "stop c", "stop b", "stop a"])
        #expect(await supervisor.states.map(\.state) == [.stopped, .stopped, .stopped])
    }

    @Test func failedStartIsRetriedWithBackoffWithoutStoppingOthers() async {
        let log = EventLog()
        let delays = EventLog()
        let services: [any Service] = [RecordingService("a", log: log, failStarts: 3), RecordingService("b", log: log)]
        let supervisor = Supervisor(services: services, policy: BackoffPolicy(initialMillis: 100, maximumMillis: 300),
                                    logger: MemorySinkForTests().logger, now: { 0 },
                                    sleep: { millis in delays.add(String(millis)); await Task.yield() })
        await supervisor.startAll()
        #expect(log.all.prefix(2) == ["fail a", "stop a"])          // a failed start is cleaned up
        #expect(await supervisor.state(of: "b") == .running)
        let recovered = await pollUntil { await supervisor.state(of: "a") == .running }
        #expect(recovered)
        #expect(log.all.filter { $0 == "fail a" }.count == 3)
        #expect(delays.all.prefix(3) == ["100", "200", "300"])
        await supervisor.stopAll()
    }

    @Test func reportedFailureRestartsTheService() async {
        let log = EventLog()
        let supervisor = Supervisor(services: [RecordingService("a", log: log)], logger: MemorySinkForTests().logger,
                                    sleep: { _ in await Task.yield() })
        await supervisor.startAll()
        await supervisor.reportFailure("a", reason: "socket closed")
        let restarted = await pollUntil { log.all.filter { $0 == "start a" }.count == 2 }
        #expect(restarted)
        #expect(log.all.prefix(3) == ["start a", "stop a", "start a"])
        await supervisor.stopAll()
    }

    @Test func stuckServiceIsAbandonedWithinBudget() async {
        let log = EventLog()
        let sink = MemorySinkForTests()
        let services: [any Service] = [RecordingService("a", log: log), RecordingService("stuck", log: log, hangOnStop: true)]
        let supervisor = Supervisor(services: services, stopBudgetMillis: 200, logger: sink.logger)
        await supervisor.startAll()
        await supervisor.stopAll()
        #expect(await supervisor.state(of: "stuck") == .abandoned)
        #expect(await supervisor.state(of: "a") == .stopped)
        #expect(log.all.suffix(2) == ["stop stuck", "stop a"])
        #expect(sink.sink.records.contains { $0.message.contains("stuck did not stop") })
    }

    func pollUntil(_ condition: @Sendable () async -> Bool) async -> Bool {
        for _ in 0..<500 {
            if await condition() { return true }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return await condition()
    }
}

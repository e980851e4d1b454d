import Synchronization

/// Lets a running service tell the supervisor it broke, without owning the supervisor: services are
/// built before the supervisor that runs them, so the runtime attaches it afterwards.
public final class FailureReporter: Sendable {
    private let supervisor = Mutex<Supervisor?>(nil)

    public init() {}

    public func attach(_ target: Supervisor) {
        supervisor.withLock { $0 = target }
    }

    /// Safe from any thread; the supervisor stops the service and restarts it with back-off.
    public func report(service: String, reason: String) {
        guard let target = supervisor.withLock({ $0 }) else { return }
        Task { await target.reportFailure(service, reason: reason) }
    }
}

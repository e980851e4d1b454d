import Synchronization

/// Holds the node's supervisor once it exists: services are built before the supervisor that runs
/// them, so those that need it (failure reports, metrics) get this box and read it later.
public final class SupervisorBox: Sendable {
    private let stored = Mutex<Supervisor?>(nil)

    public init() {}

    public var supervisor: Supervisor? {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }
}

/// Lets a running service tell the supervisor it broke.
public struct FailureReporter: Sendable {
    let box: SupervisorBox

    public init(_ box: SupervisorBox) { self.box = box }

    /// Safe from any thread; the supervisor stops the service and restarts it with back-off.
    public func report(service: String, reason: String) {
        guard let supervisor = box.supervisor else { return }
        Task { await supervisor.reportFailure(service, reason: reason) }
    }
}

import Core

/// A long-lived part of the node (control socket, console, GPIO, transport, audio, ...).
/// `start` brings it up and returns; the service then runs on its own tasks/threads. A service that
/// breaks later calls `Supervisor.reportFailure`, and the supervisor restarts it with back-off.
public protocol Service: Actor {
    nonisolated var name: String { get }
    /// Throwing means the service could not start; the supervisor retries with back-off.
    func start() async throws
    /// Releases everything `start` acquired. Must be safe to call after a failed or partial start.
    func stop() async
}

/// What the supervisor knows about one service, for `status`.
public enum ServiceState: Sendable, Equatable, CustomStringConvertible {
    case idle
    case starting
    case running
    case failed(reason: String, retryInMillis: UInt64)
    case stopping
    case stopped
    case abandoned

    public var description: String {
        switch self {
        case .idle: return "idle"
        case .starting: return "starting"
        case .running: return "running"
        case let .failed(reason, retry): return "failed (\(reason)); retry in \(retry) ms"
        case .stopping: return "stopping"
        case .stopped: return "stopped"
        case .abandoned: return "abandoned (did not stop in time)"
        }
    }
}

import Synchronization

/// Runs a read against a connection with two ways out besides success: the connection closing
/// (the responder drops it on any error, spec §1.3) and a timeout. Whichever comes first wins; the
/// timer is cancelled then, and the body is cancelled if it lost.
enum PeerDeadline {
    final class Once<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<T, any Error>?
            var tasks: [Task<Void, Never>] = []
            var done = false
        }
        private let state = Mutex(State())

        func set(_ continuation: CheckedContinuation<T, any Error>) { state.withLock { $0.continuation = continuation } }

        /// Registers a task to cancel once a result is in (cancelled at once if it already is).
        func track(_ task: Task<Void, Never>) {
            let finished = state.withLock { state -> Bool in
                if !state.done { state.tasks.append(task) }
                return state.done
            }
            if finished { task.cancel() }
        }

        func resume(_ result: Result<T, any Error>) {
            let (continuation, tasks) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [Task<Void, Never>]) in
                guard !state.done else { return (nil, []) }
                state.done = true
                defer { state.continuation = nil; state.tasks = [] }
                return (state.continuation, state.tasks)
            }
            continuation?.resume(with: result)
            for task in tasks { task.cancel() }
        }
    }

    struct TimedOut: Error, CustomStringConvertible {
        let seconds: Double
        var description: String { "no answer within \(seconds) s" }
    }

    static func run<T: Sendable>(on connection: any PeerConnection, timeoutSeconds: Double,
                                 _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let once = Once<T>()
        return try await withCheckedThrowingContinuation { continuation in
            once.set(continuation)
            once.track(Task {
                do {
                    once.resume(.success(try await body()))
                } catch {
                    once.resume(.failure(error))
                }
            })
            once.track(Task {
                do {
                    try await Task.sleep(nanoseconds: UInt64(max(0, timeoutSeconds) * 1_000_000_000))
                    once.resume(.failure(TimedOut(seconds: timeoutSeconds)))
                } catch {
                    // Cancelled: another outcome won.
                }
            })
            // Not tracked: `closed()` ignores cancellation; it returns when the connection closes,
            // which every caller does right after.
            Task { once.resume(.failure(await connection.closed())) }
        }
    }
}

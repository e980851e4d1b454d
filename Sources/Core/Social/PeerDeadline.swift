import Synchronization

/// Runs a read against a connection with two ways out besides success: the connection closing
/// (the responder drops it on any error, spec §1.3) and a timeout. Whichever comes first wins; the
/// losers are left to finish on their own (they end when the connection is closed).
enum PeerDeadline {
    final class Once<T: Sendable>: Sendable {
        private let slot = Mutex<CheckedContinuation<T, any Error>?>(nil)
        func set(_ continuation: CheckedContinuation<T, any Error>) { slot.withLock { $0 = continuation } }
        func resume(_ result: Result<T, any Error>) {
            let continuation: CheckedContinuation<T, any Error>? = slot.withLock { slot in
                defer { slot = nil }
                return slot
            }
            continuation?.resume(with: result)
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
            Task {
                do {
                    once.resume(.success(try await body()))
                } catch {
                    once.resume(.failure(error))
                }
            }
            Task { once.resume(.failure(await connection.closed())) }
            Task {
                try? await Task.sleep(nanoseconds: UInt64(timeoutSeconds * 1_000_000_000))
                once.resume(.failure(TimedOut(seconds: timeoutSeconds)))
            }
        }
    }
}

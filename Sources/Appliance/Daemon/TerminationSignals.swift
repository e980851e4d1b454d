import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM/SIGINT/SIGHUP handled without signal handlers or global state: blocked in every thread
/// (the mask is inherited), then received synchronously by one dedicated thread with `sigwait`.
enum TerminationSignals {
    static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    static func set() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in handled { sigaddset(&set, signal) }
        return set
    }

    static func blockInCallingThread() {
        var mask = set()
        pthread_sigmask(SIG_BLOCK, &mask, nil)
    }

    /// For short-lived commands: Ctrl-C should simply end them.
    static func restoreDefault() {
        var mask = set()
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
    }
}

/// A thread blocked in `sigwait` that reports each termination signal to `onSignal`. It lives for the
/// rest of the process (a blocked `sigwait` cannot be cancelled portably); the node exits soon after
/// shutdown anyway.
final class SignalWaiter: Sendable {
    private let onSignal: @Sendable (Int32) -> Void

    init(onSignal: @escaping @Sendable (Int32) -> Void) {
        self.onSignal = onSignal
    }

    func start() {
        let handler = onSignal
        let thread = Thread {
            var mask = TerminationSignals.set()
            while true {
                var received: Int32 = 0
                if sigwait(&mask, &received) == 0 { handler(received) }
            }
        }
        thread.name = "signals"
        thread.start()
    }
}

func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGTERM: return "SIGTERM"
    case SIGINT: return "SIGINT"
    case SIGHUP: return "SIGHUP"
    default: return "signal \(signal)"
    }
}

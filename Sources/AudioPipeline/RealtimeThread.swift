#if canImport(Glibc)
import Glibc
#endif

/// A pthread for audio I/O, with `SCHED_FIFO` when the process may use it (root, CAP_SYS_NICE or
/// an rtprio limit) and a normal thread otherwise. Whoever starts it logs the fallback once;
/// the thread's body itself must never allocate, lock or log.
public final class RealtimeThread: @unchecked Sendable {
    public let isRealtime: Bool
    private let thread: pthread_t

    private final class Context {
        let body: () -> Void
        init(body: @escaping () -> Void) { self.body = body }
    }

    /// Starts `body` on a new thread. `priority` is the SCHED_FIFO priority (1…99); nil starts an
    /// ordinary thread (for supervisors).
    public init(name: String, priority: Int32?, body: @escaping () -> Void) throws(AudioThreadError) {
        let context = Unmanaged.passRetained(Context(body: body)).toOpaque()
        let entry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { raw in
            let ctx = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
            ctx.body()
            return nil
        }
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setinheritsched(&attr, Int32(PTHREAD_EXPLICIT_SCHED))
        pthread_attr_setschedpolicy(&attr, SCHED_FIFO)
        var param = sched_param()
        param.sched_priority = min(max(priority ?? 1, sched_get_priority_min(SCHED_FIFO)), sched_get_priority_max(SCHED_FIFO))
        pthread_attr_setschedparam(&attr, &param)
        var handle = pthread_t()
        if priority != nil, pthread_create(&handle, &attr, entry, context) == 0 {
            isRealtime = true
        } else {
            // EPERM without the privilege: fall back to an ordinary thread.
            var plain = pthread_attr_t()
            pthread_attr_init(&plain)
            defer { pthread_attr_destroy(&plain) }
            let rc = pthread_create(&handle, &plain, entry, context)
            guard rc == 0 else {
                Unmanaged<Context>.fromOpaque(context).release()
                throw AudioThreadError(name: name, code: rc)
            }
            isRealtime = false
        }
        thread = handle
    }

    /// Waits for the body to return.
    public func join() { pthread_join(thread, nil) }
}

public struct AudioThreadError: Error, CustomStringConvertible {
    public let name: String
    public let code: Int32
    public var description: String { "cannot start audio thread '\(name)': \(String(cString: strerror(code)))" }
}

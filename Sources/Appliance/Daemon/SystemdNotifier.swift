#if canImport(Glibc)
import Glibc
#endif

/// The sd_notify protocol without libsystemd: datagrams of `KEY=VALUE` lines to $NOTIFY_SOCKET
/// (a filesystem path, or '@name' for the abstract namespace).
public struct SystemdNotifier: Sendable {
    public let socketPath: String?
    /// Half of $WATCHDOG_USEC, when the watchdog is on for this process.
    public let watchdogIntervalMillis: UInt64?

    public init(environment: [String: String], pid: Int32 = getpid()) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        var interval: UInt64?
        if path != nil, let usecText = environment["WATCHDOG_USEC"], let usec = UInt64(usecText), usec > 0 {
            // WATCHDOG_PID, when present, names the process the watchdog is meant for.
            if let pidText = environment["WATCHDOG_PID"], let watchdogPID = Int32(pidText), watchdogPID != pid {
                interval = nil
            } else {
                interval = max(usec / 2000, 1)
            }
        }
        watchdogIntervalMillis = interval
    }

    public var isActive: Bool { socketPath != nil }

    /// Sends `state` (e.g. "READY=1\nSTATUS=running"); returns false when not under systemd or on error.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard let path = socketPath else { return false }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        let abstract = pathBytes.first == UInt8(ascii: "@")
        if abstract { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in pathBytes.enumerated() { raw[i] = b }
        }
        // Abstract names are length-delimited; filesystem paths are NUL-terminated.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (abstract ? 0 : 1))
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == message.count
    }
}

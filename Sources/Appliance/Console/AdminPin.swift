import Core
#if canImport(Glibc)
import Glibc
#endif

/// The admin PIN, stored as an Argon2id hash string in `DIR/admin_pin` (mode 0600). Re-read on every
/// check, so `proscenium-node set-pin` takes effect on a running node.
struct AdminPinStore: Sendable {
    let path: String
    let limits: PasswordHash.Limits

    init(dataDirectory: String, limits: PasswordHash.Limits = .interactive) {
        path = dataDirectory + "/admin_pin"
        self.limits = limits
    }

    var isSet: Bool { storedHash != nil }

    private var storedHash: String? {
        guard let text = readTextFile(path)?.trimmingSpaces(), !text.isEmpty else { return nil }
        return text
    }

    static func validate(_ pin: String) -> String? {
        if pin.count < 4 { return "the PIN must have at least 4 characters" }
        if pin.count > 64 { return "the PIN must have at most 64 characters" }
        if pin.contains(where: { $0.isNewline || $0 == "\t" }) { return "the PIN must be on one line" }
        return nil
    }

    func set(_ pin: String) throws {
        if let problem = AdminPinStore.validate(pin) { throw CommandFailure(problem) }
        let hash = try PasswordHash.hash(pin, limits: limits)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CommandFailure("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array((hash + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CommandFailure("cannot store the PIN in \(path)")
        }
    }

    func verify(_ pin: String) -> Bool {
        guard let stored = storedHash else { return false }
        return PasswordHash.verify(pin, against: stored)
    }
}

/// Delay after wrong PINs: the first two mistakes cost nothing extra; from the third on the wait
/// doubles (5 s, 10 s, 20 s, ...) up to 5 minutes. A correct PIN resets it.
struct PinAttemptPolicy: Sendable, Equatable {
    private(set) var consecutiveFailures = 0
    let freeAttempts: Int
    let firstDelayMillis: UInt64
    let maximumDelayMillis: UInt64

    init(freeAttempts: Int = 2, firstDelayMillis: UInt64 = 5000, maximumDelayMillis: UInt64 = 300_000) {
        self.freeAttempts = freeAttempts
        self.firstDelayMillis = firstDelayMillis
        self.maximumDelayMillis = maximumDelayMillis
    }

    /// Records a wrong PIN; returns how long to wait before the next prompt.
    mutating func recordFailure() -> UInt64 {
        consecutiveFailures += 1
        let beyond = consecutiveFailures - freeAttempts
        guard beyond > 0 else { return 0 }
        let shift = min(beyond - 1, 20)
        return min(firstDelayMillis << UInt64(shift), maximumDelayMillis)
    }

    mutating func recordSuccess() { consecutiveFailures = 0 }
}

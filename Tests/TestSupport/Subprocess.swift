import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn` and reaped with `waitpid` on its own pid, in a new
/// process group, with no descriptors but 0–2 inherited and every wait bounded.
///
/// Tests do not use Foundation's `Process`: on Linux its exit monitor can miss a child's exit (seen
/// in CI: `tmux new-session -d`, whose server daemonizes, left `waitUntilExit()` blocked for good),
/// and one hung test hangs the whole CI run.
public final class Subprocess: @unchecked Sendable {
    /// Where a child's stdout or stderr goes.
    public enum Output: Sendable {
        /// A pipe this object reads (`readOutput`, `run`).
        case pipe
        case null
        /// Appended to this file (created when missing).
        case file(String)
    }

    public let pid: pid_t
    public let command: String
    /// The write end of the child's stdin when `stdinPipe` was asked for.
    public private(set) var stdinFD: Int32 = -1
    /// Read ends of the child's stdout and stderr when they are `.pipe`.
    public let stdoutFD: Int32
    public let stderrFD: Int32
    /// The raw `waitpid` status once reaped.
    private let reaped = Mutex<Int32?>(nil)

    public init(executable: String, arguments: [String], environment: [String: String]? = nil,
                stdinPipe: Bool = false, stdout: Output = .pipe, stderr: Output = .pipe) throws {
        command = ([executable] + arguments).joined(separator: " ")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentEnds: [Int32] = [], childEnds: [Int32] = []
        defer { for fd in childEnds { close(fd) } }
        func pipePair() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return (fds[0], fds[1])
        }
        func route(_ output: Output, to target: Int32) throws -> Int32 {
            switch output {
            case .pipe:
                let p = try pipePair()
                parentEnds.append(p.read); childEnds.append(p.write)
                posix_spawn_file_actions_adddup2(&actions, p.write, target)
                return p.read
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
                return -1
            case let .file(path):
                posix_spawn_file_actions_addopen(&actions, target, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
                return -1
            }
        }
        do {
            if stdinPipe {
                let p = try pipePair()
                parentEnds.append(p.write); childEnds.append(p.read)
                posix_spawn_file_actions_adddup2(&actions, p.read, 0)
                stdinFD = p.write
            } else {
                posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            }
            stdoutFD = try route(stdout, to: 1)
            stderrFD = try route(stderr, to: 2)
        } catch {
            for fd in parentEnds { close(fd) }
            throw error
        }
        // Nothing else the test process holds open (sockets, other children's pipes) leaks into
        // the child: a daemon that kept another child's pipe would hold back that pipe's EOF.
        // (closefrom is not in Swift's Glibc module: close what /proc lists; a descriptor closed
        // meanwhile by another thread is skipped by posix_spawn.)
        for fd in Self.openDescriptors() where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { for p in argv + envp { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else {
            for fd in parentEnds { close(fd) }
            throw SubprocessError.spawnFailed(command: command, reason: String(cString: strerror(rc)))
        }
        pid = child
    }

    static func openDescriptors() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
    }

    deinit {
        for fd in [stdinFD, stdoutFD, stderrFD] where fd >= 0 { close(fd) }
        if isRunning { kill() }
    }

    /// Handles on the child's pipes for reader/writer threads (each a duplicate descriptor the
    /// handle owns, so it stays valid however long the thread runs).
    public func stdinHandle() -> FileHandle { FileHandle(fileDescriptor: dup(stdinFD), closeOnDealloc: true) }
    public func stdoutHandle() -> FileHandle { FileHandle(fileDescriptor: dup(stdoutFD), closeOnDealloc: true) }
    public func stderrHandle() -> FileHandle { FileHandle(fileDescriptor: dup(stderrFD), closeOnDealloc: true) }

    /// Closes our end of the child's stdin (it reads end-of-file once every duplicate is closed too).
    public func closeStdin() {
        if stdinFD >= 0 { close(stdinFD) }
        stdinFD = -1
    }

    // MARK: - Exit

    /// Reaps the child if it has exited; never blocks.
    public var isRunning: Bool {
        reaped.withLock { status in
            guard status == nil else { return false }
            var raw: Int32 = 0
            let r = waitpid(pid, &raw, WNOHANG)
            if r == pid { status = raw; return false }
            if r < 0 && errno == ECHILD { status = 0; return false }
            return true
        }
    }

    /// The exit code, or nil while running or when a signal ended it.
    public var exitCode: Int32? {
        guard !isRunning, let raw = reaped.withLock({ $0 }), raw & 0x7F == 0 else { return nil }
        return (raw >> 8) & 0xFF
    }

    /// The signal that ended the child, if one did.
    public var terminatingSignal: Int32? {
        guard !isRunning, let raw = reaped.withLock({ $0 }), raw & 0x7F != 0 else { return nil }
        return raw & 0x7F
    }

    /// Exit code, or 128 + signal (as a shell reports it); nil while running.
    public var status: Int32? { exitCode ?? terminatingSignal.map { 128 + $0 } }

    /// Waits up to `seconds` for the child to exit; true when it has.
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning {
            if Date() >= deadline { return false }
            usleep(2_000)
        }
        return true
    }

    /// Sends `sig` to the child's whole process group (what it started too).
    public func signal(_ sig: Int32) {
        guard isRunning else { return }
        _ = Glibc.kill(-pid, sig)
        _ = Glibc.kill(pid, sig)
    }

    /// SIGTERM, then SIGKILL after `graceSeconds`; returns once the child is reaped.
    public func terminate(graceSeconds: Double = 5) {
        signal(SIGTERM)
        if !wait(seconds: graceSeconds) { kill() }
    }

    /// SIGKILL to the process group; returns once the child is reaped.
    public func kill() {
        signal(SIGKILL)
        wait(seconds: 30)
    }

    // MARK: - Run to completion

    /// Runs a command to its end, feeding `input` to its stdin and collecting both outputs.
    /// Past `timeoutSeconds` the child's process group is killed and `SubprocessError.timedOut`
    /// thrown with what it printed so far.
    public static func run(_ executable: String, _ arguments: [String], input: [UInt8]? = nil,
                           environment: [String: String]? = nil, timeoutSeconds: Double = 120) throws -> CommandOutput {
        let raw = try runBytes(executable, arguments, input: input, environment: environment, timeoutSeconds: timeoutSeconds)
        return CommandOutput(status: raw.status, stdout: String(decoding: raw.stdout, as: UTF8.self),
                             stderr: String(decoding: raw.stderr, as: UTF8.self))
    }

    /// `run`, with stdout and stderr as bytes.
    public static func runBytes(_ executable: String, _ arguments: [String], input: [UInt8]? = nil,
                                environment: [String: String]? = nil,
                                timeoutSeconds: Double = 120) throws -> (status: Int32, stdout: [UInt8], stderr: [UInt8]) {
        let child = try Subprocess(executable: executable, arguments: arguments, environment: environment, stdinPipe: input != nil)
        let (out, err, finished) = child.collect(input: input ?? [], until: Date().addingTimeInterval(timeoutSeconds))
        guard finished, let status = child.status else {
            child.kill()
            throw SubprocessError.timedOut(command: child.command, seconds: timeoutSeconds,
                                           stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
        }
        return (status, out, err)
    }

    /// Writes `input` (then closes stdin) and reads stdout/stderr until the child has exited and
    /// its pipes are drained, or `deadline`. A daemon the child left behind holding a pipe does not
    /// hold this up: after the exit, pipes get half a second more.
    func collect(input: [UInt8], until deadline: Date) -> (stdout: [UInt8], stderr: [UInt8], finished: Bool) {
        var out: [UInt8] = [], err: [UInt8] = []
        var written = 0
        var open: [Int32: Bool] = [:]
        for fd in [stdoutFD, stderrFD] where fd >= 0 { open[fd] = true }
        if stdinFD >= 0 {
            _ = fcntl(stdinFD, F_SETFL, fcntl(stdinFD, F_GETFL) | O_NONBLOCK)
            if input.isEmpty { close(stdinFD); stdinFD = -1 }
        }
        var exitedAt: Date?
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while Date() < deadline {
            if exitedAt == nil, !isRunning { exitedAt = Date() }
            if let exitedAt, open.values.allSatisfy({ !$0 }) || Date().timeIntervalSince(exitedAt) > 0.5 {
                return (out, err, true)
            }
            var fds = open.filter(\.value).keys.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if stdinFD >= 0 { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            guard !fds.isEmpty else { usleep(2_000); continue }
            _ = poll(&fds, nfds_t(fds.count), 50)
            for p in fds where p.revents != 0 {
                if p.fd == stdinFD {
                    let n = input[written...].withUnsafeBytes { write(stdinFD, $0.baseAddress, $0.count) }
                    if n > 0 { written += n }
                    if n < 0 && errno != EAGAIN || written == input.count { close(stdinFD); stdinFD = -1 }
                    continue
                }
                let n = read(p.fd, &buffer, buffer.count)
                if n > 0 {
                    if p.fd == stdoutFD { out += buffer[0..<n] } else { err += buffer[0..<n] }
                } else if n == 0 || errno != EINTR && errno != EAGAIN {
                    open[p.fd] = false
                }
            }
        }
        return (out, err, false)
    }
}

public enum SubprocessError: Error, CustomStringConvertible {
    case spawnFailed(command: String, reason: String)
    case timedOut(command: String, seconds: Double, stdout: String, stderr: String)

    public var description: String {
        switch self {
        case let .spawnFailed(command, reason): return "cannot start `\(command)`: \(reason)"
        case let .timedOut(command, seconds, stdout, stderr):
            return "`\(command)` still running after \(Int(seconds)) s; killed. stdout: \(stdout.suffix(2_000)) stderr: \(stderr.suffix(2_000))"
        }
    }
}

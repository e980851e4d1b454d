import Core
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The control socket `DIR/control.sock` (mode 0600): one JSON request per line, one JSON answer per
/// line (see `ControlClient`). Accepting and each connection run on their own threads, so a slow or
/// stuck client never blocks the node; commands run as async tasks.
public actor ControlServer: Service {
    public nonisolated let name = "control"
    private let path: String
    private let registry: CommandRegistry
    private let logger: Logger
    private var listener: Int32 = -1
    private var wakePipe: (read: Int32, write: Int32) = (-1, -1)
    private let connections = ConnectionSet()
    private var acceptThread: Thread?

    public init(path: String, registry: CommandRegistry, logger: Logger) {
        self.path = path
        self.registry = registry
        self.logger = logger
    }

    public func start() throws {
        if let probe = try? UnixSocket.connect(path: path) {
            close(probe)
            throw AdminCommandError("another node is already answering on \(path)")
        }
        unlink(path)
        var address = try UnixSocket.address(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw AdminCommandError("socket(): \(String(cString: strerror(errno)))") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw AdminCommandError("cannot bind \(path): \(reason)")
        }
        // The data directory is 0700 already; 0600 on the socket keeps it owner-only even if moved.
        chmod(path, 0o600)
        guard listen(fd, 16) == 0 else {
            close(fd)
            throw AdminCommandError("listen on \(path): \(String(cString: strerror(errno)))")
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            close(fd)
            throw AdminCommandError("pipe2: \(String(cString: strerror(errno)))")
        }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        listener = fd
        wakePipe = (fds[0], fds[1])
        let wakeRead = fds[0]
        let registry = self.registry, logger = self.logger, connections = self.connections
        let thread = Thread {
            ControlServer.acceptLoop(listener: fd, wake: wakeRead, registry: registry, logger: logger, connections: connections)
        }
        thread.name = "control-accept"
        thread.start()
        acceptThread = thread
        logger.info("control socket at \(path)")
    }

    public func stop() async {
        if wakePipe.write >= 0 {
            var byte: UInt8 = 1
            _ = write(wakePipe.write, &byte, 1)
        }
        // Wake connection threads blocked in read(), then give answers in flight up to a second.
        connections.shutdownReads()
        for _ in 0..<100 where connections.requestsInFlight > 0 {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        if listener >= 0 {
            unlink(path)
        }
        // The accept thread closes the listener and the pipe's read end when it leaves.
        if wakePipe.write >= 0 { close(wakePipe.write) }
        listener = -1
        wakePipe = (-1, -1)
        acceptThread = nil
    }

    private static func acceptLoop(listener: Int32, wake: Int32, registry: CommandRegistry, logger: Logger,
                                   connections: ConnectionSet) {
        defer {
            close(listener)
            close(wake)
        }
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            let ready = poll(&fds, 2, -1)
            if ready < 0 { if errno == EINTR { continue }; return }
            if fds[1].revents != 0 { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            let client = accept(listener, nil, nil)
            if client < 0 { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            connections.insert(client)
            let thread = Thread {
                serve(client, registry: registry, logger: logger, connections: connections)
                connections.remove(client)
                close(client)
            }
            thread.name = "control-conn"
            thread.start()
        }
    }

    private static func serve(_ fd: Int32, registry: CommandRegistry, logger: Logger, connections: ConnectionSet) {
        var reader = LineReader(fd: fd)
        while let line = reader.nextLine() {
            if line.trimmingSpaces().isEmpty { continue }
            connections.beginRequest()
            let response = ControlServer.respond(to: line, registry: registry)
            let written = UnixSocket.writeAll(fd, Array((response.line + "\n").utf8))
            connections.endRequest()
            guard written else { return }
        }
    }

    /// Parses one request line, runs it, returns the answer. Blocks the calling (non-pool) thread.
    static func respond(to line: String, registry: CommandRegistry) -> ControlResponse {
        guard let request = JSONText.decodeObject(line), let command = request["command"] as? String else {
            return ControlResponse(ok: false, text: "", data: [String: Any](), error: "request must be a JSON object with a \"command\" string")
        }
        let arguments = (request["args"] as? [Any])?.map { "\($0)" } ?? []
        let result = BlockingAsync.run { await registry.execute(command, arguments: arguments) }
        switch result {
        case .success(let output):
            return ControlResponse(ok: true, text: output.text, data: output.json.foundationObject, error: nil)
        case .failure(let error):
            return ControlResponse(ok: false, text: "", data: [String: Any](), error: error.description)
        }
    }
}

/// Open connection sockets, so `stop` can wake their threads, and how many requests are in flight,
/// so `stop` lets an answer (such as the one to `shutdown`) reach its client first.
final class ConnectionSet: Sendable {
    private let fds = Mutex<Set<Int32>>([])
    private let busy = Atomic<Int>(0)
    func insert(_ fd: Int32) { _ = fds.withLock { $0.insert(fd) } }
    func remove(_ fd: Int32) { _ = fds.withLock { $0.remove(fd) } }
    func beginRequest() { busy.add(1, ordering: .sequentiallyConsistent) }
    func endRequest() { busy.subtract(1, ordering: .sequentiallyConsistent) }
    var requestsInFlight: Int { busy.load(ordering: .sequentiallyConsistent) }
    /// Ends reading on every connection (blocked reads return EOF); answers can still be written.
    func shutdownReads() { fds.withLock { set in for fd in set { shutdown(fd, Int32(SHUT_RD)) } } }
}

/// Runs async work from a plain thread and waits for it. Only for the node's own I/O threads
/// (never from a Swift concurrency pool thread, where blocking could starve the pool).
enum BlockingAsync {
    static func run<T: Sendable>(_ operation: @escaping @Sendable () async -> T) -> T {
        let box = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await operation()
            box.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return box.withLock { $0! }
    }
}

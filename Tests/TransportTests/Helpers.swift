import Core
import Foundation
import TestSupport
import Testing
import Synchronization
@testable import Transport

struct TimeoutError: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out: \(what)" }
}

/// Runs `body`, failing with TimeoutError after `limit`. The body keeps running detached if it
/// ignores cancellation, but the caller is released on time.
func withTimeout<T: Sendable>(_ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let once = ResumeOnce<T>()
    return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
        once.set(cont)
        let worker = Task {
            do { once.resume(.success(try await body())) } catch { once.resume(.failure(error)) }
        }
        Task {
            try? await Task.sleep(for: limit)
            once.resume(.failure(TimeoutError(what: what)))
            worker.cancel()
        }
    }
}

final class ResumeOnce<T: Sendable>: Sendable {
    private let state = Mutex<CheckedContinuation<T, Error>?>(nil)
    func set(_ cont: CheckedContinuation<T, Error>) { state.withLock { $0 = cont } }
    func resume(_ result: Result<T, Error>) {
        let cont = state.withLock { c -> CheckedContinuation<T, Error>? in defer { c = nil }; return c }
        cont?.resume(with: result)
    }
}

/// Progress lines on stderr (unbuffered), for diagnosing slow tests.
func trace(_ text: String) {
    FileHandle.standardError.write(Data("[test] \(text)\n".utf8))
}

/// Deterministic test bytes, identical to the Python peers' `pattern(n, seed)`.
func pattern(_ count: Int, seed: String) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(count + 32)
    var i = 0
    while out.count < count {
        out += SHA256.hash("\(seed):\(i)")
        i += 1
    }
    return Array(out.prefix(count))
}

/// Echo server for every stream kind and datagrams, like the Python peers'.
struct EchoHandler: ProtocolHandler {
    func accept(_ peer: any PeerConnection) async {
        guard let connection = (peer as? QUICPeerConnection)?.connection else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while let stream = try? await connection.acceptBidirectionalStream() {
                    Task {
                        guard let data = try? await stream.receive.readToEnd(limit: 64 << 20) else { return }
                        try? await stream.send.write(data)
                        try? await stream.send.finish()
                    }
                }
            }
            group.addTask {
                while let stream = try? await connection.acceptUnidirectionalStream() {
                    Task {
                        guard let data = try? await stream.readToEnd(limit: 64 << 20),
                              let back = try? await connection.openUnidirectionalStream() else { return }
                        try? await back.write(data)
                        try? await back.finish()
                    }
                }
            }
            group.addTask {
                while let datagram = try? await connection.receiveDatagram() {
                    try? await connection.sendDatagram(datagram)
                }
            }
        }
    }
}

/// Bidi round trip: send `data`, FIN, read the echo.
func bidiEcho(_ connection: Connection, _ data: [UInt8]) async throws -> [UInt8] {
    let stream = try await connection.openBidirectionalStream()
    try await stream.send.write(data)
    try await stream.send.finish()
    return try await stream.receive.readToEnd(limit: 64 << 20)
}

/// Uni round trip: the echo comes back on a stream the peer opens.
func uniEcho(_ connection: Connection, _ data: [UInt8]) async throws -> [UInt8] {
    let stream = try await connection.openUnidirectionalStream()
    try await stream.write(data)
    try await stream.finish()
    let back = try await connection.acceptUnidirectionalStream()
    return try await back.readToEnd(limit: 64 << 20)
}

/// Datagram round trip, retried because datagrams may be dropped.
func datagramEcho(_ connection: Connection, _ data: [UInt8]) async throws -> [UInt8] {
    for _ in 0..<5 {
        try await connection.sendDatagram(data)
        if let echo = try? await withTimeout(.seconds(2), "datagram echo", { try await connection.receiveDatagram() }) {
            return echo
        }
    }
    throw TimeoutError(what: "no datagram echo after 5 tries")
}

/// Large bidi echo with concurrent send and receive; returns SHA-256 of what came back.
func bulkEcho(_ connection: Connection, _ data: [UInt8]) async throws -> (hash: [UInt8], count: Int) {
    let stream = try await connection.openBidirectionalStream()
    let sender = Task {
        var offset = 0
        while offset < data.count {
            let end = min(offset + 256 * 1024, data.count)
            try await stream.send.write(Array(data[offset..<end]))
            offset = end
        }
        try await stream.send.finish()
    }
    var hasher = SHA256()
    var count = 0
    while let chunk = try await stream.receive.read(max: 1 << 20) {
        hasher.update(chunk)
        count += chunk.count
    }
    try await sender.value
    return (hasher.finalize(), count)
}

func requireNamespace() throws {
    try NetworkIsolation.assertLoopbackOnly()
}

extension Tag {
    /// Tests that wait out real QUIC timers (idle timeout, keep-alive): ~40 s each.
    @Tag static var slow: Self
}

/// A plain IPv4 UDP socket for throwing raw datagrams at an endpoint.
final class UDPProbe {
    let fd: Int32

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TimeoutError(what: "socket() failed") }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8], to address: SocketAddress) throws {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = address.port.bigEndian
        withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: address.ip) }
        let rc = bytes.withUnsafeBytes { buf in
            withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buf.baseAddress, buf.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        if rc < 0 { throw TimeoutError(what: "sendto failed: errno \(errno)") }
    }

    func receive(timeoutMS: Int32) throws -> [UInt8]? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, timeoutMS) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n < 0 ? nil : Array(buffer.prefix(n))
    }
}

import Core
import Foundation
import TestSupport
import Testing
import Synchronization
@testable import Transport

/// Two of our endpoints talking to each other.
@Suite("Our endpoint against our endpoint", .serialized)
struct OursToOursTests {
    func pair() throws -> (server: Endpoint, client: Endpoint, addr: EndpointAddr) {
        try requireNamespace()
        let server = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: EchoHandler()))
        let client = try makeEndpoint()
        return (server, client, server.addr)
    }

    @Test("bidi, uni and datagram echo; close code reaches the peer")
    func echoes() async throws {
        let (server, client, addr) = try pair()
        let connection = try await client.connect(to: addr, alpn: testALPN)
        #expect(connection.remoteID == server.id)
        #expect(try await bidiEcho(connection, Array("ours".utf8)) == Array("ours".utf8))
        #expect(try await uniEcho(connection, Array("uni".utf8)) == Array("uni".utf8))
        #expect(try await datagramEcho(connection, [1, 2, 3]) == [1, 2, 3])
        let max = try await connection.maxDatagramSize()
        await #expect(throws: TransportError.datagramTooLarge(size: max + 1, max: max)) {
            try await connection.sendDatagram([UInt8](repeating: 0, count: max + 1))
        }
        await connection.close(code: 42, reason: "bye")
        #expect(await connection.closeReason() == .closedLocally(code: 42, reason: "bye"))
        await #expect(throws: TransportError.connectionClosed(.closedLocally(code: 42, reason: "bye"))) {
            _ = try await connection.openBidirectionalStream()
        }
        await client.close()
        await server.close()
    }

    @Test("the server sees the client's id and the peer's close reason")
    func serverSide() async throws {
        try requireNamespace()
        let accepted = AsyncStreamBox<Connection>()
        let server = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: CaptureHandler(box: accepted)))
        let client = try makeEndpoint()
        let connection = try await client.connect(to: server.addr, alpn: testALPN)
        let serverSide = try #require(await accepted.next())
        #expect(serverSide.remoteID == client.id)
        #expect(serverSide.alpn == testALPN)
        await connection.close(code: 9, reason: "done here")
        let reason = try await withTimeout(.seconds(10), "peer close") { await serverSide.closed() }
        #expect(reason == .closedByPeer(code: 9, reason: "done here"))
        await client.close()
        await server.close()
    }

    @Test("100 concurrent streams, 16 MiB transfer, 50 sequential connections")
    func load() async throws {
        let (server, client, addr) = try pair()
        let connection = try await client.connect(to: addr, alpn: testALPN)
        let matched = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<100 {
                group.addTask {
                    let payload = pattern(500 + i, seed: "c\(i)")
                    return try await bidiEcho(connection, payload) == payload
                }
            }
            var n = 0
            for try await ok in group where ok { n += 1 }
            return n
        }
        #expect(matched == 100)
        let data = pattern(16 << 20, seed: "ours-bulk")
        let start = ContinuousClock.now
        let result = try await bulkEcho(connection, data)
        print("ours<->ours 16 MiB echo in \(ContinuousClock.now - start)")
        #expect(result.count == data.count)
        #expect(result.hash == SHA256.hash(data))
        await connection.close()
        for i in 0..<50 {
            let c = try await client.connect(to: addr, alpn: testALPN)
            #expect(try await bidiEcho(c, [UInt8(i)]) == [UInt8(i)])
            await c.close()
        }
        #expect(try await client.connectionCount() == 0)
        await client.close()
        await server.close()
    }

    @Test("200 concurrent connections to one server")
    func manyConnections() async throws {
        let (server, _, addr) = try pair()
        let clients = try (0..<4).map { _ in try makeEndpoint() }
        let connections = try await withThrowingTaskGroup(of: Connection.self) { group in
            for i in 0..<200 {
                let client = clients[i % clients.count]
                group.addTask {
                    let c = try await client.connect(to: addr, alpn: testALPN, timeout: .seconds(30))
                    let payload = Array("conn-\(i)".utf8)
                    guard try await bidiEcho(c, payload) == payload else { throw TimeoutError(what: "echo mismatch on \(i)") }
                    return c
                }
            }
            var all: [Connection] = []
            for try await c in group { all.append(c) }
            return all
        }
        #expect(connections.count == 200)
        #expect(try await server.connectionCount() == 200)
        for c in connections { await c.close() }
        for client in clients { await client.close() }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await server.connectionCount() == 0)
        await server.close()
    }

    @Test("write suspends until the reader consumes: flow control is end-to-end")
    func backpressure() async throws {
        try requireNamespace()
        let accepted = AsyncStreamBox<Connection>()
        let server = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: CaptureHandler(box: accepted))) {
            $0.streamReceiveWindow = 64 * 1024
            $0.maxStreamReceiveWindow = 64 * 1024
        }
        let client = try makeEndpoint { $0.streamSendBuffer = 64 * 1024 }
        let connection = try await client.connect(to: server.addr, alpn: testALPN)
        let stream = try await connection.openBidirectionalStream()
        let written = Counter()
        let writer = Task {
            for _ in 0..<64 {
                try await stream.send.write([UInt8](repeating: 7, count: 16 * 1024))
                written.add(16 * 1024)
            }
            try await stream.send.finish()
        }
        let serverConnection = try #require(await accepted.next())
        let incoming = try await serverConnection.acceptBidirectionalStream()
        try await Task.sleep(for: .milliseconds(500))
        // Receive window (64 KiB) + our send buffer (64 KiB) + one 16 KiB write in flight at most.
        #expect(written.value <= 160 * 1024, "writer got \(written.value) bytes ahead of a reader that is not reading")
        let all = try await incoming.receive.readToEnd(limit: 2 << 20)
        #expect(all.count == 1 << 20)
        try await writer.value
        await client.close()
        await server.close()
    }

    @Test("connecting with the wrong id or ALPN fails; unknown ALPN refused by our server")
    func refusals() async throws {
        let (server, client, addr) = try pair()
        let impostor = EndpointAddr(id: Ed25519.SecretKey.generate().publicKey, ipAddresses: addr.ipAddresses)
        do {
            _ = try await client.connect(to: impostor, alpn: testALPN)
            Issue.record("connected with the wrong id")
        } catch let error as TransportError {
            guard case .connectionClosed(.localError(let code, _)) = error else { Issue.record("got \(error)"); return }
            #expect(code == 0x100 + 42)
        }
        do {
            _ = try await client.connect(to: addr, alpn: "nope/1")
            Issue.record("connected with an unknown ALPN")
        } catch let error as TransportError {
            guard case .connectionClosed(.transportError(let code, _)) = error else { Issue.record("got \(error)"); return }
            #expect(code == 0x100 + 120)
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await server.connectionCount() == 0)
        #expect(try await client.connectionCount() == 0)
        await client.close()
        await server.close()
    }

    @Test("default dual-stack socket: reachable over IPv4 and IPv6")
    func dualStack() async throws {
        try requireNamespace()
        let server = try Endpoint(secretKey: .generate(), router: Router().adding(alpn: testALPN, handler: EchoHandler()))
        let client = try Endpoint(secretKey: .generate())
        let v4 = try SocketAddress("127.0.0.1:\(server.localAddress.port)")
        let v6 = try SocketAddress("[::1]:\(server.localAddress.port)")
        #expect(server.addr.ipAddresses.contains(v4))
        #expect(server.addr.ipAddresses.contains(v6))
        for address in [v4, v6] {
            let connection = try await client.connect(to: address, id: server.id, alpn: testALPN)
            #expect(connection.remoteAddress == address)
            #expect(try await bidiEcho(connection, Array(address.description.utf8)) == Array(address.description.utf8))
            await connection.close()
        }
        await client.close()
        await server.close()
    }

    @Test("cancelling a task ends its pending accept, read, datagram wait and connect")
    func cancellation() async throws {
        let (server, client, addr) = try pair()
        let connection = try await client.connect(to: addr, alpn: testALPN)
        let stream = try await connection.openBidirectionalStream()
        try await stream.send.write([1])
        let waits: [Task<Void, Error>] = [
            Task { _ = try await connection.acceptBidirectionalStream() },
            Task { _ = try await connection.acceptUnidirectionalStream() },
            Task { _ = try await connection.receiveDatagram() },
            Task { _ = try await stream.receive.read() }
        ]
        try await Task.sleep(for: .milliseconds(200))
        for task in waits { task.cancel() }
        for task in waits {
            await #expect(throws: CancellationError.self) { try await withTimeout(.seconds(5), "cancelled wait") { try await task.value } }
        }
        // The connection and the stream still work afterwards.
        try await stream.send.finish()
        #expect(try await stream.receive.readToEnd(limit: 10) == [1])

        let dead = try SocketAddress("127.0.0.1:9")
        let connect = Task { try await client.connect(to: dead, id: server.id, alpn: testALPN, timeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(200))
        connect.cancel()
        await #expect(throws: CancellationError.self) { try await withTimeout(.seconds(5), "cancelled connect") { try await connect.value } }
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await client.connectionCount() == 1)
        await client.close()
        await server.close()
    }

    @Test("dropping our receive half keeps our send half; the peer's STOP_SENDING fails our writes")
    func halfClosedStreams() async throws {
        try requireNamespace()
        let accepted = AsyncStreamBox<Connection>()
        let server = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: CaptureHandler(box: accepted)))
        let client = try makeEndpoint()
        let connection = try await client.connect(to: server.addr, alpn: testALPN)
        let serverConnection: Connection
        // 1. Only the send half is kept (as a Stage speaker does): stopping our own reading must not
        //    stop our writing (ngtcp2's stream_stop_sending callback is about the local side).
        do {
            let stream = try await connection.openBidirectionalStream()
            let send = stream.send
            await stream.receive.stopSending(code: 0)
            try await send.write([1, 2])
            serverConnection = try #require(await accepted.next())
            let incoming = try await serverConnection.acceptBidirectionalStream()
            try await Task.sleep(for: .milliseconds(100))
            for chunk in 0..<20 { try await send.write([UInt8(chunk)]) }
            try await send.finish()
            let all = try await incoming.receive.readToEnd(limit: 100)
            #expect(all.count == 22)
        }
        // 2. The server stops reading: the client's writes fail soon after.
        let stream = try await connection.openBidirectionalStream()
        try await stream.send.write([9])
        let incoming = try await serverConnection.acceptBidirectionalStream()
        await incoming.receive.stopSending(code: 7)
        var failure: (any Error)?
        for _ in 0..<200 where failure == nil {
            do { try await stream.send.write([UInt8](repeating: 1, count: 1_000)) } catch { failure = error }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(failure != nil, "writes after the peer's STOP_SENDING kept succeeding")
        await client.close()
        await server.close()
    }

    @Test("enqueue: bytes go out in order without waiting; a full buffer says .full, a finished stream .closed")
    func enqueueWithoutWaiting() async throws {
        try requireNamespace()
        let accepted = AsyncStreamBox<Connection>()
        let server = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: CaptureHandler(box: accepted)))
        let client = try makeEndpoint { $0.streamSendBuffer = 64 * 1024 }
        let connection = try await client.connect(to: server.addr, alpn: testALPN)
        let stream = try await connection.openBidirectionalStream()
        var expected: [UInt8] = []
        for index in 0..<100 {
            let chunk = [UInt8](repeating: UInt8(index), count: 171)
            #expect(stream.send.enqueue(chunk) == .queued)
            expected += chunk
        }
        // More than the whole send buffer at once is refused, not split or blocked on.
        #expect(stream.send.enqueue([UInt8](repeating: 0, count: 65 * 1024)) == .full)
        try await stream.send.finish()
        let serverConnection = try #require(await accepted.next())
        let incoming = try await serverConnection.acceptBidirectionalStream()
        #expect(try await incoming.receive.readToEnd(limit: 1 << 20) == expected)
        #expect(stream.send.enqueue([1]) == .closed)
        await client.close()
        await server.close()
    }

    @Test("connection cap: Initials beyond maxConnections are dropped")
    func connectionCap() async throws {
        try requireNamespace()
        let server = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: EchoHandler())) { $0.maxConnections = 3 }
        let client = try makeEndpoint()
        var open: [Connection] = []
        for _ in 0..<3 { open.append(try await client.connect(to: server.addr, alpn: testALPN)) }
        await #expect(throws: TransportError.connectionClosed(.handshakeTimeout)) {
            _ = try await client.connect(to: server.addr, alpn: testALPN, timeout: .milliseconds(800))
        }
        await open[0].close()
        try await Task.sleep(for: .milliseconds(200))
        let again = try await client.connect(to: server.addr, alpn: testALPN)
        #expect(try await bidiEcho(again, [5]) == [5])
        #expect(open.count == 3)
        await client.close()
        await server.close()
    }

    @Test("stream cap: opening beyond the peer's limit waits until a stream ends")
    func streamCap() async throws {
        try requireNamespace()
        let accepted = AsyncStreamBox<Connection>()
        let server = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: CaptureHandler(box: accepted))) { $0.maxConcurrentStreams = 2 }
        let client = try makeEndpoint()
        let connection = try await client.connect(to: server.addr, alpn: testALPN)
        let first = try await connection.openBidirectionalStream()
        let second = try await connection.openBidirectionalStream()
        try await first.send.write([1])
        try await second.send.write([2])
        let third = Task { try await connection.openBidirectionalStream() }
        try await Task.sleep(for: .milliseconds(500))
        let serverConnection = try #require(await accepted.next())
        let incoming = try await serverConnection.acceptBidirectionalStream()
        // The third open must still be waiting: the server allows two concurrent streams.
        #expect(try await serverConnection.core.endpoint.submitAndWait { serverConnection.core.streams.count } == 2)
        try await first.send.finish()
        #expect(try await incoming.receive.readToEnd(limit: 10) == [1])
        try await incoming.send.finish()
        _ = try await first.receive.readToEnd(limit: 10)
        let opened = try await withTimeout(.seconds(5), "third stream") { try await third.value }
        try await opened.send.write([3])
        try await opened.send.finish()
        await client.close()
        await server.close()
    }

    @Test("garbage, unknown versions and unknown connection ids are answered or ignored, never fatal")
    func malformedPackets() async throws {
        let (server, client, addr) = try pair()
        let probe = try UDPProbe()
        let target = addr.ipAddresses[0]
        // Random junk of many sizes, including long headers with random versions.
        var rng = SystemRandomNumberGenerator()
        for size in [0, 1, 5, 20, 40, 41, 100, 1199, 1200, 1500, 3000] {
            for _ in 0..<20 {
                var junk = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if size > 0 && Bool.random() { junk[0] |= 0x80 }
                try probe.send(junk, to: target)
            }
        }
        // Unknown version, long header: expect Version Negotiation (version field 0).
        var vn: [UInt8] = [0xc0, 0x0a, 0x0a, 0x0a, 0x0a, 8] + [UInt8](repeating: 1, count: 8) + [8] + [UInt8](repeating: 2, count: 8)
        vn += [UInt8](repeating: 0, count: 1200 - vn.count)
        try probe.send(vn, to: target)
        // Short header to an unknown connection id: expect a smaller stateless reset.
        let short: [UInt8] = [0x40] + [UInt8](repeating: 9, count: 16) + [UInt8](repeating: 0x55, count: 100)
        try probe.send(short, to: target)
        var sawVN = false, sawReset = false
        for _ in 0..<50 {
            guard let reply = try probe.receive(timeoutMS: 100) else { continue }
            if reply.count > 5, reply[0] & 0x80 != 0, reply[1...4] == [0, 0, 0, 0] { sawVN = true }
            if reply.count < short.count, reply.count >= 21, reply[0] & 0xc0 == 0x40 { sawReset = true }
            if sawVN && sawReset { break }
        }
        #expect(sawVN)
        #expect(sawReset)
        let connection = try await client.connect(to: addr, alpn: testALPN)
        #expect(try await bidiEcho(connection, [42]) == [42])
        await client.close()
        await server.close()
    }
}

final class Counter: Sendable {
    private let storage = Mutex(0)
    func add(_ n: Int) { storage.withLock { $0 += n } }
    var value: Int { storage.withLock { $0 } }
}

/// A one-element-at-a-time mailbox for handing server-side connections to a test.
final class AsyncStreamBox<T: Sendable>: Sendable {
    private let stream: AsyncStream<T>
    private let continuation: AsyncStream<T>.Continuation
    init() { (stream, continuation) = AsyncStream.makeStream(of: T.self) }
    func yield(_ value: T) { continuation.yield(value) }
    func next() async -> T? {
        var iterator = stream.makeAsyncIterator()
        return await iterator.next()
    }
}

/// Hands each accepted connection's native QUIC `Connection` to the test.
struct CaptureHandler: ProtocolHandler {
    let box: AsyncStreamBox<Connection>
    func accept(_ peer: any PeerConnection) async {
        if let connection = (peer as? QUICPeerConnection)?.connection { box.yield(connection) }
    }
}

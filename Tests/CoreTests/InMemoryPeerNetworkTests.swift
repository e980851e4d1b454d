import Testing
import Core
import TestSupport

/// Echoes each bidi stream back and records datagrams.
struct EchoHandler: ProtocolHandler {
    func accept(_ connection: any PeerConnection) async {
        while let (send, receive) = try? await connection.acceptBidirectionalStream() {
            let data = (try? await receive.readToEnd(limit: 1 << 20)) ?? []
            try? await send.write(data)
            try? await send.finish()
        }
    }
}

@Suite("In-memory peer network")
struct InMemoryPeerNetworkTests {
    @Test func bidiEchoAndCloseAndUnreachable() async throws {
        let network = InMemoryPeerNetwork()
        let a = Ed25519.SecretKey.generate().publicKey, b = Ed25519.SecretKey.generate().publicKey
        network.serve(b, alpn: "echo/1", handler: EchoHandler())
        let connection = try await network.dialer(for: a).connect(to: PeerAddress(id: b), alpn: "echo/1", timeoutSeconds: 1)
        #expect(connection.remoteID == b)
        let (send, receive) = try await connection.openBidirectionalStream()
        try await send.write([1, 2, 3])
        try await send.write([4])
        try await send.finish()
        #expect(try await receive.readToEnd(limit: 100) == [1, 2, 3, 4])
        connection.close(code: 0, reason: "done")
        #expect(await connection.closed() == .connectionClosed(code: 0, reason: "done"))
        await #expect(throws: PeerNetworkError.self) {
            _ = try await network.dialer(for: a).connect(to: PeerAddress(id: b), alpn: "other/1", timeoutSeconds: 1)
        }
        network.setOnline(b, false)
        await #expect(throws: PeerNetworkError.self) {
            _ = try await network.dialer(for: a).connect(to: PeerAddress(id: b), alpn: "echo/1", timeoutSeconds: 1)
        }
    }

    @Test func readToEndEnforcesLimit() async throws {
        let network = InMemoryPeerNetwork()
        let a = Ed25519.SecretKey.generate().publicKey, b = Ed25519.SecretKey.generate().publicKey
        network.serve(b, alpn: "echo/1", handler: EchoHandler())
        let connection = try await network.dialer(for: a).connect(to: PeerAddress(id: b), alpn: "echo/1", timeoutSeconds: 1)
        let (send, receive) = try await connection.openBidirectionalStream()
        try await send.write([UInt8](repeating: 7, count: 5000))
        try await send.finish()
        await #expect(throws: PeerNetworkError.limitExceeded("stream longer than 100 bytes")) {
            _ = try await receive.readToEnd(limit: 100)
        }
    }
}

@Suite("In-memory peer network: close semantics")
struct InMemoryPeerNetworkCloseTests {
    /// Accepts a stream and never answers, so only a connection close can end the client's read.
    struct SilentHandler: ProtocolHandler {
        func accept(_ connection: any PeerConnection) async {
            _ = try? await connection.acceptBidirectionalStream()
            _ = await connection.closed()
        }
    }

    @Test func closingTheConnectionFailsPendingReads() async throws {
        let network = InMemoryPeerNetwork()
        let a = Ed25519.SecretKey.generate().publicKey, b = Ed25519.SecretKey.generate().publicKey
        network.serve(b, alpn: "silent/1", handler: SilentHandler())
        let connection = try await network.dialer(for: a).connect(to: PeerAddress(id: b), alpn: "silent/1", timeoutSeconds: 1)
        let (send, receive) = try await connection.openBidirectionalStream()
        try await send.write([1])
        let pending = Task { try await receive.read(maxBytes: 10) }
        connection.close(code: 7, reason: "bye")
        await #expect(throws: PeerNetworkError.connectionClosed(code: 7, reason: "bye")) { _ = try await pending.value }
    }
}

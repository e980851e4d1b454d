import Core
import Foundation
import TestSupport
import Testing
@testable import Transport

let testALPN = "proscenium/test/1"

func peerID(_ peer: IrohPeer) throws -> EndpointId { try EndpointId(hex: peer.id) }

func peerAddr(_ peer: IrohPeer) throws -> EndpointAddr {
    EndpointAddr(id: try peerID(peer), ipAddresses: [try SocketAddress(peer.address)])
}

func makeEndpoint(router: Router = Router(), configure: (inout EndpointConfig) -> Void = { _ in }) throws -> Endpoint {
    var config = EndpointConfig()
    config.bindAddress = try SocketAddress("127.0.0.1:0")
    configure(&config)
    return try Endpoint(secretKey: .generate(), config: config, router: router)
}

/// Our client dialling a real iroh server (PyPI iroh 1.2.0 = iroh 1.4.1, or aster = iroh 0.97).
@Suite("Our client against real iroh servers", .serialized)
struct ClientToIrohTests {
    @Test("bidi, uni and datagram echo", arguments: [IrohPeerKind.iroh, .aster])
    func echoes(kind: IrohPeerKind) async throws {
        let peer = try await IrohPeer(kind, mode: "server", alpns: [testALPN])
        defer { peer.stop() }
        let endpoint = try makeEndpoint()
        let connection = try await endpoint.connect(to: try peerAddr(peer), alpn: testALPN)
        #expect(connection.remoteID.hex == peer.id)
        #expect(connection.alpn == testALPN)
        #expect(try await bidiEcho(connection, Array("hello iroh".utf8)) == Array("hello iroh".utf8))
        #expect(try await bidiEcho(connection, []) == [])
        #expect(try await uniEcho(connection, Array("uni payload".utf8)) == Array("uni payload".utf8))
        let max = try await connection.maxDatagramSize()
        #expect(max >= 1000)
        #expect(try await datagramEcho(connection, Array("datagram".utf8)) == Array("datagram".utf8))
        let event = await peer.waitForEvent("conn")
        #expect(event == "conn \(endpoint.id.hex) \(testALPN)")
        await connection.close(code: 7, reason: "done")
        let closed = await peer.waitForEvent("closed")
        #expect(closed?.contains("7") == true, "peer saw: \(closed ?? "nothing")")
        await endpoint.close()
    }

    @Test("100 concurrent bidi streams on one connection", arguments: [IrohPeerKind.iroh, .aster])
    func concurrentStreams(kind: IrohPeerKind) async throws {
        let peer = try await IrohPeer(kind, mode: "server", alpns: [testALPN])
        defer { peer.stop() }
        let endpoint = try makeEndpoint()
        let connection = try await endpoint.connect(to: try peerAddr(peer), alpn: testALPN)
        let matched = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<100 {
                group.addTask {
                    let payload = Array("stream-\(i)-".utf8) + pattern(1000 + i, seed: "s\(i)")
                    return try await bidiEcho(connection, payload) == payload
                }
            }
            var n = 0
            for try await ok in group where ok { n += 1 }
            return n
        }
        #expect(matched == 100)
        await endpoint.close()
    }

    @Test("16 MiB bidi transfer, SHA-256 checked", arguments: [IrohPeerKind.iroh, .aster])
    func bulkTransfer(kind: IrohPeerKind) async throws {
        let peer = try await IrohPeer(kind, mode: "server", alpns: [testALPN])
        defer { peer.stop() }
        let endpoint = try makeEndpoint()
        let connection = try await endpoint.connect(to: try peerAddr(peer), alpn: testALPN)
        let data = pattern(16 << 20, seed: "bulk")
        let result = try await bulkEcho(connection, data)
        #expect(result.count == data.count)
        #expect(result.hash == SHA256.hash(data))
        await endpoint.close()
    }

    @Test("50 sequential connections", arguments: [IrohPeerKind.iroh, .aster])
    func sequentialConnections(kind: IrohPeerKind) async throws {
        let peer = try await IrohPeer(kind, mode: "server", alpns: [testALPN])
        defer { peer.stop() }
        let endpoint = try makeEndpoint()
        let addr = try peerAddr(peer)
        for i in 0..<50 {
            let connection = try await endpoint.connect(to: addr, alpn: testALPN)
            let payload = Array("connection \(i)".utf8)
            #expect(try await bidiEcho(connection, payload) == payload)
            await connection.close()
        }
        #expect(try await endpoint.connectionCount() == 0)
        await endpoint.close()
    }

    @Test("a server whose key differs from the expected id is rejected", arguments: [IrohPeerKind.iroh, .aster])
    func wrongExpectedID(kind: IrohPeerKind) async throws {
        let peer = try await IrohPeer(kind, mode: "server", alpns: [testALPN])
        defer { peer.stop() }
        let endpoint = try makeEndpoint()
        let impostor = EndpointAddr(id: Ed25519.SecretKey.generate().publicKey, ipAddresses: [try SocketAddress(peer.address)])
        do {
            _ = try await endpoint.connect(to: impostor, alpn: testALPN)
            Issue.record("connected to a peer with the wrong key")
        } catch let error as TransportError {
            guard case .connectionClosed(.localError(let code, let reason)) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(code == 0x100 + 42, "bad_certificate alert")
            #expect(reason.contains("expected endpoint id"))
        }
        await endpoint.close()
    }

    @Test("an ALPN the server does not serve is refused", arguments: [IrohPeerKind.iroh, .aster])
    func wrongALPN(kind: IrohPeerKind) async throws {
        let peer = try await IrohPeer(kind, mode: "server", alpns: [testALPN])
        defer { peer.stop() }
        let endpoint = try makeEndpoint()
        do {
            _ = try await endpoint.connect(to: try peerAddr(peer), alpn: "proscenium/other/1")
            Issue.record("connected with an unknown ALPN")
        } catch let error as TransportError {
            guard case .connectionClosed(.transportError(let code, _)) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(code == 0x100 + 120, "no_application_protocol")
        }
        await endpoint.close()
    }
}

/// Real iroh clients dialling our server.
@Suite("Real iroh clients against our server", .serialized)
struct IrohToServerTests {
    @Test("bidi, uni and datagram echo", arguments: [IrohPeerKind.iroh, .aster])
    func echoes(kind: IrohPeerKind) async throws {
        let endpoint = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: EchoHandler()))
        let peer = try await IrohPeer(kind, mode: "client")
        defer { peer.stop() }
        let reply = try await peer.command("connect \(endpoint.id.hex) \(endpoint.localAddress) \(testALPN)")
        #expect(reply == [endpoint.id.hex, testALPN])
        #expect(try await peer.command("bidi 68656c6c6f") == ["68656c6c6f"])
        #expect(try await peer.command("uni 756e69") == ["756e69"])
        #expect(try await peer.command("dgram 6467") == ["6467"])
        #expect(try await endpoint.connectionCount() == 1)
        try await peer.command("close 0 bye")
        await endpoint.close()
    }

    @Test("100 concurrent streams, 16 MiB transfer and 50 sequential connections", arguments: [IrohPeerKind.iroh, .aster])
    func load(kind: IrohPeerKind) async throws {
        let endpoint = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: EchoHandler()))
        let peer = try await IrohPeer(kind, mode: "client")
        defer { peer.stop() }
        try await peer.command("connect \(endpoint.id.hex) \(endpoint.localAddress) \(testALPN)")
        #expect(try await peer.command("many 100") == ["100"])
        let big = try await peer.command("big \(16 << 20)", timeout: .seconds(120))
        #expect(big == [Hex.encode(SHA256.hash(pattern(16 << 20, seed: "big"))), "\(16 << 20)"])
        try await peer.command("close 0 done")
        for i in 0..<50 {
            try await peer.command("connect \(endpoint.id.hex) \(endpoint.localAddress) \(testALPN)")
            #expect(try await peer.command("bidi \(Hex.encode(Array("conn \(i)".utf8)))") == [Hex.encode(Array("conn \(i)".utf8))])
            try await peer.command("close 0 next")
        }
        await endpoint.close()
    }

    @Test("iroh reaches our default dual-stack socket over IPv4", arguments: [IrohPeerKind.iroh, .aster])
    func dualStackServer(kind: IrohPeerKind) async throws {
        let server = try Endpoint(secretKey: .generate(), router: Router().adding(alpn: testALPN, handler: EchoHandler()))
        let peer = try await IrohPeer(kind, mode: "client")
        defer { peer.stop() }
        let v4 = "127.0.0.1:\(server.localAddress.port)"
        #expect(try await peer.command("connect \(server.id.hex) \(v4) \(testALPN)") == [server.id.hex, testALPN])
        #expect(try await peer.command("bidi 0102") == ["0102"])
        await server.close()
    }

    @Test("iroh refuses us when it expects another id; an unknown ALPN is refused by us", arguments: [IrohPeerKind.iroh, .aster])
    func refusals(kind: IrohPeerKind) async throws {
        let endpoint = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: EchoHandler()))
        let peer = try await IrohPeer(kind, mode: "client")
        defer { peer.stop() }
        let other = Ed25519.SecretKey.generate().publicKey.hex
        await #expect(throws: IrohPeerError.self) {
            try await peer.command("connect \(other) \(endpoint.localAddress) \(testALPN)")
        }
        await #expect(throws: IrohPeerError.self) {
            try await peer.command("connect \(endpoint.id.hex) \(endpoint.localAddress) proscenium/unknown/1")
        }
        // Both failed handshakes leave nothing behind.
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await endpoint.connectionCount() == 0)
        await endpoint.close()
    }
}

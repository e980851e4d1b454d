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

@Suite("Our client against a real iroh server", .serialized)
struct ClientToIrohTests {
    @Test("bidi echo")
    func bidiEcho() async throws {
        let peer = try await IrohPeer(.iroh, mode: "server", alpns: [testALPN])
        defer { peer.stop() }
        let endpoint = try makeEndpoint()
        let connection = try await endpoint.connect(to: try peerAddr(peer), alpn: testALPN)
        #expect(connection.remoteID.hex == peer.id)
        #expect(connection.alpn == testALPN)
        let stream = try await connection.openBidirectionalStream()
        try await stream.send.write(Array("hello iroh".utf8))
        try await stream.send.finish()
        let echo = try await stream.receive.readToEnd(limit: 1 << 20)
        #expect(String(decoding: echo, as: UTF8.self) == "hello iroh")
        let event = await peer.waitForEvent("conn")
        #expect(event == "conn \(endpoint.id.hex) \(testALPN)")
        await connection.close(code: 0, reason: "done")
        await endpoint.close()
    }
}

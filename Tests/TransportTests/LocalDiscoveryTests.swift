import Core
import Foundation
import TestSupport
import Testing
@testable import Transport

@Suite("mDNS local discovery (_irohv1._udp.local.)", .serialized)
struct LocalDiscoveryTests {
    @Test("response encoding parses back: SRV per port, A/AAAA for the target")
    func codec() throws {
        let id = Ed25519.SecretKey.generate().publicKey
        let label = Base32.encode(id.bytes)
        let service = ["_irohv1", "_udp", "local"]
        let addresses = [try SocketAddress("192.168.1.5:4000"), try SocketAddress("[fd00::5]:4000"), try SocketAddress("10.0.0.5:5000")]
        let message = try DNSMessage(parsing: DNSMessage.response(label: label, service: service, addresses: addresses))
        #expect(message.isResponse)
        #expect(message.answers.count == 2)
        #expect(message.answers.allSatisfy { $0.type == DNSMessage.srv && $0.name == [label] + service })
        #expect(message.answers.compactMap { $0.srv?.port }.sorted() == [4000, 5000])
        #expect(message.answers.first { $0.srv?.port == 4000 }?.srv?.target == ["\(label)-4000", "local"])
        #expect(message.additionals.count == 3)
        #expect(LocalDiscovery.id(fromLabel: label) == id)
        let query = try DNSMessage(parsing: DNSMessage.query(service: service))
        #expect(!query.isResponse)
        #expect(query.questions.first?.name == service)
        #expect(query.questions.first?.type == DNSMessage.ptr)
        for junk in [[UInt8](), [0, 1, 2], [UInt8](repeating: 0xc0, count: 40), [UInt8](repeating: 0xff, count: 300)] {
            #expect(throws: (any Error).self) { try DNSMessage(parsing: junk) }
        }
    }

    @Test("two of our endpoints find each other and connect by id")
    func oursFindOurs() async throws {
        try NetworkIsolation.enableLoopbackMulticast()
        let server = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: EchoHandler()))
        let client = try makeEndpoint()
        let serverDiscovery = try LocalDiscovery(id: server.id, addresses: server.localAddresses())
        let clientDiscovery = try LocalDiscovery(id: client.id, addresses: client.localAddresses())
        defer { serverDiscovery.close(); clientDiscovery.close() }
        let found = try #require(await clientDiscovery.waitFor(server.id, timeout: .seconds(10)))
        #expect(found.ipAddresses.contains(server.localAddress))
        let connection = try await client.connect(to: found, alpn: testALPN)
        #expect(try await bidiEcho(connection, [9]) == [9])
        #expect(await serverDiscovery.waitFor(client.id, timeout: .seconds(10)) != nil)
        await client.close()
        await server.close()
    }

    @Test("an iroh 0.97 node (aster, mDNS on) is found, and finds and dials us by id")
    func asterInterop() async throws {
        try NetworkIsolation.enableLoopbackMulticast()
        let server = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: EchoHandler()))
        let discovery = try LocalDiscovery(id: server.id, addresses: server.localAddresses())
        defer { discovery.close() }
        let peer = try await IrohPeer(.aster, mode: "server", alpns: [testALPN], environment: ["PEER_MDNS": "1"])
        defer { peer.stop() }
        let asterID = try EndpointId(hex: peer.id)
        let found = try #require(await discovery.waitFor(asterID, timeout: .seconds(15)))
        let asterAddress = try SocketAddress(peer.address)
        #expect(found.ipAddresses.contains(asterAddress))
        let client = try makeEndpoint()
        let connection = try await client.connect(to: found, alpn: testALPN)
        #expect(try await bidiEcho(connection, [7]) == [7])
        let reply = try await peer.command("connectid \(server.id.hex) \(testALPN)", timeout: .seconds(30))
        #expect(reply.first == server.id.hex)
        #expect(try await peer.command("bidi 0a0b") == ["0a0b"])
        await client.close()
        await server.close()
    }
}

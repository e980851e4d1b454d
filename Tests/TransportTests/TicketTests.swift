import Core
import Foundation
import TestSupport
import Testing
@testable import Transport

@Suite("EndpointAddr and EndpointTicket encoding")
struct TicketTests {
    let vectorID = "ae58ff8833241ac82d6ff7611046ed67b5072d142c588d0063e942d9a75502b6"
    let vectorTicket = "endpointacxfr74igmsbvsbnn73wcecg5vt3kbzncqwfrdiampuufwnhkublmaqacbuhi5dqhixs6zdfojyc43lffyxqcad7aaaadaai"

    @Test("iroh-wire §1.3 test vector, both ways")
    func vector() throws {
        let addr = EndpointAddr(id: try EndpointId(hex: vectorID),
                                addrs: [.ip(try SocketAddress("127.0.0.1:1024")), .relay("http://derp.me./")])
        #expect(Hex.encode(addr.postcard) == vectorID + "02" + "0010687474703a2f2f646572702e6d652e2f" + "01007f0000018008")
        #expect(EndpointTicket(addr: addr).description == vectorTicket)
        let parsed = try EndpointTicket(parsing: vectorTicket)
        #expect(parsed.addr == addr)
        #expect(parsed.addr.relayURLs == ["http://derp.me./"])
        let loopback = try SocketAddress("127.0.0.1:1024")
        #expect(parsed.addr.ipAddresses == [loopback])
    }

    @Test("addresses sort like Rust's BTreeSet: relay, then IPv4, then IPv6")
    func ordering() throws {
        let id = Ed25519.SecretKey.generate().publicKey
        let addr = EndpointAddr(id: id, addrs: [.ip(try SocketAddress("[::1]:5")), .ip(try SocketAddress("10.0.0.1:7")),
                                                .ip(try SocketAddress("10.0.0.1:6")), .relay("https://r.example/"),
                                                .ip(try SocketAddress("9.0.0.1:9000"))])
        #expect(addr.addrs.map(\.description) == ["relay:https://r.example/", "9.0.0.1:9000", "10.0.0.1:6", "10.0.0.1:7", "[::1]:5"])
        let round = try EndpointTicket(parsing: EndpointTicket(addr: addr).description)
        #expect(round.addr == addr)
        let custom = EndpointAddr(id: id, addrs: [.custom(id: 300, data: [1, 2, 3]), .custom(id: 1, data: [UInt8](repeating: 4, count: 40))])
        #expect(try EndpointAddr(postcard: custom.postcard) == custom)
    }

    @Test("malformed tickets are rejected with a reason", arguments: [
        "", "endpoint", "node" + String(repeating: "a", count: 60), "endpoint!!!!", "endpointaa", "endpointacxfr74igmsbvsbnn73wcecg5vt3kbzncqwfrdiampuufwnhkublmaqacbuhi5dqhixs6zdfojyc43lffyxqcad7aaaadaaiaa"
    ])
    func malformed(text: String) {
        #expect(throws: TransportError.self) { try EndpointTicket(parsing: text) }
    }

    @Test("socket address text forms")
    func socketAddresses() throws {
        #expect(try SocketAddress("127.0.0.1:80").description == "127.0.0.1:80")
        #expect(try SocketAddress("[::1]:443").description == "[::1]:443")
        #expect(try SocketAddress("[fe80::1]:1").isIPv6LinkLocal)
        for bad in ["127.0.0.1", "1.2.3:4", "[::1]", "[::1]x:1", "host:1", "1.2.3.4:99999"] {
            #expect(throws: TransportError.self) { try SocketAddress(bad) }
        }
    }
}

@Suite("Tickets interoperate with PyPI iroh", .serialized)
struct TicketInteropTests {
    @Test("iroh's ticket parses here; ours and re-encoded ones parse in iroh")
    func interop() async throws {
        let peer = try await IrohPeer(.iroh, mode: "server", alpns: [testALPN])
        defer { peer.stop() }
        let theirs = try EndpointTicket(parsing: peer.ticket)
        #expect(theirs.addr.id.hex == peer.id)
        let peerAddress = try SocketAddress(peer.address)
        #expect(theirs.addr.ipAddresses.contains(peerAddress))
        #expect(theirs.description == peer.ticket, "re-encoding must be byte-identical")

        let id = Ed25519.SecretKey.generate().publicKey
        let ours = EndpointAddr(id: id, addrs: [.ip(try SocketAddress("192.168.1.20:4433")), .ip(try SocketAddress("[fd00::7]:4434")),
                                                .relay("https://relay.example.org/")])
        let reply = try await peer.command("ticket \(EndpointTicket(addr: ours))")
        #expect(reply == [id.hex, "https://relay.example.org/", "192.168.1.20:4433", "[fd00::7]:4434"])

        let made = try await peer.command("mkticket \(id.hex) https://relay.example.org/ 192.168.1.20:4433 [fd00::7]:4434")
        #expect(made == [EndpointTicket(addr: ours).description])
    }
}

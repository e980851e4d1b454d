// A test tool that runs one of our QUIC endpoints in its own process, so tests can place endpoints
// in separate network namespaces (e.g. two hosts joined by a veth pair).
//   transport-peer serve <bind ip:port>         echo server + mDNS; prints "READY <id>"; runs until stdin closes
//   transport-peer find <bind ip:port> <id hex>  finds <id> by mDNS, dials it, echoes; prints "FOUND <addr>" and "ECHO ok"
import Core
import Foundation
import Transport

let alpn = "test/echo/1"

struct Echo: ProtocolHandler {
    func accept(_ connection: any PeerConnection) async {
        while let (send, receive) = try? await connection.acceptBidirectionalStream() {
            let data = (try? await receive.readToEnd(limit: 1 << 16)) ?? []
            try? await send.write(data)
            try? await send.finish()
        }
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(1)
}

func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else { fail("usage: transport-peer serve|find <bind ip:port> [id]") }
do {
    var config = EndpointConfig()
    config.bindAddress = try SocketAddress(arguments[2])
    switch arguments[1] {
    case "serve":
        let endpoint = try Endpoint(secretKey: .generate(), config: config, router: Router().adding(alpn: alpn, handler: Echo()))
        let discovery = try LocalDiscovery(id: endpoint.id, addresses: endpoint.localAddresses())
        say("READY \(endpoint.id.hex)")
        _ = FileHandle.standardInput.readDataToEndOfFile()
        discovery.close()
        await endpoint.close()
    case "find":
        guard arguments.count == 4 else { fail("find needs an id") }
        let target = try EndpointID(hex: arguments[3])
        let endpoint = try Endpoint(secretKey: .generate(), config: config)
        let discovery = try LocalDiscovery(id: endpoint.id, addresses: endpoint.localAddresses())
        guard let found = await discovery.waitFor(target, timeout: .seconds(20)) else { fail("not found by mDNS") }
        say("FOUND \(found.ipAddresses.map(\.description).joined(separator: ","))")
        let connection = QUICPeerConnection(try await endpoint.connect(to: found, alpn: alpn))
        let (send, receive) = try await connection.openBidirectionalStream()
        try await send.write(Array("ping".utf8))
        try await send.finish()
        let reply = try await receive.readToEnd(limit: 100)
        say(reply == Array("ping".utf8) ? "ECHO ok" : "ECHO wrong")
        connection.close(code: 0, reason: "done")
        discovery.close()
        await endpoint.close()
    default:
        fail("unknown mode \(arguments[1])")
    }
} catch {
    fail("error: \(error)")
}

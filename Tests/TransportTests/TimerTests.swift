import Core
import Foundation
import TestSupport
import Testing
@testable import Transport

/// Tests that wait out real QUIC timers. They run in parallel with each other (~40 s in total).
@Suite("Timers: keep-alive and dead peers", .tags(.slow))
struct TimerTests {
    @Test("connections idle for 40 s stay up (iroh 1.x, iroh 0.97, ours; both directions)")
    func idleConnectionsSurvive() async throws {
        let irohServer = try await IrohPeer(.iroh, mode: "server", alpns: [testALPN])
        let asterServer = try await IrohPeer(.aster, mode: "server", alpns: [testALPN])
        let irohClient = try await IrohPeer(.iroh, mode: "client")
        defer { irohServer.stop(); asterServer.stop(); irohClient.stop() }
        let server = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: EchoHandler()))
        let client = try makeEndpoint()

        let toIroh = try await client.connect(to: try peerAddr(irohServer), alpn: testALPN)
        let toAster = try await client.connect(to: try peerAddr(asterServer), alpn: testALPN)
        let toOurs = try await client.connect(to: server.addr, alpn: testALPN)
        try await irohClient.command("connect \(server.id.hex) \(server.localAddress) \(testALPN)")
        for c in [toIroh, toAster, toOurs] { #expect(try await bidiEcho(c, [1]) == [1]) }
        #expect(try await irohClient.command("bidi 01") == ["01"])

        try await Task.sleep(for: .seconds(40))

        for c in [toIroh, toAster, toOurs] {
            #expect(await c.closeReason() == nil)
            #expect(try await bidiEcho(c, [2]) == [2])
        }
        #expect(try await irohClient.command("bidi 02") == ["02"])
        await client.close()
        await server.close()
    }

    @Test("a peer killed mid-transfer is detected within the idle timeout (both roles)")
    func killedPeerDetected() async throws {
        // Our client streaming to an iroh server that dies.
        let irohServer = try await IrohPeer(.iroh, mode: "server", alpns: [testALPN])
        let client = try makeEndpoint()
        let connection = try await client.connect(to: try peerAddr(irohServer), alpn: testALPN)
        let stream = try await connection.openBidirectionalStream()
        let sender = Task {
            let block = pattern(256 * 1024, seed: "kill")
            while true { try await stream.send.write(block) }
        }
        // The peer echoes only after FIN, so nothing comes back: just let data flow for a while.
        try await Task.sleep(for: .seconds(2))

        // An iroh client streaming to our server that dies.
        let server = try makeEndpoint(router: Router().adding(alpn: testALPN, handler: EchoHandler()))
        let irohClient = try await IrohPeer(.iroh, mode: "client")
        try await irohClient.command("connect \(server.id.hex) \(server.localAddress) \(testALPN)")
        irohClient.sendLine("big \(48 << 20)")
        try await Task.sleep(for: .seconds(3))
        #expect(try await server.connectionCount() == 1)

        trace("killing peers")
        let killedAt = ContinuousClock.now
        irohServer.kill()
        irohClient.kill()
        let reason = try await withTimeout(.seconds(45), "client-side detection") { await connection.closed() }
        let clientDetection = ContinuousClock.now - killedAt
        trace("client side saw \(reason) after \(clientDetection)")
        #expect(reason == .idleTimeout)
        #expect(clientDetection <= .seconds(40), "took \(clientDetection)")
        await #expect(throws: TransportError.self) { try await sender.value }

        while try await server.connectionCount() > 0 && ContinuousClock.now - killedAt < .seconds(45) {
            try await Task.sleep(for: .milliseconds(250))
        }
        let serverDetection = ContinuousClock.now - killedAt
        trace("server side emptied after \(serverDetection)")
        #expect(try await server.connectionCount() == 0)
        #expect(serverDetection <= .seconds(40), "took \(serverDetection)")
        await client.close()
        await server.close()
    }
}

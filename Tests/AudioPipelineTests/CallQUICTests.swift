import Testing
import Foundation
import Core
import Transport
import TestSupport
@testable import AudioPipeline

/// A call between two of our nodes over real QUIC on loopback (Transport's `Endpoint` and
/// `QUICPeerDialer`), with fake signalling and paced fake sound cards. Needs `unshare -n`.
extension CallRealtimeTests {
@Suite("Call over QUIC", .serialized)
struct CallQUICTests {
    struct Node {
        let master: Ed25519.PublicKey
        let endpoint: Endpoint
        let service: CallService
        let audio: TestCallAudio
    }

    @Test func callOverLoopbackQUICCarriesAudioBothWays() async throws {
        try NetworkIsolation.assertLoopbackOnly()
        let probe = StarvationProbe()
        defer { probe.stop() }
        let hub = FakeSignalHub()
        let masters = try (1...2).map { try Ed25519.SecretKey(seed: [UInt8](repeating: UInt8($0), count: 32)).publicKey }
        let transportKeys = try (1...2).map { try Ed25519.SecretKey(seed: [UInt8](repeating: UInt8($0 + 100), count: 32)) }
        let directory = FakeCallDirectory(table: [masters[0]: transportKeys[0].publicKey, masters[1]: transportKeys[1].publicKey])
        let book = try AddressBook()
        var nodes: [Node] = []
        for i in 0..<2 {
            var config = EndpointConfig()
            config.bindAddress = try SocketAddress("127.0.0.1:0")
            let deferred = DeferredProtocolHandler()
            let endpoint = try Endpoint(secretKey: transportKeys[i], config: config,
                                        router: Router().adding(alpn: CallService.alpn, handler: deferred))
            book.add(endpoint.addr)
            let audio = TestCallAudio(source: i == 0 ? CallSignal.speechA : CallSignal.speechB)
            let service = CallService(ownMaster: masters[i], signalling: hub.channel(for: masters[i]), directory: directory,
                                      dialer: QUICPeerDialer(endpoint: endpoint, addressBook: book), audio: audio,
                                      logger: Logger(label: "call\(i)", sink: MemoryLogSink(minimumLevel: .info)),
                                      configuration: CallTestBed.configuration)
            deferred.bind(service.handler)
            await service.start()
            nodes.append(Node(master: masters[i], endpoint: endpoint, service: service, audio: audio))
        }
        let a = nodes[0], b = nodes[1]
        // Nothing below throws before the checks, so a starved run can be told apart at the end.
        _ = try? await a.service.call(b.master)
        let rang = await eventually(10) { await b.service.phase == .incomingRinging }
        _ = try? await b.service.answer()
        let connected = await eventually(10) {
            let pa = await a.service.phase
            let pb = await b.service.phase
            return pa == .active && pb == .active
        }
        try? await Task.sleep(nanoseconds: 3_000_000_000)
        let phases = (await a.service.phase, await b.service.phase)
        let aMedia = await a.service.status().media ?? CallMediaStatistics(), bMedia = await b.service.status().media ?? CallMediaStatistics()
        _ = try? await b.service.hangup()
        let ended = await eventually(3) { await a.service.phase == .ended(.remoteHangup) }
        await a.service.stop()
        await b.service.stop()
        await a.endpoint.close()
        await b.endpoint.close()

        try unlessStarved([aMedia, bMedia], probe: probe) {
            #expect(rang && connected, "caller \(phases.0), callee \(phases.1)")
            #expect(phases.0 == .active && phases.1 == .active, "after 3 s: caller \(phases.0), callee \(phases.1)")
            #expect(ended)
            let aDev = try #require(a.audio.devices.first), bDev = try #require(b.audio.devices.first)
            let ab = try measureDelay(said: CallSignal.speechA, capture: aDev.capture, playback: bDev.playback)
            let ba = try measureDelay(said: CallSignal.speechB, capture: bDev.capture, playback: aDev.playback)
            print("QUIC call delay A→B \(String(format: "%.1f", ab.millis)) ms [\(Int(ab.minMillis))–\(Int(ab.maxMillis))] (corr \(String(format: "%.3f", ab.correlation))), B→A \(String(format: "%.1f", ba.millis)) ms [\(Int(ba.minMillis))–\(Int(ba.maxMillis))] (corr \(String(format: "%.3f", ba.correlation))); A \(aMedia); B \(bMedia)")
            #expect(ab.correlation > 0.35 && ba.correlation > 0.35)   // see the in-memory test for why not higher
            #expect(ab.millis > 20 && ab.millis < 400 && ba.millis > 20 && ba.millis < 400)
            #expect(aMedia.framesReceived > 120 && bMedia.framesReceived > 120)
        }
    }
}
}

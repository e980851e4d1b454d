import Core
import Synchronization
import TestSupport
import Testing
@testable import AudioPipeline

final class StageConnectionBox: Sendable {
    let value = Mutex<(any PeerConnection)?>(nil)
}

/// What one listener received: (seq, Opus, verified) in arrival order.
final class StageReceived: Sendable {
    private let frames = Mutex<[(UInt32, [UInt8], Bool)]>([])
    func add(_ seq: UInt32, _ opus: [UInt8], _ verified: Bool) { frames.withLock { $0.append((seq, opus, verified)) } }
    var all: [(UInt32, [UInt8], Bool)] { frames.withLock { $0 } }
    var count: Int { frames.withLock { $0.count } }
}

/// The host's control side for the test: topology decisions become signed `RelayAssignment`s,
/// delivered over an in-memory bus to every listener's `StageRoom`.
final class StageTestControl: Sendable {
    struct Listener: Sendable {
        let identity: NodeIdentity
        let pipeline: StageListenerPipeline
    }
    private let topology: Mutex<StageTopology>
    private let rooms: Mutex<[String: StageRoom]>
    private let listeners: [String: Listener]
    private let host: NodeIdentity
    private let stageID: String
    let assignmentsSent = Mutex<Int>(0)

    init(host: NodeIdentity, stageID: String, hostCapacity: Int, listeners: [Listener], clock: any WallClock) {
        self.host = host
        self.stageID = stageID
        topology = Mutex(StageTopology(hostPublicKey: host.masterPublicKey.hex, hostNodeID: host.transportID.hex,
                                       hostCapacity: hostCapacity, clock: clock))
        let ticket = StageTicket(stageID: stageID, hostPublicKey: host.signingKey.publicKey.hex, hostNodeID: host.transportID.hex, title: "T")
        var rooms: [String: StageRoom] = [:]
        var byKey: [String: Listener] = [:]
        for listener in listeners {
            rooms[listener.identity.masterPublicKey.hex] = StageRoom(joining: ticket, identity: listener.identity, clock: clock)
            byKey[listener.identity.masterPublicKey.hex] = listener
        }
        self.rooms = Mutex(rooms)
        self.listeners = byKey
    }

    func addListener(_ key: String) { publish(topology.withLock { $0.addListener(key) }) }
    func addRelay(_ identity: NodeIdentity, capacity: UInt32) {
        publish(topology.withLock { $0.addRelay(publicKey: identity.masterPublicKey.hex, nodeID: identity.transportID.hex, capacity: capacity) })
    }
    /// The host saw a listener connection end; a relay's upstream ending means the relay is gone.
    func listenerConnectionGone(_ node: EndpointID) {
        let relayKey = topology.withLock { t in t.sources.values.first { $0.nodeID == node.hex }?.publicKey }
        guard let relayKey else { return }
        publish(topology.withLock { $0.relayLost(relayKey) })
    }
    func source(of key: String) -> String? { topology.withLock { $0.source(of: key)?.nodeID } }

    private func publish(_ assignments: [StageTopology.Assignment]) {
        for assignment in assignments {
            let control = StageControl.relayAssignment(stageID: stageID, relayPublicKey: assignment.relayPublicKey,
                                                       relayNodeID: assignment.relayNodeID, listenerPublicKeys: assignment.listeners)
            let payload = SignedStageControl.signed(control, by: host.signingKey, timestamp: 1).wireBytes
            assignmentsSent.withLock { $0 += 1 }
            for (key, listener) in listeners {
                guard let message = try? SignedStageControl.decodeVerified(payload) else { continue }
                let events = rooms.withLock { r in (try? r[key]?.receive(message)) ?? [] }
                for case let .reassignedMe(node) in events {
                    if let id = try? Ed25519.PublicKey(hex: node) { listener.pipeline.reassign(to: id) }
                }
            }
        }
    }
}

@Suite("Stage over the in-memory network")
struct StageMixerNetworkTests {
    /// Decodes a listener's verified packets from `fromSeq` on and checks the three tones.
    func checkAudio(_ received: StageReceived, fromSeq: UInt32, label: String) throws {
        let packets = received.all.filter { $0.0 >= fromSeq }
        #expect(packets.count >= 40, "\(label): only \(packets.count) frames after seq \(fromSeq)")
        // A listener that switched source plays unverified only until the next checkpoint (≤ 50 frames).
        #expect(packets.filter { !$0.2 }.count <= 50, "\(label): too many unverified frames")
        let decoder = try OpusDecoder()
        var pcm: [Float] = []
        for packet in packets.suffix(40) { pcm += try decoder.decode(packet.1) }
        let (present, absent) = StageAudioCheck.levels(Array(pcm.suffix(30 * 960)))
        for (frequency, level) in zip(StageAudioCheck.frequencies, present) {
            #expect(level > 0.1, "\(label): \(frequency) Hz at \(level)")
        }
        #expect(absent < 0.05, "\(label): absent tone at \(absent)")
    }

    /// The whole Stage, once on the in-memory network and once over real QUIC on loopback (24
    /// endpoints). Over QUIC the mixer ticks in real time (20 ms) so frames cross the sockets first.
    @Test(arguments: ["in-memory", "QUIC"])
    func hostThreeSpeakersTwentyListenersTwoRelaysAndARelayDies(transport: String) async throws {
        let stageID = "00112233445566778899aabbccddeeff"
        let clock = SystemWallClock()
        let host = try NodeIdentity(masterSeed: SecretBytes([UInt8](repeating: 1, count: 32)))
        let identities = (2..<25).map { try! NodeIdentity(masterSeed: SecretBytes([UInt8](repeating: UInt8($0), count: 32))) }
        let network: any StageTestNetwork = transport == "QUIC" ? try QUICStageNetwork(identities: [host] + identities) : InMemoryPeerNetwork()
        let tickNanos: UInt64 = transport == "QUIC" ? 20_000_000 : 2_000_000
        let speakerIDs = Array(identities[0..<3]), relayIDs = Array(identities[3..<5]), listenerIDs = Array(identities[5..<23])
        #expect(relayIDs.count + listenerIDs.count == 20)

        // Listeners (18 plain + the 2 relays' own playback is not checked here).
        var received: [String: StageReceived] = [:]
        var listeners: [StageTestControl.Listener] = []
        for identity in listenerIDs {
            let sink = StageReceived()
            received[identity.masterPublicKey.hex] = sink
            let pipeline = StageListenerPipeline(dialer: network.dialer(for: identity.transportID), host: host.transportID,
                                                 hostSigningKey: host.signingKey.publicKey, sleep: { _ in await Task.yield() },
                                                 deliver: { sink.add($0, $1, $2) })
            listeners.append(.init(identity: identity, pipeline: pipeline))
        }
        let control = StageTestControl(host: host, stageID: stageID, hostCapacity: 6, listeners: listeners, clock: clock)

        // Host: mixer + media hub.
        let mixer = try StageMixer(hostSigningKey: host.signingKey)
        let hostMedia = StageHostMedia(audio: mixer, onListenerGone: { control.listenerConnectionGone($0) })
        let hostHandler = StageMediaHandler()
        hostHandler.setRole(.host(hostMedia))
        network.serve(host.transportID, alpn: StageMedia.alpn, handler: hostHandler)

        // Relays: a StageRelay fed by a listener connection to the host.
        var relays: [StageRelay] = [], relayHandlers: [StageMediaHandler] = [], upstreams: [StageConnectionBox] = []
        var tasks: [Task<Void, Never>] = []
        for identity in relayIDs {
            let relay = StageRelay(limits: StageRelayLimits(maxListeners: 8))
            let handler = StageMediaHandler()
            handler.setRole(.relay(relay))
            network.serve(identity.transportID, alpn: StageMedia.alpn, handler: handler)
            let upstream = StageConnectionBox()
            tasks.append(Task {
                _ = await StageRelayUpstream.run(dialer: network.dialer(for: identity.transportID), upstream: host.transportID,
                                                 relay: relay, onConnected: { c in upstream.value.withLock { $0 = c } })
            })
            relays.append(relay); relayHandlers.append(handler); upstreams.append(upstream)
        }
        for listener in listeners {
            control.addListener(listener.identity.masterPublicKey.hex)
            tasks.append(Task { await listener.pipeline.run() })
        }

        // Speakers: three tones.
        var speakers: [StageSpeakerClient] = []
        var tones: [StageToneSpeaker] = []
        let fromHost = Mutex<Int>(0)
        for (index, identity) in speakerIDs.enumerated() {
            speakers.append(try await StageSpeakerClient.connect(dialer: network.dialer(for: identity.transportID), host: host.transportID,
                                                                 received: { _, _ in fromHost.withLock { $0 += 1 } }))
            tones.append(try StageToneSpeaker(frequency: StageAudioCheck.frequencies[index]))
        }

        var seq: UInt32 = 0
        func run(ticks: Int) async throws {
            for _ in 0..<ticks {
                for i in speakers.indices { try await speakers[i].send(frame: try tones[i].nextFrame()) }
                // Let the frames reach the host (in-memory, but on other tasks).
                for _ in 0..<20 { await Task.yield() }
                try await Task.sleep(nanoseconds: tickNanos)
                hostMedia.publishMixed(try mixer.tick().mixed)
                seq += 1
            }
        }

        try await run(ticks: 20)
        #expect(mixer.sourceCount == 3)
        control.addRelay(relayIDs[0], capacity: 6)
        control.addRelay(relayIDs[1], capacity: 6)
        for listener in listenerIDs {
            #expect(control.source(of: listener.masterPublicKey.hex) != nil, "listener without a source")
        }
        try await run(ticks: 130)
        let beforeKill = seq
        // Everyone hears the authenticated mix; relays carry 12 of the 18 listeners.
        #expect(relays.map(\.metrics.listeners).reduce(0, +) == 12)
        for listener in listenerIDs {
            let key = listener.masterPublicKey.hex
            try checkAudio(received[key]!, fromSeq: 100, label: "listener \(key.prefix(6))")
        }
        // SFU: every speaker gets the 2 others plus the host's (silent here: no host microphone) stream.
        #expect(fromHost.withLock { $0 } > 0)
        #expect(hostMedia.speakerIDs.count == 3)

        // Relay 1 dies: its listeners fall back to the host at once and are reassigned.
        let orphans = listenerIDs.filter { control.source(of: $0.masterPublicKey.hex) == relayIDs[0].transportID.hex }
        #expect(!orphans.isEmpty)
        relayHandlers[0].setRole(.none)
        relays[0].close()
        upstreams[0].value.withLock { $0 }?.close(code: 0, reason: "relay died")
        try await run(ticks: 120)
        for listener in orphans {
            let key = listener.masterPublicKey.hex
            #expect(control.source(of: key) != relayIDs[0].transportID.hex)
            try checkAudio(received[key]!, fromSeq: beforeKill + 60, label: "orphan \(key.prefix(6))")
        }
        for listener in listeners { #expect(listener.pipeline.authFailureCount == 0) }

        for listener in listeners { listener.pipeline.stop() }
        for speaker in speakers { speaker.close() }
        // Speakers leaving release everything fed to them, even from a silent source (host voice).
        for _ in 0..<2_000 where !hostMedia.speakerIDs.isEmpty || hostMedia.hostVoiceFanout.metrics.listeners > 0 {
            try await Task.sleep(nanoseconds: 1_000_000)
        }
        #expect(hostMedia.speakerIDs.isEmpty)
        #expect(hostMedia.hostVoiceFanout.metrics.listeners == 0)
        #expect(mixer.sourceCount == 0)
        hostMedia.close()
        relays[1].close()
        for task in tasks { task.cancel() }
        await network.shutdown()
    }

    @Test func forgedFramesInjectedByARelayAreRejected() async throws {
        let network = InMemoryPeerNetwork()
        let host = try NodeIdentity(masterSeed: SecretBytes([UInt8](repeating: 1, count: 32)))
        let evil = Ed25519.SecretKey.generate().publicKey, listenerID = Ed25519.SecretKey.generate().publicKey
        let mixer = try StageMixer(hostSigningKey: host.signingKey)
        // A "relay" that forwards the host's frames but swaps the Opus payload of every 10th frame.
        // A queue deep enough for the whole run: no frame may be dropped however the tasks interleave.
        let relay = StageRelay(limits: StageRelayLimits(queueFrames: 200))
        let handler = StageMediaHandler()
        handler.setRole(.relay(relay))
        network.serve(evil, alpn: StageMedia.alpn, handler: handler)
        let sink = StageReceived()
        let result = Mutex<StageListenEnd?>(nil)
        let listening = Task {
            let end = await StageListenerClient.listen(dialer: network.dialer(for: listenerID), source: evil,
                                                       hostSigningKey: host.signingKey.publicKey, deliver: { sink.add($0, $1, $2) })
            result.withLock { $0 = end }
        }
        while relay.metrics.listeners == 0 { await Task.yield() }
        var speaker = try StageToneSpeaker(frequency: 440)
        let speakerID = Ed25519.SecretKey.generate().publicKey
        for index in 0..<120 {
            mixer.speakerFrame(speakerID, frame: try speaker.nextFrame())
            var frame = try AudioFrame.decode(try mixer.tick().mixed).frame
            if index == 70 { frame.payload = try OpusEncoder().encode([Float](repeating: 0.1, count: 960)) }
            relay.ingest(try frame.encode())
            await Task.yield()
        }
        // Ends the stream if the listener did not stop by itself, so a miss fails instead of hanging.
        for _ in 0..<10_000 where result.withLock({ $0 }) == nil { try await Task.sleep(nanoseconds: 1_000_000) }
        relay.close()
        await listening.value
        #expect(result.withLock { $0 } == .authFailed(.tamperDetected))
        // Verified from frame 50; the forged frame 70 is played (as the reference does) but the
        // checkpoint at frame 100 ends the connection: nothing after it is delivered.
        #expect(sink.all.last.map(\.0) == 98)
        _ = handler
    }

    @Test(arguments: [(StageMediaRole.none, UInt8(2), UInt64(0), "not in a stage"),
                      (.participant, 2, 0, "not accepting connections in this role"),
                      (.relay(StageRelay()), 1, 0, "relay only accepts listeners"),
                      (.host(StageHostMedia(audio: nil)), 7, 0, "unknown connection type")])
    func connectionTable(role: StageMediaRole, type: UInt8, code: UInt64, reason: String) async throws {
        let network = InMemoryPeerNetwork()
        let server = Ed25519.SecretKey.generate().publicKey, client = Ed25519.SecretKey.generate().publicKey
        let handler = StageMediaHandler()
        handler.setRole(role)
        network.serve(server, alpn: StageMedia.alpn, handler: handler)
        let connection = try await network.dialer(for: client).connect(to: PeerAddress(id: server), alpn: StageMedia.alpn, timeoutSeconds: 5)
        if let (send, _) = try? await connection.openBidirectionalStream() { try? await send.write([type]) }
        #expect(await connection.closed() == .connectionClosed(code: code, reason: reason))
    }

    @Test func bannedNodeIsRefusedWithCodeOne() async throws {
        let network = InMemoryPeerNetwork()
        let server = Ed25519.SecretKey.generate().publicKey, client = Ed25519.SecretKey.generate().publicKey
        let handler = StageMediaHandler()
        handler.setRole(.host(StageHostMedia(audio: nil)))
        handler.ban(client)
        network.serve(server, alpn: StageMedia.alpn, handler: handler)
        let connection = try await network.dialer(for: client).connect(to: PeerAddress(id: server), alpn: StageMedia.alpn, timeoutSeconds: 5)
        #expect(await connection.closed() == .connectionClosed(code: 1, reason: "banned"))
    }
}

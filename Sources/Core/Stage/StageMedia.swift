import Synchronization

/// `proscenium/stage/1` media plane (spec §10.4–10.7) over Core/Net. Frames are opaque §9.2 byte
/// strings here; decoding and mixing live in AudioPipeline (`StageMixer`), which plugs in through
/// `StageHostAudio`.
public enum StageMedia {
    public static let alpn = "proscenium/stage/1"
    /// §10.4 connection-type byte.
    public enum ConnectionType: UInt8, Sendable {
        case speaker = 0x01
        case listener = 0x02
    }
    /// accept_bi and type-byte read deadline (spec §14).
    public static let handshakeTimeoutSeconds = 5.0
    static let readChunk = 16_384
}

/// The host's audio engine as the media plane sees it: speakers' frames in (unchanged wire frames).
public protocol StageHostAudio: Sendable {
    func speakerJoined(_ speaker: EndpointID)
    func speakerFrame(_ speaker: EndpointID, frame: [UInt8])
    func speakerLeft(_ speaker: EndpointID)
}

/// The host's media hub: listener fan-out of the mixed stream, the SFU between speakers, and the
/// host's own voice to speakers.
public final class StageHostMedia: Sendable {
    private struct Speaker {
        let connection: any PeerConnection
        let fanout: StageRelay
    }
    private let speakers = Mutex<[EndpointID: Speaker]>([:])
    /// The authenticated mixed stream to listeners and relays.
    public let listenerFanout: StageRelay
    /// The host's own voice to speakers (tag 0x00, its own counters).
    public let hostVoiceFanout = StageRelay(limits: StageRelayLimits(maxListeners: 10_000, maxKilobitsPerSecond: .max / 2))
    private let audio: (any StageHostAudio)?
    /// Called when a listener connection (a listener or a relay's upstream) ends: topology liveness.
    private let onListenerGone: @Sendable (EndpointID) -> Void

    public init(audio: (any StageHostAudio)?, listenerLimits: StageRelayLimits = StageRelayLimits(maxListeners: 100_000, maxKilobitsPerSecond: .max / 2),
                onListenerGone: @escaping @Sendable (EndpointID) -> Void = { _ in }) {
        self.audio = audio
        self.listenerFanout = StageRelay(limits: listenerLimits)
        self.onListenerGone = onListenerGone
    }

    /// One mixed, authenticated frame from the mixer.
    public func publishMixed(_ frame: [UInt8]) { listenerFanout.ingest(frame) }

    public func publishHostVoice(_ frame: [UInt8]) { hostVoiceFanout.ingest(frame) }

    public var speakerIDs: [EndpointID] { speakers.withLock { Array($0.keys) } }

    func serveListener(_ connection: any PeerConnection, send: any PeerStreamWriter) async {
        defer { onListenerGone(connection.remoteID) }
        let subscription: StageRelaySubscription
        do {
            subscription = try listenerFanout.subscribe()
        } catch {
            connection.close(code: 0, reason: error.description)
            return
        }
        let served = Task {
            await listenerFanout.serve(subscription, to: send)
            connection.close(code: 0, reason: "stage ended")
        }
        _ = await connection.closed()
        listenerFanout.unsubscribe(subscription.id)
        await served.value
    }

    func serveSpeaker(_ connection: any PeerConnection, send: any PeerStreamWriter, receive: any PeerStreamReader,
                      pending: [UInt8]) async {
        try? await send.finish()
        let id = connection.remoteID
        let fanout = StageRelay(limits: StageRelayLimits(maxListeners: 10_000, maxKilobitsPerSecond: .max / 2))
        let others: [Speaker] = speakers.withLock { s in
            defer { s[id] = Speaker(connection: connection, fanout: fanout) }
            return s.filter { $0.key != id }.map(\.value)
        }
        audio?.speakerJoined(id)
        // Subscriptions feeding this speaker's connection (other speakers, host voice) are ended
        // explicitly when it leaves: a silent source would otherwise keep them forever.
        var inbound: [(StageRelay, UInt64)] = []
        func attach(_ source: StageRelay, on target: any PeerConnection, inboundToNew: Bool) async {
            guard let stream = try? await target.openUnidirectionalStream(), let sub = try? source.subscribe() else { return }
            if inboundToNew { inbound.append((source, sub.id)) }
            Task { await source.serve(sub, to: stream) }
        }
        for other in others {
            await attach(other.fanout, on: connection, inboundToNew: true)
            await attach(fanout, on: other.connection, inboundToNew: false)
        }
        await attach(hostVoiceFanout, on: connection, inboundToNew: true)
        var splitter = StageFrameSplitter()
        let forward: ([UInt8]) -> Void = { frame in
            fanout.ingest(frame)
            self.audio?.speakerFrame(id, frame: frame)
        }
        do {
            try splitter.feed(pending, forward)
            while let chunk = try await receive.read(maxBytes: StageMedia.readChunk) {
                try splitter.feed(chunk, forward)
            }
        } catch {
            // Stream error or malformed frame: the speaker session ends (§9.2).
        }
        speakers.withLock { s in if s[id]?.connection === connection { s[id] = nil } }
        fanout.close()
        audio?.speakerLeft(id)
        for (source, id) in inbound { source.unsubscribe(id) }
    }

    public func close() {
        listenerFanout.close()
        hostVoiceFanout.close()
        for speaker in speakers.withLock({ s in defer { s.removeAll() }; return Array(s.values) }) {
            speaker.fanout.close()
            speaker.connection.close(code: 0, reason: "stage ended")
        }
    }
}

/// What this node does in the media plane; decides how incoming connections are treated (§10.4).
public enum StageMediaRole: Sendable {
    case none
    case host(StageHostMedia)
    case relay(StageRelay)
    /// A speaker or listener that does not relay.
    case participant
}

/// The `proscenium/stage/1` protocol handler.
public final class StageMediaHandler: ProtocolHandler {
    private let role = Mutex<StageMediaRole>(.none)
    private let banned = Mutex<Set<EndpointID>>([])

    public init() {}

    public func setRole(_ newRole: StageMediaRole) { role.withLock { $0 = newRole } }
    public func ban(_ node: EndpointID) { banned.withLock { _ = $0.insert(node) } }

    public func accept(_ connection: any PeerConnection) async {
        let current = role.withLock { $0 }
        if case .none = current {
            connection.close(code: 0, reason: "not in a stage")
            return
        }
        if banned.withLock({ $0.contains(connection.remoteID) }) {
            connection.close(code: 1, reason: "banned")
            return
        }
        if case .participant = current {
            connection.close(code: 0, reason: "not accepting connections in this role")
            return
        }
        let handshake: (any PeerStreamWriter, any PeerStreamReader, UInt8, [UInt8])
        do {
            handshake = try await PeerDeadline.run(on: connection, timeoutSeconds: StageMedia.handshakeTimeoutSeconds) {
                let (send, receive) = try await connection.acceptBidirectionalStream()
                var first: [UInt8] = []
                while first.isEmpty {
                    guard let chunk = try await receive.read(maxBytes: StageMedia.readChunk) else {
                        throw PeerNetworkError.connectionLost("stream ended before the connection-type byte")
                    }
                    first = chunk
                }
                return (send, receive, first[0], Array(first.dropFirst()))
            }
        } catch {
            connection.close(code: 0, reason: "no connection type")
            return
        }
        let (send, receive, type, rest) = handshake
        switch current {
        case .relay(let relay):
            guard type == StageMedia.ConnectionType.listener.rawValue else {
                connection.close(code: 0, reason: "relay only accepts listeners")
                return
            }
            let subscription: StageRelaySubscription
            do {
                subscription = try relay.subscribe()
            } catch {
                connection.close(code: 0, reason: error.description)
                return
            }
            let served = Task {
                await relay.serve(subscription, to: send)
                connection.close(code: 0, reason: "relay stopped")
            }
            _ = await connection.closed()
            relay.unsubscribe(subscription.id)
            await served.value
        case .host(let host):
            switch type {
            case StageMedia.ConnectionType.listener.rawValue:
                // Anything the listener sends after the type byte is ignored.
                await host.serveListener(connection, send: send)
            case StageMedia.ConnectionType.speaker.rawValue:
                await host.serveSpeaker(connection, send: send, receive: receive, pending: rest)
            default:
                connection.close(code: 0, reason: "unknown connection type")
            }
        case .none, .participant:
            connection.close(code: 0, reason: "not accepting connections in this role")
        }
    }
}

/// The result of one listener connection.
public enum StageListenEnd: Equatable, Sendable {
    case streamEnded
    case connectFailed(String)
    case authFailed(StageStreamVerifier.Failure)
    case malformed(String)
}

/// Listener side of §10.7/§10.8: connects to a source (host or relay), sends 0x02 and verifies the
/// mixed stream against the host's signing key. Checkpoint frames shorter than 96 bytes are skipped.
public enum StageListenerClient {
    /// One connection's worth of listening. `deliver` gets every playable Opus packet with its seq
    /// and whether the chain vouched for it. Returns why it ended (a failure means: reconnect with a
    /// fresh verifier).
    public static func listen(dialer: any PeerDialer, source: EndpointID, hostSigningKey: Ed25519.PublicKey,
                              timeoutSeconds: Double = 10, onConnected: @Sendable (any PeerConnection) -> Void = { _ in },
                              deliver: @Sendable (_ sequence: UInt32, _ opus: [UInt8], _ verified: Bool) -> Void) async -> StageListenEnd {
        let connection: any PeerConnection
        let receive: any PeerStreamReader
        do {
            connection = try await dialer.connect(to: PeerAddress(id: source), alpn: StageMedia.alpn, timeoutSeconds: timeoutSeconds)
            let (send, recv) = try await connection.openBidirectionalStream()
            try await send.write([StageMedia.ConnectionType.listener.rawValue])
            receive = recv
        } catch {
            return .connectFailed(String(describing: error))
        }
        onConnected(connection)
        defer { connection.close(code: 0, reason: "done") }
        var splitter = StageFrameSplitter()
        var verifier = StageStreamVerifier(hostSigningKey: hostSigningKey)
        var failure: StageStreamVerifier.Failure?
        do {
            while failure == nil, let chunk = try await receive.read(maxBytes: StageMedia.readChunk) {
                try splitter.feed(chunk) { frame in
                    guard failure == nil else { return }
                    switch verifier.accept(StageWireFrame.authenticated(frame)) {
                    case let .play(opus, verified): deliver(StageWireFrame.sequence(of: frame), opus, verified)
                    case .malformed: break
                    case .failed(let reason): failure = reason
                    }
                }
            }
        } catch let error as StageFrameError {
            return .malformed(error.description)
        } catch {
            return .streamEnded
        }
        if let failure { return .authFailed(failure) }
        return .streamEnded
    }
}

/// Relay upstream: a second LISTENER connection to the relay's own upstream, frames copied
/// unchanged (checkpoint prefix included) into the relay's fan-out.
public enum StageRelayUpstream {
    public static func run(dialer: any PeerDialer, upstream: EndpointID, relay: StageRelay,
                           onConnected: @Sendable (any PeerConnection) -> Void = { _ in }) async -> StageListenEnd {
        let connection: any PeerConnection
        let receive: any PeerStreamReader
        do {
            connection = try await dialer.connect(to: PeerAddress(id: upstream), alpn: StageMedia.alpn, timeoutSeconds: 10)
            let (send, recv) = try await connection.openBidirectionalStream()
            try await send.write([StageMedia.ConnectionType.listener.rawValue])
            receive = recv
        } catch {
            return .connectFailed(String(describing: error))
        }
        onConnected(connection)
        defer { connection.close(code: 0, reason: "done") }
        var splitter = StageFrameSplitter()
        do {
            while let chunk = try await receive.read(maxBytes: StageMedia.readChunk) {
                try splitter.feed(chunk) { relay.ingest($0) }
            }
        } catch let error as StageFrameError {
            return .malformed(error.description)
        } catch {
            return .streamEnded
        }
        return .streamEnded
    }
}

/// Speaker side of §10.5: 0x01 then our frames on the bi stream; the host's uni streams (other
/// speakers and the host's voice, no per-stream header) delivered as they arrive.
public final class StageSpeakerClient: Sendable {
    public let connection: any PeerConnection
    private let send: any PeerStreamWriter

    private init(connection: any PeerConnection, send: any PeerStreamWriter) {
        self.connection = connection
        self.send = send
    }

    /// Connects and starts receiving; `received(streamIndex, frame)` for each frame of each uni stream.
    public static func connect(dialer: any PeerDialer, host: EndpointID,
                               received: @escaping @Sendable (Int, [UInt8]) -> Void) async throws -> StageSpeakerClient {
        let connection = try await dialer.connect(to: PeerAddress(id: host), alpn: StageMedia.alpn, timeoutSeconds: 10)
        let (send, _) = try await connection.openBidirectionalStream()
        try await send.write([StageMedia.ConnectionType.speaker.rawValue])
        Task {
            var index = 0
            while let stream = try? await connection.acceptUnidirectionalStream() {
                let streamIndex = index
                index += 1
                Task {
                    var splitter = StageFrameSplitter()
                    while let chunk = try? await stream.read(maxBytes: StageMedia.readChunk) {
                        guard (try? splitter.feed(chunk, { received(streamIndex, $0) })) != nil else { break }
                    }
                }
            }
        }
        return StageSpeakerClient(connection: connection, send: send)
    }

    /// One microphone frame (§9.2, tag 0x00).
    public func send(frame: [UInt8]) async throws { try await send.write(frame) }

    public func close() {
        Task { [send] in try? await send.finish() }
        connection.close(code: 0, reason: "done")
    }
}

/// A listener's media pipeline with the recovery policy: follow `RelayAssignment`s, and when a
/// relay's stream ends fall straight back to the host (no backoff), so a dead relay's listeners
/// are playing again long before the host's reassignment arrives. Failed connects and
/// authentication failures back off 2 s, doubling, capped at 30 s (spec §10.8/§10.9).
public final class StageListenerPipeline: Sendable {
    private struct State {
        var source: EndpointID
        /// Bumped by every reassignment: tells "we closed it to move" from "the source went away".
        var generation = 0
        var connection: (any PeerConnection)?
        var stopped = false
        var connections = 0
        var authFailures = 0
    }
    private let state: Mutex<State>
    private let host: EndpointID
    private let hostSigningKey: Ed25519.PublicKey
    private let dialer: any PeerDialer
    private let deliver: @Sendable (UInt32, [UInt8], Bool) -> Void
    private let sleep: @Sendable (Double) async -> Void

    public init(dialer: any PeerDialer, host: EndpointID, hostSigningKey: Ed25519.PublicKey, source: EndpointID? = nil,
                sleep: @escaping @Sendable (Double) async -> Void = { seconds in try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000)) },
                deliver: @escaping @Sendable (_ sequence: UInt32, _ opus: [UInt8], _ verified: Bool) -> Void) {
        self.dialer = dialer
        self.host = host
        self.hostSigningKey = hostSigningKey
        self.deliver = deliver
        self.sleep = sleep
        state = Mutex(State(source: source ?? host))
    }

    public var currentSource: EndpointID { state.withLock { $0.source } }
    /// Connections made so far (reconnects included).
    public var connectionCount: Int { state.withLock { $0.connections } }
    public var authFailureCount: Int { state.withLock { $0.authFailures } }

    /// Restart towards `source` (a `RelayAssignment` naming me; the host's id means back to the host).
    public func reassign(to source: EndpointID) {
        let old: (any PeerConnection)? = state.withLock { s in
            guard s.source != source else { return nil }
            s.source = source
            s.generation += 1
            return s.connection
        }
        old?.close(code: 0, reason: "reassigned")
    }

    public func stop() {
        let connection: (any PeerConnection)? = state.withLock { s in
            s.stopped = true
            return s.connection
        }
        connection?.close(code: 0, reason: "done")
    }

    /// Runs until `stop()`.
    public func run() async {
        var backoff = 2.0
        while !state.withLock({ $0.stopped }) {
            let (source, generation) = state.withLock { ($0.source, $0.generation) }
            let end = await StageListenerClient.listen(dialer: dialer, source: source, hostSigningKey: hostSigningKey,
                                                       onConnected: { connection in
                let stale = self.state.withLock { s -> Bool in
                    s.connection = connection
                    s.connections += 1
                    // Stopped, or reassigned while this connection was being set up.
                    return s.stopped || s.generation != generation
                }
                if stale { connection.close(code: 0, reason: "reassigned") }
            }, deliver: deliver)
            state.withLock { $0.connection = nil }
            if state.withLock({ $0.stopped }) { return }
            switch end {
            case .streamEnded:
                // The source went away (or we were reassigned): a dead relay means back to the host.
                let reassigned = state.withLock { s -> Bool in
                    if s.generation != generation { return true }
                    if source != host { s.source = host; s.generation += 1; return true }
                    return false
                }
                if reassigned {
                    backoff = 2
                } else {
                    // The host itself ended the stream: do not spin.
                    await sleep(backoff)
                    backoff = min(backoff * 2, 30)
                }
            case .connectFailed, .malformed, .authFailed:
                if case .authFailed = end { state.withLock { $0.authFailures += 1 } }
                state.withLock { s in if s.generation == generation, s.source != host { s.source = host; s.generation += 1 } }
                await sleep(backoff)
                backoff = min(backoff * 2, 30)
            }
        }
    }
}

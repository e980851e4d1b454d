import Core

/// How call signals travel (§9.1: DM payloads over the ratchet). `DMService` is the production
/// channel; tests use a fake.
public protocol CallSignalChannel: Sendable {
    /// Sends once, not queued (§8.6); false when it could not be delivered.
    func sendSignal(_ payload: DMPayload, to peer: Ed25519.PublicKey) async -> Bool
    func setSignalHandler(_ handler: DMService.SignalHandler?) async
}

extension DMService: CallSignalChannel {}

/// Why a call command was refused.
public enum CallError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The node runs without audio (`--audio none`).
    case audioUnavailable
    case busy(phase: String, callID: String)
    case invalidPeer(String)
    case noIncomingCall
    case noCall

    public var description: String {
        switch self {
        case .audioUnavailable: return "calls need audio: this node runs with --audio none"
        case let .busy(phase, id): return "already in a call (\(phase), id \(id)); hang up first"
        case let .invalidPeer(why): return "invalid peer: \(why)"
        case .noIncomingCall: return "no incoming call to answer or reject"
        case .noCall: return "no call in progress"
        }
    }
}

/// What `calls` shows: the current or last call and its media statistics.
public struct CallStatus: Equatable, Sendable {
    public var phase: String
    public var callID: String?
    public var peer: String?
    public var direction: String?
    /// Since the call went active (or ended), in ms.
    public var durationMillis: Int64?
    public var endReason: CallEndReason?
    public var media: CallMediaStatistics?
    public var busyRejections: Int
}

/// Voice calls (§9): DM signalling through a `CallSignalChannel`, media on `proscenium/call/1`.
///
/// The caller dials the callee's first transport id after `CallAnswer`, opens one bi stream and
/// sends at once; the callee accepts that connection only from the master key it answered (looked
/// up through the `PeerDirectory`). Both sides send and receive 20 ms frames on that one stream.
/// All decisions are made by `CallStateMachine`; this actor carries out its effects.
public actor CallService {
    public static let alpn = "proscenium/call/1"

    public struct Configuration: Sendable {
        public var timeouts = CallStateMachine.Timeouts()
        /// How often timeouts and media liveness are checked.
        public var watchdogIntervalMicros: Int64 = 100_000
        /// Media loop period (capture drain, playback top-up); half a frame.
        public var mediaTickMicros: Int64 = 10_000
        public var dialTimeoutSeconds = 10.0
        public var voice = VoiceSession.Options()
        public init() {}
    }

    public nonisolated let ownMaster: Ed25519.PublicKey
    let signalling: any CallSignalChannel
    let directory: any PeerDirectory
    let dialer: any PeerDialer
    let audio: (any CallAudioProvider)?
    let clock: any AudioClock
    let logger: Logger
    let configuration: Configuration

    private var machine: CallStateMachine
    private var media: CallMedia?
    private var mediaFramesSeen = 0
    private var lastMediaStatistics: CallMediaStatistics?
    private var watchdog: Task<Void, Never>?
    private var observers: [@Sendable (CallStatus) -> Void] = []
    private var muted = false

    /// `audio == nil` is a node without sound (`--audio none`): calls are refused both ways.
    public init(ownMaster: Ed25519.PublicKey, signalling: any CallSignalChannel, directory: any PeerDirectory,
                dialer: any PeerDialer, audio: (any CallAudioProvider)?, clock: any AudioClock = SystemAudioClock(),
                logger: Logger, configuration: Configuration = Configuration()) {
        self.ownMaster = ownMaster
        self.signalling = signalling
        self.directory = directory
        self.dialer = dialer
        self.audio = audio
        self.clock = clock
        self.logger = logger
        self.configuration = configuration
        machine = CallStateMachine(clock: clock, timeouts: configuration.timeouts)
    }

    /// The `ProtocolHandler` to register for `proscenium/call/1`.
    public nonisolated var handler: CallProtocolHandler { CallProtocolHandler(service: self) }

    /// Takes over the signal channel's handler and starts the timeout watchdog.
    public func start() async {
        await signalling.setSignalHandler { [weak self] from, payload in
            await self?.handleSignal(from: from, payload: payload)
        }
        guard watchdog == nil else { return }
        let interval = UInt64(configuration.watchdogIntervalMicros) * 1_000
        watchdog = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: interval)
                await self?.tick()
            }
        }
    }

    /// Hangs up any call and stops the watchdog.
    public func stop() async {
        if machine.phase.isBusy { await apply(machine.phase == .incomingRinging ? .reject : .hangup) }
        watchdog?.cancel()
        watchdog = nil
        await signalling.setSignalHandler(nil)
    }

    /// Called with the new status on every phase change (for LEDs, the console, GPIO).
    public func addObserver(_ observer: @escaping @Sendable (CallStatus) -> Void) {
        observers.append(observer)
    }

    // MARK: - Commands

    @discardableResult
    public func call(_ peer: Ed25519.PublicKey) async throws(CallError) -> CallStatus {
        guard audio != nil else { throw .audioUnavailable }
        guard peer != ownMaster else { throw .invalidPeer("cannot call yourself") }
        if machine.phase.isBusy, let c = machine.call { throw .busy(phase: machine.phase.name, callID: c.id) }
        await apply(.dial(callID: RandomID.generate(), peer: peer.hex))
        return status()
    }

    @discardableResult
    public func answer() async throws(CallError) -> CallStatus {
        guard machine.phase == .incomingRinging else { throw .noIncomingCall }
        guard audio != nil else { throw .audioUnavailable }
        await apply(.answer)
        return status()
    }

    /// Rejects a ringing incoming call, or cancels our ringing outgoing one.
    @discardableResult
    public func reject() async throws(CallError) -> CallStatus {
        guard machine.phase == .incomingRinging || machine.phase == .outgoingRinging else { throw .noIncomingCall }
        await apply(.reject)
        return status()
    }

    @discardableResult
    public func hangup() async throws(CallError) -> CallStatus {
        guard machine.phase.isBusy else { throw .noCall }
        await apply(.hangup)
        return status()
    }

    /// Mute (push-to-talk released) or unmute the microphone; applies to the current and later calls.
    public func setMuted(_ muted: Bool) {
        self.muted = muted
        media?.setMuted(muted)
    }

    public var isMuted: Bool { muted }

    public func status() -> CallStatus {
        let call = machine.call
        let now = clock.nowMicros()
        var duration: Int64?
        if let active = call?.activeMicros { duration = ((call?.endedMicros ?? now) - active) / 1_000 }
        var reason: CallEndReason?
        if case let .ended(r) = machine.phase { reason = r }
        return CallStatus(phase: machine.phase.name, callID: call?.id, peer: call?.peer, direction: call?.direction.rawValue,
                          durationMillis: duration, endReason: reason, media: media?.statistics ?? lastMediaStatistics,
                          busyRejections: machine.busyRejections)
    }

    public var phase: CallStateMachine.Phase { machine.phase }

    // MARK: - Events

    func handleSignal(from: Ed25519.PublicKey, payload: DMPayload) async {
        switch payload {
        case let .callOffer(id, _):
            guard audio != nil else {
                logger.info("call \(id) from \(from.hex.prefix(12)) rejected: no audio on this node")
                _ = await signalling.sendSignal(.callReject(callID: id), to: from)
                return
            }
            await apply(.offerReceived(callID: id, peer: from.hex))
        case let .callAnswer(id): await apply(.answerReceived(callID: id, peer: from.hex))
        case let .callReject(id): await apply(.rejectReceived(callID: id, peer: from.hex))
        case let .callHangup(id): await apply(.hangupReceived(callID: id, peer: from.hex))
        default: break
        }
    }

    func tick() async {
        if let media {
            let seen = media.framesReceived
            if seen > mediaFramesSeen {
                mediaFramesSeen = seen
                _ = machine.handle(.mediaReceived)
            }
        }
        await perform(machine.tick())
    }

    private func apply(_ event: CallStateMachine.Event) async {
        let before = machine.phase
        let effects = machine.handle(event)
        await perform(effects)
        if machine.phase != before { notify() }
    }

    private func notify() {
        let current = status()
        for observer in observers { observer(current) }
    }

    private func perform(_ effects: [CallStateMachine.Effect]) async {
        var changed = false
        for effect in effects {
            switch effect {
            case let .sendOffer(id, peer):
                guard let key = try? Ed25519.PublicKey(hex: peer) else { continue }
                let signalling = signalling
                Task {
                    let delivered = await signalling.sendSignal(.callOffer(callID: id, video: false), to: key)
                    if !delivered { await self.offerFailed(callID: id) }
                }
            case let .sendAnswer(id, peer): signal(.callAnswer(callID: id), to: peer)
            case let .sendReject(id, peer): signal(.callReject(callID: id), to: peer)
            case let .sendHangup(id, peer): signal(.callHangup(callID: id), to: peer)
            case let .dialMedia(id, peer):
                Task { await self.dialMedia(callID: id, peer: peer) }
            case .awaitMedia:
                break   // the protocol handler checks the phase when the caller's connection arrives
            case .stopMedia:
                if let media {
                    lastMediaStatistics = media.statistics
                    self.media = nil
                    await media.stop()
                }
            case let .ended(id, reason):
                logger.info("call \(id) ended: \(reason)")
                changed = true
            }
        }
        if changed, let stats = lastMediaStatistics, machine.call?.activeMicros != nil {
            logger.info("call media: sent \(stats.framesSent), received \(stats.framesReceived), late \(stats.late), concealed \(stats.concealed), delay \(stats.currentDelayMillis) ms")
        }
    }

    /// Signals other than the offer are best effort and must not hold up the state change.
    private func signal(_ payload: DMPayload, to peer: String) {
        guard let key = try? Ed25519.PublicKey(hex: peer) else { return }
        let signalling = signalling
        let logger = logger
        Task {
            if !(await signalling.sendSignal(payload, to: key)) { logger.info("call signal \(payload) to \(peer.prefix(12)) not delivered") }
        }
    }

    private func offerFailed(callID: String) async {
        guard machine.call?.id == callID else { return }
        await apply(.offerFailed)
    }

    private func isConnecting(_ callID: String) -> Bool {
        machine.phase == .connecting && machine.call?.id == callID && media == nil
    }

    /// Caller, after `CallAnswer`: dial the callee's first transport id and open the bi stream.
    private func dialMedia(callID: String, peer: String) async {
        do {
            let key = try Ed25519.PublicKey(hex: peer)
            guard let target = try await directory.transportIDs(for: key).first else {
                throw CallError.invalidPeer("no transport id known for \(peer.prefix(12))")
            }
            let connection = try await dialer.connect(to: PeerAddress(id: target), alpn: Self.alpn,
                                                      timeoutSeconds: configuration.dialTimeoutSeconds)
            guard isConnecting(callID) else {
                connection.close(code: 0, reason: "call ended")
                return
            }
            let (send, receive) = try await connection.openBidirectionalStream()
            await startMedia(callID: callID, connection: connection, send: send, receive: receive)
        } catch {
            guard isConnecting(callID) else { return }
            await apply(.mediaConnectFailed(String(describing: error)))
        }
    }

    /// Callee: the caller's `proscenium/call/1` connection.
    func acceptMedia(_ connection: any PeerConnection) async {
        let master = try? await directory.master(forTransportID: connection.remoteID)
        guard let call = machine.call, call.direction == .incoming, let master, master.hex == call.peer,
              isConnecting(call.id) else {
            logger.info("call connection from \(connection.remoteID.hex.prefix(12)) refused: no answered call from it")
            connection.close(code: 0, reason: "no call")
            return
        }
        do {
            let (send, receive) = try await connection.acceptBidirectionalStream()
            guard isConnecting(call.id) else {
                connection.close(code: 0, reason: "call ended")
                return
            }
            await startMedia(callID: call.id, connection: connection, send: send, receive: receive)
        } catch {
            guard isConnecting(call.id) else { return }
            await apply(.mediaConnectFailed(String(describing: error)))
        }
    }

    private func startMedia(callID: String, connection: any PeerConnection, send: any PeerStreamWriter,
                            receive: any PeerStreamReader) async {
        guard let audio else {
            connection.close(code: 0, reason: "call ended")
            await apply(.audioFailed("no audio"))
            return
        }
        do {
            let media = try CallMedia(audio: try audio.makeCallAudio(), connection: connection, send: send, receive: receive,
                                      clock: clock, options: configuration.voice, tickMicros: configuration.mediaTickMicros,
                                      onEnd: { [weak self] end in await self?.mediaEnded(callID: callID, end) })
            media.setMuted(muted)
            try media.start()
            self.media = media
            mediaFramesSeen = 0
            lastMediaStatistics = nil
            await apply(.mediaConnected)
        } catch {
            connection.close(code: 0, reason: "call ended")
            await apply(.audioFailed(String(describing: error)))
        }
    }

    private func mediaEnded(callID: String, _ end: CallMedia.End) async {
        guard machine.call?.id == callID else { return }
        switch end {
        case .finished: await apply(.mediaEnded)
        case let .failed(why): await apply(.mediaLost(why))
        }
    }
}

/// Serves `proscenium/call/1`: hands each connection to the `CallService`.
public struct CallProtocolHandler: ProtocolHandler {
    let service: CallService
    public func accept(_ connection: any PeerConnection) async {
        await service.acceptMedia(connection)
    }
}

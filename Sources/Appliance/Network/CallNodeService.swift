import AudioPipeline
import Core

/// Voice calls: `CallService` on `proscenium/call/1`, signalled over DMs, with ALSA devices from
/// [audio] (none with `--audio none`: calls are then refused with that reason). Phase changes go
/// to `onPhase` (the GPIO LEDs and buttons).
actor CallNodeService: Service {
    nonisolated let name = "call"
    private let identity: NodeIdentity
    private let components: NodeComponents
    private let resolver: PeerResolver
    private let audioBackend: String
    private let audioInput: String
    private let audioOutput: String
    private let onPhase: @Sendable (CallPhase) -> Void
    private let logger: Logger
    /// A push-to-talk button is wired: the microphone is open only while it is held.
    private let pushToTalk: Bool
    private let silenceMillis: Int

    init(identity: NodeIdentity, components: NodeComponents, resolver: PeerResolver, audioBackend: String,
         audioInput: String, audioOutput: String, pushToTalk: Bool = false, silenceMillis: Int = 2_500, logger: Logger,
         onPhase: @escaping @Sendable (CallPhase) -> Void) {
        self.pushToTalk = pushToTalk
        self.silenceMillis = silenceMillis
        self.identity = identity
        self.components = components
        self.resolver = resolver
        self.audioBackend = audioBackend
        self.audioInput = audioInput
        self.audioOutput = audioOutput
        self.onPhase = onPhase
        self.logger = logger
    }

    /// GPIO's view of a call phase (`CallStatus.phase` names).
    static func gpioPhase(_ phase: String) -> CallPhase {
        switch phase {
        case "incoming": return .ringing
        case "ringing", "connecting": return .outgoing
        case "active": return .inCall
        default: return .idle
        }
    }

    func start() async throws {
        guard let dm = components.dm, let social = components.social else {
            throw AdminCommandError("DM or social service not running")
        }
        let audio: (any CallAudioProvider)?
        if audioBackend == "none" {
            audio = nil
            logger.info("calls refused: no audio (--audio none)")
        } else if audioBackend == "file" {
            // The ALSA default PCM name means "no file" here: silence in, nothing written out.
            let input = audioInput == "default" ? "" : audioInput
            let output = audioOutput == "default" ? "" : audioOutput
            audio = DeviceCallAudioProvider.files(input: input, output: output, logger: logger)
            logger.info("calls on files: in \(input.isEmpty ? "(silence)" : input), out \(output.isEmpty ? "(discarded)" : output)")
        } else {
            let input = audioInput.isEmpty ? "default" : audioInput
            let output = audioOutput.isEmpty ? "default" : audioOutput
            audio = DeviceCallAudioProvider.alsa(input: input, output: output, logger: logger)
            logger.info("calls on ALSA in \(input), out \(output)")
        }
        var configuration = CallService.Configuration()
        configuration.timeouts.mediaSilenceMicros = Int64(silenceMillis) * 1_000
        let service = CallService(ownMaster: identity.masterPublicKey, signalling: dm, directory: social.directory,
                                  dialer: LiveDialer(components: components), audio: audio, logger: logger,
                                  configuration: configuration)
        let onPhase = self.onPhase, logger = self.logger
        await service.addObserver { status in
            logger.notice("call \(status.callID ?? "-"): \(status.phase)")
            onPhase(CallNodeService.gpioPhase(status.phase))
        }
        await service.start()
        if pushToTalk {
            await service.setMuted(true)
            logger.info("push-to-talk: calls start muted; hold the button to talk")
        }
        components.setCall(service)
        components.callHandler.bind(PeerAwareHandler(inner: service.handler, components: components, resolver: resolver,
                                                     resolveFirst: true))
    }

    func stop() async {
        let service = components.call
        components.setCall(nil)
        await service?.stop()
        onPhase(.idle)
    }
}

/// What a GPIO button press does to the running call service.
struct CallButtonActions: Sendable {
    let components: NodeComponents
    let logger: Logger
    /// `gpio.call_peer`, read at each press (it is a live setting).
    let callPeer: @Sendable () async -> String

    func perform(_ action: CallAction) async {
        guard let service = components.call else {
            logger.notice("button \(action.rawValue): the call service is not running")
            return
        }
        do {
            switch action {
            case .answer: try await service.answer()
            case .reject: try await service.reject()
            case .hangUp: try await service.hangup()
            // Push-to-talk: the microphone is open only while the button is held (during a call,
            // or held from before it connects).
            case .startTalking, .stopTalking:
                await service.setMuted(action == .stopTalking)
            case .callDefault:
                let peer = await callPeer()
                guard !peer.isEmpty else {
                    logger.notice("button call_default: no gpio.call_peer configured")
                    return
                }
                let key = try NetworkCommands.peerKey(peer, components: components)
                try await service.call(try Ed25519.PublicKey(hex: key))
            }
        } catch {
            logger.notice("button \(action.rawValue): \(error)")
        }
    }
}

/// `call`, `answer`, `reject`, `hangup`, `calls` over AudioPipeline's `CallCommands`.
enum CallAdminCommands {
    static func register(in registry: CommandRegistry, components: NodeComponents) {
        func command(_ name: String, _ summary: String, usage: String = "", details: String = "",
                     arguments: ClosedRange<Int> = 0...0,
                     _ run: @escaping @Sendable (CallCommands, [String]) async throws -> CallCommandReply) {
            registry.register(AdminCommand(name: name, summary: summary, usage: usage, details: details,
                                           arguments: arguments) { arguments in
                let commands = CallCommands(service: try components.requireCall())
                do {
                    let reply = try await run(commands, arguments)
                    return CommandOutput(text: reply.text, json: JSONValue(wire: reply.value))
                } catch let error as AdminCommandError {
                    throw error
                } catch {
                    throw AdminCommandError("\(name): \(error)")
                }
            })
        }
        command("call", "Call someone (voice).", usage: "PEER",
                details: "PEER is a master key (64 hex) or the display name of someone you follow.",
                arguments: 1...1) { c, a in
            try await c.call(try NetworkCommands.peerKey(a[0], components: components))
        }
        command("answer", "Answer the ringing call.") { c, _ in try await c.answer() }
        command("reject", "Reject the ringing call.") { c, _ in try await c.reject() }
        command("hangup", "End the current call (or cancel an outgoing one).") { c, _ in try await c.hangup() }
        command("calls", "The current or last call, with media statistics.") { c, _ in await c.calls() }
    }

    /// One line for `status`.
    static func statusLine(_ status: CallStatus?) -> String {
        guard let status else { return "not running" }
        guard let id = status.callID else { return status.phase }
        return "\(status.phase) \(id) \(status.direction ?? "") \(status.peer.map { String($0.prefix(12)) } ?? "?")"
    }
}

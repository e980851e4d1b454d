import Core
import Transport

/// The always-on volunteer Stage relay (spec §10.7) and the node's `proscenium/stage/1` handler.
///
/// With `[relay] enabled`, a `StageAnnouncement` on the feed of a followed host (one of
/// `relay.hosts`, or any when that is empty) starts relaying its Stage, and its `StageEnded` stops
/// it; `relay start TICKET` does the same by hand for any Stage.
///
/// Relaying one Stage: join its control topic over gossip (bootstrap: the host's node), say
/// `Presence` as a Listener, open a LISTENER connection to the host and copy its mixed stream,
/// unchanged, into a `StageRelay` that serves the listeners the host assigns here; then broadcast
/// `RelayVolunteer` with the configured capacity. It stops on the host's `End`, on `relay stop`,
/// or when the host's stream ends and cannot be reopened. Without a Stage, incoming Stage
/// connections are refused with "not in a stage" (§10.4).
actor StageRelayNodeService: Service {
    nonisolated let name = "stage"

    struct Limits: Sendable {
        var maxListeners: Int
        var maxKilobitsPerSecond: Int
    }

    /// `[relay] enabled` and `hosts`, read when news arrives (both are live settings).
    struct Policy: Sendable {
        var enabled: @Sendable () async -> Bool
        var hosts: @Sendable () async -> [String]
    }

    /// One Stage being relayed.
    private struct Session {
        let ticket: StageTicket
        let relay: StageRelay
        let channel: StageControlChannel
        let tasks: [Task<Void, Never>]
        let startedMillis: UInt64
    }

    private let identity: NodeIdentity
    private let components: NodeComponents
    private let limits: Limits
    private let policy: Policy?
    private let onRelaying: @Sendable (Bool) -> Void
    private let logger: Logger
    private let handler = StageMediaHandler()
    private var session: Session?
    private var lastEnd: String?

    init(identity: NodeIdentity, components: NodeComponents, limits: Limits, policy: Policy? = nil, logger: Logger,
         onRelaying: @escaping @Sendable (Bool) -> Void) {
        self.policy = policy
        self.identity = identity
        self.components = components
        self.limits = limits
        self.logger = logger
        self.onRelaying = onRelaying
    }

    func start() async throws {
        components.stageHandler.bind(handler)
        components.setStageRelay(self)
        if policy != nil, let social = components.social {
            await social.setStageObserver { [weak self] news in Task { await self?.heard(news) } }
        }
    }

    /// Stage news from a followed feed: relay what policy allows, one Stage at a time.
    private func heard(_ news: SocialService.StageNews) async {
        guard let policy, await policy.enabled() else { return }
        switch news {
        case let .started(announcement):
            let hosts = await policy.hosts()
            guard hosts.isEmpty || hosts.contains(announcement.hostPublicKey) else { return }
            guard session == nil else {
                logger.info("stage \(announcement.stageID) announced; already relaying \(session?.ticket.stageID ?? "")")
                return
            }
            do {
                try await relay(announcement.ticket)
            } catch {
                logger.warning("cannot relay announced stage \(announcement.stageID): \(error)")
            }
        case let .ended(stageID, _):
            await stopRelaying(reason: "the host announced its end", stageID: stageID)
        }
    }

    func stop() async {
        if policy != nil { await components.social?.setStageObserver(nil) }
        await stopRelaying(reason: "node stopping")
        components.setStageRelay(nil)
        handler.setRole(.none)
    }

    /// What `relay` shows.
    struct Status: Sendable {
        var stageID: String?
        var title: String?
        var hostNodeID: String?
        var metrics: StageRelayMetrics?
        var lastEnd: String?
        var maxListeners: Int
        var maxKilobitsPerSecond: Int
    }

    func status() -> Status {
        Status(stageID: session?.ticket.stageID, title: session?.ticket.title, hostNodeID: session?.ticket.hostNodeID,
               metrics: session?.relay.metrics, lastEnd: lastEnd, maxListeners: limits.maxListeners,
               maxKilobitsPerSecond: limits.maxKilobitsPerSecond)
    }

    /// Starts relaying the Stage of `ticket` (replacing any other).
    func relay(_ ticket: StageTicket) async throws {
        guard let gossip = components.gossip else { throw AdminCommandError("gossip is not running (see `status`)") }
        let hostNode = try EndpointID(hex: ticket.hostNodeID)
        if session != nil { await stopRelaying(reason: "replaced by stage \(ticket.stageID)") }
        let relay = StageRelay(limits: StageRelayLimits(maxListeners: limits.maxListeners,
                                                        maxKilobitsPerSecond: limits.maxKilobitsPerSecond))
        let clock = SystemWallClock()
        let channel = StageControlChannel(room: StageRoom(joining: ticket, identity: identity, clock: clock), identity: identity,
                                          bus: GossipStageControlBus(gossip: gossip), clock: clock)
        try await channel.join(bootstrap: [ticket.hostNodeID])
        handler.setRole(.relay(relay))
        let dialer = LiveDialer(components: components)
        let logger = self.logger, stageID = ticket.stageID
        // Upstream: the host's mixed stream, reopened after a drop (2 s, doubling to 30 s).
        let upstream = Task {
            var delay: UInt64 = 2
            while !Task.isCancelled {
                let end = await StageRelayUpstream.run(dialer: dialer, upstream: hostNode, relay: relay, onConnected: { _ in
                    logger.notice("relaying stage \(stageID): connected to the host")
                })
                guard !Task.isCancelled else { return }
                logger.notice("relaying stage \(stageID): host stream ended (\(end)); again in \(delay) s")
                try? await Task.sleep(nanoseconds: delay * 1_000_000_000)
                delay = min(delay * 2, 30)
                if case .streamEnded = end { delay = 2 }
            }
        }
        // Ends when the channel leaves its topic (its message stream finishes).
        let service = self
        let control = Task {
            await channel.run { events in
                guard events.contains(.ended) else { return }
                Task { await service.stopRelaying(reason: "the host ended the stage", stageID: stageID) }
            }
        }
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 5_000_000_000)
                _ = try? await channel.tick()
            }
        }
        session = Session(ticket: ticket, relay: relay, channel: channel, tasks: [upstream, control, heartbeat],
                          startedMillis: clock.nowMillis())
        lastEnd = nil
        // A broadcast made before the topic has a neighbour reaches nobody (gossip keeps no
        // history), and RelayVolunteer is said once: wait for the host's side of the swarm first.
        if let topic = try? TopicID(bytes: channel.topic) {
            var waited = 0
            while await gossip.neighbors(topic: topic).isEmpty, waited < 100 {
                try? await Task.sleep(nanoseconds: 100_000_000)
                waited += 1
            }
            if waited == 100 { logger.warning("stage \(ticket.stageID): no gossip neighbour after 10 s; volunteering anyway") }
        }
        try await channel.sendPresence()
        try await channel.send(.relayVolunteer(stageID: ticket.stageID, relayPublicKey: identity.masterPublicKey.hex,
                                               relayNodeID: identity.transportID.hex, capacity: UInt32(limits.maxListeners)))
        onRelaying(true)
        logger.notice("relaying stage \(ticket.stageID) \"\(ticket.title)\" for host node \(ticket.hostNodeID.prefix(12)); "
                      + "up to \(limits.maxListeners) listeners, \(limits.maxKilobitsPerSecond) kbit/s")
    }

    /// Stops relaying (only if it is still `stageID`'s Stage, when given).
    func stopRelaying(reason: String, stageID: String? = nil) async {
        guard let current = session, stageID == nil || current.ticket.stageID == stageID else { return }
        session = nil
        for task in current.tasks { task.cancel() }
        handler.setRole(.none)
        current.relay.close()
        await current.channel.leave()
        let metrics = current.relay.metrics
        lastEnd = "stage \(current.ticket.stageID): \(reason)"
        onRelaying(false)
        logger.notice("stopped relaying stage \(current.ticket.stageID) (\(reason)); forwarded \(metrics.framesForwarded) frames, "
                      + "dropped \(metrics.framesDropped), \(metrics.bytesForwarded) bytes")
    }
}

/// `relay`, `relay start TICKET`, `relay stop`.
enum StageRelayCommands {
    static func register(in registry: CommandRegistry, components: NodeComponents) {
        registry.register(AdminCommand(name: "relay", summary: "Stage relay: status, start TICKET, stop.",
                                       usage: "[start STAGE-TICKET [HOST-ENDPOINT-TICKET] | stop]",
                                       details: "Without arguments: the Stage being relayed and its listeners, frames and bytes.\n"
                                           + "start: volunteer as a relay for that Stage (a stage ticket, hex); the host's endpoint\n"
                                           + "ticket gives its addresses when the node does not know them (not followed, no mDNS).\n"
                                           + "stop: leave the Stage.",
                                       arguments: 0...3, completions: ["start", "stop"]) { arguments in
            guard let service = components.stageRelay else { throw AdminCommandError("the stage service is not running (see `status`)") }
            switch arguments.first {
            case nil:
                break
            case "start":
                guard arguments.count >= 2 else { throw AdminCommandError("usage: relay start STAGE-TICKET [HOST-ENDPOINT-TICKET]") }
                let ticket: StageTicket
                do { ticket = try StageTicket(stringForm: arguments[1]) } catch { throw AdminCommandError("relay: \(error)") }
                if arguments.count == 3 {
                    let host: EndpointTicket
                    do { host = try EndpointTicket(parsing: arguments[2]) } catch {
                        throw AdminCommandError("relay: not a valid endpoint ticket: \(error)")
                    }
                    guard host.addr.id.hex == ticket.hostNodeID else {
                        throw AdminCommandError("relay: the endpoint ticket is for node \(host.addr.id.hex.prefix(12)), "
                                                + "the stage's host is \(ticket.hostNodeID.prefix(12))")
                    }
                    guard let book = components.addressBook else { throw AdminCommandError("the transport is not running (see `status`)") }
                    book.add(host.addr)
                }
                do { try await service.relay(ticket) } catch let error as AdminCommandError { throw error } catch {
                    throw AdminCommandError("relay: cannot join stage \(ticket.stageID): \(error)")
                }
            case "stop":
                await service.stopRelaying(reason: "stopped by the operator")
            default:
                throw AdminCommandError("relay: unknown subcommand '\(arguments[0])' (start TICKET, stop)")
            }
            return output(await service.status())
        })
    }

    static func output(_ status: StageRelayNodeService.Status) -> CommandOutput {
        CommandOutput(text: statusLine(status), json: json(status))
    }

    static func json(_ status: StageRelayNodeService.Status) -> JSONValue {
        let m = status.metrics
        return .object([
            "relaying": .bool(status.stageID != nil),
            "stage_id": status.stageID.map { .string($0) } ?? .null,
            "title": status.title.map { .string($0) } ?? .null,
            "host_node_id": status.hostNodeID.map { .string($0) } ?? .null,
            "listeners": .int(m?.listeners ?? 0), "max_listeners": .int(status.maxListeners),
            "kbps": .int(m.map { $0.listeners * $0.streamKilobitsPerSecond } ?? 0), "max_kbps": .int(status.maxKilobitsPerSecond),
            "frames_in": .int(Int(m?.framesIn ?? 0)), "frames_forwarded": .int(Int(m?.framesForwarded ?? 0)),
            "frames_dropped": .int(Int(m?.framesDropped ?? 0)), "bytes_forwarded": .int(Int(m?.bytesForwarded ?? 0)),
            "listeners_refused": .int(Int(m?.listenersRefused ?? 0)),
            "last_end": status.lastEnd.map { .string($0) } ?? .null
        ])
    }

    static func statusLine(_ status: StageRelayNodeService.Status) -> String {
        guard let stage = status.stageID, let m = status.metrics else {
            return "not relaying" + (status.lastEnd.map { " (last: \($0))" } ?? "")
        }
        return "stage \(stage.prefix(12)) \"\(status.title ?? "")\": \(m.listeners)/\(status.maxListeners) listeners, "
            + "\(m.listeners * m.streamKilobitsPerSecond)/\(status.maxKilobitsPerSecond) kbit/s, "
            + "\(m.framesForwarded) frames forwarded, \(m.framesDropped) dropped"
    }
}

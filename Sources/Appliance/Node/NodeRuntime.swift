import Core
import Foundation

/// Wires the node together: logging, identity, services under the supervisor, signals, systemd.
final class NodeRuntime: Sendable {
    /// How often followed authors are synced over peer/1 (until gossip delivers posts live).
    static let syncIntervalSeconds: UInt64 = 60
    let config: NodeConfig
    let dataDirectory: String
    let environment: [String: String]

    init(config: NodeConfig, dataDirectory: String, environment: [String: String]) {
        self.config = config
        self.dataDirectory = dataDirectory
        self.environment = environment
    }

    /// Runs until SIGTERM/SIGINT or `shutdown`; returns the process exit status.
    func run() async -> Int32 {
        let sink = StreamLogSink(fd: 1, minimumLevel: config.logLevel)
        // With the console on this terminal, log lines step around its prompt.
        let consoleTerminal = Terminal(inputFD: 0, outputFD: 1)
        let promptLine = config.consoleEnabled && consoleTerminal.isTTY && isatty(1) == 1
            ? PromptLine(terminal: consoleTerminal) : nil
        let logger = Logger(label: "node", sink: promptLine.map { PromptAwareLogSink(inner: sink, promptLine: $0) } ?? sink)
        let notifier = SystemdNotifier(environment: environment)

        let store = IdentityStore(directory: dataDirectory)
        guard store.exists else {
            logger.error("no identity in \(dataDirectory); run `proscenium-node init --data-dir \(dataDirectory)` first")
            return 1
        }
        let identity: NodeIdentity
        do {
            identity = try store.load()
        } catch {
            logger.error("cannot load the identity from \(dataDirectory): \(error)")
            return 1
        }
        logger.notice("Proscenium Node \(NodeVersion.string) starting; master \(identity.masterPublicKey.hex)")

        let state = NodeState(identity: identity, dataDirectory: dataDirectory, config: config, logSink: sink)
        let latch = ShutdownLatch()
        let registry = CommandRegistry()
        let supervisorBox = SupervisorBox()
        let reporter = FailureReporter(supervisorBox)

        // Start order; stopped in reverse. The consoles come last so their prompt follows the start-up log.
        // database → transport → gossip → social → DM → call → control socket → (GPIO, metrics) → consoles.
        let components = NodeComponents()
        let resolver = PeerResolver(components: components, logger: logger.child("peers"))
        var services: [any Service] = [
            DatabaseService(directory: dataDirectory, components: components, logger: logger.child("database")),
            TransportService(identity: identity, listen: config.listen, mdns: config.mdns, dataDirectory: dataDirectory,
                             components: components, state: state, logger: logger.child("transport")),
            GossipNodeService(components: components, logger: logger.child("gossip")),
            SocialNodeService(identity: identity, components: components, resolver: resolver,
                              syncIntervalSeconds: NodeRuntime.syncIntervalSeconds, logger: logger.child("social")),
            DMNodeService(identity: identity, components: components, resolver: resolver, logger: logger.child("dm")),
            ControlServer(path: DataDirectory.controlSocketPath(dataDirectory), registry: registry, logger: logger.child("control"))
        ]
        // Buttons act on the call service; call phases drive the buttons' meaning and the call LED.
        let buttonActions = CallButtonActions(components: components, logger: logger.child("call"),
                                              callPeer: { await state.config.callPeer })
        let gpio = config.gpio.enabled
            ? GPIOService(config: config.gpio, state: state, registry: registry, reporter: reporter, logger: logger.child("gpio"),
                          onAction: { action in Task { await buttonActions.perform(action) } })
            : nil
        services.insert(CallNodeService(identity: identity, components: components, resolver: resolver,
                                        audioBackend: config.audioBackend, audioInput: config.audioInput,
                                        audioOutput: config.audioOutput,
                                        pushToTalk: config.gpio.enabled && config.gpio.pttLine != nil,
                                        silenceMillis: config.callSilenceMillis, logger: logger.child("call"),
                                        onPhase: { phase in if let gpio { Task { await gpio.setCallPhase(phase) } } }),
                        at: services.count - 1)
        services.insert(StageRelayNodeService(identity: identity, components: components,
                                              limits: .init(maxListeners: config.relayMaxListeners, maxKilobitsPerSecond: config.relayMaxKbps),
                                              policy: .init(enabled: { await state.config.relayEnabled },
                                                            hosts: { await state.config.relayHosts }),
                                              logger: logger.child("stage"),
                                              onRelaying: { active in if let gpio { Task { await gpio.setRelaying(active) } } }),
                        at: services.count - 1)
        if let gpio { services.append(gpio) }
        if let metricsAddress = HostPort(parsing: config.prometheusListen) {
            services.append(MetricsService(listen: metricsAddress, state: state, logger: logger.child("metrics")) {
                guard let supervisor = supervisorBox.supervisor else { return "" }
                return MetricsService.text(uptimeSeconds: await state.uptimeSeconds, services: await supervisor.states,
                                           restarts: await supervisor.restartCounts, gpio: await state.gpio,
                                           relay: await components.stageRelay?.status())
            })
        }
        let pins = AdminPinStore(dataDirectory: dataDirectory)
        if config.consoleEnabled {
            services.append(ConsoleService(name: "console", terminal: consoleTerminal,
                                           registry: registry, pins: pins, pinRequired: config.pinRequired,
                                           logger: logger.child("console"), promptLine: promptLine))
        }
        if !config.consoleTTY.isEmpty {
            services.append(ConsoleService(name: "console-tty", devicePath: config.consoleTTY, registry: registry, pins: pins,
                                           pinRequired: config.pinRequired, logger: logger.child("console-tty"),
                                           reporter: reporter))
        }
        let supervisor = Supervisor(services: services, logger: logger.child("supervisor"))
        supervisorBox.supervisor = supervisor
        BuiltinCommands.register(in: registry, state: state, supervisor: supervisor, latch: latch, components: components)
        NetworkCommands.register(in: registry, components: components)
        CallAdminCommands.register(in: registry, components: components)
        StageRelayCommands.register(in: registry, components: components)

        SignalWaiter { signal in
            Task { await latch.trigger(signalName(signal)) }
        }.start()

        await supervisor.startAll()
        notifier.notify("READY=1")
        logger.notice("node ready")

        // Under systemd: watchdog pings (at half WATCHDOG_USEC) and a STATUS= line that follows the
        // services, so `systemctl status` shows a degraded node.
        let housekeeping: Task<Void, Never>? = notifier.isActive ? Task {
            let interval = min(notifier.watchdogIntervalMillis ?? 2000, 2000)
            var watchdogDue: UInt64 = 0
            var lastStatus = ""
            while !Task.isCancelled {
                // Answering through the supervisor actor proves the node is not wedged.
                let states = await supervisor.states
                let now = MonotonicClock.nanoseconds() / 1_000_000
                if let watchdog = notifier.watchdogIntervalMillis, now >= watchdogDue {
                    notifier.notify("WATCHDOG=1")
                    watchdogDue = now + watchdog
                }
                let status = NodeRuntime.statusLine(states)
                if status != lastStatus {
                    notifier.notify("STATUS=" + status)
                    lastStatus = status
                }
                try? await Task.sleep(nanoseconds: interval * 1_000_000)
            }
        } : nil

        let reason = await latch.wait()
        logger.notice("stopping (\(reason))")
        notifier.notify("STOPPING=1\nSTATUS=stopping (\(reason))")
        housekeeping?.cancel()
        await supervisor.stopAll()
        logger.notice("stopped")
        return 0
    }

    /// One line for systemd's STATUS=: "running: 3 services" or "degraded: gpio failed (...)".
    static func statusLine(_ states: [(name: String, state: ServiceState)]) -> String {
        let troubled = states.filter { entry in
            switch entry.state {
            case .running, .stopped, .idle: return false
            default: return true
            }
        }
        guard !troubled.isEmpty else { return "running: \(states.count) services" }
        return "degraded: " + troubled.map { "\($0.name) \($0.state)" }.joined(separator: "; ")
    }
}

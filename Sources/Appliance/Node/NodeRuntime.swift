import Core
import Foundation

/// Wires the node together: logging, identity, services under the supervisor, signals, systemd.
final class NodeRuntime: Sendable {
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
        let reporter = FailureReporter()

        var services: [any Service] = [
            NetworkPlaceholderService(listen: config.listen, state: state, logger: logger.child("network")),
            ControlServer(path: DataDirectory.controlSocketPath(dataDirectory), registry: registry, logger: logger.child("control"))
        ]
        if config.gpio.enabled {
            services.append(GPIOService(config: config.gpio, state: state, registry: registry, reporter: reporter,
                                        logger: logger.child("gpio")))
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
        reporter.attach(supervisor)
        BuiltinCommands.register(in: registry, state: state, supervisor: supervisor, latch: latch)

        SignalWaiter { signal in
            Task { await latch.trigger(signalName(signal)) }
        }.start()

        await supervisor.startAll()
        notifier.notify("READY=1\nSTATUS=running; master \(identity.masterPublicKey.hex.prefix(16))")
        logger.notice("node ready")

        let watchdog: Task<Void, Never>? = notifier.watchdogIntervalMillis.map { interval in
            Task {
                while !Task.isCancelled {
                    // Answering through the supervisor actor proves the node is not wedged.
                    _ = await supervisor.states.count
                    notifier.notify("WATCHDOG=1")
                    try? await Task.sleep(nanoseconds: interval * 1_000_000)
                }
            }
        }

        let reason = await latch.wait()
        logger.notice("stopping (\(reason))")
        notifier.notify("STOPPING=1\nSTATUS=stopping (\(reason))")
        watchdog?.cancel()
        await supervisor.stopAll()
        logger.notice("stopped")
        return 0
    }
}

import CGPIOD
import Core
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Buttons and LEDs on a GPIO chip through libgpiod (edge events, no polling). A dedicated thread
/// waits for edges with a timeout equal to the next state-machine or LED deadline.
actor GPIOService: Service {
    nonisolated let name = "gpio"
    private let config: GPIOConfig
    private let state: NodeState
    private let logger: Logger
    private let registry: CommandRegistry
    private let reporter: FailureReporter
    private let onAction: @Sendable (CallAction) -> Void
    private var worker: GPIOWorker?
    /// Kept across restarts of the worker, so a reopened chip shows the current call.
    private var callPhase = CallPhase.idle
    private var relaying = false

    init(config: GPIOConfig, state: NodeState, registry: CommandRegistry, reporter: FailureReporter, logger: Logger,
         onAction: @escaping @Sendable (CallAction) -> Void = { _ in }) {
        self.reporter = reporter
        self.onAction = onAction
        self.config = config
        self.state = state
        self.registry = registry
        self.logger = logger
    }

    func start() async throws {
        let reporter = self.reporter, serviceName = name
        let worker = try GPIOWorker(config: config, logger: logger, state: state, onAction: onAction) { reason in
            reporter.report(service: serviceName, reason: reason)
        }
        worker.setCallPhase(callPhase)
        worker.setRelaying(relaying)
        self.worker = worker
        worker.start()
        registerCommands()
        logger.info("GPIO on \(config.chip) (libgpiod \(String(cString: cgpiod_version())))")
    }

    func stop() async {
        guard let worker else { return }
        worker.requestStop()
        for _ in 0..<50 where !worker.finished {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        self.worker = nil
    }

    /// For the call service: what the buttons and LED should act on.
    func setCallPhase(_ phase: CallPhase) {
        callPhase = phase
        worker?.setCallPhase(phase)
    }

    /// For the relay service: the relay LED is lit while this box relays a Stage.
    func setRelaying(_ active: Bool) {
        relaying = active
        worker?.setRelaying(active)
    }

    /// `gpio` shows the lines; `gpio phase PHASE` pretends a call phase so an installer can check the
    /// wiring (LED patterns, which button does what) before calls exist.
    private func registerCommands() {
        let state = self.state
        registry.register(AdminCommand(
            name: "gpio", summary: "Show buttons and LEDs, or simulate a call phase to test the wiring.",
            usage: "[phase idle|ringing|outgoing|in_call]",
            details: "`gpio phase ringing` makes the call LED flash and the answer button answer, as if a call rang.",
            arguments: 0...2, completions: ["phase"]
        ) { [weak self] arguments in
            if arguments.count == 2 && arguments[0] == "phase" {
                guard let phase = CallPhase(rawValue: arguments[1]) else {
                    throw AdminCommandError("unknown phase '\(arguments[1])' (idle, ringing, outgoing, in_call)")
                }
                await self?.setCallPhase(phase)
                return CommandOutput(text: "call phase: \(phase.rawValue)", json: .object(["phase": .string(phase.rawValue)]))
            }
            guard arguments.isEmpty else { throw AdminCommandError("usage: gpio [phase PHASE]") }
            let snapshot = await state.gpio
            let lines = (snapshot.lines + snapshot.leds).map { "\($0.role) (line \($0.offset)): \($0.active ? "on" : "off")" }
            let text = (["chip \(snapshot.chip)"] + lines + ["last event: \(snapshot.lastEvent ?? "none")"]).joined(separator: "\n")
            return CommandOutput(text: text, json: snapshot.json)
        })
    }
}

/// Owns the libgpiod handles; only its thread touches them after `start`.
final class GPIOWorker: @unchecked Sendable {
    // @unchecked: the C handles are used only by the worker thread once started, and released by it.
    private let chip: OpaquePointer
    private let inputs: OpaquePointer?
    private let outputs: OpaquePointer?
    private let buttons: [(role: ButtonRole, offset: UInt32)]
    private let leds: [(role: String, offset: UInt32)]
    private let config: GPIOConfig
    private let logger: Logger
    private let state: NodeState
    private let stopRequested = Atomic<Bool>(false)
    private let done = Atomic<Bool>(false)
    private let phase = Mutex<CallPhase>(.idle)
    private let relaying = Atomic<Bool>(false)
    private let onFailure: @Sendable (String) -> Void
    private let onAction: @Sendable (CallAction) -> Void

    init(config: GPIOConfig, logger: Logger, state: NodeState, onAction: @escaping @Sendable (CallAction) -> Void,
         onFailure: @escaping @Sendable (String) -> Void) throws {
        self.onFailure = onFailure
        self.onAction = onAction
        self.config = config
        self.logger = logger
        self.state = state
        var buttons: [(ButtonRole, UInt32)] = []
        if let line = config.answerLine { buttons.append((.answer, UInt32(line))) }
        if let line = config.hangupLine { buttons.append((.hangUp, UInt32(line))) }
        if let line = config.pttLine { buttons.append((.pushToTalk, UInt32(line))) }
        var leds: [(String, UInt32)] = []
        if let line = config.onlineLED { leds.append(("online", UInt32(line))) }
        if let line = config.callLED { leds.append(("call", UInt32(line))) }
        if let line = config.transmitLED { leds.append(("transmit", UInt32(line))) }
        if let line = config.relayLED { leds.append(("relay", UInt32(line))) }
        self.buttons = buttons
        self.leds = leds

        guard let chip = cgpiod_chip_open(config.chip) else {
            throw AdminCommandError("cannot open GPIO chip '\(config.chip)': \(String(cString: strerror(errno)))")
        }
        self.chip = chip
        let bias: Int32
        switch config.bias {
        case "pull-down": bias = Int32(CGPIOD_BIAS_PULL_DOWN)
        case "disabled": bias = Int32(CGPIOD_BIAS_DISABLED)
        case "as-is": bias = Int32(CGPIOD_BIAS_AS_IS)
        default: bias = Int32(CGPIOD_BIAS_PULL_UP)
        }
        var inputRequest: OpaquePointer?
        if !buttons.isEmpty {
            let offsets = buttons.map(\.1)
            inputRequest = cgpiod_request_inputs(chip, offsets, offsets.count, bias, config.activeLow ? 1 : 0, "proscenium-node")
            if inputRequest == nil {
                let reason = String(cString: strerror(errno))
                cgpiod_chip_close(chip)
                throw AdminCommandError("cannot request button lines \(offsets) on \(config.chip): \(reason)")
            }
        }
        var outputRequest: OpaquePointer?
        if !leds.isEmpty {
            let offsets = leds.map(\.1)
            outputRequest = cgpiod_request_outputs(chip, offsets, offsets.count, 0, "proscenium-node")
            if outputRequest == nil {
                let reason = String(cString: strerror(errno))
                if let inputRequest { cgpiod_request_release(inputRequest) }
                cgpiod_chip_close(chip)
                throw AdminCommandError("cannot request LED lines \(offsets) on \(config.chip): \(reason)")
            }
        }
        inputs = inputRequest
        outputs = outputRequest
    }

    var finished: Bool { done.load(ordering: .acquiring) }
    func requestStop() { stopRequested.store(true, ordering: .releasing) }
    func setCallPhase(_ newPhase: CallPhase) { phase.withLock { $0 = newPhase } }
    func setRelaying(_ active: Bool) { relaying.store(active, ordering: .releasing) }

    func start() {
        let thread = Thread { [self] in
            loop()
            release()
            done.store(true, ordering: .releasing)
        }
        thread.name = "gpio"
        thread.start()
    }

    private func release() {
        if let outputs {
            for led in leds { _ = cgpiod_set_value(outputs, led.offset, 0) }
            cgpiod_request_release(outputs)
        }
        if let inputs { cgpiod_request_release(inputs) }
        cgpiod_chip_close(chip)
    }

    private static func nowMillis() -> UInt64 { MonotonicClock.nanoseconds() / 1_000_000 }

    private func loop() {
        var controller = GPIOController(buttons: buttons, leds: leds,
                                        debounceMillis: UInt64(config.debounceMillis),
                                        longPressMillis: UInt64(config.longPressMillis),
                                        startMillis: GPIOWorker.nowMillis())
        var published: GPIOSnapshot?

        func apply(_ decisions: [GPIOController.Decision], now: UInt64) {
            for decision in decisions {
                logger.notice("button \(decision.role.rawValue) → \(decision.action.rawValue) (call \(controller.phase.rawValue))")
                onAction(decision.action)
            }
            if let outputs {
                for change in controller.ledChanges(atMillis: now) { _ = cgpiod_set_value(outputs, change.offset, change.lit ? 1 : 0) }
            }
            let snapshot = controller.snapshot(chip: config.chip)
            if snapshot != published {
                published = snapshot
                let state = self.state
                Task { await state.setGPIO(snapshot) }
            }
        }

        while !stopRequested.load(ordering: .acquiring) {
            var now = GPIOWorker.nowMillis()
            controller.setPhase(phase.withLock { $0 }, atMillis: now)
            controller.setRelaying(relaying.load(ordering: .acquiring))
            apply(controller.advance(toMillis: now), now: now)
            // Wake at least every 250 ms to notice a stop request and call-phase changes.
            let deadline = controller.nextDeadline(afterMillis: now)
            let wait = min(250, deadline.map { $0 > now ? Int($0 - now) : 0 } ?? 250)
            guard let inputs else {
                usleep(useconds_t(max(wait, 1) * 1000))
                continue
            }
            var event = cgpiod_event()
            let rc = cgpiod_wait_event(inputs, Int32(wait), &event)
            if rc < 0 {
                if errno == EINTR { continue }
                // The chip went away or the request broke: let the supervisor reopen everything.
                onFailure("GPIO event wait failed: \(String(cString: strerror(errno)))")
                return
            }
            guard rc == 1 else { continue }
            now = GPIOWorker.nowMillis()
            apply(controller.edge(offset: event.offset, active: event.active != 0, atMillis: now), now: now)
        }
    }
}

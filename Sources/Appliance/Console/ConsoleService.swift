import Core
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The admin console on stdin/stdout (foreground) or on a serial/virtual terminal (`console.tty`).
/// Runs on its own thread so it never blocks the node; commands go through the shared registry.
actor ConsoleService: Service {
    nonisolated let name: String
    private let devicePath: String?
    private let fixedTerminal: Terminal?
    private let registry: CommandRegistry
    private let pins: AdminPinStore
    private let pinRequired: Bool
    private let logger: Logger
    private let reporter: FailureReporter?
    private let promptLine: PromptLine?
    private var session: ConsoleSession?

    /// Console on an already-open terminal (stdin/stdout).
    /// `promptLine`: given when the node's log lines go to the same terminal.
    init(name: String, terminal: Terminal, registry: CommandRegistry, pins: AdminPinStore,
         pinRequired: Bool, logger: Logger, promptLine: PromptLine?) {
        self.promptLine = promptLine
        reporter = nil
        self.name = name
        devicePath = nil
        fixedTerminal = terminal
        self.registry = registry
        self.pins = pins
        self.pinRequired = pinRequired
        self.logger = logger
    }

    /// Console on a device opened at start (and reopened on restart, after the device failed).
    init(name: String, devicePath: String, registry: CommandRegistry, pins: AdminPinStore, pinRequired: Bool,
         logger: Logger, reporter: FailureReporter) {
        self.reporter = reporter
        promptLine = nil
        self.name = name
        self.devicePath = devicePath
        fixedTerminal = nil
        self.registry = registry
        self.pins = pins
        self.pinRequired = pinRequired
        self.logger = logger
    }

    func start() throws {
        let terminal: Terminal
        var ownedFD: Int32 = -1
        if let devicePath {
            let fd = open(devicePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
            guard fd >= 0 else { throw AdminCommandError("cannot open console terminal \(devicePath): \(String(cString: strerror(errno)))") }
            ownedFD = fd
            terminal = Terminal(inputFD: fd, outputFD: fd)
        } else {
            terminal = fixedTerminal!
        }
        let reporter = self.reporter, serviceName = name
        let session = ConsoleSession(terminal: terminal, ownedFD: ownedFD, backend: RegistryConsoleBackend(registry: registry),
                                     access: ConsoleAccess(pins: pins, pinRequired: pinRequired), logger: logger,
                                     promptLine: promptLine) { reason in
            // Only a device console is restarted: end of input on stdin means the operator left.
            reporter?.report(service: serviceName, reason: reason)
        }
        self.session = session
        session.start(threadName: name)
    }

    func stop() async {
        guard let session else { return }
        session.requestStop()
        // Give the thread a moment to restore the terminal settings.
        for _ in 0..<40 where !session.finished {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        self.session = nil
    }
}

/// One console's thread and its state. Only the console thread touches the editor.
final class ConsoleSession: Sendable {
    private let terminal: Terminal
    private let ownedFD: Int32
    private let backend: any ConsoleBackend
    private let access: ConsoleAccess?
    private let logger: Logger
    private let stopRequested = Atomic<Bool>(false)
    private let done = Atomic<Bool>(false)
    private let inputFailure = Mutex<String?>(nil)
    private let onInputFailure: @Sendable (String) -> Void
    private let promptLine: PromptLine?
    static let prompt = "proscenium> "

    /// `access` nil: no PIN (the control socket's file permissions already decide who may connect).
    /// `promptLine`: set when log lines share this terminal, so they can move the prompt aside.
    init(terminal: Terminal, ownedFD: Int32, backend: any ConsoleBackend, access: ConsoleAccess?, logger: Logger,
         promptLine: PromptLine? = nil, onInputFailure: @escaping @Sendable (String) -> Void = { _ in }) {
        self.onInputFailure = onInputFailure
        self.promptLine = promptLine
        self.terminal = terminal
        self.ownedFD = ownedFD
        self.backend = backend
        self.access = access
        self.logger = logger
    }

    var finished: Bool { done.load(ordering: .acquiring) }

    func requestStop() { stopRequested.store(true, ordering: .releasing) }

    func start(threadName: String) {
        let thread = Thread { [self] in runHere() }
        thread.name = threadName
        thread.start()
    }

    /// Runs the console on the calling thread until end of input, `exit` or `requestStop`.
    func runHere() {
        let saved = terminal.isTTY ? terminal.enterRawMode() : nil
        run()
        // Stopped by the node: take the prompt off the screen (log lines follow).
        if stopping && terminal.isTTY { output("\r\u{1b}[K") }
        if let saved { terminal.restore(saved) }
        if ownedFD >= 0 { close(ownedFD) }
        done.store(true, ordering: .releasing)
        if !stopping, let reason = inputFailure.withLock({ $0 }) { onInputFailure(reason) }
    }

    private var stopping: Bool { stopRequested.load(ordering: .acquiring) }

    /// All console output goes through here, so log lines on a shared terminal keep clear of it.
    private func output(_ text: String, leaving prompt: String? = nil) {
        if let promptLine {
            promptLine.write(text, leaving: prompt)
        } else {
            terminal.write(text)
        }
    }

    /// Reads a byte, checking the stop flag every 200 ms. nil means: stop or end of input.
    private func nextByte() -> UInt8? {
        while !stopping {
            do {
                if let byte = try terminal.readByte(timeoutMillis: 200) { return byte }
            } catch {
                inputFailure.withLock { $0 = "\(error)" }
                return nil
            }
        }
        return nil
    }

    private func run() {
        if terminal.isTTY {
            output("Proscenium Node admin console. Type `help` for commands, Ctrl-D to leave.\n")
        }
        guard authenticate() else { return }
        var editor = LineEditor()
        if terminal.isTTY {
            interactiveLoop(&editor)
        } else {
            plainLoop()
        }
    }

    // MARK: Access

    private func authenticate() -> Bool {
        guard let access else { return true }
        let pins = access.pins, pinRequired = access.pinRequired
        if pins.isSet {
            var policy = PinAttemptPolicy()
            while !stopping {
                guard let pin = readSecret(prompt: "Admin PIN: ") else { return false }
                if pins.verify(pin) {
                    policy.recordSuccess()
                    return true
                }
                let delay = policy.recordFailure()
                logger.warning("wrong admin PIN on the console (\(policy.consecutiveFailures) in a row)")
                output("Wrong PIN.\n")
                if delay > 0 {
                    output("Wait \(delay / 1000) s.\n")
                    let until = MonotonicClock.nanoseconds() + delay * 1_000_000
                    while !stopping && MonotonicClock.nanoseconds() < until { usleep(100_000) }
                    drainInput()
                }
            }
            return false
        }
        // No PIN yet: offer to choose one (required when console.pin_required is set).
        guard terminal.isTTY else {
            if pinRequired { output("An admin PIN is required; set one with `proscenium-node set-pin`.\n") }
            return !pinRequired
        }
        if !pinRequired {
            let question = "No admin PIN is set. Choose one now? [y/N] "
            output(question, leaving: question)
            guard let answer = readPlainLine(echo: true) else { return false }
            if !answer.lowercased().hasPrefix("y") { return true }
        } else {
            output("An admin PIN is required before first use.\n")
        }
        while !stopping {
            guard let first = readSecret(prompt: "New admin PIN: ") else { return false }
            if let problem = AdminPinStore.validate(first) {
                output(problem + "\n")
                continue
            }
            guard let second = readSecret(prompt: "Repeat the PIN: ") else { return false }
            guard first == second else {
                output("The PINs differ; try again.\n")
                continue
            }
            do {
                try pins.set(first)
                output("Admin PIN set.\n")
                logger.notice("admin PIN set from the console")
                return true
            } catch {
                output("\(error)\n")
                return !pinRequired
            }
        }
        return false
    }

    private func drainInput() {
        while (try? terminal.readByte(timeoutMillis: 0)) != nil {}
    }

    private func readSecret(prompt: String) -> String? {
        output(prompt, leaving: prompt)
        let line = readPlainLine(echo: false)
        if terminal.isTTY { output("\n") }
        return line
    }

    /// A line without the editor (PIN prompts, pipes).
    private func readPlainLine(echo: Bool) -> String? {
        var bytes: [UInt8] = []
        while let byte = nextByte() {
            switch byte {
            case 0x0d, 0x0a:
                if echo && terminal.isTTY { output("\n") }
                return String(decoding: bytes, as: UTF8.self)
            case 0x03, 0x04: return nil
            case 0x7f, 0x08:
                if !bytes.isEmpty {
                    bytes.removeLast()
                    if echo { output("\u{8} \u{8}") }
                }
            default:
                if byte >= 0x20 || byte >= 0x80 {
                    bytes.append(byte)
                    if echo { output(String(decoding: [byte], as: UTF8.self)) }
                }
            }
        }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Command loops

    private func plainLoop() {
        while let line = readPlainLine(echo: false) {
            if !execute(line) { return }
        }
    }

    private func interactiveLoop(_ editor: inout LineEditor) {
        let backend = self.backend
        let completer: LineEditor.Completer = { previous, _ in backend.completions(previousWords: previous) }
        redraw(editor)
        while let byte = nextByte() {
            switch editor.feed(byte, completer: completer) {
            case .none: break
            case .redraw: redraw(editor)
            case .bell: output("\u{7}")
            case .cancel:
                output("^C\n(`shutdown` stops the node; Ctrl-D leaves the console)\n")
                redraw(editor)
            case .endOfInput:
                output("\n")
                return
            case .showCompletions(let candidates):
                output("\n" + ConsoleSession.columns(candidates, width: 80) + "\n")
                redraw(editor)
            case .submit(let line):
                output("\n")
                if !execute(line) { return }
                redraw(editor)
            }
        }
    }

    private func redraw(_ editor: LineEditor) {
        var text = "\r" + ConsoleSession.prompt + editor.line + "\u{1b}[K"
        let back = editor.buffer.count - editor.cursor
        if back > 0 { text += "\u{1b}[\(back)D" }
        output(text, leaving: text)
    }

    /// Runs one console line; false ends the console.
    private func execute(_ line: String) -> Bool {
        let words = CommandLineWords.split(line)
        guard let command = words.first else { return true }
        if command == "exit" || command == "quit" || command == "logout" { return false }
        switch backend.execute(command, arguments: Array(words.dropFirst())) {
        case .success(let text):
            if !text.isEmpty { output(text + "\n") }
        case .failure(let error):
            output("error: \(error.description)\n")
        }
        return true
    }

    static func columns(_ items: [String], width: Int) -> String {
        let cell = (items.map(\.count).max() ?? 0) + 2
        let perLine = max(1, width / max(cell, 1))
        var lines: [String] = []
        var index = 0
        while index < items.count {
            lines.append(items[index..<min(index + perLine, items.count)].map { $0.padded(to: cell) }.joined().trimmingSpaces())
            index += perLine
        }
        return lines.joined(separator: "\n")
    }
}

/// Who may use a console: the admin PIN store and whether a PIN must exist.
struct ConsoleAccess: Sendable {
    let pins: AdminPinStore
    let pinRequired: Bool
}

/// Where console lines go: the node's own registry, or a running node's control socket (`ctl`).
/// Called from the console's own thread; may block.
protocol ConsoleBackend: Sendable {
    func execute(_ command: String, arguments: [String]) -> Result<String, AdminCommandError>
    /// Tab-completion candidates for the word after `previousWords`.
    func completions(previousWords: [String]) -> [String]
}

extension ConsoleBackend {
    /// The shared completion rules, given command names and per-command first-argument words.
    func standardCompletions(previousWords previous: [String], names: [String], argumentWords: (String) -> [String]) -> [String] {
        if previous.isEmpty { return names + ["exit"] }
        if previous.count == 1 { return previous[0] == "help" ? names : argumentWords(previous[0]) }
        if previous.count == 2, previous[0] == "config" { return ConfigSchema.keys.map(\.qualifiedName) }
        return []
    }
}

struct RegistryConsoleBackend: ConsoleBackend {
    let registry: CommandRegistry

    func execute(_ command: String, arguments: [String]) -> Result<String, AdminCommandError> {
        let registry = self.registry
        return BlockingAsync.run { await registry.execute(command, arguments: arguments) }.map(\.text)
    }

    func completions(previousWords: [String]) -> [String] {
        standardCompletions(previousWords: previousWords, names: registry.names) {
            registry.command(named: $0)?.completions ?? []
        }
    }
}

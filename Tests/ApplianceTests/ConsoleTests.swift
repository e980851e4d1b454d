import Core
import Foundation
import Testing
@testable import Appliance
#if canImport(Glibc)
import Glibc
#endif

@Suite("Console, PIN and systemd notify")
struct ConsoleTests {
    func type(_ text: String, into editor: inout LineEditor, completer: LineEditor.Completer = { _, _ in [] }) -> [LineEditor.Action] {
        Array(text.utf8).map { editor.feed($0, completer: completer) }
    }

    @Test func editingKeys() {
        var e = LineEditor()
        _ = type("stats", into: &e)
        _ = type("\u{1b}[D\u{1b}[D", into: &e)                // left, left
        _ = type("u", into: &e)
        #expect(e.line == "stauts" && e.cursor == 4)
        _ = type("\u{7f}", into: &e)                           // backspace removes 'u'
        #expect(e.line == "stats" && e.cursor == 3)
        e = LineEditor()
        _ = type("config get", into: &e)
        _ = type("\u{01}", into: &e)                           // Ctrl-A
        #expect(e.cursor == 0)
        _ = type("\u{1b}[F", into: &e)                         // End
        #expect(e.cursor == 10)
        _ = type("\u{17}", into: &e)                           // Ctrl-W
        #expect(e.line == "config ")
        _ = type("\u{1b}[H", into: &e)                         // Home
        _ = type("x", into: &e)
        #expect(e.line == "xconfig ")
        _ = type("\u{1b}[3~", into: &e)                        // Delete
        #expect(e.line == "xonfig ")
        _ = type("\u{05}\u{15}", into: &e)                     // Ctrl-E, Ctrl-U
        #expect(e.line.isEmpty && e.cursor == 0)
        _ = type("é", into: &e)
        #expect(e.line == "é" && e.cursor == 1)
        #expect(type("\u{03}", into: &e) == [.cancel])
        #expect(e.line.isEmpty)
        #expect(type("\u{04}", into: &e) == [.endOfInput])
    }

    @Test func historyRecall() {
        var e = LineEditor()
        #expect(type("status\r", into: &e).last == .submit("status"))
        #expect(type("peers\r", into: &e).last == .submit("peers"))
        _ = type("draft", into: &e)
        _ = type("\u{1b}[A", into: &e)
        #expect(e.line == "peers")
        _ = type("\u{1b}[A", into: &e)
        #expect(e.line == "status")
        #expect(type("\u{1b}[A", into: &e) == [.none, .none, .bell])
        _ = type("\u{1b}[B\u{1b}[B", into: &e)
        #expect(e.line == "draft")
        #expect(e.history == ["status", "peers"])
    }

    @Test func tabCompletion() {
        let names = ["config", "help", "identity", "log", "peers", "shutdown", "status"]
        let completer: LineEditor.Completer = { previous, _ in previous.isEmpty ? names : ["get", "set"] }
        var e = LineEditor()
        _ = type("sh\t", into: &e, completer: completer)
        #expect(e.line == "shutdown ")
        e = LineEditor()
        let actions = type("s\t", into: &e, completer: completer)
        #expect(e.line == "s")
        #expect(actions.last == .showCompletions(["shutdown", "status"]))
        _ = type("t\t", into: &e, completer: completer)
        #expect(e.line == "status ")
        e = LineEditor()
        _ = type("config g\t", into: &e, completer: completer)
        #expect(e.line == "config get ")
        #expect(type("zz\t", into: &e, completer: { _, _ in [] }).last == .bell)
    }

    @Test func wordSplittingHonoursQuotes() {
        #expect(CommandLineWords.split("config set node.name \"Front door\"") == ["config", "set", "node.name", "Front door"])
        #expect(CommandLineWords.split("  a  'b c'  ") == ["a", "b c"])
        #expect(CommandLineWords.split("x \"\"") == ["x", ""])
    }

    @Test func pinDelayGrows() {
        var policy = PinAttemptPolicy()
        #expect(policy.recordFailure() == 0)
        #expect(policy.recordFailure() == 0)
        #expect(policy.recordFailure() == 5000)
        #expect(policy.recordFailure() == 10_000)
        #expect(policy.recordFailure() == 20_000)
        for _ in 0..<20 { _ = policy.recordFailure() }
        #expect(policy.recordFailure() == 300_000)
        policy.recordSuccess()
        #expect(policy.recordFailure() == 0)
    }

    @Test func passwordHashVerifies() throws {
        let hash = try PasswordHash.hash("1234", limits: .minimum)
        #expect(hash.hasPrefix("$argon2id$"))
        #expect(PasswordHash.verify("1234", against: hash))
        #expect(!PasswordHash.verify("1235", against: hash))
        #expect(!PasswordHash.verify("1234", against: "garbage"))
        #expect(try PasswordHash.hash("1234", limits: .minimum) != hash)       // salted
    }

    @Test func helpFitsEightyColumns() async throws {
        let registry = CommandRegistry()
        registry.register(AdminCommand(name: "verbose", summary: String(repeating: "word ", count: 40),
                                       details: String(repeating: "detail ", count: 60)) { _ in CommandOutput(text: "") })
        let list = try await registry.execute("help", arguments: []).get()
        #expect(list.text.split(separator: "\n").allSatisfy { $0.count <= 80 })
        let one = try await registry.execute("help", arguments: ["verbose"]).get()
        #expect(one.text.split(separator: "\n").allSatisfy { $0.count <= 80 })
        let wrongCount = await registry.execute("verbose", arguments: ["x"])
        #expect(throws: AdminCommandError.self) { try wrongCount.get() }
    }

    @Test(arguments: [false, true])
    func systemdNotifyReachesSocket(abstract: Bool) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let name = abstract ? "@proscenium-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" : dir.path + "/notify"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        #expect(rc == 0)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": name, "WATCHDOG_USEC": "10000000"])
        #expect(notifier.watchdogIntervalMillis == 5000)
        #expect(notifier.notify("READY=1\nSTATUS=hello"))
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        #expect(n > 0)
        #expect(String(decoding: buffer[0..<max(n, 0)], as: UTF8.self) == "READY=1\nSTATUS=hello")

        #expect(SystemdNotifier(environment: [:]).notify("READY=1") == false)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": name, "WATCHDOG_USEC": "100", "WATCHDOG_PID": "1"])
            .watchdogIntervalMillis == nil)
    }
}

@Suite("Prompt and log lines")
struct PromptLineTests {
    @Test func logLinesMoveThePromptAside() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let terminal = Terminal(inputFD: fds[0], outputFD: fds[1])
        let promptLine = PromptLine(terminal: terminal)
        let inner = StreamLogSink(fd: fds[1], minimumLevel: .info)
        let logger = Logger(label: "t", sink: PromptAwareLogSink(inner: inner, promptLine: promptLine))

        logger.info("before")                                  // no prompt shown: written as is
        promptLine.write("\rproscenium> sta", leaving: "\rproscenium> sta")
        logger.info("during")
        logger.debug("filtered")                               // below the level: nothing at all
        promptLine.write("\n", leaving: nil)
        logger.info("after")

        var buffer = [UInt8](repeating: 0, count: 1024)
        let n = read(fds[0], &buffer, buffer.count)
        let text = String(decoding: buffer[0..<max(n, 0)], as: UTF8.self)
        #expect(text == "<6>t: before\n\rproscenium> sta\r\u{1b}[K<6>t: during\n\rproscenium> sta\n<6>t: after\n")
    }
}

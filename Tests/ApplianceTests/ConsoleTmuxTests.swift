import Foundation
import Testing
import TestSupport

/// The operator's view: the node in the foreground of a real terminal (tmux, 80×24), typed into with
/// send-keys and read back with capture-pane — PIN, `help`, `status`, a bad command.
@Suite("Console in tmux", .serialized)
struct ConsoleTmuxTests {
    static var tmuxPath: String? { NamespaceCommand.locate("tmux") }

    func tmux(_ arguments: [String]) throws -> String {
        let result = try NamespaceCommand.run([Self.tmuxPath!] + arguments)
        guard result.status == 0 else { throw NamespaceError.commandFailed(command: arguments, status: result.status, stderr: result.stderr) }
        return result.stdout
    }

    func screen(_ session: String) throws -> String { try tmux(["capture-pane", "-p", "-t", session]) }

    func waitForScreen(_ session: String, seconds: Double = 15, _ condition: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var text = try screen(session)
        while !condition(text), Date() < deadline {
            usleep(100_000)
            text = try screen(session)
        }
        return text
    }

    @Test("PIN, help, status and a bad command on an 80-column terminal", .enabled(if: ConsoleTmuxTests.tmuxPath != nil, "tmux not installed"))
    func operatorSession() throws {
        try NetworkIsolation.assertLoopbackOnly()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.path + "/node"
        #expect(try NodeBinary.run(["init", "--data-dir", data]).status == 0)
        #expect(try NodeBinary.run(["set-pin", "--data-dir", data], input: "1357\n").status == 0)
        let session = "psc-console-\(getpid())"
        let command = "\(NodeBinary.path) run --data-dir \(data) --listen 127.0.0.1:0 --audio none"
        _ = try tmux(["new-session", "-d", "-s", session, "-x", "80", "-y", "24", command])
        defer { _ = try? tmux(["kill-session", "-t", session]) }

        #expect(try waitForScreen(session) { $0.contains("Admin PIN:") }.contains("Admin PIN:"))
        _ = try tmux(["send-keys", "-t", session, "9999", "Enter"])
        #expect(try waitForScreen(session) { $0.contains("Wrong PIN.") }.contains("Wrong PIN."))
        // After a wrong PIN the console waits before it asks again; type only at the new prompt.
        let again = try waitForScreen(session) { $0.components(separatedBy: "Admin PIN:").count >= 3 }
        #expect(again.components(separatedBy: "Admin PIN:").count >= 3)
        _ = try tmux(["send-keys", "-t", session, "1357", "Enter"])
        #expect(try waitForScreen(session, seconds: 20) { $0.contains("proscenium>") }.contains("proscenium>"))  // capture-pane trims the trailing space
        #expect(!(try screen(session)).contains("1357"), "the PIN must not be echoed")

        _ = try tmux(["send-keys", "-t", session, "clear-screen-is-not-a-command", "Enter"])
        let bad = try waitForScreen(session) { $0.contains("unknown command") }
        #expect(bad.contains("unknown command 'clear-screen-is-not-a-command'"))

        _ = try tmux(["send-keys", "-t", session, "help", "Enter"])
        let help = try waitForScreen(session) { $0.contains("status") && $0.contains("ticket") }
        #expect(help.contains("status") && help.contains("ticket"))

        _ = try tmux(["send-keys", "-t", session, "status", "Enter"])
        let status = try waitForScreen(session) { $0.contains("uptime") }
        #expect(status.contains("uptime"))
        // Everything the console printed fits the 80-column terminal without wrapping (log lines,
        // "<N>label: …" for journald, go to the same terminal in the foreground and may be longer).
        let wide = try tmux(["capture-pane", "-p", "-J", "-S", "-200", "-t", session])
            .split(separator: "\n").filter { $0.count > 80 && !$0.hasPrefix("<") }
        #expect(wide.isEmpty, "lines over 80 columns: \(wide)")
        _ = try tmux(["send-keys", "-t", session, "shutdown", "Enter"])
    }
}

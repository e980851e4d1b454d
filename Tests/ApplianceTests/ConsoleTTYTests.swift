import Foundation
import TestSupport
import Testing
@testable import Appliance
#if canImport(Glibc)
import Glibc
#endif

/// The admin console on a real terminal: a pseudo-terminal named in `console.tty`, driven from the
/// master side like a person at a serial console (raw mode, editing keys, history, PIN).
@Suite("Console on a terminal", .serialized)
struct ConsoleTTYTests {
    final class PseudoTerminal {
        let master: Int32
        let slavePath: String
        private(set) var output = ""

        init() throws {
            // posix_openpt/ptsname are not visible through Swift's Glibc module; /dev/ptmx with the
            // Linux ioctls is the same thing.
            master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
            guard master >= 0 else { throw POSIXError(.ENODEV) }
            var unlock: Int32 = 0
            var number: UInt32 = 0
            let tiocsptlck: UInt = 0x4004_5431, tiocgptn: UInt = 0x8004_5430
            guard ioctl(master, tiocsptlck, &unlock) == 0, ioctl(master, tiocgptn, &number) == 0 else {
                close(master)
                throw POSIXError(.ENODEV)
            }
            slavePath = "/dev/pts/\(number)"
        }

        private var closed = false

        func hangUp() {
            if !closed { close(master) }
            closed = true
        }

        deinit { hangUp() }

        func type(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
        }

        /// Reads until `needle` appears in the output after `from`, or `seconds` pass.
        @discardableResult
        func waitFor(_ needle: String, after from: String.Index? = nil, seconds: Double = 10) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if output[(from ?? output.startIndex)...].contains(needle) { return true }
                var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 50) > 0 {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    let n = read(master, &buffer, buffer.count)
                    if n > 0 { output += String(decoding: buffer[0..<n], as: UTF8.self) }
                }
            }
            return output[(from ?? output.startIndex)...].contains(needle)
        }

        var end: String.Index { output.endIndex }
    }

    func startNode(data: String, tty: String, extraEnvironment: [String: String] = [:]) throws -> Subprocess {
        try NodeBinary.start(["run", "--no-console", "--data-dir", data, "--listen", "127.0.0.1:0"],
                             environment: extraEnvironment.merging(["PROSCENIUM_CONSOLE_TTY": tty]) { $1 })
    }

    @Test func editingHistoryAndShutdownOnATerminal() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.path + "/node"
        #expect(try NodeBinary.run(["init", "--data-dir", data]).status == 0)
        let pty = try PseudoTerminal()
        let process = try startNode(data: data, tty: pty.slavePath)
        defer { process.kill() }

        #expect(pty.waitFor("Choose one now? [y/N]"))
        pty.type("n\r")
        #expect(pty.waitFor("proscenium> "))

        // "peerz", Backspace, "s", Enter → peers.
        var mark = pty.end
        pty.type("peerz\u{7f}s\r")
        #expect(pty.waitFor("connections open", after: mark))
        // Up recalls it; Left/Left + typing edits in the middle: "peers" → "pe" + "X" ... then Ctrl-U clears.
        mark = pty.end
        pty.type("\u{1b}[A\r")
        #expect(pty.waitFor("connections open", after: mark))
        // Tab completes a unique prefix: "ide" → "identity ".
        mark = pty.end
        pty.type("ide\t\r")
        #expect(pty.waitFor("transport   ", after: mark))
        // Home + insert: "elp" → Home, "h" → "help".
        mark = pty.end
        pty.type("elp\u{1b}[Hh\r")
        #expect(pty.waitFor("Type `help COMMAND` for details.", after: mark))
        mark = pty.end
        pty.type("bogus\r")
        #expect(pty.waitFor("error: unknown command 'bogus'", after: mark))
        // Output fits 80 columns.
        let lines = pty.output.replacingOccurrences(of: "\r", with: "").split(separator: "\n")
        // (Tickets stay on one line for copying, whatever their length.)
        let long = lines.filter { !$0.contains("\u{1b}") && !$0.contains("ticket") && $0.count > 80 }
        #expect(long.isEmpty, "\(long)")

        pty.type("shutdown\r")
        #expect(process.wait(seconds: 5))
        #expect(process.exitCode == 0)
    }

    @Test func pinIsAskedAndWrongPinsAreRefused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.path + "/node"
        #expect(try NodeBinary.run(["init", "--data-dir", data]).status == 0)
        #expect(try NodeBinary.run(["set-pin", "--data-dir", data], input: "2468\n").status == 0)
        let pty = try PseudoTerminal()
        let process = try startNode(data: data, tty: pty.slavePath)
        defer { process.kill() }

        #expect(pty.waitFor("Admin PIN: "))
        var mark = pty.end
        pty.type("1111\r")
        #expect(pty.waitFor("Wrong PIN.", after: mark))
        #expect(!pty.output.contains("1111"))                                   // not echoed
        mark = pty.end
        pty.type("2468\r")
        #expect(pty.waitFor("proscenium> ", after: mark))
        mark = pty.end
        pty.type("log\r")
        #expect(pty.waitFor("log level:", after: mark))
        process.signal(SIGTERM)
        #expect(process.wait(seconds: 5))
        #expect(process.exitCode == 0)
    }

    @Test func lostTerminalIsRestartedWithBackoff() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.path + "/node"
        #expect(try NodeBinary.run(["init", "--data-dir", data]).status == 0)
        let pty = try PseudoTerminal()
        let process = try startNode(data: data, tty: pty.slavePath)
        defer { process.kill() }
        #expect(pty.waitFor("Choose one now?"))
        pty.hangUp()                                    // the serial cable is pulled: the device is gone
        func consoleState() -> String? {
            guard let result = try? NodeBinary.run(["ctl", "--data-dir", data, "status", "--json"]), result.status == 0,
                  let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                  let services = object["services"] as? [[String: Any]] else { return nil }
            return services.first { $0["name"] as? String == "console-tty" }?["state"] as? String
        }
        // The supervisor notices, and keeps retrying (the device does not come back) with growing delays.
        #expect(waitUntil(seconds: 10) { consoleState()?.hasPrefix("failed") == true }, "state: \(consoleState() ?? "?")")
        // The rest of the node is unaffected.
        #expect(try NodeBinary.run(["ctl", "--data-dir", data, "peers"]).status == 0)
        process.signal(SIGTERM)
        #expect(process.wait(seconds: 5))
        #expect(process.exitCode == 0)
    }
}

import Foundation
import Testing
@testable import Appliance
#if canImport(Glibc)
import Glibc
#endif

/// Runs a real node process (inside the test's loopback-only namespace) and talks to it.
@Suite("Control socket", .serialized)
struct ControlSocketTests {
    /// A datagram socket standing in for systemd's $NOTIFY_SOCKET.
    final class NotifyListener {
        let fd: Int32
        let path: String

        init(path: String) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = try UnixSocket.address(path)
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else { throw POSIXError(.EADDRINUSE) }
        }

        /// Messages received so far (non-blocking).
        func drain() -> [String] {
            var out: [String] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if n <= 0 { return out }
                out.append(String(decoding: buffer[0..<n], as: UTF8.self))
            }
        }

        deinit { close(fd) }
    }

    @Test func statusRoundTripAndCleanSigterm() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.path + "/node"
        #expect(try NodeBinary.run(["init", "--data-dir", data]).status == 0)
        let identity = try NodeBinary.run(["identity", "--data-dir", data, "--json"])
        let identityObject = try #require(try JSONSerialization.jsonObject(with: Data(identity.stdout.utf8)) as? [String: Any])

        let notify = try NotifyListener(path: dir.path + "/notify.sock")
        let logPath = dir.path + "/node.log"
        let process = try NodeBinary.start(["run", "--no-console", "--data-dir", data, "--listen", "127.0.0.1:0"],
                                           environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"],
                                           stdout: .file(logPath), stderr: .file(logPath))
        defer { process.kill() }

        var messages: [String] = []
        #expect(waitUntil(seconds: 15) { messages += notify.drain(); return messages.contains { $0.contains("READY=1") } },
                "no READY=1")

        var info = stat()
        #expect(stat(data + "/control.sock", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)

        let status = try NodeBinary.run(["ctl", "--data-dir", data, "status", "--json"])
        #expect(status.status == 0, "\(status.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let statusIdentity = try #require(object["identity"] as? [String: Any])
        #expect(statusIdentity["master_pubkey"] as? String == identityObject["master_pubkey"] as? String)
        #expect(object["version"] as? String == NodeVersion.string)
        #expect((object["listen"] as? String)?.hasPrefix("127.0.0.1:") == true)
        #expect(object["listen"] as? String != "127.0.0.1:0")
        #expect(object["uptime_s"] is Int)
        #expect(object["peers"] != nil && object["audio"] != nil && object["gpio"] != nil && object["relay"] != nil)

        let text = try NodeBinary.run(["ctl", "--data-dir", data, "status"])
        #expect(text.stdout.contains(identityObject["master_pubkey"] as! String))
        #expect(text.stdout.split(separator: "\n").allSatisfy { $0.count <= 80 })

        // Config get/set round trip; unknown commands fail with a message.
        let set = try NodeBinary.run(["ctl", "--data-dir", data, "config", "set", "relay.max_listeners", "7"])
        #expect(set.status == 0, "\(set.stderr)")
        let get = try NodeBinary.run(["ctl", "--data-dir", data, "config", "get", "relay.max_listeners", "--json"])
        #expect(get.stdout.contains("\"value\":7"))
        let bad = try NodeBinary.run(["ctl", "--data-dir", data, "config", "set", "relay.max_listeners", "many"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("not an integer"))
        let unknown = try NodeBinary.run(["ctl", "--data-dir", data, "frobnicate"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("unknown command"))
        let help = try NodeBinary.run(["ctl", "--data-dir", data, "help"])
        for name in ["status", "identity", "ticket", "peers", "config", "log", "shutdown", "help", "post", "reply", "like", "repost",
                     "delete", "follow", "unfollow", "feed", "profile", "followers", "following", "mute", "block",
                     "notifications", "dm", "dms", "dm-log", "sync", "call", "answer", "reject", "hangup", "calls"] {
            #expect(help.stdout.contains("  \(name) "), "help lacks \(name)")
        }
        let ticket = try NodeBinary.run(["ctl", "--data-dir", data, "ticket"])
        #expect(ticket.stdout.contains("▀") || ticket.stdout.contains("▄"))
        // The QR code fits 80 columns; the ticket itself stays on one line for copying.
        let ticketText = try #require(statusIdentity["ticket"] as? String)
        #expect(ticket.stdout.split(separator: "\n").filter { $0 != ticketText }.allSatisfy { $0.count <= 80 })
        #expect(ticket.stdout.contains(ticketText))
        let log = try NodeBinary.run(["ctl", "--data-dir", data, "log", "debug", "--json"])
        #expect(log.stdout.contains("\"level\":\"debug\""))

        // `ctl` without a command: a console over the socket, one command per input line.
        let batch = try NodeBinary.run(["ctl", "--data-dir", data], input: "peers\nbogus\nconfig get relay.max_listeners\n")
        #expect(batch.status == 0)
        #expect(batch.stdout.contains("connections open"))
        #expect(batch.stdout.contains("error: unknown command 'bogus'"))
        #expect(batch.stdout.contains("relay.max_listeners = 7"))

        // SIGTERM → clean exit 0 within 5 s, with STOPPING=1 and the socket removed.
        process.signal(SIGTERM)
        #expect(process.wait(seconds: 5), "node did not exit within 5 s of SIGTERM")
        #expect(process.exitCode == 0)
        messages += notify.drain()
        #expect(messages.contains { $0.contains("STOPPING=1") })
        #expect(messages.contains { $0.contains("WATCHDOG=1") })
        #expect(messages.contains { $0.contains("STATUS=running: 8 services") })
        #expect(!FileManager.default.fileExists(atPath: data + "/control.sock"))
        let log2 = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(log2.contains("<5>node: stopping (SIGTERM)"))
    }

    @Test func shutdownCommandStopsTheNode() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.path + "/node"
        #expect(try NodeBinary.run(["init", "--data-dir", data]).status == 0)
        let process = try NodeBinary.start(["--data-dir", data, "--listen", "127.0.0.1:0", "--no-console"])
        defer { process.kill() }
        #expect(waitUntil(seconds: 15) { FileManager.default.fileExists(atPath: data + "/control.sock") })
        #expect(waitUntil(seconds: 5) { (try? NodeBinary.run(["ctl", "--data-dir", data, "status"]).status) == 0 })
        let result = try NodeBinary.run(["ctl", "--data-dir", data, "shutdown"])
        #expect(result.stdout.contains("shutting down"))
        #expect(process.wait(seconds: 5))
        #expect(process.exitCode == 0)
    }

    @Test func consoleOnAPipeRunsCommands() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.path + "/node"
        #expect(try NodeBinary.run(["init", "--data-dir", data]).status == 0)
        let logPath = dir.path + "/node.out"
        let process = try NodeBinary.start(["run", "--data-dir", data, "--listen", "127.0.0.1:0"], stdinPipe: true,
                                           stdout: .file(logPath))
        defer { process.kill() }
        process.stdinHandle().write(Data("identity\nnosuchcommand\nshutdown\n".utf8))
        #expect(process.wait(seconds: 15))
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(text.contains("master      "))
        #expect(text.contains("error: unknown command 'nosuchcommand'"))
        #expect(process.exitCode == 0)
    }

    @Test func secondNodeOnTheSameDataDirectoryIsRefused() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let registry = CommandRegistry()
        let sink = MemorySinkForTests()
        let first = ControlServer(path: dir.path + "/control.sock", registry: registry, logger: sink.logger)
        try await first.start()
        let second = ControlServer(path: dir.path + "/control.sock", registry: registry, logger: sink.logger)
        await #expect(throws: AdminCommandError.self) { try await second.start() }
        let response = try ControlClient(socketPath: dir.path + "/control.sock").send(command: "help", arguments: [])
        #expect(response.ok)
        await first.stop()
    }
}

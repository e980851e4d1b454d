import ArgumentParser
import Core
import Foundation

struct CtlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Send an admin command to the running node over its control socket (DIR/control.sock).",
        discussion: """
        Examples:
          proscenium-node ctl status
          proscenium-node ctl status --json
          proscenium-node ctl config get network.listen
          proscenium-node ctl config set node.log_level debug
          proscenium-node ctl ticket
          proscenium-node ctl help
        `ctl help` lists every command the running node knows (services add their own).
        Without a command, ctl opens an interactive console on the running node (line
        editing, history, Tab completion; Ctrl-D or `exit` leaves); with standard input
        not a terminal it runs one command per input line.
        """
    )

    @OptionGroup var data: DataDirectoryOption

    @Flag(help: "Print the command's JSON answer instead of text.")
    var json = false

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The admin command and its arguments.", valueName: "command"))
    var command: [String] = []

    func run() throws {
        TerminationSignals.restoreDefault()
        let client = ControlClient(socketPath: DataDirectory.controlSocketPath(data.resolve()))
        guard let name = command.first else {
            let backend = try SocketConsoleBackend(client: client)
            let logger = Logger(label: "ctl", sink: StreamLogSink(fd: 2, minimumLevel: .warning))
            ConsoleSession(terminal: Terminal(inputFD: 0, outputFD: 1), ownedFD: -1, backend: backend, access: nil,
                           logger: logger).runHere()
            return
        }
        // follow and sync wait for the peer (connect + identity + sync), longer than a local command.
        let response = try client.send(command: name, arguments: Array(command.dropFirst()), timeoutSeconds: 30)
        guard response.ok else { throw CommandFailure(response.error ?? "command failed") }
        if json {
            print(JSONText.encode(response.data))
        } else if !response.text.isEmpty {
            print(response.text)
        }
    }
}

/// Console lines sent to a running node; command names and completions come from its `help`.
struct SocketConsoleBackend: ConsoleBackend {
    let client: ControlClient
    let names: [String]
    let argumentWords: [String: [String]]

    init(client: ControlClient) throws {
        self.client = client
        let help = try client.send(command: "help", arguments: [])
        let commands = ((help.data as? [String: Any])?["commands"] as? [[String: Any]]) ?? []
        var names: [String] = [], words: [String: [String]] = [:]
        for entry in commands {
            guard let name = entry["name"] as? String else { continue }
            names.append(name)
            words[name] = entry["completions"] as? [String] ?? []
        }
        self.names = names
        argumentWords = words
    }

    func execute(_ command: String, arguments: [String]) -> Result<String, AdminCommandError> {
        do {
            let response = try client.send(command: command, arguments: arguments)
            return response.ok ? .success(response.text) : .failure(AdminCommandError(response.error ?? "failed"))
        } catch {
            return .failure(AdminCommandError("\(error)"))
        }
    }

    func completions(previousWords: [String]) -> [String] {
        standardCompletions(previousWords: previousWords, names: names) { argumentWords[$0] ?? [] }
    }
}

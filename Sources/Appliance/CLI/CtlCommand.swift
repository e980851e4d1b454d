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
        """
    )

    @OptionGroup var data: DataDirectoryOption

    @Flag(help: "Print the command's JSON answer instead of text.")
    var json = false

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The admin command and its arguments.", valueName: "command"))
    var command: [String] = []

    func run() throws {
        TerminationSignals.restoreDefault()
        guard let name = command.first else { throw ValidationError("missing admin command (try `ctl help`)") }
        let client = ControlClient(socketPath: DataDirectory.controlSocketPath(data.resolve()))
        let response = try client.send(command: name, arguments: Array(command.dropFirst()))
        guard response.ok else { throw CommandFailure(response.error ?? "command failed") }
        if json {
            print(JSONText.encode(response.data))
        } else if !response.text.isEmpty {
            print(response.text)
        }
    }
}

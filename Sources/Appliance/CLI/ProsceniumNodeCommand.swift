import ArgumentParser
import Core
import Foundation

/// `proscenium-node`: the root command. Its subcommands are a contract scripts and tests rely on.
struct ProsceniumNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proscenium-node",
        abstract: "Proscenium Node: a headless Proscenium peer for small boards (intercom, relay, feed).",
        discussion: """
        First steps:
          proscenium-node init         create an identity, print its 24 recovery words
          proscenium-node set-pin      choose the admin console PIN
          proscenium-node run          run the node (the default subcommand)
          proscenium-node ctl status   ask the running node for its status

        The data directory is --data-dir, else $PROSCENIUM_DATA_DIR, else
        node.data_dir from the configuration file, else ~/.local/share/proscenium.
        """,
        version: NodeVersion.string,
        subcommands: [RunCommand.self, InitCommand.self, IdentityCommand.self, CtlCommand.self, SetPinCommand.self,
                      AudioCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

enum NodeVersion {
    static let string = "0.1.0"
}

/// `--data-dir DIR` shared by every subcommand.
struct DataDirectoryOption: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: ArgumentHelp("Data directory (identity, database, control socket).", valueName: "DIR"))
    var dataDirectory: String?

    /// Resolves the data directory (flag, $PROSCENIUM_DATA_DIR, config file, home default).
    func resolve(configPath: String? = nil) -> String {
        DataDirectory.resolve(flag: dataDirectory, environment: ProcessInfo.processInfo.environment, configPath: configPath)
    }
}

/// A failure reported to the operator as `Error: <message>` with exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

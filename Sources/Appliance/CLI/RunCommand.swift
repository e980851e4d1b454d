import ArgumentParser
import Core
import Foundation

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the node in the foreground (the default subcommand); stop it with SIGTERM or Ctrl-C.",
        discussion: """
        Settings come from, lowest to highest precedence: built-in defaults, the
        board profile (gpio.board), the configuration file (--config, else
        /etc/proscenium/node.toml when present), PROSCENIUM_<SECTION>_<KEY>
        environment variables, then these flags. See docs/config.md.
        Under systemd (Type=notify) the node reports READY=1, WATCHDOG=1, STATUS=
        and STOPPING=1.
        """
    )

    @OptionGroup var data: DataDirectoryOption

    @Option(help: ArgumentHelp("UDP address to listen on, HOST:PORT (port 0: any).", valueName: "HOST:PORT"))
    var listen: String?

    @Option(help: ArgumentHelp("Configuration file (TOML).", valueName: "FILE"))
    var config: String?

    @Flag(name: .customLong("no-console"), help: "Do not run the admin console on standard input.")
    var noConsole = false

    @Option(name: .customLong("audio-in"), help: ArgumentHelp("ALSA capture PCM (with --audio file: a 48 kHz mono WAV, looped).", valueName: "PCM"))
    var audioIn: String?

    @Option(name: .customLong("audio-out"), help: ArgumentHelp("ALSA playback PCM (with --audio file: a raw S16LE output file).", valueName: "PCM"))
    var audioOut: String?

    @Option(help: ArgumentHelp("Audio backend: alsa, file or none.", valueName: "BACKEND"))
    var audio: String?

    @Option(name: .customLong("log-level"), help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "LEVEL"))
    var logLevel: String?

    func run() async throws {
        var flags: [(flag: String, key: String, text: String)] = []
        if let listen { flags.append(("--listen", "network.listen", listen)) }
        if noConsole { flags.append(("--no-console", "console.enabled", "false")) }
        if let audioIn { flags.append(("--audio-in", "audio.input", audioIn)) }
        if let audioOut { flags.append(("--audio-out", "audio.output", audioOut)) }
        if let audio { flags.append(("--audio", "audio.backend", audio)) }
        if let logLevel { flags.append(("--log-level", "node.log_level", logLevel)) }
        if let dir = data.dataDirectory { flags.append(("--data-dir", "node.data_dir", dir)) }

        let environment = ProcessInfo.processInfo.environment
        let loaded: NodeConfig
        do throws(ConfigError) {
            loaded = try ConfigLoader(environment: environment).load(explicitPath: config, flags: flags)
        } catch {
            throw CommandFailure(error.description)
        }
        let directory = try DataDirectory.prepare(
            DataDirectory.choose(flag: data.dataDirectory, environment: environment) { loaded.dataDirectory })
        let runtime = NodeRuntime(config: loaded, dataDirectory: directory, environment: environment)
        let status = await runtime.run()
        if status != 0 { throw ExitCode(status) }
    }
}

import Core
#if canImport(Glibc)
import Glibc
#endif

/// A configuration problem, phrased so the operator can find it: `node.toml:12: unknown key
/// 'listen_adress' in [network]`, `PROSCENIUM_GPIO_PTT_LINE: 'x' is not an integer`, `--listen: ...`.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public let location: String
    public let message: String
    public var description: String { "\(location): \(message)" }
}

/// Where a value came from, for `config get` and error messages.
public enum ConfigSource: Sendable, Equatable, CustomStringConvertible {
    case defaultValue
    case board(file: String, line: Int)
    case file(path: String, line: Int)
    case environment(String)
    case commandLine(String)
    case runtime

    public var description: String {
        switch self {
        case .defaultValue: return "default"
        case let .board(file, line): return "\(file):\(line) (board)"
        case let .file(path, line): return "\(path):\(line)"
        case let .environment(name): return "environment \(name)"
        case let .commandLine(flag): return "command line \(flag)"
        case .runtime: return "set at run time"
        }
    }
}

/// The effective configuration: every schema key has a value.
public struct NodeConfig: Sendable {
    public private(set) var values: [String: ConfigValue]
    public private(set) var sources: [String: ConfigSource]
    /// The file that was read, if any.
    public let filePath: String?

    /// All defaults.
    public init() {
        var values: [String: ConfigValue] = [:], sources: [String: ConfigSource] = [:]
        for key in ConfigSchema.keys {
            values[key.qualifiedName] = key.defaultValue
            sources[key.qualifiedName] = .defaultValue
        }
        self.values = values
        self.sources = sources
        self.filePath = nil
    }

    init(values: [String: ConfigValue], sources: [String: ConfigSource], filePath: String?) {
        self.values = values
        self.sources = sources
        self.filePath = filePath
    }

    public func value(_ qualified: String) -> ConfigValue? { values[qualified] }

    /// Changes one key at run time (from `config set`); the caller decides whether it applies live.
    public mutating func set(_ qualified: String, text: String) throws(ConfigError) -> ConfigKey {
        guard let key = ConfigSchema.key(qualified: qualified) else {
            throw ConfigError(location: "config set", message: "unknown key '\(qualified)' (see `config get`)")
        }
        switch ConfigSchema.parseText(text, for: key) {
        case .success(let value):
            values[qualified] = value
            sources[qualified] = .runtime
            return key
        case .failure(let problem):
            throw ConfigError(location: "config set \(qualified)", message: problem.message)
        }
    }

    func string(_ k: String) -> String { if case .string(let s)? = values[k] { return s }; return "" }
    func int(_ k: String) -> Int { if case .int(let i)? = values[k] { return i }; return 0 }
    func bool(_ k: String) -> Bool { if case .bool(let b)? = values[k] { return b }; return false }
    func strings(_ k: String) -> [String] { if case .strings(let l)? = values[k] { return l }; return [] }

    public var dataDirectory: String { string("node.data_dir") }
    public var nodeName: String { string("node.name") }
    public var logLevel: LogLevel { LogLevel(name: string("node.log_level")) ?? .info }
    public var listen: HostPort { HostPort(parsing: string("network.listen")) ?? HostPort(host: "0.0.0.0", port: 0) }
    public var mdns: Bool { bool("network.mdns") }
    public var consoleEnabled: Bool { bool("console.enabled") }
    public var consoleTTY: String { string("console.tty") }
    public var pinRequired: Bool { bool("console.pin_required") }
    public var audioBackend: String { string("audio.backend") }
    public var audioInput: String { string("audio.input") }
    public var audioOutput: String { string("audio.output") }
    public var audioEchoCancellation: Bool { bool("audio.aec") }
    public var callSilenceMillis: Int { int("audio.call_silence_ms") }
    public var gpio: GPIOConfig {
        GPIOConfig(board: string("gpio.board"), chip: string("gpio.chip"),
                   pttLine: line("gpio.ptt_line"), answerLine: line("gpio.answer_line"),
                   hangupLine: line("gpio.hangup_line"), onlineLED: line("gpio.led_online"),
                   callLED: line("gpio.led_call"), transmitLED: line("gpio.led_transmit"),
                   relayLED: line("gpio.led_relay"), activeLow: bool("gpio.active_low"),
                   bias: string("gpio.bias"), debounceMillis: int("gpio.debounce_ms"),
                   longPressMillis: int("gpio.long_press_ms"))
    }
    public var callPeer: String { string("gpio.call_peer") }
    public var relayEnabled: Bool { bool("relay.enabled") }
    public var relayMaxListeners: Int { int("relay.max_listeners") }
    public var relayMaxKbps: Int { int("relay.max_kbps") }
    public var relayHosts: [String] { strings("relay.hosts") }
    public var prometheusListen: String { string("metrics.prometheus_listen") }

    private func line(_ k: String) -> Int? { let v = int(k); return v < 0 ? nil : v }
}

public struct GPIOConfig: Sendable, Equatable {
    public var board: String
    public var chip: String
    public var pttLine: Int?
    public var answerLine: Int?
    public var hangupLine: Int?
    public var onlineLED: Int?
    public var callLED: Int?
    public var transmitLED: Int?
    public var relayLED: Int?
    public var activeLow: Bool
    public var bias: String
    public var debounceMillis: Int
    public var longPressMillis: Int

    public var enabled: Bool { !chip.isEmpty }
}

/// Builds the effective configuration from, lowest to highest precedence: defaults, the board profile,
/// the file, `PROSCENIUM_<SECTION>_<KEY>` environment variables, and command-line flags.
public struct ConfigLoader {
    public static let defaultFilePath = "/etc/proscenium/node.toml"

    /// Directories searched for `gpio.board = "name"` profiles, first match wins.
    public var boardDirectories: [String]
    public var environment: [String: String]

    public init(environment: [String: String], boardDirectories: [String]? = nil) {
        self.environment = environment
        var dirs: [String] = []
        if let custom = environment["PROSCENIUM_BOARD_DIR"], !custom.isEmpty { dirs.append(custom) }
        dirs += ["/etc/proscenium/board", "/usr/share/proscenium/board", "/usr/local/share/proscenium/board"]
        self.boardDirectories = boardDirectories ?? dirs
    }

    /// `explicitPath` is `--config FILE` (must exist); otherwise the default file is read when present.
    public func load(explicitPath: String?, flags: [(flag: String, key: String, text: String)]) throws(ConfigError) -> NodeConfig {
        var values: [String: ConfigValue] = [:], sources: [String: ConfigSource] = [:]
        for key in ConfigSchema.keys {
            values[key.qualifiedName] = key.defaultValue
            sources[key.qualifiedName] = .defaultValue
        }
        var layered: [(String, ConfigValue, ConfigSource)] = []

        var path = explicitPath
        if path == nil, let fromEnv = environment["PROSCENIUM_CONFIG"], !fromEnv.isEmpty { path = fromEnv }
        if path == nil, access(ConfigLoader.defaultFilePath, R_OK) == 0 { path = ConfigLoader.defaultFilePath }
        if let path {
            guard let text = readTextFile(path) else {
                throw ConfigError(location: path, message: "cannot read configuration file: \(String(cString: strerror(errno)))")
            }
            for entry in try ConfigLoader.parseEntries(text, fileName: path, allowedSections: nil) {
                layered.append((entry.section + "." + entry.key, entry.value, .file(path: path, line: entry.line)))
            }
        }

        for (name, text) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("PROSCENIUM_") {
            let rest = name.dropFirst("PROSCENIUM_".count)
            guard let underscore = rest.firstIndex(of: "_") else { continue }
            let section = rest[..<underscore].lowercased()
            guard ConfigSchema.sections.contains(section) else { continue }
            let keyName = rest[rest.index(after: underscore)...].lowercased()
            guard let key = ConfigSchema.key(section: section, name: keyName) else {
                throw ConfigError(location: "environment \(name)", message: "unknown key '\(keyName)' in [\(section)]")
            }
            switch ConfigSchema.parseText(text, for: key) {
            case .success(let value): layered.append((key.qualifiedName, value, .environment(name)))
            case .failure(let problem): throw ConfigError(location: "environment \(name)", message: problem.message)
            }
        }

        for flag in flags {
            guard let key = ConfigSchema.key(qualified: flag.key) else {
                throw ConfigError(location: flag.flag, message: "internal: no configuration key \(flag.key)")
            }
            switch ConfigSchema.parseText(flag.text, for: key) {
            case .success(let value): layered.append((key.qualifiedName, value, .commandLine(flag.flag)))
            case .failure(let problem): throw ConfigError(location: flag.flag, message: problem.message)
            }
        }

        // The board profile sits just above the defaults, so the board name itself may come from any layer.
        var boardName = ""
        for (key, value, _) in layered where key == "gpio.board" { if case .string(let s) = value { boardName = s } }
        if !boardName.isEmpty {
            let boardPath = try resolveBoard(boardName)
            guard let text = readTextFile(boardPath) else {
                throw ConfigError(location: boardPath, message: "cannot read board profile")
            }
            let fileName = boardPath
            for entry in try ConfigLoader.parseEntries(text, fileName: fileName, allowedSections: ["gpio", "audio"]) where entry.key != "board" {
                let k = entry.section + "." + entry.key
                values[k] = entry.value
                sources[k] = .board(file: fileName, line: entry.line)
            }
        }
        for (key, value, source) in layered {
            values[key] = value
            sources[key] = source
        }
        return NodeConfig(values: values, sources: sources, filePath: path)
    }

    /// Parses and checks a file against the schema; errors carry `file:line:`.
    public static func parseEntries(_ text: String, fileName: String, allowedSections: Set<String>?) throws(ConfigError) -> [TOMLEntry] {
        let shortName = fileName.split(separator: "/").last.map(String.init) ?? fileName
        let entries: [TOMLEntry]
        do throws(TOMLSyntaxError) {
            entries = try TOMLSubset.parse(text)
        } catch {
            throw ConfigError(location: "\(shortName):\(error.line)", message: error.message)
        }
        for entry in entries {
            let location = "\(shortName):\(entry.line)"
            guard ConfigSchema.sections.contains(entry.section) else {
                throw ConfigError(location: location, message: "unknown section [\(entry.section)]")
            }
            if let allowed = allowedSections, !allowed.contains(entry.section) {
                throw ConfigError(location: location, message: "section [\(entry.section)] is not allowed here")
            }
            guard let key = ConfigSchema.key(section: entry.section, name: entry.key) else {
                throw ConfigError(location: location, message: "unknown key '\(entry.key)' in [\(entry.section)]")
            }
            if let problem = ConfigSchema.validate(entry.value, for: key) {
                throw ConfigError(location: location, message: "\(entry.key): \(problem.message)")
            }
        }
        return entries
    }

    func resolveBoard(_ name: String) throws(ConfigError) -> String {
        if name.contains("/") { return name }
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw ConfigError(location: "gpio.board", message: "'\(name)' is not a board profile name")
        }
        for dir in boardDirectories {
            let candidate = dir + "/" + name + ".toml"
            if access(candidate, R_OK) == 0 { return candidate }
        }
        throw ConfigError(location: "gpio.board",
                          message: "no board profile '\(name)' in \(boardDirectories.joined(separator: ", "))")
    }
}

/// Reads a whole (small) text file; nil when it cannot be opened.
func readTextFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out = [UInt8](), buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

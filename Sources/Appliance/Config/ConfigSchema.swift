/// What a configuration key may hold.
public enum ConfigKind: Sendable, Equatable {
    case string
    case int(ClosedRange<Int>)
    case bool
    case strings
    case choice([String])
    /// `HOST:PORT`, `[IPv6]:PORT`; port 0 means "any free port".
    case hostPort
    /// `HOST:PORT` or empty (feature off).
    case optionalHostPort
}

/// One documented key of node.toml.
public struct ConfigKey: Sendable {
    public let section: String
    public let name: String
    public let kind: ConfigKind
    public let defaultValue: ConfigValue
    public let help: String
    /// Whether changing it on a running node (`config set`) takes effect without a restart.
    public let live: Bool

    public var qualifiedName: String { section + "." + name }
    /// `PROSCENIUM_<SECTION>_<KEY>`.
    public var environmentName: String { "PROSCENIUM_" + section.uppercased() + "_" + name.uppercased() }
}

/// Why a value is unacceptable; the caller adds where it came from.
public struct ConfigValueError: Error, Equatable {
    public let message: String
}

/// Every key the node understands. docs/config.md and docs/node.example.toml describe the same list;
/// a test checks the example file parses and covers every key here.
public enum ConfigSchema {
    public static let sections = ["node", "network", "console", "audio", "gpio", "relay", "metrics"]

    public static let keys: [ConfigKey] = [
        ConfigKey(section: "node", name: "data_dir", kind: .string, defaultValue: .string(""),
                  help: "Directory holding the identity, database and control socket (empty: $PROSCENIUM_DATA_DIR or ~/.local/share/proscenium).", live: false),
        ConfigKey(section: "node", name: "name", kind: .string, defaultValue: .string(""),
                  help: "Human-readable name of this box, shown in status.", live: true),
        ConfigKey(section: "node", name: "log_level", kind: .choice(LogLevelNames.all), defaultValue: .string("info"),
                  help: "Lowest log level written: trace, debug, info, notice, warning, error, critical.", live: true),

        ConfigKey(section: "network", name: "listen", kind: .hostPort, defaultValue: .string("0.0.0.0:0"),
                  help: "UDP address the node's QUIC endpoint binds (port 0: any free port).", live: false),
        ConfigKey(section: "network", name: "mdns", kind: .bool, defaultValue: .bool(false),
                  help: "Announce and discover peers on the local network with mDNS.", live: false),

        ConfigKey(section: "console", name: "enabled", kind: .bool, defaultValue: .bool(true),
                  help: "Run the admin console on stdin when stdin is a terminal or pipe (--no-console turns it off).", live: false),
        ConfigKey(section: "console", name: "tty", kind: .string, defaultValue: .string(""),
                  help: "Extra serial/virtual terminal for the admin console, e.g. /dev/ttyGS0 or /dev/ttyAMA0 (empty: none).", live: false),
        ConfigKey(section: "console", name: "pin_required", kind: .bool, defaultValue: .bool(false),
                  help: "Refuse console commands until an admin PIN is set (the first login must choose one).", live: true),

        ConfigKey(section: "audio", name: "backend", kind: .choice(["alsa", "file", "none"]), defaultValue: .string("alsa"),
                  help: "Audio system: alsa; file (input: a 48 kHz mono 16-bit WAV played in a loop, output: raw S16LE written, both paced to real time; for a box without a sound card); or none for a node without sound (relay/feed only).", live: false),
        ConfigKey(section: "audio", name: "input", kind: .string, defaultValue: .string("default"),
                  help: "ALSA capture PCM, e.g. default, plughw:CARD=seeed2micvoicec,DEV=0 (backend file: a WAV path, empty for silence).", live: false),
        ConfigKey(section: "audio", name: "output", kind: .string, defaultValue: .string("default"),
                  help: "ALSA playback PCM (backend file: a raw S16LE output path, empty to discard).", live: false),
        ConfigKey(section: "audio", name: "call_silence_ms", kind: .int(500...60_000), defaultValue: .int(2_500),
                  help: "A call whose peer sends no audio for this long is ended (frames flow every 20 ms, even muted).", live: false),
        ConfigKey(section: "audio", name: "aec", kind: .bool, defaultValue: .bool(true),
                  help: "Echo cancellation (speexdsp) for loudspeaker use.", live: false),

        ConfigKey(section: "gpio", name: "board", kind: .string, defaultValue: .string(""),
                  help: "Board profile (rpi4, rpi5, zero2w, respeaker-2mic, buttons) or path to a profile file; its [gpio] keys are defaults for this section.", live: false),
        ConfigKey(section: "gpio", name: "chip", kind: .string, defaultValue: .string(""),
                  help: "GPIO chip: name (gpiochip0), path (/dev/gpiochip4) or label (pinctrl-rp1). Empty: GPIO off.", live: false),
        ConfigKey(section: "gpio", name: "ptt_line", kind: .int(-1...1023), defaultValue: .int(-1),
                  help: "Line offset of the push-to-talk button (-1: none).", live: false),
        ConfigKey(section: "gpio", name: "answer_line", kind: .int(-1...1023), defaultValue: .int(-1),
                  help: "Line offset of the answer/hang-up button (-1: none).", live: false),
        ConfigKey(section: "gpio", name: "hangup_line", kind: .int(-1...1023), defaultValue: .int(-1),
                  help: "Line offset of a separate hang-up/reject button (-1: the answer button does both).", live: false),
        ConfigKey(section: "gpio", name: "led_online", kind: .int(-1...1023), defaultValue: .int(-1),
                  help: "Line offset of the 'online' LED (-1: none).", live: false),
        ConfigKey(section: "gpio", name: "led_call", kind: .int(-1...1023), defaultValue: .int(-1),
                  help: "Line offset of the call LED: blinks while ringing, on during a call (-1: none).", live: false),
        ConfigKey(section: "gpio", name: "led_transmit", kind: .int(-1...1023), defaultValue: .int(-1),
                  help: "Line offset of the transmit LED: on while push-to-talk is held (-1: none).", live: false),
        ConfigKey(section: "gpio", name: "led_relay", kind: .int(-1...1023), defaultValue: .int(-1),
                  help: "Line offset of the relay LED: on while this box relays a Stage (-1: none).", live: false),
        ConfigKey(section: "gpio", name: "active_low", kind: .bool, defaultValue: .bool(true),
                  help: "Buttons pull the line to ground when pressed (the usual wiring with pull-ups).", live: false),
        ConfigKey(section: "gpio", name: "bias", kind: .choice(["pull-up", "pull-down", "disabled", "as-is"]), defaultValue: .string("pull-up"),
                  help: "Internal bias for button lines.", live: false),
        ConfigKey(section: "gpio", name: "debounce_ms", kind: .int(0...1000), defaultValue: .int(30),
                  help: "A button level must be stable this long to count.", live: false),
        ConfigKey(section: "gpio", name: "long_press_ms", kind: .int(100...10000), defaultValue: .int(1500),
                  help: "Holding a button this long is a long press (reject a ringing call).", live: false),
        ConfigKey(section: "gpio", name: "call_peer", kind: .string, defaultValue: .string(""),
                  help: "Whom a long press of the answer button calls when idle: a master key or a followed name (empty: nobody).",
                  live: true),

        ConfigKey(section: "relay", name: "enabled", kind: .bool, defaultValue: .bool(false),
                  help: "Volunteer as a Stage relay for other hosts.", live: false),
        ConfigKey(section: "relay", name: "max_listeners", kind: .int(0...10000), defaultValue: .int(20),
                  help: "Most listeners served at once when relaying.", live: true),
        ConfigKey(section: "relay", name: "max_kbps", kind: .int(0...1_000_000), defaultValue: .int(2000),
                  help: "Upload budget for relaying, kilobits per second.", live: true),
        ConfigKey(section: "relay", name: "hosts", kind: .strings, defaultValue: .strings([]),
                  help: "Master public keys (hex) of hosts this node relays for (empty: any host).", live: true),

        ConfigKey(section: "metrics", name: "prometheus_listen", kind: .optionalHostPort, defaultValue: .string(""),
                  help: "TCP address for a Prometheus /metrics endpoint (empty: off).", live: false)
    ]

    public static func key(section: String, name: String) -> ConfigKey? {
        keys.first { $0.section == section && $0.name == name }
    }

    public static func key(qualified: String) -> ConfigKey? {
        keys.first { $0.qualifiedName == qualified }
    }

    /// Checks a typed value (from a file or `config set`) against the key's kind.
    public static func validate(_ value: ConfigValue, for key: ConfigKey) -> ConfigValueError? {
        switch (key.kind, value) {
        case (.string, .string), (.bool, .bool), (.strings, .strings):
            return nil
        case (.int(let range), .int(let number)):
            return range.contains(number) ? nil : ConfigValueError(message: "\(number) is out of range \(range.lowerBound)...\(range.upperBound)")
        case (.choice(let choices), .string(let s)):
            return choices.contains(s) ? nil : ConfigValueError(message: "'\(s)' is not one of \(choices.joined(separator: ", "))")
        case (.hostPort, .string(let s)):
            return HostPort(parsing: s) == nil ? ConfigValueError(message: "'\(s)' is not HOST:PORT") : nil
        case (.optionalHostPort, .string(let s)):
            return s.isEmpty || HostPort(parsing: s) != nil ? nil : ConfigValueError(message: "'\(s)' is not HOST:PORT (or empty)")
        default:
            return ConfigValueError(message: "expected \(expectedTypeName(key.kind)), got \(value.typeName)")
        }
    }

    /// Parses text from an environment variable, flag or `config set` into the key's type.
    public static func parseText(_ text: String, for key: ConfigKey) -> Result<ConfigValue, ConfigValueError> {
        let value: ConfigValue
        switch key.kind {
        case .string, .choice, .hostPort, .optionalHostPort:
            value = .string(text)
        case .int:
            guard let number = Int(text.filter { $0 != "_" }) else {
                return .failure(ConfigValueError(message: "'\(text)' is not an integer"))
            }
            value = .int(number)
        case .bool:
            switch text.lowercased() {
            case "true", "yes", "on", "1": value = .bool(true)
            case "false", "no", "off", "0": value = .bool(false)
            default: return .failure(ConfigValueError(message: "'\(text)' is not a boolean (true/false)"))
            }
        case .strings:
            value = .strings(text.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty })
        }
        if let problem = validate(value, for: key) { return .failure(problem) }
        return .success(value)
    }

    static func expectedTypeName(_ kind: ConfigKind) -> String {
        switch kind {
        case .string, .choice, .hostPort, .optionalHostPort: return "a string"
        case .int: return "an integer"
        case .bool: return "a boolean"
        case .strings: return "an array of strings"
        }
    }
}

enum LogLevelNames {
    static let all = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}

/// `HOST:PORT` with IPv4, `[IPv6]` or a host name.
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public let host: String
    public let port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public init?(parsing text: String) {
        let hostPart: Substring, portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            if hostPart.contains(":") { return nil }
        }
        guard !hostPart.isEmpty, let port = UInt16(portPart) else { return nil }
        self.host = String(hostPart)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s.removeLast() }
        return String(s)
    }
}

import AudioPipeline
import Core

/// The admin commands every node has: status, identity, ticket, peers, config, log, shutdown.
/// Other services add theirs to the same registry.
enum BuiltinCommands {
    static func register(in registry: CommandRegistry, state: NodeState, supervisor: Supervisor, latch: ShutdownLatch,
                         components: NodeComponents) {
        registry.register(AdminCommand(
            name: "status", summary: "Identity, uptime, version, peers, audio, GPIO, relay and services.",
            details: "Relay load is a placeholder until the relay service is merged."
        ) { _ in
            await status(state: state, supervisor: supervisor, components: components)
        })

        registry.register(AdminCommand(name: "identity", summary: "This node's public keys and ticket.") { _ in
            let report = await state.identityReport
            return CommandOutput(text: report.text, json: .object(report.json.mapValues(jsonValue)))
        })

        registry.register(AdminCommand(
            name: "ticket", summary: "The ticket other nodes and apps use to reach this node, with a QR code.",
            usage: "[--no-qr]", arguments: 0...1
        ) { arguments in
            let ticket = await state.identityReport.ticket
            var text = ticket
            if arguments.first != "--no-qr" {
                do {
                    let code = try QRCode.encode(Array(ticket.utf8), minimumLevel: .medium)
                    text = QRTerminalRenderer.render(code) + "\n" + ticket
                } catch {
                    text += "\n(\(error))"
                }
            }
            return CommandOutput(text: text, json: .object(["ticket": .string(ticket)]))
        })

        registry.register(AdminCommand(
            name: "peers", summary: "Open QUIC connections, and the peers whose addresses this node knows."
        ) { _ in
            await peers(components: components)
        })

        registry.register(AdminCommand(
            name: "config", summary: "Show or change settings.", usage: "[get [KEY] | set KEY VALUE]",
            details: """
            `config get` lists every key with its value and where it came from; `config get KEY` shows one \
            (KEY is section.key, e.g. network.listen). `config set KEY VALUE` changes a value in the running \
            node only (the file is not rewritten); keys marked live apply at once, others after a restart. \
            Arrays are comma-separated.
            """,
            arguments: 0...3, completions: ["get", "set"]
        ) { arguments in
            try await config(arguments, state: state)
        })

        registry.register(AdminCommand(
            name: "log", summary: "Show or set the lowest log level written.", usage: "[LEVEL]",
            details: "Levels: " + LogLevelNames.all.joined(separator: ", ") + ".",
            arguments: 0...1, completions: LogLevelNames.all
        ) { arguments in
            if let level = arguments.first {
                _ = try await state.setConfig("node.log_level", text: level)
            }
            let current = state.logSink.minimumLevel.description
            return CommandOutput(text: "log level: \(current)", json: .object(["level": .string(current)]))
        })

        registry.register(AdminCommand(name: "shutdown", summary: "Stop the node cleanly.") { _ in
            await latch.trigger("shutdown command")
            return CommandOutput(text: "shutting down", json: .object(["shutting_down": .bool(true)]))
        })
    }

    static func jsonValue(_ any: Any) -> JSONValue {
        switch any {
        case let s as String: return .string(s)
        case let i as Int: return .int(i)
        case let b as Bool: return .bool(b)
        default: return .string("\(any)")
        }
    }

    static func peerCounts(components: NodeComponents) async -> (connected: Int, known: Int, following: Int) {
        let connected = (try? await components.endpoint?.connectionCount()) ?? 0
        let known = components.addressBook?.count ?? 0
        let following = components.social.map { (try? $0.store.following(of: $0.me).count) ?? 0 } ?? 0
        return (connected, known, following)
    }

    static func peers(components: NodeComponents) async -> CommandOutput {
        guard components.endpoint != nil else {
            return CommandOutput(text: "transport not running", json: .object(["connected": .int(0), "known": .array([])]))
        }
        let counts = await peerCounts(components: components)
        let following = components.social.map { (try? $0.store.following(of: $0.me).map(\.pubkey)) ?? [] } ?? []
        var known: [JSONValue] = [], lines = ["\(counts.connected) connections open, \(counts.known) known peers (address book)"]
        for master in following {
            let transports = (try? components.social?.directory.transportIDs(forHex: master)) ?? []
            let addresses = transports.compactMap { try? Ed25519.PublicKey(hex: $0) }
                .flatMap { components.addressBook?.addr(for: $0)?.ipAddresses.map(\.description) ?? [] }
            known.append(.object(["master": .string(master), "transport_ids": .array(transports.map { .string($0) }),
                                  "addresses": .array(addresses.map { .string($0) })]))
            lines.append("following \(master.prefix(16)) at " + (addresses.isEmpty ? "(no address)" : addresses.joined(separator: ", ")))
        }
        return CommandOutput(text: lines.joined(separator: "\n"),
                             json: .object(["connected": .int(counts.connected), "known": .int(counts.known),
                                            "following": .array(known)]))
    }

    static func status(state: NodeState, supervisor: Supervisor, components: NodeComponents) async -> CommandOutput {
        let config = await state.config
        let report = await state.identityReport
        let uptime = await state.uptimeSeconds
        let addresses = await state.listenAddresses
        let bound = addresses.first
        let counts = await peerCounts(components: components)
        let gpio = await state.gpio
        let services = await supervisor.states
        let call = await components.call?.status()
        let name = config.nodeName.isEmpty ? "(unnamed)" : config.nodeName
        let audio: JSONValue = .object([
            "backend": .string(config.audioBackend), "input": .string(config.audioInput),
            "output": .string(config.audioOutput), "aec": .bool(config.audioEchoCancellation)
        ])
        let relayStatus = await components.stageRelay?.status()
        var relay: JSONValue = relayStatus.map(StageRelayCommands.json) ?? .object([:])
        if case var .object(members) = relay {
            members["enabled"] = .bool(config.relayEnabled)
            relay = .object(members)
        }
        let json: JSONValue = .object([
            "version": .string(NodeVersion.string),
            "name": .string(config.nodeName),
            "uptime_s": .int(Int(uptime)),
            "data_dir": .string(state.dataDirectory),
            "config_file": config.filePath.map { .string($0) } ?? .null,
            "identity": .object(report.json.mapValues(jsonValue)),
            "listen": bound.map { .string($0) } ?? .null,
            "listen_addresses": .array(addresses.map { .string($0) }),
            "peers": .object(["connected": .int(counts.connected), "known": .int(counts.known),
                              "following": .int(counts.following)]),
            "audio": audio,
            "gpio": gpio.json,
            "call": call.map { .object(["state": .string($0.phase), "call_id": $0.callID.map { .string($0) } ?? .null,
                                        "peer": $0.peer.map { .string($0) } ?? .null]) } ?? .null,
            "relay": relay,
            "metrics": await state.metricsAddress.map { .string("http://\($0)/metrics") } ?? .null,
            "services": .array(services.map { .object(["name": .string($0.name), "state": .string($0.state.description)]) })
        ])
        var lines: [String] = [
            "Proscenium Node \(NodeVersion.string) — \(name), up \(formatDuration(uptime))",
            "master  \(report.masterPublicKey)",
            "node id \(report.transportID)",
            "listen  \(addresses.isEmpty ? "not bound" : addresses.joined(separator: " "))",
            "peers   \(counts.connected) connected, \(counts.known) known, following \(counts.following)",
            "audio   " + (config.audioBackend == "none" ? "none"
                           : "in \(config.audioInput), out \(config.audioOutput), aec \(config.audioEchoCancellation ? "on" : "off")"),
            "gpio    " + (gpio.enabled ? "\(gpio.chip): " + (gpio.lines + gpio.leds).map { "\($0.role)=\($0.active ? "on" : "off")" }.joined(separator: " ")
                          : "off"),
            "call    " + CallAdminCommands.statusLine(call)
        ]
        // Separate statements: one long array literal is too much for Swift 6.0.3's type checker.
        let relayLine: String = relayStatus.map(StageRelayCommands.statusLine) ?? "stage service not running"
        lines.append("relay   " + relayLine)
        lines.append("services " + services.map { "\($0.name):\(shortState($0.state))" }.joined(separator: " "))
        lines = lines.flatMap { $0.count <= 80 ? [$0] : TextLayout.wrap($0, width: 80) }
        return CommandOutput(text: lines.joined(separator: "\n"), json: json)
    }

    static func shortState(_ state: ServiceState) -> String {
        switch state {
        case .failed: return "failed"
        case .abandoned: return "abandoned"
        default: return state.description
        }
    }

    static func formatDuration(_ seconds: UInt64) -> String {
        let days = seconds / 86400, hours = seconds / 3600 % 24, minutes = seconds / 60 % 60, secs = seconds % 60
        if days > 0 { return "\(days)d \(hours)h \(minutes)m" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(minutes)m \(secs)s" }
        return "\(secs)s"
    }

    static func config(_ arguments: [String], state: NodeState) async throws -> CommandOutput {
        let verb = arguments.first ?? "get"
        switch verb {
        case "get":
            guard arguments.count <= 2 else { throw AdminCommandError("usage: config get [KEY]") }
            let config = await state.config
            if arguments.count == 2 {
                let name = arguments[1]
                guard ConfigSchema.key(qualified: name) != nil, let value = config.value(name) else {
                    throw AdminCommandError("unknown key '\(name)' (try `config get`)")
                }
                let source = config.sources[name]?.description ?? "default"
                return CommandOutput(text: "\(name) = \(value)    # \(source)",
                                     json: .object(["key": .string(name), "value": JSONValue(configValue: value),
                                                    "source": .string(source)]))
            }
            var lines: [String] = [], object: [String: JSONValue] = [:]
            for key in ConfigSchema.keys {
                let value = config.value(key.qualifiedName) ?? key.defaultValue
                object[key.qualifiedName] = JSONValue(configValue: value)
                var line = "\(key.qualifiedName) = \(value)"
                let source = config.sources[key.qualifiedName] ?? .defaultValue
                if source != .defaultValue { line += "    # \(source)" }
                lines.append(line)
            }
            return CommandOutput(text: lines.joined(separator: "\n"), json: .object(object))
        case "set":
            guard arguments.count == 3 else { throw AdminCommandError("usage: config set KEY VALUE") }
            let key: ConfigKey
            do {
                key = try await state.setConfig(arguments[1], text: arguments[2])
            } catch let error as ConfigError {
                throw AdminCommandError(error.description)
            }
            let value = await state.config.value(key.qualifiedName) ?? key.defaultValue
            let note = key.live ? "applied" : "takes effect after a restart (not written to the file)"
            return CommandOutput(text: "\(key.qualifiedName) = \(value)  (\(note))",
                                 json: .object(["key": .string(key.qualifiedName), "value": JSONValue(configValue: value),
                                                "live": .bool(key.live)]))
        default:
            throw AdminCommandError("usage: config [get [KEY] | set KEY VALUE]")
        }
    }
}

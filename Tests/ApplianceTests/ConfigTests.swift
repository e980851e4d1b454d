import Core
import Foundation
import Testing
@testable import Appliance
#if canImport(Glibc)
import Glibc
#endif

@Suite("Configuration")
struct ConfigTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    func errorOf(_ text: String, file: String = "node.toml") -> String? {
        do throws(ConfigError) {
            _ = try ConfigLoader.parseEntries(text, fileName: "/etc/proscenium/" + file, allowedSections: nil)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func parsesTheSubset() throws {
        let entries = try TOMLSubset.parse("""
        # comment
        [node]
        name = "Front door"   # trailing comment
        log_level = 'debug'

        [relay]
        max_kbps = 1_500
        enabled = true
        hosts = ["ab", "c\\"d", ]
        [gpio]
        ptt_line = -1
        """)
        #expect(entries.count == 6)
        #expect(entries[0] == TOMLEntry(section: "node", key: "name", value: .string("Front door"), line: 3))
        #expect(entries[1].value == .string("debug"))
        #expect(entries[2].value == .int(1500))
        #expect(entries[3].value == .bool(true))
        #expect(entries[4].value == .strings(["ab", "c\"d"]))
        #expect(entries[5] == TOMLEntry(section: "gpio", key: "ptt_line", value: .int(-1), line: 11))
    }

    @Test func errorsNameFileLineAndKey() {
        #expect(errorOf("[network]\n\n\nlisten_adress = \"x:1\"\n") == "node.toml:4: unknown key 'listen_adress' in [network]")
        #expect(errorOf("[netwerk]\nlisten = \"0.0.0.0:1\"\n") == "node.toml:2: unknown section [netwerk]")
        #expect(errorOf("[network]\nlisten = 12\n") == "node.toml:2: listen: expected a string, got integer")
        #expect(errorOf("[network]\nlisten = \"nohostport\"\n") == "node.toml:2: listen: 'nohostport' is not HOST:PORT")
        #expect(errorOf("[gpio]\ndebounce_ms = 5000\n") == "node.toml:2: debounce_ms: 5000 is out of range 0...1000")
        #expect(errorOf("[node]\nlog_level = \"loud\"\n")?.hasPrefix("node.toml:2: log_level: 'loud' is not one of trace") == true)
        #expect(errorOf("[node]\nname = unquoted\n")?.hasPrefix("node.toml:2: 'name': 'unquoted' is not a string") == true)
        #expect(errorOf("[node]\nname = \"open\n") == "node.toml:2: 'name': string is not closed on this line")
        #expect(errorOf("name = \"x\"\n") == "node.toml:1: key 'name' is outside any [section]")
        #expect(errorOf("[node]\nname = \"a\"\nname = \"b\"\n") == "node.toml:3: key 'name' in [node] is set twice (first on line 2)")
        #expect(errorOf("[node]\n[node]\n") == "node.toml:2: section [node] appears twice (first on line 1)")
        #expect(errorOf("[relay]\nhosts = [1, 2]\n")?.hasPrefix("node.toml:2: 'hosts': arrays may hold only strings") == true)
        #expect(errorOf("[relay\n") == "node.toml:1: expected ']' after section name 'relay'")
        #expect(errorOf("[console]\npin_required = yes\n")?.hasPrefix("node.toml:2:") == true)
    }

    @Test func layersDefaultsFileEnvironmentFlags() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/node.toml"
        try "[network]\nlisten = \"0.0.0.0:7000\"\nmdns = false\n[relay]\nmax_kbps = 100\n".write(toFile: path, atomically: true, encoding: .utf8)
        let loader = ConfigLoader(environment: ["PROSCENIUM_RELAY_MAX_KBPS": "200", "PROSCENIUM_NETWORK_LISTEN": "127.0.0.1:7001",
                                                "PROSCENIUM_CACHE": "/elsewhere", "PROSCENIUM_DATA_DIR": "/d"],
                                  boardDirectories: [])
        let config = try loader.load(explicitPath: path, flags: [("--listen", "network.listen", "127.0.0.1:7002")])
        #expect(config.listen == HostPort(host: "127.0.0.1", port: 7002))
        #expect(config.relayMaxKbps == 200)
        #expect(config.mdns == false)
        #expect(config.relayMaxListeners == 20)
        #expect(config.sources["network.mdns"] == .file(path: path, line: 3))
        #expect(config.sources["relay.max_kbps"] == .environment("PROSCENIUM_RELAY_MAX_KBPS"))
        #expect(config.sources["network.listen"] == .commandLine("--listen"))
    }

    @Test func environmentErrorsNameTheVariable() {
        func failure(_ env: [String: String]) -> String? {
            do throws(ConfigError) {
                _ = try ConfigLoader(environment: env, boardDirectories: []).load(explicitPath: nil, flags: [])
                return nil
            } catch { return error.description }
        }
        #expect(failure(["PROSCENIUM_GPIO_PTT_LINE": "x"]) == "environment PROSCENIUM_GPIO_PTT_LINE: 'x' is not an integer")
        #expect(failure(["PROSCENIUM_NETWORK_LISTEN_ADRESS": "x"]) == "environment PROSCENIUM_NETWORK_LISTEN_ADRESS: unknown key 'listen_adress' in [network]")
        #expect(failure(["PROSCENIUM_CONSOLE_PIN_REQUIRED": "perhaps"]) == "environment PROSCENIUM_CONSOLE_PIN_REQUIRED: 'perhaps' is not a boolean (true/false)")
        #expect(failure(["PROSCENIUM_RELAY_HOSTS": "aa, bb"]) == nil)
    }

    @Test func missingExplicitFileIsAnError() {
        #expect(throws: ConfigError.self) {
            try ConfigLoader(environment: [:], boardDirectories: []).load(explicitPath: "/nonexistent/node.toml", flags: [])
        }
    }

    @Test func boardProfileSitsBelowTheFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try "[gpio]\nchip = \"gpiochip9\"\nanswer_line = 17\nptt_line = 27\n".write(toFile: dir.path + "/testboard.toml", atomically: true, encoding: .utf8)
        try "[gpio]\nboard = \"testboard\"\nptt_line = 22\n".write(toFile: dir.path + "/node.toml", atomically: true, encoding: .utf8)
        let config = try ConfigLoader(environment: [:], boardDirectories: [dir.path]).load(explicitPath: dir.path + "/node.toml", flags: [])
        #expect(config.gpio.chip == "gpiochip9")
        #expect(config.gpio.answerLine == 17)
        #expect(config.gpio.pttLine == 22)
        #expect(config.gpio.enabled)
        #expect(config.sources["gpio.answer_line"] == .board(file: dir.path + "/testboard.toml", line: 3))

        try "[gpio]\nboard = \"nosuchboard\"\n".write(toFile: dir.path + "/bad.toml", atomically: true, encoding: .utf8)
        #expect(throws: ConfigError.self) {
            try ConfigLoader(environment: [:], boardDirectories: [dir.path]).load(explicitPath: dir.path + "/bad.toml", flags: [])
        }
    }

    @Test func shippedBoardProfilesParse() throws {
        let boardDir = Self.repositoryRoot + "/board"
        let files = try FileManager.default.contentsOfDirectory(atPath: boardDir).filter { $0.hasSuffix(".toml") }
        for name in ["rpi4", "rpi5", "zero2w", "respeaker-2mic", "buttons"] {
            #expect(files.contains(name + ".toml"), "missing board/\(name).toml")
        }
        for file in files {
            let name = String(file.dropLast(5))
            let config = try ConfigLoader(environment: [:], boardDirectories: [boardDir])
                .load(explicitPath: nil, flags: [("--board", "gpio.board", name)])
            #expect(config.gpio.enabled, "\(file) sets no chip")
        }
    }

    @Test func exampleFileParsesAndDocumentsEveryKey() throws {
        let example = try String(contentsOfFile: Self.repositoryRoot + "/docs/node.example.toml", encoding: .utf8)
        let docs = try String(contentsOfFile: Self.repositoryRoot + "/docs/config.md", encoding: .utf8)
        _ = try ConfigLoader.parseEntries(example, fileName: "node.example.toml", allowedSections: nil)
        // Every key appears in the example (commented or not) and in docs/config.md.
        for key in ConfigSchema.keys {
            #expect(example.contains("\(key.name) ="), "example lacks \(key.qualifiedName)")
            #expect(docs.contains("`\(key.name)`"), "docs/config.md lacks \(key.qualifiedName)")
        }
    }

    @Test func hostPortParsing() {
        #expect(HostPort(parsing: "0.0.0.0:0") == HostPort(host: "0.0.0.0", port: 0))
        #expect(HostPort(parsing: "[::1]:443") == HostPort(host: "::1", port: 443))
        #expect(HostPort(parsing: "localhost:80")?.host == "localhost")
        #expect(HostPort(parsing: "::1:443") == nil)
        #expect(HostPort(parsing: "host:70000") == nil)
        #expect(HostPort(parsing: ":80") == nil)
    }

    @Test func runtimeSetValidates() throws {
        var config = NodeConfig()
        let key = try config.set("node.log_level", text: "debug")
        #expect(key.live)
        #expect(config.logLevel == .debug)
        #expect(throws: ConfigError.self) { _ = try config.set("node.log_level", text: "loud") }
        #expect(throws: ConfigError.self) { _ = try config.set("node.nope", text: "1") }
        _ = try config.set("relay.hosts", text: "aa,bb")
        #expect(config.relayHosts == ["aa", "bb"])
    }
}

@Suite("Data directory")
struct DataDirectoryTests {
    @Test func precedence() {
        let env = ["PROSCENIUM_DATA_DIR": "/env", "HOME": "/home/pi"]
        #expect(DataDirectory.choose(flag: "/flag", environment: env) { "/config" } == "/flag")
        #expect(DataDirectory.choose(flag: nil, environment: env) { "/config" } == "/env")
        #expect(DataDirectory.choose(flag: nil, environment: ["HOME": "/home/pi"]) { "/config" } == "/config")
        #expect(DataDirectory.choose(flag: nil, environment: ["HOME": "/home/pi"]) { "" } == "/home/pi/.local/share/proscenium")
    }

    @Test func prepareCreatesAndTightens() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let nested = dir.path + "/a/b"
        _ = try DataDirectory.prepare(nested)
        var info = stat()
        #expect(stat(nested, &info) == 0 && info.st_mode & 0o777 == 0o700)
        chmod(nested, 0o755)
        _ = try DataDirectory.prepare(nested)
        #expect(stat(nested, &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(FileManager.default.createFile(atPath: dir.path + "/file", contents: Data()))
        #expect(throws: CommandFailure.self) { _ = try DataDirectory.prepare(dir.path + "/file") }
    }
}

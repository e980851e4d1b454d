import Foundation
import Testing
@testable import Appliance

@Suite("CLI contract")
struct CLIContractTests {
    @Test func helpExplainsEverySubcommand() throws {
        let result = try NodeBinary.run(["--help"])
        #expect(result.status == 0)
        for name in ["run", "init", "identity", "ctl", "set-pin"] {
            #expect(result.stdout.contains("  \(name)"), "help lacks \(name)")
        }
        #expect(result.stdout.contains("(default)"))
        for line in result.stdout.split(separator: "\n") { #expect(line.count <= 80) }
        for sub in ["run", "init", "identity", "ctl", "set-pin"] {
            let help = try NodeBinary.run([sub, "--help"])
            #expect(help.status == 0)
            #expect(help.stdout.contains("--data-dir"))
        }
        let run = try NodeBinary.run(["run", "--help"])
        for flag in ["--listen", "--no-console", "--config", "--audio-in", "--audio-out", "--audio"] {
            #expect(run.stdout.contains(flag), "run --help lacks \(flag)")
        }
    }

    @Test func initPrintsWordsOnceAndRefusesToOverwrite() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let data = dir.path + "/node"
        let first = try NodeBinary.run(["init", "--data-dir", data])
        #expect(first.status == 0, "\(first.stderr)")
        let words = RecoveryWords.parse(first.stdout)
        #expect(words.count == 24)
        #expect(first.stdout.contains("WRITE THESE 24 WORDS DOWN"))
        for line in first.stdout.split(separator: "\n") { #expect(line.count <= 80) }

        var info = stat()
        #expect(stat(data, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o700)

        let second = try NodeBinary.run(["init", "--data-dir", data])
        #expect(second.status != 0)
        #expect(second.stderr.contains("refusing to overwrite"))

        let identity = try NodeBinary.run(["identity", "--data-dir", data, "--json"])
        #expect(identity.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(identity.stdout.utf8)) as? [String: Any])
        for key in ["master_pubkey", "signing_pubkey", "transport_id", "dm_pubkey"] {
            let value = try #require(object[key] as? String, "missing \(key)")
            #expect(value.count == 64 && value.allSatisfy { "0123456789abcdef".contains($0) }, "\(key)=\(value)")
        }
        #expect((object["ticket"] as? String)?.isEmpty == false)
        #expect(first.stdout.contains(object["master_pubkey"] as! String))

        // The same words recover the same identity elsewhere.
        let recovered = dir.path + "/recovered"
        let recovery = try NodeBinary.run(["init", "--data-dir", recovered, "--recover", "-"],
                                          input: words.joined(separator: " ") + "\n")
        #expect(recovery.status == 0, "\(recovery.stderr)")
        let again = try NodeBinary.run(["identity", "--data-dir", recovered, "--json"])
        let recoveredObject = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect(recoveredObject["master_pubkey"] as? String == object["master_pubkey"] as? String)
        #expect(recoveredObject["transport_id"] as? String == object["transport_id"] as? String)
    }

    @Test func recoveryRejectsWrongWords() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try NodeBinary.run(["init", "--data-dir", dir.path + "/n", "--recover", "-"], input: "only three words\n")
        #expect(result.status != 0)
        #expect(result.stderr.contains("24 words"))
    }

    @Test func identityWithoutInitFails() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try NodeBinary.run(["identity", "--data-dir", dir.path + "/none"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("init"))
    }

    @Test func dataDirectoryFromEnvironment() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try NodeBinary.run(["init"], environment: ["PROSCENIUM_DATA_DIR": dir.path + "/env"])
        #expect(result.status == 0)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/env/master_key.key"))
    }

    @Test func setPinStoresASaltedHash() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try NodeBinary.run(["set-pin", "--data-dir", dir.path], input: "4711\n")
        #expect(result.status == 0, "\(result.stderr)")
        let stored = try String(contentsOfFile: dir.path + "/admin_pin", encoding: .utf8)
        #expect(stored.hasPrefix("$argon2id$"))
        #expect(!stored.contains("4711"))
        let store = AdminPinStore(dataDirectory: dir.path)
        #expect(store.verify("4711"))
        #expect(!store.verify("4712"))

        let short = try NodeBinary.run(["set-pin", "--data-dir", dir.path], input: "12\n")
        #expect(short.status != 0)
    }

    @Test func ctlWithoutRunningNodeExplains() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try NodeBinary.run(["ctl", "--data-dir", dir.path, "status"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("is the node running"))
    }

    @Test func runWithoutIdentityFails() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = try NodeBinary.run(["run", "--no-console", "--data-dir", dir.path, "--listen", "127.0.0.1:0"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("no identity"))
    }

    @Test func runRejectsBadConfigurationWithLocation() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = dir.path + "/node.toml"
        try "[network]\nlisten_adress = \"0.0.0.0:0\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try NodeBinary.run(["run", "--no-console", "--data-dir", dir.path, "--config", config])
        #expect(result.status != 0)
        #expect(result.stderr.contains("node.toml:2: unknown key 'listen_adress' in [network]"))

        let badFlag = try NodeBinary.run(["run", "--no-console", "--data-dir", dir.path, "--listen", "nonsense"])
        #expect(badFlag.status != 0)
        #expect(badFlag.stderr.contains("--listen"))
    }

    @Test func recoveryWordsFormatterFitsEightyColumns() {
        let words = (0..<24).map { _ in "abcdefgh" }
        let text = RecoveryWordsFormatter.format(words)
        #expect(text.split(separator: "\n").allSatisfy { $0.count <= 80 })
        #expect(RecoveryWords.parse(text) == words)
    }
}

/// Reads the numbered words back from `init` output, in number order.
enum RecoveryWords {
    static func parse(_ text: String) -> [String] {
        var numbered: [Int: String] = [:]
        for line in text.split(separator: "\n") {
            let tokens = line.split(separator: " ")
            var index = 0
            while index + 1 < tokens.count {
                if tokens[index].hasSuffix("."), let n = Int(tokens[index].dropLast()) {
                    numbered[n] = String(tokens[index + 1])
                    index += 2
                } else {
                    index += 1
                }
            }
        }
        return numbered.keys.sorted().map { numbered[$0]! }
    }
}

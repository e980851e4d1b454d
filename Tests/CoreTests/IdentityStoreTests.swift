import Foundation
import Testing
@testable import Core

@Suite("Identity files (spec §3.2, §3.3)")
struct IdentityStoreTests {
    /// A fresh scratch directory; the store directory inside it does not exist yet.
    private static func scratch() throws -> (root: String, data: String) {
        var template = Array("/tmp/identity-store-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        let root = String(cString: try #require(made))
        return (root, root + "/node/data")
    }

    private static func mode(_ path: String) -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        return info.st_mode & 0o7777
    }

    private static func write(_ path: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    private static func contents(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    private static func listing(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    @Test("create then load round-trips; modes 0600/0700; no temp files left; refuses to overwrite")
    func createLoad() throws {
        let (root, data) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = IdentityStore(directory: data)
        #expect(!store.exists)
        #expect(throws: IdentityError.noIdentity(directory: data)) { try store.load() }

        let (created, words) = try store.create()
        #expect(store.exists)
        #expect(words.count == 24)
        #expect(words == created.recoveryWords)
        #expect(Self.mode(data) == 0o700)
        #expect(Self.mode(root + "/node") == 0o700)
        let masterPath = data + "/master_key.key"
        #expect(Self.mode(masterPath) == 0o600)
        #expect(Self.contents(masterPath) == created.masterKey.seed.bytes)
        #expect(Self.listing(data) == ["master_key.key"])
        #expect(!store.isSeedBackedUp)

        let loaded = try store.load()
        #expect(loaded.masterPublicKey == created.masterPublicKey)
        #expect(loaded.signingKey.publicKey == created.signingKey.publicKey)
        #expect(loaded.transportID == created.transportID)
        #expect(loaded.dmKey.publicKey == created.dmKey.publicKey)
        #expect(loaded.signingKeyIndex == 0 && loaded.dmKeyIndex == 0)
        #expect(try BIP39.entropy(fromWords: words) == loaded.masterKey.seed.bytes)

        #expect(throws: IdentityError.identityAlreadyExists(path: masterPath)) { try store.create() }
        #expect(throws: IdentityError.identityAlreadyExists(path: masterPath)) { try store.recover(phrase: BIP39Tests.vectorPhrase) }
        #expect(Self.contents(masterPath) == created.masterKey.seed.bytes)

        try store.markSeedBackedUp()
        #expect(store.isSeedBackedUp)
        #expect(Self.contents(data + "/.seed_backed_up") == Array("1".utf8))
        #expect(Self.mode(data + "/.seed_backed_up") == 0o600)
    }

    @Test("recover from the §15.1 phrase: §15.1 master key, stale files deleted, .seed_backed_up written")
    func recover() throws {
        let (root, data) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        for stale in ["signing_key_index", "dm_key_index", "signing_key.key", "transport_key.key", "device_index"] {
            try Self.write(data + "/" + stale, Array("7".utf8))
        }
        let store = IdentityStore(directory: data + "/")
        let messy = "  " + BIP39Tests.vectorPhrase.uppercased() + "\n"
        let identity = try store.recover(phrase: messy)
        #expect(identity.masterPublicKey.hex == IdentityKeyTests.master)
        #expect(Self.contents(data + "/master_key.key") == [UInt8](repeating: 0x2a, count: 32))
        #expect(Self.listing(data) == [".seed_backed_up", "master_key.key"])
        #expect(Self.contents(data + "/.seed_backed_up") == Array("1".utf8))
        let loaded = try store.load()
        #expect(loaded.signingKey.publicKey.hex == IdentityKeyTests.signing0)
        #expect(loaded.transportID.hex == IdentityKeyTests.transport0)
        #expect(loaded.dmKey.publicKey.hex == IdentityKeyTests.dmPublic)
    }

    @Test("recovery rejects bad phrases with the BIP39 reason, and valid non-24-word phrases")
    func recoverErrors() throws {
        let (root, data) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = IdentityStore(directory: data)
        var words = BIP39Tests.vectorPhrase.split(separator: " ").map(String.init)
        words[2] = "melodie"
        #expect(throws: IdentityError.invalidRecoveryPhrase(.unknownWord(word: "melodie", position: 3))) {
            try store.recover(phrase: words.joined(separator: " "))
        }
        #expect(throws: IdentityError.invalidRecoveryPhrase(.wrongWordCount(2))) { try store.recover(phrase: "clay eyebrow") }
        let twelve = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
        #expect(throws: IdentityError.recoveryPhraseWrongLength(words: 12)) { try store.recover(phrase: twelve) }
        #expect(!store.exists)
    }

    @Test("corrupt or truncated files are errors naming the file, never a new identity")
    func corruptFiles() throws {
        let (root, data) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = IdentityStore(directory: data)
        _ = try store.recover(phrase: BIP39Tests.vectorPhrase)
        let masterPath = data + "/master_key.key"
        let signingPath = data + "/signing_key_index"
        let dmPath = data + "/dm_key_index"

        for length in [0, 31, 33, 64] {
            try Self.write(masterPath, [UInt8](repeating: 0x2a, count: length))
            #expect(throws: IdentityError.keyFileWrongLength(path: masterPath, expected: 32, actual: length)) { try store.load() }
            #expect(throws: IdentityError.identityAlreadyExists(path: masterPath)) { try store.create() }
        }
        try Self.write(masterPath, [UInt8](repeating: 0x2a, count: 32))

        for bad in ["", "abc", "-1", "1.0", "0x10", "4294967296", "1 2", "\u{0}", "٣"] {
            try Self.write(signingPath, Array(bad.utf8))
            #expect(throws: IdentityError.self) { try store.load() }
            do {
                _ = try store.load()
            } catch let error as IdentityError {
                guard case let .indexFileNotDecimal(path, _) = error else {
                    Issue.record("unexpected \(error) for \"\(bad)\"")
                    continue
                }
                #expect(path == signingPath)
                #expect(error.description.contains("signing_key_index"))
            }
        }
        for good in [("1\n", UInt32(1)), (" 2 \r\n", 2), ("4294967295", UInt32.max), ("007", 7)] {
            try Self.write(signingPath, Array(good.0.utf8))
            #expect(try store.load().signingKeyIndex == good.1)
        }
        try Self.write(signingPath, Array("1".utf8))
        #expect(try store.load().signingKey.publicKey.hex == IdentityKeyTests.signing1)

        try Self.write(dmPath, Array("x".utf8))
        #expect(throws: IdentityError.indexFileNotDecimal(path: dmPath, content: "x")) { try store.load() }
        try FileManager.default.removeItem(atPath: dmPath)

        // Unreadable: a directory where the key file should be.
        try FileManager.default.removeItem(atPath: masterPath)
        try FileManager.default.createDirectory(atPath: masterPath, withIntermediateDirectories: false)
        #expect(throws: IdentityError.unreadableFile(path: masterPath, reason: "not a regular file")) { try store.load() }
        #expect(store.exists)
        #expect(throws: IdentityError.identityAlreadyExists(path: masterPath)) { try store.create() }
        try FileManager.default.removeItem(atPath: masterPath)

        // A dangling symlink is not "absent": neither for the key nor for an index file.
        try FileManager.default.createSymbolicLink(atPath: masterPath, withDestinationPath: root + "/nowhere")
        #expect(throws: IdentityError.unreadableFile(path: masterPath, reason: "broken symbolic link")) { try store.load() }
        try FileManager.default.removeItem(atPath: masterPath)
        try Self.write(masterPath, [UInt8](repeating: 0x2a, count: 32))
        try FileManager.default.removeItem(atPath: signingPath)
        try FileManager.default.createSymbolicLink(atPath: signingPath, withDestinationPath: root + "/nowhere")
        #expect(throws: IdentityError.unreadableFile(path: signingPath, reason: "broken symbolic link")) { try store.load() }
        try FileManager.default.removeItem(atPath: signingPath)
        try FileManager.default.removeItem(atPath: masterPath)

        // Permission denied (only meaningful when not running as root).
        if geteuid() != 0 {
            try Self.write(masterPath, [UInt8](repeating: 0x2a, count: 32))
            chmod(masterPath, 0)
            #expect(throws: IdentityError.self) { try store.load() }
        }
    }

    @Test("rotation persists the next index, verifies, and loads back")
    func rotation() throws {
        let (root, data) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = IdentityStore(directory: data)
        #expect(throws: IdentityError.noIdentity(directory: data)) { try store.rotateSigningKey(now: 1) }
        _ = try store.recover(phrase: BIP39Tests.vectorPhrase)
        let (rotated, rotation) = try store.rotateSigningKey(now: 1_700_000_000_000)
        #expect(rotated.signingKeyIndex == 1)
        #expect(rotated.signingKey.publicKey.hex == IdentityKeyTests.signing1)
        #expect(rotation.oldSigningPublicKey == IdentityKeyTests.signing0)
        #expect(rotation.newSigningPublicKey == IdentityKeyTests.signing1)
        #expect(rotation.signature == "6f217be514102ddce9d93806c34622741cbee8014c107ffa299c0cdcd9abc83b61585ed9d3e25aedd2d580b56c0de6ab6f93d809f3d3848525e78b791ece2509")
        try rotation.verify()
        #expect(Self.contents(data + "/signing_key_index") == Array("1".utf8))
        #expect(Self.mode(data + "/signing_key_index") == 0o600)
        #expect(Self.listing(data) == [".seed_backed_up", "master_key.key", "signing_key_index"])
        let loaded = try store.load()
        #expect(loaded.signingKeyIndex == 1)
        #expect(loaded.dmKeyIndex == 0)
        #expect(loaded.dmKey.publicKey.hex == IdentityKeyTests.dmPublic)

        let (again, second) = try store.rotateSigningKey(now: 1_700_000_000_500)
        #expect(again.signingKeyIndex == 2)
        #expect(second.oldSigningPublicKey == IdentityKeyTests.signing1)
        try second.verify()
        #expect(try store.load().signingKeyIndex == 2)

        try Self.write(data + "/signing_key_index", Array(String(UInt32.max).utf8))
        #expect(throws: IdentityError.signingKeyIndexExhausted) { try store.rotateSigningKey(now: 2) }
    }
}

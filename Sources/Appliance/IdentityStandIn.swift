// =====================================================================================================
// TEMPORARY STAND-IN — DELETE AT MERGE.
// Core/Identity (NodeIdentity, IdentityStore, SigningKeyDelegation) and Transport's EndpointTicket are
// written on other branches. This file only mirrors their agreed signatures so the appliance compiles
// and its tests run. Its recovery words come from a synthetic word list, NOT the BIP39 English list,
// and its ticket string is NOT an iroh EndpointTicket.
// =====================================================================================================
import Core
#if canImport(Glibc)
import Glibc
#endif

/// Stand-in for Core's delegation record (spec §3.4).
public struct SigningKeyDelegation: Sendable {
    public let masterPublicKey: String
    public let signingPublicKey: String
    public let keyIndex: UInt32
    public let dmPublicKey: String
    public let dmKeyIndex: UInt32
    public let issuedAt: UInt64
    public let signature: String
}

public struct NodeIdentity: Sendable {
    public let masterKey: Ed25519.SecretKey
    public let signingKey: Ed25519.SecretKey
    public let signingKeyIndex: UInt32
    public let transportKey: Ed25519.SecretKey
    public let dmKey: X25519.PrivateKey
    public let dmKeyIndex: UInt32
    public let ratchetStorageKey: SecretBytes

    public var masterPublicKey: Ed25519.PublicKey { masterKey.publicKey }
    public var transportID: Ed25519.PublicKey { transportKey.publicKey }

    init(masterSeed: SecretBytes, signingKeyIndex: UInt32, dmKeyIndex: UInt32) throws {
        func derive(_ index: UInt32, _ info: String) throws -> SecretBytes {
            let salt: [UInt8] = [UInt8(index >> 24), UInt8(index >> 16 & 0xff), UInt8(index >> 8 & 0xff), UInt8(index & 0xff)]
            return try HKDF.deriveKey(salt: salt, inputKeyMaterial: masterSeed, info: Array(info.utf8))
        }
        masterKey = try Ed25519.SecretKey(seed: masterSeed)
        signingKey = try Ed25519.SecretKey(seed: derive(signingKeyIndex, "proscenium/signing-key"))
        self.signingKeyIndex = signingKeyIndex
        transportKey = try Ed25519.SecretKey(seed: derive(0, "proscenium/transport-key"))
        let rawDM = try derive(dmKeyIndex, "proscenium/dm-key")
        dmKey = try X25519.PrivateKey(raw: rawDM.bytes)
        self.dmKeyIndex = dmKeyIndex
        ratchetStorageKey = try HKDF.deriveKey(salt: nil, inputKeyMaterial: rawDM, info: Array("proscenium-ratchet-storage-v1".utf8))
    }

    public func delegation(issuedAt: UInt64) -> SigningKeyDelegation {
        let signed = "{\"dm_key_index\":\(dmKeyIndex),\"dm_pubkey\":\"\(dmKey.publicKey.hex)\",\"issued_at\":\(issuedAt),"
            + "\"key_index\":\(signingKeyIndex),\"master_pubkey\":\"\(masterPublicKey.hex)\",\"signing_pubkey\":\"\(signingKey.publicKey.hex)\"}"
        return SigningKeyDelegation(masterPublicKey: masterPublicKey.hex, signingPublicKey: signingKey.publicKey.hex,
                                    keyIndex: signingKeyIndex, dmPublicKey: dmKey.publicKey.hex, dmKeyIndex: dmKeyIndex,
                                    issuedAt: issuedAt, signature: Hex.encode(masterKey.signature(for: Array(signed.utf8))))
    }
}

public struct StandInIdentityError: Error, CustomStringConvertible {
    public let description: String
}

public struct IdentityStore: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    private var masterPath: String { directory + "/master_key.key" }

    public var exists: Bool { access(masterPath, F_OK) == 0 }

    public func create() throws -> (identity: NodeIdentity, words: [String]) {
        let seed = SecureRandom.bytes(32)
        try writeFile(masterPath, seed, mode: 0o600)
        let identity = try NodeIdentity(masterSeed: SecretBytes(seed), signingKeyIndex: 0, dmKeyIndex: 0)
        return (identity, StandInWords.encode(seed))
    }

    public func recover(phrase: String) throws -> NodeIdentity {
        let words = phrase.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).map(String.init)
        guard words.count == 24 else { throw StandInIdentityError(description: "recovery phrase must have 24 words, got \(words.count)") }
        let seed = try StandInWords.decode(words)
        for name in ["signing_key.key", "signing_key_index", "dm_key_index", "transport_key.key", "device_index"] {
            unlink(directory + "/" + name)
        }
        try writeFile(masterPath, seed, mode: 0o600)
        try writeFile(directory + "/.seed_backed_up", Array("1".utf8), mode: 0o600)
        return try NodeIdentity(masterSeed: SecretBytes(seed), signingKeyIndex: 0, dmKeyIndex: 0)
    }

    public func load() throws -> NodeIdentity {
        guard let seed = readFile(masterPath), seed.count == 32 else {
            throw StandInIdentityError(description: "no identity in \(directory) (run `proscenium-node init`)")
        }
        func index(_ name: String) -> UInt32 {
            guard let bytes = readFile(directory + "/" + name) else { return 0 }
            return UInt32(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \n")) ?? 0
        }
        return try NodeIdentity(masterSeed: SecretBytes(seed), signingKeyIndex: index("signing_key_index"), dmKeyIndex: index("dm_key_index"))
    }

    private func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw StandInIdentityError(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw StandInIdentityError(description: "short write to \(path)") }
    }

    private func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8](), buf = [UInt8](repeating: 0, count: 256)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return out
    }
}

private extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

/// Synthetic 2048-entry word list with a BIP39-shaped encoding (256 bits + 8-bit SHA-256 checksum).
enum StandInWords {
    static let list: [String] = {
        let c1 = Array("bdfghjklmnprstvz"), v1 = Array("aeio"), c2 = Array("bdfgklmnprstvxyz"), v2 = Array("ae")
        var words: [String] = []
        for a in c1 { for b in v1 { for c in c2 { for d in v2 { words.append(String([a, b, c, d])) } } } }
        return words
    }()

    static func encode(_ entropy: [UInt8]) -> [String] {
        let bits = entropy + [SHA256.hash(entropy)[0]]
        var out: [String] = []
        for i in 0..<24 {
            var value = 0
            for bit in (i * 11)..<(i * 11 + 11) { value = value << 1 | Int(bits[bit / 8] >> (7 - UInt8(bit % 8)) & 1) }
            out.append(list[value])
        }
        return out
    }

    static func decode(_ words: [String]) throws -> [UInt8] {
        var bits = [UInt8](repeating: 0, count: 33)
        for (i, word) in words.enumerated() {
            guard let value = list.firstIndex(of: word.lowercased()) else {
                throw StandInIdentityError(description: "word \(i + 1) '\(word)' is not in the word list")
            }
            for b in 0..<11 where value >> (10 - b) & 1 == 1 {
                let bit = i * 11 + b
                bits[bit / 8] |= 1 << (7 - UInt8(bit % 8))
            }
        }
        let entropy = Array(bits[0..<32])
        guard SHA256.hash(entropy)[0] == bits[32] else { throw StandInIdentityError(description: "recovery phrase checksum does not match") }
        return entropy
    }
}

/// Stand-in for Transport's EndpointTicket string.
func endpointTicket(for id: Ed25519.PublicKey, addresses: [String]) -> String {
    "standin-ticket:" + id.hex + (addresses.isEmpty ? "" : "@" + addresses.joined(separator: ","))
}

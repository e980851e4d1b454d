/// The Double Ratchet of spec §8.4, as a value type: a failed decrypt leaves the caller's copy
/// untouched (the caller persists only the state returned by a successful operation).
///
/// Fresh ratchet private keys come from an injected generator so tests are deterministic.
public struct DoubleRatchet: Sendable, Equatable {
    public static let maxSkip: UInt32 = 100

    public struct Header: Sendable, Equatable, Codable {
        public var dhPublic: [UInt8]
        public var messageNumber: UInt32
        public var previousChainLength: UInt32

        public init(dhPublic: [UInt8], messageNumber: UInt32, previousChainLength: UInt32) {
            self.dhPublic = dhPublic
            self.messageNumber = messageNumber
            self.previousChainLength = previousChainLength
        }
    }

    public struct SkippedKey: Sendable, Equatable, Codable {
        public var ratchetPublic: [UInt8]
        public var messageNumber: UInt32
        public var messageKey: [UInt8]

        enum CodingKeys: String, CodingKey {
            case ratchetPublic = "ratchet_public", messageNumber = "message_number", messageKey = "message_key"
        }
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case noSendingChain
        case noReceivingChain
        case tooManySkipped(have: UInt32, until: UInt32)
        case invalidRatchetKey
        case decryptionFailed
        case invalidState(String)

        public var description: String {
            switch self {
            case .noSendingChain: return "no sending chain yet: the responder must receive before it can send"
            case .noReceivingChain: return "no receiving chain for this header"
            case let .tooManySkipped(have, until): return "too many skipped messages (at \(have), header wants \(until), limit \(DoubleRatchet.maxSkip))"
            case .invalidRatchetKey: return "ratchet public key is not a usable X25519 key"
            case .decryptionFailed: return "message failed authentication"
            case let .invalidState(text): return "invalid ratchet state: \(text)"
            }
        }
    }

    /// Makes a fresh 32-byte ratchet private key (stored unclamped, spec §8.4).
    public typealias KeyGenerator = @Sendable () -> [UInt8]
    public static let randomKeys: KeyGenerator = { SecureRandom.bytes(32) }

    // The at-rest fields of §8.7, in table order.
    public private(set) var dhSelfPrivate: [UInt8]
    public private(set) var dhSelfPublic: [UInt8]
    public private(set) var dhRemotePublic: [UInt8]?
    public private(set) var rootKey: [UInt8]
    public private(set) var chainKeySend: [UInt8]?
    public private(set) var chainKeyRecv: [UInt8]?
    public private(set) var sendCount: UInt32 = 0
    public private(set) var recvCount: UInt32 = 0
    public private(set) var prevSendCount: UInt32 = 0
    public private(set) var skippedKeys: [SkippedKey] = []

    /// Alice (initiator): fresh ratchet key, `(RK, CKs) = KDF_RK(SK, DH(a, Bob_DM_pub))`.
    public static func initiator(sharedSecret: SecretBytes, responderDMKey: X25519.PublicKey,
                                 keyGenerator: KeyGenerator = randomKeys) throws(Failure) -> DoubleRatchet {
        let raw = keyGenerator()
        let pair = try keyPair(raw)
        let dh = try diffieHellman(pair, responderDMKey.bytes)
        let (rk, cks) = RatchetKDF.rootStep(rootKey: sharedSecret, dhOutput: dh)
        return DoubleRatchet(dhSelfPrivate: raw, dhSelfPublic: pair.publicKey.bytes, dhRemotePublic: responderDMKey.bytes,
                             rootKey: rk.bytes, chainKeySend: cks.bytes, chainKeyRecv: nil)
    }

    /// Bob (responder): his DM identity key is the first ratchet key, `RK = SK`, no chains yet.
    public static func responder(sharedSecret: SecretBytes, ownDMKey: X25519.PrivateKey) -> DoubleRatchet {
        DoubleRatchet(dhSelfPrivate: ownDMKey.scalar.bytes, dhSelfPublic: ownDMKey.publicKey.bytes, dhRemotePublic: nil,
                      rootKey: sharedSecret.bytes, chainKeySend: nil, chainKeyRecv: nil)
    }

    init(dhSelfPrivate: [UInt8], dhSelfPublic: [UInt8], dhRemotePublic: [UInt8]?, rootKey: [UInt8],
         chainKeySend: [UInt8]?, chainKeyRecv: [UInt8]?) {
        self.dhSelfPrivate = dhSelfPrivate
        self.dhSelfPublic = dhSelfPublic
        self.dhRemotePublic = dhRemotePublic
        self.rootKey = rootKey
        self.chainKeySend = chainKeySend
        self.chainKeyRecv = chainKeyRecv
    }

    public var canSend: Bool { chainKeySend != nil }

    public mutating func encrypt(_ plaintext: [UInt8]) throws(Failure) -> (header: Header, ciphertext: [UInt8]) {
        guard let cks = chainKeySend else { throw .noSendingChain }
        let (mk, next) = RatchetKDF.chainStep(chainKey: SecretBytes(cks))
        chainKeySend = next.bytes
        let header = Header(dhPublic: dhSelfPublic, messageNumber: sendCount, previousChainLength: prevSendCount)
        sendCount += 1
        return (header, RatchetCipher.encrypt(plaintext, messageKey: mk))
    }

    /// Decrypts; on any failure `self` is unchanged.
    public mutating func decrypt(header: Header, ciphertext: [UInt8],
                                 keyGenerator: KeyGenerator = randomKeys) throws(Failure) -> [UInt8] {
        var next = self
        let plaintext = try next.decryptInPlace(header: header, ciphertext: ciphertext, keyGenerator: keyGenerator)
        self = next
        return plaintext
    }

    private mutating func decryptInPlace(header: Header, ciphertext: [UInt8], keyGenerator: KeyGenerator) throws(Failure) -> [UInt8] {
        guard header.dhPublic.count == 32 else { throw .invalidRatchetKey }
        if let index = skippedKeys.firstIndex(where: { $0.ratchetPublic == header.dhPublic && $0.messageNumber == header.messageNumber }) {
            let key = skippedKeys.remove(at: index)
            return try open(ciphertext, key.messageKey)
        }
        if header.dhPublic != dhRemotePublic {
            try skip(until: header.previousChainLength)
            prevSendCount = sendCount
            sendCount = 0
            recvCount = 0
            dhRemotePublic = header.dhPublic
            let own = try Self.keyPair(dhSelfPrivate)
            let (rk1, ckr) = RatchetKDF.rootStep(rootKey: SecretBytes(rootKey), dhOutput: try Self.diffieHellman(own, header.dhPublic))
            chainKeyRecv = ckr.bytes
            let fresh = keyGenerator()
            let pair = try Self.keyPair(fresh)
            dhSelfPrivate = fresh
            dhSelfPublic = pair.publicKey.bytes
            let (rk2, cks) = RatchetKDF.rootStep(rootKey: rk1, dhOutput: try Self.diffieHellman(pair, header.dhPublic))
            rootKey = rk2.bytes
            chainKeySend = cks.bytes
        }
        try skip(until: header.messageNumber)
        guard let ckr = chainKeyRecv else { throw .noReceivingChain }
        let (mk, nextChain) = RatchetKDF.chainStep(chainKey: SecretBytes(ckr))
        chainKeyRecv = nextChain.bytes
        recvCount += 1
        return try open(ciphertext, mk.bytes)
    }

    private mutating func skip(until: UInt32) throws(Failure) {
        guard UInt64(recvCount) + UInt64(Self.maxSkip) >= UInt64(until) else {
            throw .tooManySkipped(have: recvCount, until: until)
        }
        guard var ckr = chainKeyRecv else { return }
        while recvCount < until {
            let (mk, next) = RatchetKDF.chainStep(chainKey: SecretBytes(ckr))
            ckr = next.bytes
            skippedKeys.append(SkippedKey(ratchetPublic: dhRemotePublic ?? [UInt8](repeating: 0, count: 32),
                                          messageNumber: recvCount, messageKey: mk.bytes))
            recvCount += 1
        }
        chainKeyRecv = ckr
    }

    private func open(_ ciphertext: [UInt8], _ key: [UInt8]) throws(Failure) -> [UInt8] {
        do {
            return try RatchetCipher.decrypt(ciphertext, messageKey: SecretBytes(key))
        } catch {
            throw .decryptionFailed
        }
    }

    private static func keyPair(_ raw: [UInt8]) throws(Failure) -> X25519.PrivateKey {
        do { return try X25519.PrivateKey(raw: raw) } catch { throw .invalidState("ratchet private key must be 32 bytes") }
    }

    private static func diffieHellman(_ pair: X25519.PrivateKey, _ remote: [UInt8]) throws(Failure) -> SecretBytes {
        do {
            return try pair.sharedSecret(with: X25519.PublicKey(bytes: remote))
        } catch {
            throw .invalidRatchetKey
        }
    }
}

extension DoubleRatchet: Codable {
    enum CodingKeys: String, CodingKey {
        case dhSelfPrivate = "dh_self_private", dhSelfPublic = "dh_self_public", dhRemotePublic = "dh_remote_public"
        case rootKey = "root_key", chainKeySend = "chain_key_send", chainKeyRecv = "chain_key_recv"
        case sendCount = "send_count", recvCount = "recv_count", prevSendCount = "prev_send_count"
        case skippedKeys = "skipped_keys"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func key32(_ key: CodingKeys) throws -> [UInt8] {
            let bytes = try c.decode([UInt8].self, forKey: key)
            guard bytes.count == 32 else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(key.stringValue) must be 32 bytes")
            }
            return bytes
        }
        func optionalKey32(_ key: CodingKeys) throws -> [UInt8]? {
            guard let bytes = try c.decodeIfPresent([UInt8].self, forKey: key) else { return nil }
            guard bytes.count == 32 else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(key.stringValue) must be 32 bytes")
            }
            return bytes
        }
        self.init(dhSelfPrivate: try key32(.dhSelfPrivate), dhSelfPublic: try key32(.dhSelfPublic),
                  dhRemotePublic: try optionalKey32(.dhRemotePublic), rootKey: try key32(.rootKey),
                  chainKeySend: try optionalKey32(.chainKeySend), chainKeyRecv: try optionalKey32(.chainKeyRecv))
        sendCount = try c.decode(UInt32.self, forKey: .sendCount)
        recvCount = try c.decode(UInt32.self, forKey: .recvCount)
        prevSendCount = try c.decode(UInt32.self, forKey: .prevSendCount)
        skippedKeys = try c.decodeIfPresent([SkippedKey].self, forKey: .skippedKeys) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dhSelfPrivate, forKey: .dhSelfPrivate)
        try c.encode(dhSelfPublic, forKey: .dhSelfPublic)
        try c.encode(dhRemotePublic, forKey: .dhRemotePublic)  // explicit null, as serde writes it
        try c.encode(rootKey, forKey: .rootKey)
        try c.encode(chainKeySend, forKey: .chainKeySend)
        try c.encode(chainKeyRecv, forKey: .chainKeyRecv)
        try c.encode(sendCount, forKey: .sendCount)
        try c.encode(recvCount, forKey: .recvCount)
        try c.encode(prevSendCount, forKey: .prevSendCount)
        try c.encode(skippedKeys, forKey: .skippedKeys)
    }
}

extension DoubleRatchet.Header {
    enum CodingKeys: String, CodingKey {
        case dhPublic = "dh_public", messageNumber = "message_number", previousChainLength = "previous_chain_length"
    }

    /// On the wire `dh_public` is a hex string (spec §8.2), not a byte array.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let text = try c.decode(String.self, forKey: .dhPublic)
        guard let bytes = Hex.decode(text), bytes.count == 32 else {
            throw DecodingError.dataCorruptedError(forKey: .dhPublic, in: c, debugDescription: "dh_public must be 64 hex characters")
        }
        self.init(dhPublic: bytes, messageNumber: try c.decode(UInt32.self, forKey: .messageNumber),
                  previousChainLength: try c.decode(UInt32.self, forKey: .previousChainLength))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Hex.encode(dhPublic), forKey: .dhPublic)
        try c.encode(messageNumber, forKey: .messageNumber)
        try c.encode(previousChainLength, forKey: .previousChainLength)
    }
}

/// The §8.7 `state_json` without Foundation: fields in table order, byte arrays as integer arrays,
/// absent values as `null`. Extra members (our session metadata) may follow; serde ignores them.
extension DoubleRatchet {
    public var stateJSONMembers: [DMJSON.Member] {
        func optional(_ bytes: [UInt8]?) -> DMJSON { bytes.map { DMJSON.bytes($0) } ?? .null }
        return [
            DMJSON.Member("dh_self_private", .bytes(dhSelfPrivate)),
            DMJSON.Member("dh_self_public", .bytes(dhSelfPublic)),
            DMJSON.Member("dh_remote_public", optional(dhRemotePublic)),
            DMJSON.Member("root_key", .bytes(rootKey)),
            DMJSON.Member("chain_key_send", optional(chainKeySend)),
            DMJSON.Member("chain_key_recv", optional(chainKeyRecv)),
            DMJSON.Member("send_count", .uint(UInt64(sendCount))),
            DMJSON.Member("recv_count", .uint(UInt64(recvCount))),
            DMJSON.Member("prev_send_count", .uint(UInt64(prevSendCount))),
            DMJSON.Member("skipped_keys", .array(skippedKeys.map { key in
                .fields(("ratchet_public", .bytes(key.ratchetPublic)), ("message_number", .uint(UInt64(key.messageNumber))),
                        ("message_key", .bytes(key.messageKey)))
            }))
        ]
    }

    public var stateJSON: DMJSON { .object(stateJSONMembers) }

    public init(stateJSON json: DMJSON) throws(DMWireError) {
        func key32(_ name: String) throws(DMWireError) -> [UInt8] {
            guard let bytes = json[name]?.byteArray, bytes.count == 32 else { throw DMWireError("ratchet state: \(name) must be 32 bytes") }
            return bytes
        }
        func optionalKey32(_ name: String) throws(DMWireError) -> [UInt8]? {
            guard let value = json[name], !value.isNull else { return nil }
            guard let bytes = value.byteArray, bytes.count == 32 else { throw DMWireError("ratchet state: \(name) must be 32 bytes or null") }
            return bytes
        }
        func count(_ name: String) throws(DMWireError) -> UInt32 {
            guard let value = json[name]?.uint32Value else { throw DMWireError("ratchet state: \(name) must be a u32") }
            return value
        }
        self.init(dhSelfPrivate: try key32("dh_self_private"), dhSelfPublic: try key32("dh_self_public"),
                  dhRemotePublic: try optionalKey32("dh_remote_public"), rootKey: try key32("root_key"),
                  chainKeySend: try optionalKey32("chain_key_send"), chainKeyRecv: try optionalKey32("chain_key_recv"))
        sendCount = try count("send_count")
        recvCount = try count("recv_count")
        prevSendCount = try count("prev_send_count")
        var skipped: [SkippedKey] = []
        if case let .array(items)? = json["skipped_keys"] {
            for item in items {
                guard let pub = item["ratchet_public"]?.byteArray, pub.count == 32,
                      let n = item["message_number"]?.uint32Value,
                      let mk = item["message_key"]?.byteArray, mk.count == 32 else {
                    throw DMWireError("ratchet state: malformed skipped_keys entry")
                }
                skipped.append(SkippedKey(ratchetPublic: pub, messageNumber: n, messageKey: mk))
            }
        }
        skippedKeys = skipped
    }

    /// True when `header` names a message key this state already consumed on its current receiving
    /// chain (a replay or a retransmission of something already decrypted).
    public func hasConsumed(_ header: Header) -> Bool {
        header.dhPublic == dhRemotePublic && header.messageNumber < recvCount
            && !skippedKeys.contains { $0.ratchetPublic == header.dhPublic && $0.messageNumber == header.messageNumber }
    }
}

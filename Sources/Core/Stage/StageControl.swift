/// `StageRole` (spec §10.1): externally tagged unit strings.
public enum StageRole: String, Codable, Equatable, Hashable, Sendable, CaseIterable {
    case host = "Host"
    case coHost = "CoHost"
    case speaker = "Speaker"
    case listener = "Listener"
}

/// Every control-plane message of a stage (spec §10.3), externally tagged struct variants.
/// Field names and declaration order are the reference's; `pubkey` fields carry master keys except
/// where §16.1.7 says the reference fills in the signing key (hands, self-mute, reactions, chat).
public enum StageControl: Equatable, Sendable {
    case announce(stageID: String, title: String, hostPublicKey: String, startedAt: UInt64)
    case end(stageID: String)
    case presence(stageID: String, publicKey: String, role: StageRole, timestamp: UInt64, nodeID: String?)
    case relayVolunteer(stageID: String, relayPublicKey: String, relayNodeID: String, capacity: UInt32)
    case relayAssignment(stageID: String, relayPublicKey: String, relayNodeID: String, listenerPublicKeys: [String])
    case raiseHand(stageID: String, publicKey: String)
    case lowerHand(stageID: String, publicKey: String)
    case promoteSpeaker(stageID: String, publicKey: String)
    case demoteSpeaker(stageID: String, publicKey: String)
    case muteSpeaker(stageID: String, publicKey: String)
    case selfMuteToggle(stageID: String, publicKey: String, muted: Bool)
    case kick(stageID: String, publicKey: String)
    case ban(stageID: String, publicKey: String)
    case reaction(stageID: String, publicKey: String, emoji: String)
    case chat(stageID: String, publicKey: String, text: String)

    /// Sender-side truncation limits (spec §14), in Unicode scalar values.
    public static let maxReactionScalars = 16
    public static let maxChatScalars = 500

    /// The Rust variant name.
    public var variantName: String {
        switch self {
        case .announce: return "Announce"
        case .end: return "End"
        case .presence: return "Presence"
        case .relayVolunteer: return "RelayVolunteer"
        case .relayAssignment: return "RelayAssignment"
        case .raiseHand: return "RaiseHand"
        case .lowerHand: return "LowerHand"
        case .promoteSpeaker: return "PromoteSpeaker"
        case .demoteSpeaker: return "DemoteSpeaker"
        case .muteSpeaker: return "MuteSpeaker"
        case .selfMuteToggle: return "SelfMuteToggle"
        case .kick: return "Kick"
        case .ban: return "Ban"
        case .reaction: return "Reaction"
        case .chat: return "Chat"
        }
    }

    public var stageID: String {
        switch self {
        case let .announce(id, _, _, _), let .end(id), let .presence(id, _, _, _, _), let .relayVolunteer(id, _, _, _),
             let .relayAssignment(id, _, _, _), let .raiseHand(id, _), let .lowerHand(id, _), let .promoteSpeaker(id, _),
             let .demoteSpeaker(id, _), let .muteSpeaker(id, _), let .selfMuteToggle(id, _, _), let .kick(id, _),
             let .ban(id, _), let .reaction(id, _, _), let .chat(id, _, _):
            return id
        }
    }

    /// Fields in declaration order (the wire JSON object inside the tag).
    public var fields: [(String, WireJSONValue)] {
        switch self {
        case let .announce(id, title, host, startedAt):
            return [("stage_id", .string(id)), ("title", .string(title)), ("host_pubkey", .string(host)),
                    ("started_at", .uint(startedAt))]
        case let .end(id):
            return [("stage_id", .string(id))]
        case let .presence(id, key, role, timestamp, nodeID):
            return [("stage_id", .string(id)), ("pubkey", .string(key)), ("role", .string(role.rawValue)),
                    ("timestamp", .uint(timestamp)), ("node_id", nodeID.map { .string($0) } ?? .null)]
        case let .relayVolunteer(id, key, node, capacity):
            return [("stage_id", .string(id)), ("relay_pubkey", .string(key)), ("relay_node_id", .string(node)),
                    ("capacity", .uint(UInt64(capacity)))]
        case let .relayAssignment(id, key, node, listeners):
            return [("stage_id", .string(id)), ("relay_pubkey", .string(key)), ("relay_node_id", .string(node)),
                    ("listener_pubkeys", .array(listeners.map { .string($0) }))]
        case let .raiseHand(id, key), let .lowerHand(id, key), let .promoteSpeaker(id, key), let .demoteSpeaker(id, key),
             let .muteSpeaker(id, key), let .kick(id, key), let .ban(id, key):
            return [("stage_id", .string(id)), ("pubkey", .string(key))]
        case let .selfMuteToggle(id, key, muted):
            return [("stage_id", .string(id)), ("pubkey", .string(key)), ("muted", .bool(muted))]
        case let .reaction(id, key, emoji):
            return [("stage_id", .string(id)), ("pubkey", .string(key)), ("emoji", .string(emoji))]
        case let .chat(id, key, text):
            return [("stage_id", .string(id)), ("pubkey", .string(key)), ("text", .string(text))]
        }
    }

    /// `{"Variant":{...}}` in wire order.
    public var wireValue: WireJSONValue { .object([(variantName, .object(fields))]) }

    /// The sorted value that goes inside the signed bytes.
    public var canonical: CanonicalJSON { wireValue.canonical }

    /// Truncates to at most `limit` Unicode scalar values (what the reference sender does).
    public static func truncated(_ text: String, toScalars limit: Int) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars.prefix(limit) { scalars.append(scalar) }
        return String(scalars)
    }
}

extension StageControl: Codable {
    public init(from decoder: any Decoder) throws {
        let (tag, tagged) = try ExternallyTagged.tag(in: decoder)
        guard let tagged else { throw ExternallyTagged.unknown(tag, in: decoder, type: "StageControl") }
        let c = try tagged.nestedContainer(keyedBy: WireKey.self, forKey: WireKey(tag))
        func string(_ key: String) throws -> String { try c.decode(String.self, forKey: WireKey(key)) }
        let id = try string("stage_id")
        switch tag {
        case "Announce":
            self = .announce(stageID: id, title: try string("title"), hostPublicKey: try string("host_pubkey"),
                             startedAt: try c.decode(UInt64.self, forKey: WireKey("started_at")))
        case "End": self = .end(stageID: id)
        case "Presence":
            self = .presence(stageID: id, publicKey: try string("pubkey"),
                             role: try c.decode(StageRole.self, forKey: WireKey("role")),
                             timestamp: try c.decode(UInt64.self, forKey: WireKey("timestamp")),
                             nodeID: try c.decodeIfPresent(String.self, forKey: WireKey("node_id")))
        case "RelayVolunteer":
            self = .relayVolunteer(stageID: id, relayPublicKey: try string("relay_pubkey"),
                                   relayNodeID: try string("relay_node_id"),
                                   capacity: try c.decode(UInt32.self, forKey: WireKey("capacity")))
        case "RelayAssignment":
            self = .relayAssignment(stageID: id, relayPublicKey: try string("relay_pubkey"),
                                    relayNodeID: try string("relay_node_id"),
                                    listenerPublicKeys: try c.decode([String].self, forKey: WireKey("listener_pubkeys")))
        case "RaiseHand": self = .raiseHand(stageID: id, publicKey: try string("pubkey"))
        case "LowerHand": self = .lowerHand(stageID: id, publicKey: try string("pubkey"))
        case "PromoteSpeaker": self = .promoteSpeaker(stageID: id, publicKey: try string("pubkey"))
        case "DemoteSpeaker": self = .demoteSpeaker(stageID: id, publicKey: try string("pubkey"))
        case "MuteSpeaker": self = .muteSpeaker(stageID: id, publicKey: try string("pubkey"))
        case "SelfMuteToggle":
            self = .selfMuteToggle(stageID: id, publicKey: try string("pubkey"),
                                   muted: try c.decode(Bool.self, forKey: WireKey("muted")))
        case "Kick": self = .kick(stageID: id, publicKey: try string("pubkey"))
        case "Ban": self = .ban(stageID: id, publicKey: try string("pubkey"))
        case "Reaction": self = .reaction(stageID: id, publicKey: try string("pubkey"), emoji: try string("emoji"))
        case "Chat": self = .chat(stageID: id, publicKey: try string("pubkey"), text: try string("text"))
        default: throw ExternallyTagged.unknown(tag, in: decoder, type: "StageControl")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var outer = encoder.container(keyedBy: WireKey.self)
        var inner = outer.nestedContainer(keyedBy: WireKey.self, forKey: WireKey(variantName))
        for (key, value) in fields {
            switch value {
            case .string(let s): try inner.encode(s, forKey: WireKey(key))
            case .uint(let n): try inner.encode(n, forKey: WireKey(key))
            case .bool(let b): try inner.encode(b, forKey: WireKey(key))
            case .null: try inner.encodeNil(forKey: WireKey(key))
            case .array(let items):
                try inner.encode(items.compactMap { if case .string(let s) = $0 { return s } else { return nil } },
                                 forKey: WireKey(key))
            case .int(let n): try inner.encode(n, forKey: WireKey(key))
            case .object: break // no StageControl field is an object
            }
        }
    }
}

/// Why a control message was rejected; the message names the bad input.
public struct StageControlError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `SignedStageControl` (spec §10.3): `sender_pubkey` is the sender's SIGNING key, and the
/// signature covers CJSON `{"control":…,"sender_pubkey":…,"timestamp":…}`.
public struct SignedStageControl: Codable, Equatable, Sendable {
    public var senderPublicKey: String
    public var control: StageControl
    public var timestamp: UInt64
    public var signature: String

    enum CodingKeys: String, CodingKey {
        case senderPublicKey = "sender_pubkey"
        case control, timestamp, signature
    }

    public init(senderPublicKey: String, control: StageControl, timestamp: UInt64, signature: String) {
        self.senderPublicKey = senderPublicKey
        self.control = control
        self.timestamp = timestamp
        self.signature = signature
    }

    /// Signs `control` with the identity's signing key.
    public static func signed(_ control: StageControl, by signingKey: Ed25519.SecretKey, timestamp: UInt64) -> SignedStageControl {
        var message = SignedStageControl(senderPublicKey: signingKey.publicKey.hex, control: control,
                                         timestamp: timestamp, signature: "")
        message.signature = Hex.encode(signingKey.signature(for: message.signedBytes))
        return message
    }

    public var signedBytes: [UInt8] {
        CanonicalJSON.object(["control": control.canonical, "sender_pubkey": .string(senderPublicKey),
                              "timestamp": .uint(timestamp)]).canonicalBytes
    }

    /// Verifies the signature against `sender_pubkey` itself (the message authenticates itself).
    public func verify() throws(StageControlError) {
        guard let key = try? Ed25519.PublicKey(hex: senderPublicKey) else {
            throw StageControlError("sender_pubkey is not a valid Ed25519 key: \"\(senderPublicKey.prefix(70))\"")
        }
        guard let signature = SignatureHex.decode(self.signature) else {
            throw StageControlError("signature is not 128 hex characters: \"\(self.signature.prefix(140))\"")
        }
        guard key.isValidSignature(signature, for: signedBytes) else {
            throw StageControlError("bad signature on \(control.variantName) from \(senderPublicKey.prefix(16))")
        }
    }

    /// Compact wire JSON (the gossip payload).
    public var wireBytes: [UInt8] {
        WireJSONValue.object([("sender_pubkey", .string(senderPublicKey)), ("control", control.wireValue),
                              ("timestamp", .uint(timestamp)), ("signature", .string(signature))]).bytes
    }

    /// Parses and verifies a gossip payload.
    public static func decodeVerified(_ bytes: [UInt8]) throws(StageControlError) -> SignedStageControl {
        let message: SignedStageControl
        do {
            message = try WireJSON.decode(SignedStageControl.self, from: bytes)
        } catch {
            throw StageControlError(error.message)
        }
        try message.verify()
        return message
    }
}

/// The gossip control plane as the Stage service needs it. iroh-gossip (on its own branch)
/// satisfies this at merge; tests use an in-memory bus.
public protocol StageControlBus: Sendable {
    /// Joins `topic`; `bootstrap` are transport ids (empty for the host, `[host_node_id]` for joiners).
    func join(topic: [UInt8], bootstrap: [String]) async throws
    func leave(topic: [UInt8]) async
    func publish(topic: [UInt8], payload: [UInt8]) async throws
    /// Payloads received on `topic` (from others) until it is left.
    func messages(topic: [UInt8]) -> AsyncStream<[UInt8]>
}

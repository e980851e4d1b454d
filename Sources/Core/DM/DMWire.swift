/// The DM wire messages of spec §8.2 and the decrypted payloads of §8.5, as byte-exact serde JSON
/// (fields in declaration order; externally tagged enums; byte vectors as integer arrays).

/// Why a DM wire message could not be decoded; names the field at fault.
public struct DMWireError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "DM wire: \(message)" }
}

/// `MediaAttachment` (spec §7.4): hash, ticket, mime_type, filename, size.
public struct DMMediaAttachment: Equatable, Sendable {
    public var hash: String
    public var ticket: String
    public var mimeType: String
    public var filename: String
    public var size: UInt64

    public init(hash: String, ticket: String, mimeType: String, filename: String, size: UInt64) {
        self.hash = hash
        self.ticket = ticket
        self.mimeType = mimeType
        self.filename = filename
        self.size = size
    }

    public var json: DMJSON {
        .fields(("hash", .string(hash)), ("ticket", .string(ticket)), ("mime_type", .string(mimeType)),
                ("filename", .string(filename)), ("size", .uint(size)))
    }

    public init(json: DMJSON) throws(DMWireError) {
        hash = try json.requiredString("hash", in: "MediaAttachment")
        ticket = try json.requiredString("ticket", in: "MediaAttachment")
        mimeType = try json.requiredString("mime_type", in: "MediaAttachment")
        filename = try json.requiredString("filename", in: "MediaAttachment")
        guard let size = json["size"]?.uint64Value else { throw DMWireError("MediaAttachment.size must be a u64") }
        self.size = size
    }
}

/// `DirectMessage` (spec §8.5): id, content, timestamp, media (default `[]`), reply_to.
public struct DirectMessage: Equatable, Sendable {
    public var id: String
    public var content: String
    public var timestamp: UInt64
    public var media: [DMMediaAttachment]
    public var replyTo: String?

    public init(id: String, content: String, timestamp: UInt64, media: [DMMediaAttachment] = [], replyTo: String? = nil) {
        self.id = id
        self.content = content
        self.timestamp = timestamp
        self.media = media
        self.replyTo = replyTo
    }

    public var json: DMJSON {
        .fields(("id", .string(id)), ("content", .string(content)), ("timestamp", .uint(timestamp)),
                ("media", .array(media.map(\.json))), ("reply_to", .optionalString(replyTo)))
    }

    public init(json: DMJSON) throws(DMWireError) {
        id = try json.requiredString("id", in: "DirectMessage")
        content = try json.requiredString("content", in: "DirectMessage")
        guard let timestamp = json["timestamp"]?.uint64Value else { throw DMWireError("DirectMessage.timestamp must be a u64") }
        self.timestamp = timestamp
        var media: [DMMediaAttachment] = []
        if let value = json["media"], !value.isNull {
            guard case let .array(items) = value else { throw DMWireError("DirectMessage.media must be an array") }
            for item in items { media.append(try DMMediaAttachment(json: item)) }
        }
        self.media = media
        replyTo = try json.optionalString("reply_to", in: "DirectMessage")
    }

    /// `media_json` column form.
    public var mediaJSON: String { DMJSON.array(media.map(\.json)).serializedString }
}

/// The plaintext inside an envelope (spec §8.5), externally tagged.
public enum DMPayload: Equatable, Sendable {
    case message(DirectMessage)
    case typing
    case read(messageID: String)
    case delivered(messageID: String)
    case callOffer(callID: String, video: Bool)
    case callAnswer(callID: String)
    case callReject(callID: String)
    case callHangup(callID: String)

    public var json: DMJSON {
        switch self {
        case let .message(m): return .fields(("Message", m.json))
        case .typing: return .string("Typing")
        case let .read(id): return .fields(("Read", .fields(("message_id", .string(id)))))
        case let .delivered(id): return .fields(("Delivered", .fields(("message_id", .string(id)))))
        case let .callOffer(id, video): return .fields(("CallOffer", .fields(("call_id", .string(id)), ("video", .bool(video)))))
        case let .callAnswer(id): return .fields(("CallAnswer", .fields(("call_id", .string(id)))))
        case let .callReject(id): return .fields(("CallReject", .fields(("call_id", .string(id)))))
        case let .callHangup(id): return .fields(("CallHangup", .fields(("call_id", .string(id)))))
        }
    }

    public var encoded: [UInt8] { json.serialized }

    public init(json: DMJSON) throws(DMWireError) {
        if json == .string("Typing") { self = .typing; return }
        let (tag, body) = try json.externalTag(in: "DmPayload")
        switch tag {
        case "Message": self = .message(try DirectMessage(json: body))
        case "Read": self = .read(messageID: try body.requiredString("message_id", in: "Read"))
        case "Delivered": self = .delivered(messageID: try body.requiredString("message_id", in: "Delivered"))
        case "CallOffer":
            self = .callOffer(callID: try body.requiredString("call_id", in: "CallOffer"), video: body["video"]?.boolValue ?? false)
        case "CallAnswer": self = .callAnswer(callID: try body.requiredString("call_id", in: "CallAnswer"))
        case "CallReject": self = .callReject(callID: try body.requiredString("call_id", in: "CallReject"))
        case "CallHangup": self = .callHangup(callID: try body.requiredString("call_id", in: "CallHangup"))
        default: throw DMWireError("unknown DmPayload variant \"\(tag)\"")
        }
    }

    public static func decode(_ bytes: [UInt8]) throws(DMWireError) -> DMPayload {
        try DMPayload(json: try DMJSON.parseWire(bytes))
    }

    /// Only user messages are queued in the outbox (spec §8.6); signals are best-effort.
    public var isQueued: Bool { if case .message = self { return true } else { return false } }
}

/// `DmHandshake` (spec §8.2): `Init{noise_message, sender}` or `Response{noise_message}`.
public enum DMHandshakeMessage: Equatable, Sendable {
    case initiate(noiseMessage: [UInt8], sender: String)
    case response(noiseMessage: [UInt8])

    public var json: DMJSON {
        switch self {
        case let .initiate(message, sender):
            return .fields(("Init", .fields(("noise_message", .bytes(message)), ("sender", .string(sender)))))
        case let .response(message):
            return .fields(("Response", .fields(("noise_message", .bytes(message)))))
        }
    }

    public var encoded: [UInt8] { json.serialized }

    public init(json: DMJSON) throws(DMWireError) {
        let (tag, body) = try json.externalTag(in: "DmHandshake")
        guard let message = body["noise_message"]?.byteArray else { throw DMWireError("\(tag).noise_message must be a byte array") }
        switch tag {
        case "Init": self = .initiate(noiseMessage: message, sender: try body.requiredString("sender", in: "Init"))
        case "Response": self = .response(noiseMessage: message)
        default: throw DMWireError("unknown DmHandshake variant \"\(tag)\"")
        }
    }

    public static func decode(_ bytes: [UInt8]) throws(DMWireError) -> DMHandshakeMessage {
        try DMHandshakeMessage(json: try DMJSON.parseWire(bytes))
    }
}

/// `EncryptedEnvelope` (spec §8.2): sender DM key hex, ratchet header, ciphertext as int array.
public struct EncryptedEnvelope: Equatable, Sendable {
    public var sender: String
    public var header: DoubleRatchet.Header
    public var ciphertext: [UInt8]

    public init(sender: String, header: DoubleRatchet.Header, ciphertext: [UInt8]) {
        self.sender = sender
        self.header = header
        self.ciphertext = ciphertext
    }

    public var json: DMJSON {
        .fields(("sender", .string(sender)),
                ("ratchet_header", .fields(("dh_public", .string(Hex.encode(header.dhPublic))),
                                           ("message_number", .uint(UInt64(header.messageNumber))),
                                           ("previous_chain_length", .uint(UInt64(header.previousChainLength))))),
                ("ciphertext", .bytes(ciphertext)))
    }

    public var encoded: [UInt8] { json.serialized }

    public init(json: DMJSON) throws(DMWireError) {
        sender = try json.requiredString("sender", in: "EncryptedEnvelope")
        guard let header = json["ratchet_header"] else { throw DMWireError("EncryptedEnvelope.ratchet_header is missing") }
        let dhText = try header.requiredString("dh_public", in: "ratchet_header")
        guard let dh = Hex.decode(dhText), dh.count == 32 else { throw DMWireError("ratchet_header.dh_public must be 64 hex characters") }
        guard let n = header["message_number"]?.uint32Value else { throw DMWireError("ratchet_header.message_number must be a u32") }
        guard let pn = header["previous_chain_length"]?.uint32Value else {
            throw DMWireError("ratchet_header.previous_chain_length must be a u32")
        }
        self.header = DoubleRatchet.Header(dhPublic: dh, messageNumber: n, previousChainLength: pn)
        guard let ciphertext = json["ciphertext"]?.byteArray else { throw DMWireError("EncryptedEnvelope.ciphertext must be a byte array") }
        self.ciphertext = ciphertext
    }

    public static func decode(_ bytes: [UInt8]) throws(DMWireError) -> EncryptedEnvelope {
        try EncryptedEnvelope(json: try DMJSON.parseWire(bytes))
    }
}

/// `DmMessage` (spec §8.2): what the connecting side writes.
public enum DMMessage: Equatable, Sendable {
    case handshake(DMHandshakeMessage)
    case envelope(EncryptedEnvelope)

    public var json: DMJSON {
        switch self {
        case let .handshake(h): return .fields(("Handshake", h.json))
        case let .envelope(e): return .fields(("Envelope", e.json))
        }
    }

    public var encoded: [UInt8] { json.serialized }

    public init(json: DMJSON) throws(DMWireError) {
        let (tag, body) = try json.externalTag(in: "DmMessage")
        switch tag {
        case "Handshake": self = .handshake(try DMHandshakeMessage(json: body))
        case "Envelope": self = .envelope(try EncryptedEnvelope(json: body))
        default: throw DMWireError("unknown DmMessage variant \"\(tag)\"")
        }
    }

    public static func decode(_ bytes: [UInt8]) throws(DMWireError) -> DMMessage {
        try DMMessage(json: try DMJSON.parseWire(bytes))
    }
}

/// `DmAck`: a unit struct, so serde writes `null` (spec §2.1).
public enum DMAck {
    public static let encoded: [UInt8] = Array("null".utf8)

    public static func isAck(_ bytes: [UInt8]) -> Bool {
        (try? DMJSON.parse(bytes)) == .null
    }
}

extension DMJSON {
    static func parseWire(_ bytes: [UInt8]) throws(DMWireError) -> DMJSON {
        do {
            return try DMJSON.parse(bytes)
        } catch {
            throw DMWireError(error.description)
        }
    }

    /// An externally tagged enum value: a one-key object.
    func externalTag(in type: String) throws(DMWireError) -> (String, DMJSON) {
        guard case let .object(members) = self, members.count == 1 else {
            throw DMWireError("\(type) must be a one-key object (externally tagged enum)")
        }
        return (members[0].key, members[0].value)
    }

    func requiredString(_ key: String, in type: String) throws(DMWireError) -> String {
        guard let value = self[key]?.stringValue else { throw DMWireError("\(type).\(key) must be a string") }
        return value
    }

    func optionalString(_ key: String, in type: String) throws(DMWireError) -> String? {
        guard let value = self[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw DMWireError("\(type).\(key) must be a string or null") }
        return text
    }
}

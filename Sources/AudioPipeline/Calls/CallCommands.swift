import Core

/// The answer of a call command: text for the console, a JSON value for the control socket.
public struct CallCommandReply: Sendable, Equatable {
    public let text: String
    public let value: WireJSONValue

    public init(text: String, value: WireJSONValue) {
        self.text = text
        self.value = value
    }

    public var json: String { String(decoding: value.bytes, as: UTF8.self) }
}

/// Console-level call commands (`call <peer>`, `answer`, `reject`, `hangup`, `calls`) over a
/// `CallService`; the appliance registers them as admin commands and maps GPIO buttons to them.
/// Failures throw `CallError`, whose description is the operator message.
public struct CallCommands: Sendable {
    public let service: CallService

    public init(service: CallService) { self.service = service }

    /// `call <peer>`: `peer` is the master public key (64 lowercase hex characters).
    public func call(_ peer: String) async throws(CallError) -> CallCommandReply {
        guard let key = try? Ed25519.PublicKey(hex: peer) else {
            throw .invalidPeer("\"\(peer)\" is not a master public key (64 lowercase hex characters)")
        }
        let status = try await service.call(key)
        return Self.reply("calling \(peer.prefix(12))… (call \(status.callID ?? "?"))", status)
    }

    public func answer() async throws(CallError) -> CallCommandReply {
        let status = try await service.answer()
        return Self.reply("answered call from \(status.peer?.prefix(12) ?? "?")", status)
    }

    public func reject() async throws(CallError) -> CallCommandReply {
        let status = try await service.reject()
        return Self.reply("rejected", status)
    }

    public func hangup() async throws(CallError) -> CallCommandReply {
        let status = try await service.hangup()
        return Self.reply("hung up", status)
    }

    /// `calls`: the current or last call and its media statistics.
    public func calls() async -> CallCommandReply {
        let status = await service.status()
        return Self.reply(Self.describe(status), status)
    }

    static func describe(_ s: CallStatus) -> String {
        guard let id = s.callID else { return "no calls" }
        var lines = ["call \(id) \(s.direction ?? "") \(s.peer.map { String($0.prefix(12)) } ?? "?"): \(s.phase)"
                     + (s.endReason.map { " (\($0))" } ?? "") + (s.durationMillis.map { ", \($0 / 1_000) s" } ?? "")]
        if let m = s.media {
            // Frames can have arrived before any was played or counted lost: no ratio (and no NaN) yet.
            let lossPercent = m.played + m.lost > 0 ? Double(m.lost) * 100 / Double(m.played + m.lost) : 0
            lines.append("media: sent \(m.framesSent), received \(m.framesReceived) frames; loss \(String(format1: lossPercent)) %, "
                         + "late \(m.late), concealed \(m.concealed); jitter delay \(m.currentDelayMillis) ms "
                         + "(target \(m.targetDelayMillis), jitter \(m.jitterMillis) ms)")
        }
        if s.busyRejections > 0 { lines.append("busy rejections: \(s.busyRejections)") }
        return lines.joined(separator: "\n")
    }

    static func reply(_ text: String, _ s: CallStatus) -> CallCommandReply {
        func optional(_ text: String?) -> WireJSONValue { text.map { .string($0) } ?? .null }
        var members: [(String, WireJSONValue)] = [
            ("state", .string(s.phase)),
            ("call_id", optional(s.callID)),
            ("peer", optional(s.peer)),
            ("direction", optional(s.direction)),
            ("duration_ms", s.durationMillis.map { .int($0) } ?? .null),
            ("end_reason", optional(s.endReason?.code)),
            ("end_detail", optional(s.endReason?.description)),
            ("busy_rejections", .int(Int64(s.busyRejections)))
        ]
        if let m = s.media {
            members.append(("media", .object([
                ("frames_sent", .int(Int64(m.framesSent))), ("frames_received", .int(Int64(m.framesReceived))),
                ("lost", .int(Int64(m.lost))), ("late", .int(Int64(m.late))), ("concealed", .int(Int64(m.concealed))),
                ("fec_recovered", .int(Int64(m.fecRecovered))), ("played", .int(Int64(m.played))),
                ("jitter_delay_ms", .int(Int64(m.currentDelayMillis))), ("target_delay_ms", .int(Int64(m.targetDelayMillis))),
                ("jitter_ms", .int(Int64(m.jitterMillis))), ("playback_underrun_samples", .int(Int64(m.playbackShortfallSamples)))
            ])))
        } else {
            members.append(("media", .null))
        }
        return CallCommandReply(text: text, value: .object(members))
    }
}

extension String {
    /// One decimal place, without Foundation's format strings.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(abs(tenths % 10))"
    }
}

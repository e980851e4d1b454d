import Synchronization
import Testing
@testable import Core

/// A clock the test moves by hand.
final class StageFakeClock: WallClock {
    private let now: Mutex<UInt64>
    init(_ start: UInt64 = 1_700_000_000_000) { now = Mutex(start) }
    func nowMillis() -> UInt64 { now.withLock { $0 } }
    func advance(_ millis: UInt64) { now.withLock { $0 += millis } }
}

enum StageTestIdentities {
    static let seed42 = SecretBytes([UInt8](repeating: 0x2a, count: 32))
    static func make(_ byte: UInt8) -> NodeIdentity {
        // Seeds are distinct per test participant; 0x2a is the spec's vector identity.
        try! NodeIdentity(masterSeed: SecretBytes([UInt8](repeating: byte, count: 32)))
    }
}

@Suite("Stage control plane")
struct StageControlTests {
    let stageID = "00112233445566778899aabbccddeeff"

    @Test func specVector10SignsByteForByte() throws {
        let identity = try NodeIdentity(masterSeed: StageTestIdentities.seed42)
        let m = identity.masterPublicKey.hex, s0 = identity.signingKey.publicKey.hex, t0 = identity.transportID.hex
        #expect(s0 == "1728df4c6bb624f875c5d00cdeb35eb583fcb9bda1a5c297ea86f4046f10d10d")
        let control = StageControl.presence(stageID: stageID, publicKey: m, role: .listener, timestamp: 1_700_000_000_000, nodeID: t0)
        let message = SignedStageControl.signed(control, by: identity.signingKey, timestamp: 1_700_000_000_000)
        let expected = #"{"control":{"Presence":{"node_id":"\#(t0)","pubkey":"\#(m)","role":"Listener","stage_id":"00112233445566778899aabbccddeeff","timestamp":1700000000000}},"sender_pubkey":"\#(s0)","timestamp":1700000000000}"#
        #expect(String(decoding: message.signedBytes, as: UTF8.self) == expected)
        #expect(message.signature == "ba858d9514fb32e17d6a259b4ed035eeb9f48cdb0622d204167091d7450d1f84019fa6f51a5c36f2a5803a2d71e97d829668ebdb2f6a236aa0ec35223830bc08")
        try message.verify()
        let wire = String(decoding: message.wireBytes, as: UTF8.self)
        #expect(wire.hasPrefix(#"{"sender_pubkey":"\#(s0)","control":{"Presence":{"stage_id":"\#(stageID)","pubkey":"\#(m)","role":"Listener","timestamp":1700000000000,"node_id":"\#(t0)"}},"timestamp":1700000000000,"signature":""#))
        #expect(try SignedStageControl.decodeVerified(message.wireBytes) == message)
    }

    static let allVariants: [StageControl] = [
        .announce(stageID: "s", title: "T \"q\"", hostPublicKey: "h", startedAt: 5),
        .end(stageID: "s"),
        .presence(stageID: "s", publicKey: "p", role: .speaker, timestamp: 9, nodeID: nil),
        .presence(stageID: "s", publicKey: "p", role: .coHost, timestamp: 9, nodeID: "n"),
        .relayVolunteer(stageID: "s", relayPublicKey: "r", relayNodeID: "n", capacity: 20),
        .relayAssignment(stageID: "s", relayPublicKey: "r", relayNodeID: "n", listenerPublicKeys: ["a", "b"]),
        .raiseHand(stageID: "s", publicKey: "p"), .lowerHand(stageID: "s", publicKey: "p"),
        .promoteSpeaker(stageID: "s", publicKey: "p"), .demoteSpeaker(stageID: "s", publicKey: "p"),
        .muteSpeaker(stageID: "s", publicKey: "p"), .selfMuteToggle(stageID: "s", publicKey: "p", muted: true),
        .kick(stageID: "s", publicKey: "p"), .ban(stageID: "s", publicKey: "p"),
        .reaction(stageID: "s", publicKey: "p", emoji: "👏"), .chat(stageID: "s", publicKey: "p", text: "hi\n")
    ]

    @Test(arguments: allVariants)
    func everyVariantRoundTripsAndVerifies(control: StageControl) throws {
        let key = Ed25519.SecretKey.generate()
        let message = SignedStageControl.signed(control, by: key, timestamp: 42)
        let decoded = try SignedStageControl.decodeVerified(message.wireBytes)
        #expect(decoded == message)
        // Through the generic Encodable path too (what WireJSON.encode would produce).
        #expect(try WireJSON.encode(control) == control.wireValue.bytes)
    }

    @Test func exactShapes() {
        #expect(String(decoding: StageControl.end(stageID: "x").wireValue.bytes, as: UTF8.self) == #"{"End":{"stage_id":"x"}}"#)
        #expect(String(decoding: StageControl.presence(stageID: "x", publicKey: "p", role: .host, timestamp: 1, nodeID: nil).wireValue.bytes, as: UTF8.self)
                == #"{"Presence":{"stage_id":"x","pubkey":"p","role":"Host","timestamp":1,"node_id":null}}"#)
        #expect(String(decoding: StageControl.relayAssignment(stageID: "x", relayPublicKey: "r", relayNodeID: "n", listenerPublicKeys: ["a"]).wireValue.bytes, as: UTF8.self)
                == #"{"RelayAssignment":{"stage_id":"x","relay_pubkey":"r","relay_node_id":"n","listener_pubkeys":["a"]}}"#)
        #expect(String(decoding: StageControl.selfMuteToggle(stageID: "x", publicKey: "p", muted: false).canonical.canonicalBytes, as: UTF8.self)
                == #"{"SelfMuteToggle":{"muted":false,"pubkey":"p","stage_id":"x"}}"#)
        // A missing node_id is absent (Option), unknown fields are ignored.
        let parsed = try? WireJSON.decode(StageControl.self, from: Array(#"{"Presence":{"stage_id":"x","pubkey":"p","role":"Speaker","timestamp":3,"extra":1}}"#.utf8))
        #expect(parsed == .presence(stageID: "x", publicKey: "p", role: .speaker, timestamp: 3, nodeID: nil))
    }

    @Test func tamperingAndBadInputFailVerification() throws {
        let key = Ed25519.SecretKey.generate()
        var message = SignedStageControl.signed(.chat(stageID: "s", publicKey: key.publicKey.hex, text: "hello"), by: key, timestamp: 1)
        message.control = .chat(stageID: "s", publicKey: key.publicKey.hex, text: "hellO")
        #expect(throws: StageControlError.self) { try message.verify() }
        message = SignedStageControl.signed(.end(stageID: "s"), by: key, timestamp: 1)
        message.timestamp = 2
        #expect(throws: StageControlError.self) { try message.verify() }
        message.senderPublicKey = "zz"
        #expect(throws: StageControlError.self) { try message.verify() }
        #expect(throws: StageControlError.self) { try SignedStageControl.decodeVerified(Array("{\"End\":1}".utf8)) }
        #expect(throws: StageControlError.self) {
            try SignedStageControl.decodeVerified(Array(#"{"sender_pubkey":"a","control":{"Nope":{"stage_id":"s"}},"timestamp":1,"signature":"b"}"#.utf8))
        }
    }

    @Test func truncationCountsUnicodeScalars() {
        #expect(StageControl.truncated(String(repeating: "é", count: 600), toScalars: 500).unicodeScalars.count == 500)
        // A flag is two scalars: truncation may split it, as the reference's char-based truncation does.
        #expect(StageControl.truncated("🇩🇪🇩🇪", toScalars: 3).unicodeScalars.count == 3)
    }
}

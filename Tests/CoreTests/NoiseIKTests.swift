import Testing
@testable import Core
import TestSupport

/// Drives PyPI `noiseprotocol` (an implementation we did not write) with fixed keys.
enum NoisePeer {
    static let script = """
    import sys, warnings
    warnings.simplefilter("ignore")
    from noise.connection import NoiseConnection, Keypair
    mode = sys.argv[1]
    conn = NoiseConnection.from_name(b"Noise_IK_25519_ChaChaPoly_BLAKE2s")
    data = sys.stdin.read().strip()
    if mode == "respond":
        conn.set_as_responder()
        conn.set_keypair_from_private_bytes(Keypair.STATIC, bytes.fromhex(sys.argv[2]))
        conn.set_keypair_from_private_bytes(Keypair.EPHEMERAL, bytes.fromhex(sys.argv[3]))
        conn.start_handshake()
        conn.read_message(bytes.fromhex(data))
        initiator_static = conn.noise_protocol.handshake_state.rs.public_bytes.hex()
        msg2 = conn.write_message()
        print(bytes(msg2).hex())
        print(conn.get_handshake_hash().hex())
        print(initiator_static)
    else:
        conn.set_as_initiator()
        conn.set_keypair_from_private_bytes(Keypair.STATIC, bytes.fromhex(sys.argv[2]))
        conn.set_keypair_from_private_bytes(Keypair.EPHEMERAL, bytes.fromhex(sys.argv[3]))
        conn.set_keypair_from_public_bytes(Keypair.REMOTE_STATIC, bytes.fromhex(sys.argv[4]))
        conn.start_handshake()
        msg1 = conn.write_message()
        print(bytes(msg1).hex())
        if data:
            conn.read_message(bytes.fromhex(data))
            print(conn.get_handshake_hash().hex())
    """

    static func respond(staticKey: String, ephemeral: String, message1: [UInt8]) throws -> [String] {
        try PythonPeers.runText(script, arguments: ["respond", staticKey, ephemeral], input: Array(Hex.encode(message1).utf8))
            .split(separator: "\n").map(String.init)
    }

    static func initiate(staticKey: String, ephemeral: String, responderPublic: String, message2: [UInt8]?) throws -> [String] {
        try PythonPeers.runText(script, arguments: ["initiate", staticKey, ephemeral, responderPublic],
                                input: Array((message2.map(Hex.encode) ?? "").utf8))
            .split(separator: "\n").map(String.init)
    }
}

struct NoiseKeys {
    let initiatorStatic = try! X25519.PrivateKey(raw: SHA256.hash("noise-initiator-static"))
    let initiatorEphemeral = try! X25519.PrivateKey(raw: SHA256.hash("noise-initiator-ephemeral"))
    let responderStatic = try! X25519.PrivateKey(raw: SHA256.hash("noise-responder-static"))
    let responderEphemeral = try! X25519.PrivateKey(raw: SHA256.hash("noise-responder-ephemeral"))
    // Python clamps too; hand it the raw bytes we clamped from (same scalar after clamping).
    let raw = { (label: String) in Hex.encode(SHA256.hash(label)) }

    func initiator() -> NoiseIKHandshake {
        .initiator(staticKey: initiatorStatic, responderStaticKey: responderStatic.publicKey, ephemeralKey: initiatorEphemeral)
    }

    func responder() -> NoiseIKHandshake {
        .responder(staticKey: responderStatic, ephemeralKey: responderEphemeral)
    }
}

@Suite("Noise IK")
struct NoiseIKTests {
    @Test func ourHandshakeCompletesWithSizesAndEqualHashes() throws {
        let keys = NoiseKeys()
        var i = keys.initiator(), r = keys.responder()
        let m1 = try i.writeMessage()
        #expect(m1.count == 96)
        #expect(try r.readMessage(m1) == [])
        #expect(r.remoteStaticKey == keys.initiatorStatic.publicKey)
        let m2 = try r.writeMessage()
        #expect(m2.count == 48)
        _ = try i.readMessage(m2)
        #expect(i.isComplete && r.isComplete)
        #expect(i.handshakeHash == r.handshakeHash)
        // Transport keys agree too (initiator's send = responder's receive).
        var (iSend, _) = i.split()
        var (rRecv, _) = r.split()
        let sealed = try iSend.encrypt(associatedData: [], plaintext: Array("ping".utf8))
        #expect(try rRecv.decrypt(associatedData: [], ciphertext: sealed) == Array("ping".utf8))
    }

    @Test func randomEphemeralsStillAgree() throws {
        let a = X25519.PrivateKey.generate(), b = X25519.PrivateKey.generate()
        var i = NoiseIKHandshake.initiator(staticKey: a, responderStaticKey: b.publicKey)
        var r = NoiseIKHandshake.responder(staticKey: b)
        _ = try r.readMessage(try i.writeMessage())
        _ = try i.readMessage(try r.writeMessage())
        #expect(i.handshakeHash == r.handshakeHash)
    }

    @Test(.enabled(if: PythonPeers.isEnabled)) func oursInitiatorAgainstNoiseprotocolResponder() throws {
        let keys = NoiseKeys()
        var i = keys.initiator()
        let m1 = try i.writeMessage()
        let python = try NoisePeer.respond(staticKey: keys.raw("noise-responder-static"),
                                           ephemeral: keys.raw("noise-responder-ephemeral"), message1: m1)
        try #require(python.count == 3)
        #expect(python[2] == keys.initiatorStatic.publicKey.hex)
        _ = try i.readMessage(try #require(Hex.decode(python[0])))
        #expect(Hex.encode(i.handshakeHash) == python[1])
        // Byte-identical message 1 from noiseprotocol with the same keys.
        let theirs = try NoisePeer.initiate(staticKey: keys.raw("noise-initiator-static"), ephemeral: keys.raw("noise-initiator-ephemeral"),
                                            responderPublic: keys.responderStatic.publicKey.hex, message2: nil)
        #expect(theirs.first == Hex.encode(m1))
    }

    @Test(.enabled(if: PythonPeers.isEnabled)) func oursResponderAgainstNoiseprotocolInitiator() throws {
        let keys = NoiseKeys()
        let first = try NoisePeer.initiate(staticKey: keys.raw("noise-initiator-static"), ephemeral: keys.raw("noise-initiator-ephemeral"),
                                           responderPublic: keys.responderStatic.publicKey.hex, message2: nil)
        let firstLine = try #require(first.first)
        let m1 = try #require(Hex.decode(firstLine))
        #expect(m1.count == 96)
        var r = keys.responder()
        _ = try r.readMessage(m1)
        #expect(r.remoteStaticKey == keys.initiatorStatic.publicKey)
        let m2 = try r.writeMessage()
        let second = try NoisePeer.initiate(staticKey: keys.raw("noise-initiator-static"), ephemeral: keys.raw("noise-initiator-ephemeral"),
                                            responderPublic: keys.responderStatic.publicKey.hex, message2: m2)
        try #require(second.count == 2)
        #expect(second[1] == Hex.encode(r.handshakeHash))
        // Byte-identical message 2 from noiseprotocol with the same keys.
        let theirs = try NoisePeer.respond(staticKey: keys.raw("noise-responder-static"),
                                           ephemeral: keys.raw("noise-responder-ephemeral"), message1: m1)
        #expect(theirs.first == Hex.encode(m2))
    }

    @Test func wrongLengthsAreTypedErrors() throws {
        let keys = NoiseKeys()
        var i = keys.initiator(), r = keys.responder()
        let m1 = try i.writeMessage()
        #expect(throws: NoiseError.messageTooShort(message: 1, minimum: 96, actual: 95)) { try r.readMessage(Array(m1.prefix(95))) }
        var r2 = keys.responder()
        _ = try r2.readMessage(m1)
        let m2 = try r2.writeMessage()
        #expect(throws: NoiseError.messageTooShort(message: 2, minimum: 48, actual: 47)) { try i.readMessage(Array(m2.prefix(47))) }
        #expect(throws: NoiseError.messageTooLong(70000)) { try keys.responder().readMessageCopy([UInt8](repeating: 0, count: 70000)) }
    }

    @Test(arguments: [0, 31, 32, 60, 79, 80, 95])
    func tamperedMessage1IsRejected(byte: Int) throws {
        let keys = NoiseKeys()
        var i = keys.initiator(), r = keys.responder()
        var m1 = try i.writeMessage()
        m1[byte] ^= 0x01
        do {
            _ = try r.readMessage(m1)
            Issue.record("tampered byte \(byte) accepted")
        } catch {
            switch error {
            case .decryptionFailed, .invalidKey: break
            default: Issue.record("unexpected \(error)")
            }
        }
    }

    @Test func tamperedMessage2IsRejected() throws {
        let keys = NoiseKeys()
        var i = keys.initiator(), r = keys.responder()
        _ = try r.readMessage(try i.writeMessage())
        var m2 = try r.writeMessage()
        m2[40] ^= 0x80
        #expect(throws: NoiseError.decryptionFailed("message 2 payload")) { try i.readMessage(m2) }
    }

    @Test func outOfTurnIsRejected() throws {
        let keys = NoiseKeys()
        var r = keys.responder()
        #expect(throws: NoiseError.self) { try r.writeMessage() }
        var i = keys.initiator()
        #expect(throws: NoiseError.self) { try i.readMessage([UInt8](repeating: 1, count: 48)) }
    }

    @Test func cipherNonceIsFourZerosThenLittleEndianCounter() {
        #expect(NoiseCipherState.nonceBytes(0x0102) == [0, 0, 0, 0, 0x02, 0x01, 0, 0, 0, 0, 0, 0])
    }
}

extension NoiseIKHandshake {
    func readMessageCopy(_ message: [UInt8]) throws(NoiseError) -> [UInt8] {
        var copy = self
        return try copy.readMessage(message)
    }
}

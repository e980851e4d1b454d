import ArgumentParser
import Core
import Foundation

/// `proscenium-bench dm`: Double Ratchet encrypt+decrypt rate and Noise IK handshake time, on one
/// thread, in memory (the network and SQLite costs of a DM are measured elsewhere).
struct DMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dm",
        abstract: "Double Ratchet messages/s (encrypt + decrypt) and Noise IK handshake time."
    )

    @Option(help: "Messages per ratchet run.")
    var messages = 20_000

    @Option(help: "Handshakes to time.")
    var handshakes = 500

    func run() throws {
        let bobDM = X25519.PrivateKey.generate()
        let secret = SecretBytes(SecureRandom.bytes(32))
        let payload = Array(#"{"Message":{"id":"0123456789abcdef0123456789abcdef","content":"hello from the bench","timestamp":1700000000000,"media":[],"reply_to":null}}"#.utf8)

        // One direction (no DH step per message) and ping-pong (a DH ratchet step every message).
        for (label, pingPong) in [("one direction", false), ("ping-pong (DH step each message)", true)] {
            var best = Double.infinity
            for _ in 0..<3 {
                var alice = try DoubleRatchet.initiator(sharedSecret: secret, responderDMKey: bobDM.publicKey)
                var bob = DoubleRatchet.responder(sharedSecret: secret, ownDMKey: bobDM)
                let start = MonotonicClock.nanoseconds()
                for index in 0..<messages {
                    if pingPong && index % 2 == 1 {
                        let (header, ciphertext) = try bob.encrypt(payload)
                        _ = try alice.decrypt(header: header, ciphertext: ciphertext)
                    } else {
                        let (header, ciphertext) = try alice.encrypt(payload)
                        _ = try bob.decrypt(header: header, ciphertext: ciphertext)
                    }
                }
                best = min(best, Double(MonotonicClock.nanoseconds() - start) / 1e9)
            }
            print(String(format: "ratchet %@: %d messages (%d-byte payload) in %.3f s = %.0f messages/s (encrypt + decrypt)",
                         label, messages, payload.count, best, Double(messages) / best))
        }

        var samples: [Double] = []
        let aliceStatic = X25519.PrivateKey.generate()
        for _ in 0..<handshakes {
            let start = MonotonicClock.nanoseconds()
            var initiator = NoiseIKHandshake.initiator(staticKey: aliceStatic, responderStaticKey: bobDM.publicKey)
            var responder = NoiseIKHandshake.responder(staticKey: bobDM)
            let first = try initiator.writeMessage()
            _ = try responder.readMessage(first)
            let second = try responder.writeMessage()
            _ = try initiator.readMessage(second)
            precondition(initiator.handshakeHash == responder.handshakeHash)
            samples.append(Double(MonotonicClock.nanoseconds() - start) / 1e6)
        }
        samples.sort()
        print(String(format: "Noise IK handshake (both sides, in memory): median %.3f ms, p99 %.3f ms (%d samples)",
                     samples[samples.count / 2], samples[min(samples.count - 1, samples.count * 99 / 100)], samples.count))
    }
}

import Foundation
import Testing
@testable import Core
import TestSupport

/// Deterministic ratchet keys: SHA-256(label ‖ counter).
final class KeySequence: @unchecked Sendable {
    private let lock = NSLock()
    private var counter = 0
    private let label: String
    init(_ label: String) { self.label = label }
    func next() -> [UInt8] {
        lock.lock(); defer { lock.unlock() }
        counter += 1
        return SHA256.hash(Array("\(label)\(counter)".utf8))
    }
}

struct RatchetPair {
    var alice: DoubleRatchet
    var bob: DoubleRatchet
    let aliceKeys = KeySequence("alice-")
    let bobKeys = KeySequence("bob-")

    init(sharedSecret: [UInt8] = [UInt8](repeating: 0x2a, count: 32)) throws {
        let bobDM = try X25519.PrivateKey(raw: SHA256.hash("bob-dm"))
        let keys = aliceKeys
        alice = try DoubleRatchet.initiator(sharedSecret: SecretBytes(sharedSecret), responderDMKey: bobDM.publicKey,
                                            keyGenerator: { keys.next() })
        bob = DoubleRatchet.responder(sharedSecret: SecretBytes(sharedSecret), ownDMKey: bobDM)
    }
}

@Suite("Double Ratchet")
struct DoubleRatchetTests {
    @Test func responderCannotSendFirst() throws {
        var pair = try RatchetPair()
        #expect(!pair.bob.canSend)
        #expect(throws: DoubleRatchet.Failure.noSendingChain) { try pair.bob.encrypt([1]) }
    }

    @Test func pingPong() throws {
        var pair = try RatchetPair()
        for round in 0..<20 {
            let (h1, c1) = try pair.alice.encrypt(Array("a\(round)".utf8))
            let bobKeys = pair.bobKeys
            #expect(try pair.bob.decrypt(header: h1, ciphertext: c1, keyGenerator: { bobKeys.next() }) == Array("a\(round)".utf8))
            let (h2, c2) = try pair.bob.encrypt(Array("b\(round)".utf8))
            let aliceKeys = pair.aliceKeys
            #expect(try pair.alice.decrypt(header: h2, ciphertext: c2, keyGenerator: { aliceKeys.next() }) == Array("b\(round)".utf8))
        }
    }

    /// Random interleavings, reordering and drops within the skip limit, in both directions.
    @Test(arguments: 0..<8)
    func randomInterleavingsDeliverEverythingNotDropped(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed))
        var pair = try RatchetPair()
        var toBob: [(DoubleRatchet.Header, [UInt8], String)] = []
        var toAlice: [(DoubleRatchet.Header, [UInt8], String)] = []
        var bobReceivedAny = false
        var delivered = Set<String>()
        var dropped = Set<String>()
        var sent = 0
        for _ in 0..<400 {
            switch rng.next() % 6 {
            case 0, 1:
                let text = "A\(sent)"; sent += 1
                let (h, c) = try pair.alice.encrypt(Array(text.utf8))
                toBob.append((h, c, text))
            case 2 where bobReceivedAny:
                let text = "B\(sent)"; sent += 1
                let (h, c) = try pair.bob.encrypt(Array(text.utf8))
                toAlice.append((h, c, text))
            case 3 where !toBob.isEmpty:
                let index = Int(rng.next() % UInt64(min(toBob.count, 5)))
                let (h, c, text) = toBob.remove(at: index)
                if rng.next() % 10 == 0 { dropped.insert(text); continue }
                let keys = pair.bobKeys
                let plain = try pair.bob.decrypt(header: h, ciphertext: c, keyGenerator: { keys.next() })
                #expect(String(decoding: plain, as: UTF8.self) == text)
                delivered.insert(text)
                bobReceivedAny = true
            case 4 where !toAlice.isEmpty:
                let index = Int(rng.next() % UInt64(min(toAlice.count, 5)))
                let (h, c, text) = toAlice.remove(at: index)
                if rng.next() % 10 == 0 { dropped.insert(text); continue }
                let keys = pair.aliceKeys
                let plain = try pair.alice.decrypt(header: h, ciphertext: c, keyGenerator: { keys.next() })
                #expect(String(decoding: plain, as: UTF8.self) == text)
                delivered.insert(text)
            default:
                continue
            }
        }
        #expect(delivered.count > 50)
        #expect(delivered.isDisjoint(with: dropped))
    }

    @Test func failedDecryptLeavesStateUnchangedAndSessionUsable() throws {
        var pair = try RatchetPair()
        let (h, c) = try pair.alice.encrypt(Array("hello".utf8))
        let before = pair.bob
        var garbage = c
        garbage[0] ^= 1
        #expect(throws: DoubleRatchet.Failure.decryptionFailed) { try pair.bob.decrypt(header: h, ciphertext: garbage) }
        #expect(pair.bob == before)
        #expect(throws: DoubleRatchet.Failure.decryptionFailed) { try pair.bob.decrypt(header: h, ciphertext: Array(c.prefix(5))) }
        #expect(try pair.bob.decrypt(header: h, ciphertext: c) == Array("hello".utf8))
        // A replay of a consumed message fails and changes nothing.
        let afterFirst = pair.bob
        #expect(throws: DoubleRatchet.Failure.self) { try pair.bob.decrypt(header: h, ciphertext: c) }
        #expect(pair.bob == afterFirst)
    }

    @Test func skipLimitIsEnforced() throws {
        var pair = try RatchetPair()
        var last: (DoubleRatchet.Header, [UInt8])?
        for _ in 0..<102 { last = try pair.alice.encrypt([0]) }
        #expect(throws: DoubleRatchet.Failure.tooManySkipped(have: 0, until: 101)) {
            try pair.bob.decrypt(header: last!.0, ciphertext: last!.1)
        }
    }

    @Test func atRestJSONRoundTripsThroughSealedState() throws {
        var pair = try RatchetPair()
        for _ in 0..<3 { _ = try pair.alice.encrypt([1]) }
        let (h, c) = try pair.alice.encrypt([2])
        _ = try pair.bob.decrypt(header: h, ciphertext: c)
        let json = try JSONEncoder().encode(pair.bob)
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains("\"skipped_keys\":[{"))
        let storageKey = SecretBytes(SecureRandom.bytes(32))
        let sealed = SealedRatchetState.seal(Array(json), storageKey: storageKey)
        let restored = try JSONDecoder().decode(DoubleRatchet.self, from: Data(try SealedRatchetState.open(sealed, storageKey: storageKey)))
        #expect(restored == pair.bob)
    }

    @Test func headerWireFormUsesHex() throws {
        let header = DoubleRatchet.Header(dhPublic: [UInt8](repeating: 0xab, count: 32), messageNumber: 3, previousChainLength: 7)
        let text = String(decoding: try JSONEncoder().encode(header), as: UTF8.self)
        #expect(text.contains("\"dh_public\":\"abababab"))
        #expect(try JSONDecoder().decode(DoubleRatchet.Header.self, from: Data(text.utf8)) == header)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(DoubleRatchet.Header.self, from: Data(#"{"dh_public":"abcd","message_number":1,"previous_chain_length":0}"#.utf8))
        }
    }

    /// The same conversation run by an independent Python implementation of §8.4 (PyNaCl for X25519
    /// and ChaCha20-Poly1305, hashlib/hmac for HKDF) must produce identical headers and ciphertexts.
    @Test(.enabled(if: PythonPeers.isEnabled))
    func matchesIndependentPythonImplementation() throws {
        // Script: "A" = Alice sends, "B" = Bob sends, "a<i>"/"b<i>" = deliver the i-th message to Alice/Bob.
        let script = ["A", "A", "A", "b1", "b0", "B", "B", "a0", "A", "b3", "B", "a2", "a1", "b2", "A", "A", "b5", "b4", "B", "a3"]
        var pair = try RatchetPair()
        var sentToBob: [(DoubleRatchet.Header, [UInt8])] = []
        var sentToAlice: [(DoubleRatchet.Header, [UInt8])] = []
        var transcript: [String] = []
        for (step, op) in script.enumerated() {
            let text = Array("msg-\(step)".utf8)
            switch op.first! {
            case "A":
                let (h, c) = try pair.alice.encrypt(text)
                sentToBob.append((h, c))
                transcript.append("\(Hex.encode(h.dhPublic)) \(h.messageNumber) \(h.previousChainLength) \(Hex.encode(c))")
            case "B":
                let (h, c) = try pair.bob.encrypt(text)
                sentToAlice.append((h, c))
                transcript.append("\(Hex.encode(h.dhPublic)) \(h.messageNumber) \(h.previousChainLength) \(Hex.encode(c))")
            case "b":
                let (h, c) = sentToBob[Int(op.dropFirst())!]
                let keys = pair.bobKeys
                transcript.append(Hex.encode(try pair.bob.decrypt(header: h, ciphertext: c, keyGenerator: { keys.next() })))
            default:
                let (h, c) = sentToAlice[Int(op.dropFirst())!]
                let keys = pair.aliceKeys
                transcript.append(Hex.encode(try pair.alice.decrypt(header: h, ciphertext: c, keyGenerator: { keys.next() })))
            }
        }
        let python = try PythonPeers.runText(Self.pythonRatchet, arguments: script)
        #expect(python.split(separator: "\n").map(String.init) == transcript)
    }

    static let pythonRatchet = #"""
import sys, hashlib, hmac
from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base, crypto_aead_chacha20poly1305_ietf_encrypt as enc, crypto_aead_chacha20poly1305_ietf_decrypt as dec

def clamp(k):
    b = bytearray(k); b[0] &= 248; b[31] &= 127; b[31] |= 64; return bytes(b)
def pub(k): return crypto_scalarmult_base(clamp(k))
def dh(k, p): return crypto_scalarmult(clamp(k), p)
def extract(salt, ikm): return hmac.new(salt, ikm, hashlib.sha256).digest()
def expand(prk, info, n):
    out, t, i = b"", b"", 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest(); out += t; i += 1
    return out[:n]
def kdf_rk(rk, d):
    o = expand(extract(rk, d), b"proscenium-dm-rk", 64); return o[:32], o[32:]
def kdf_ck(ck):
    prk = extract(bytes(32), ck)
    return expand(prk, b"proscenium-dm-ck-chain", 32), expand(prk, b"proscenium-dm-ck-msg", 32)

class Keys:
    def __init__(self, label): self.label, self.n = label, 0
    def next(self):
        self.n += 1; return hashlib.sha256(f"{self.label}{self.n}".encode()).digest()

class Ratchet:
    def __init__(self, keys): self.keys, self.skipped = keys, {}
    @classmethod
    def alice(cls, sk, bob_pub, keys):
        r = cls(keys); r.priv = keys.next(); r.pub = pub(r.priv); r.remote = bob_pub
        r.rk, r.cks = kdf_rk(sk, dh(r.priv, bob_pub)); r.ckr = None; r.ns = r.nr = r.pn = 0; return r
    @classmethod
    def bob(cls, sk, priv, keys):
        r = cls(keys); r.priv = clamp(priv); r.pub = pub(priv); r.remote = None
        r.rk, r.cks, r.ckr = sk, None, None; r.ns = r.nr = r.pn = 0; return r
    def encrypt(self, pt):
        self.cks, mk = kdf_ck(self.cks); h = (self.pub, self.ns, self.pn); self.ns += 1
        return h, enc(pt, None, bytes(12), mk)
    def skip(self, until):
        if self.nr + 100 < until: raise Exception("too many skipped")
        if self.ckr is not None:
            while self.nr < until:
                self.ckr, mk = kdf_ck(self.ckr); self.skipped[(self.remote or bytes(32), self.nr)] = mk; self.nr += 1
    def decrypt(self, h, ct):
        d, n, pn = h
        if (d, n) in self.skipped: return dec(ct, None, bytes(12), self.skipped.pop((d, n)))
        if d != self.remote:
            self.skip(pn); self.pn, self.ns, self.nr, self.remote = self.ns, 0, 0, d
            self.rk, self.ckr = kdf_rk(self.rk, dh(self.priv, d))
            self.priv = self.keys.next(); self.pub = pub(self.priv)
            self.rk, self.cks = kdf_rk(self.rk, dh(self.priv, d))
        self.skip(n)
        self.ckr, mk = kdf_ck(self.ckr); self.nr += 1
        return dec(ct, None, bytes(12), mk)

sk = bytes([0x2a]) * 32
bob_priv = hashlib.sha256(b"bob-dm").digest()
alice = Ratchet.alice(sk, pub(bob_priv), Keys("alice-"))
bob = Ratchet.bob(sk, bob_priv, Keys("bob-"))
to_bob, to_alice = [], []
for step, op in enumerate(sys.argv[1:]):
    text = f"msg-{step}".encode()
    if op == "A" or op == "B":
        h, c = (alice if op == "A" else bob).encrypt(text)
        (to_bob if op == "A" else to_alice).append((h, c))
        print(h[0].hex(), h[1], h[2], c.hex())
    elif op[0] == "b":
        h, c = to_bob[int(op[1:])]; print(bob.decrypt(h, c).hex())
    else:
        h, c = to_alice[int(op[1:])]; print(alice.decrypt(h, c).hex())
"""#
}

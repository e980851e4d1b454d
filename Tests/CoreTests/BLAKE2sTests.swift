import Testing
import TestSupport
@testable import Core

/// Helpers shared by the BLAKE2s and BLAKE3 suites (namespaced to stay clear of other suites).
enum BLAKETesting {

    /// Serialises records for the Python peers: each field is a 4-byte little-endian length + bytes.
    static func lengthPrefixed(_ fields: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for field in fields {
            let count = UInt32(field.count)
            out += [UInt8(count & 0xff), UInt8(count >> 8 & 0xff), UInt8(count >> 16 & 0xff), UInt8(count >> 24)]
            out += field
        }
        return out
    }

    /// Python prologue: `field()` returns the next length-prefixed field of stdin.
    static let pythonFieldReader = """
    import sys, struct
    data = sys.stdin.buffer.read()
    pos = 0
    def field():
        global pos
        (n,) = struct.unpack_from('<I', data, pos)
        pos += 4
        value = data[pos:pos + n]
        pos += n
        return value

    """
}

@Suite("BLAKE2s")
struct BLAKE2sTests {
    @Test("RFC 7693 Appendix B: BLAKE2s-256(\"abc\")")
    func rfcABC() {
        #expect(Hex.encode(BLAKE2s.hash(Array("abc".utf8)))
            == "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982")
    }

    @Test("Keyed vectors from the BLAKE2 reference KAT (key 00…1f)")
    func keyedKAT() throws {
        let key = (0..<32).map { UInt8($0) }
        #expect(Hex.encode(try BLAKE2s.hash([], digestLength: 32, key: key))
            == "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49")
        #expect(Hex.encode(try BLAKE2s.hash([0], digestLength: 32, key: key))
            == "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1")
    }

    /// RFC 7693 Appendix E: hashes of keyed and unkeyed digests over several lengths, folded into one.
    @Test("RFC 7693 Appendix E self-test")
    func rfcSelfTest() throws {
        func sequence(_ length: Int, seed: UInt32) -> [UInt8] {
            var a = 0xDEAD_4BAD &* seed, b: UInt32 = 1
            return (0..<length).map { _ in
                let t = a &+ b
                a = b
                b = t
                return UInt8(t >> 24)
            }
        }
        var folded = BLAKE2s()
        for outLength in [16, 20, 28, 32] {
            for inLength in [0, 3, 64, 65, 255, 1024] {
                let input = sequence(inLength, seed: UInt32(inLength))
                folded.update(try BLAKE2s.hash(input, digestLength: outLength))
                let key = sequence(outLength, seed: UInt32(outLength))
                folded.update(try BLAKE2s.hash(input, digestLength: outLength, key: key))
            }
        }
        #expect(Hex.encode(folded.finalize()) == "6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe")
    }

    @Test("Rejects bad digest and key lengths, naming the value")
    func rejectsBadParameters() {
        #expect(throws: CryptoError.invalidParameter("BLAKE2s digest length must be 1...32, got 0")) {
            try BLAKE2s(digestLength: 0)
        }
        #expect(throws: CryptoError.invalidParameter("BLAKE2s digest length must be 1...32, got 33")) {
            try BLAKE2s(digestLength: 33)
        }
        #expect(throws: CryptoError.invalidParameter("BLAKE2s key must be at most 32 bytes, got 33")) {
            try BLAKE2s(digestLength: 32, key: [UInt8](repeating: 1, count: 33))
        }
    }

    @Test("Matches Python hashlib.blake2s: keyed, unkeyed, all digest lengths, random splits", .enabled(if: PythonPeers.isEnabled))
    func crossCheckHashlib() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        var lengths = [0, 1, 63, 64, 65, 127, 128, 129, 1000]
        for _ in 0..<25 { lengths.append(Int.random(in: 0...5000, using: &rng)) }

        struct Case { let message: [UInt8]; let key: [UInt8]; let digestLength: Int }
        var cases: [Case] = []
        for length in lengths {
            let message = rng.bytes(length)
            cases.append(Case(message: message, key: [], digestLength: 32))
            cases.append(Case(message: message, key: rng.bytes(Int.random(in: 1...32, using: &rng)),
                              digestLength: Int.random(in: 1...32, using: &rng)))
            cases.append(Case(message: message, key: rng.bytes(32), digestLength: 32))
        }
        var input: [UInt8] = []
        for item in cases { input += BLAKETesting.lengthPrefixed([item.message, item.key, [UInt8(item.digestLength)]]) }
        let script = BLAKETesting.pythonFieldReader + """
        import hashlib
        while pos < len(data):
            message, key, size = field(), field(), field()[0]
            print(hashlib.blake2s(message, key=key, digest_size=size).hexdigest())
        """
        let expected = try PythonPeers.runText(script, input: input).split(separator: "\n").map(String.init)
        try #require(expected.count == cases.count)

        for (item, want) in zip(cases, expected) {
            let oneShot = try BLAKE2s.hash(item.message, digestLength: item.digestLength, key: item.key)
            #expect(Hex.encode(oneShot) == want,
                    "one-shot, length \(item.message.count), key \(item.key.count), seed \(seed)")

            // The same input fed in random pieces (including empty ones).
            var hasher = try BLAKE2s(digestLength: item.digestLength, key: item.key)
            var offset = 0
            while offset < item.message.count {
                let piece = Int.random(in: 0...min(item.message.count - offset, 200), using: &rng)
                hasher.update(Array(item.message[offset..<offset + piece]))
                offset += piece
            }
            #expect(Hex.encode(hasher.finalize()) == want,
                    "incremental, length \(item.message.count), key \(item.key.count), seed \(seed)")
        }
    }

    @Test("HMAC-BLAKE2s matches Python hmac with hashlib.blake2s (short, block-size and long keys)", .enabled(if: PythonPeers.isEnabled))
    func hmacCrossCheck() throws {
        var rng = SeededRandom(seed: UInt64.random(in: 0...UInt64.max))
        var cases: [([UInt8], [UInt8])] = []
        for keyLength in [0, 1, 32, 63, 64, 65, 100] {
            for messageLength in [0, 1, 64, 65, 300] {
                cases.append((rng.bytes(keyLength), rng.bytes(messageLength)))
            }
        }
        var input: [UInt8] = []
        for (key, message) in cases { input += BLAKETesting.lengthPrefixed([key, message]) }
        let script = BLAKETesting.pythonFieldReader + """
        import hashlib, hmac
        while pos < len(data):
            key, message = field(), field()
            print(hmac.new(key, message, hashlib.blake2s).hexdigest())
        """
        let expected = try PythonPeers.runText(script, input: input).split(separator: "\n").map(String.init)
        try #require(expected.count == cases.count)
        for ((key, message), want) in zip(cases, expected) {
            #expect(Hex.encode(HMACBLAKE2s.authenticate(message, key: key)) == want,
                    "key \(key.count) bytes, message \(message.count) bytes")
            var split = HMACBLAKE2s(key: SecretBytes(key))
            split.update(Array(message.prefix(message.count / 2)))
            split.update(Array(message.dropFirst(message.count / 2)))
            #expect(Hex.encode(split.finalize()) == want)
        }
    }

    @Test("Noise HKDF over HMAC-BLAKE2s matches noiseprotocol's hkdf", .enabled(if: PythonPeers.isEnabled))
    func noiseHKDFCrossCheck() throws {
        var rng = SeededRandom(seed: UInt64.random(in: 0...UInt64.max))
        var cases: [([UInt8], [UInt8], Int)] = []
        for ikmLength in [0, 32, 57] {
            for outputs in [2, 3] { cases.append((rng.bytes(32), rng.bytes(ikmLength), outputs)) }
        }
        var input: [UInt8] = []
        for (ck, ikm, outputs) in cases { input += BLAKETesting.lengthPrefixed([ck, ikm, [UInt8(outputs)]]) }
        let script = BLAKETesting.pythonFieldReader + """
        import hashlib, hmac
        from noise.functions.hash import hkdf
        mac = lambda key, message: hmac.new(key, message, hashlib.blake2s).digest()
        while pos < len(data):
            ck, ikm, n = field(), field(), field()[0]
            print(' '.join(o.hex() for o in hkdf(ck, ikm, n, mac)))
        """
        let expected = try PythonPeers.runText(script, input: input).split(separator: "\n").map(String.init)
        try #require(expected.count == cases.count)
        for ((ck, ikm, outputs), want) in zip(cases, expected) {
            let derived = try BLAKE2sHKDF.derive(chainingKey: ck, inputKeyMaterial: ikm, outputCount: outputs)
            #expect(derived.map { Hex.encode($0.bytes) }.joined(separator: " ") == want)
        }
        #expect(throws: CryptoError.self) {
            try BLAKE2sHKDF.derive(chainingKey: [UInt8](repeating: 0, count: 32), inputKeyMaterial: [], outputCount: 4)
        }
    }
}

import Testing
@testable import Core

@Suite("libsodium wrappers")
struct SodiumWrapperTests {
    @Test("HKDF-SHA256 RFC 5869 test case 1")
    func hkdfRFC5869Case1() throws {
        let ikm = SecretBytes([UInt8](repeating: 0x0b, count: 22))
        let salt = Hex.decode("000102030405060708090a0b0c")!
        let info = Hex.decode("f0f1f2f3f4f5f6f7f8f9")!
        let prk = HKDF.extract(salt: salt, inputKeyMaterial: ikm)
        #expect(Hex.encode(prk.bytes) == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
        let okm = try HKDF.expand(pseudoRandomKey: prk, info: info, length: 42)
        #expect(Hex.encode(okm.bytes) == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    }

    @Test("HKDF-SHA256 RFC 5869 test case 3 (empty salt and info)")
    func hkdfRFC5869Case3() throws {
        let okm = try HKDF.deriveKey(salt: [], inputKeyMaterial: SecretBytes([UInt8](repeating: 0x0b, count: 22)), info: [], length: 42)
        #expect(Hex.encode(okm.bytes) == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8")
    }

    @Test("Ed25519 RFC 8032 test 1, and strict rejection of a tampered signature")
    func ed25519RFC8032() throws {
        let key = try Ed25519.SecretKey(seed: Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")!)
        #expect(key.publicKey.hex == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let sig = key.signature(for: [])
        #expect(Hex.encode(sig) == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        #expect(key.publicKey.isValidSignature(sig, for: []))
        var bad = sig
        bad[0] ^= 1
        #expect(!key.publicKey.isValidSignature(bad, for: []))
        #expect(!key.publicKey.isValidSignature(sig, for: [0]))
    }

    @Test("Ed25519 public keys must be valid points")
    func ed25519RejectsInvalidPoints() {
        #expect(throws: CryptoError.self) { try Ed25519.PublicKey(bytes: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: CryptoError.self) { try Ed25519.PublicKey(bytes: [UInt8](repeating: 1, count: 31)) }
        #expect(throws: CryptoError.self) { try Ed25519.PublicKey(hex: String(repeating: "A", count: 64)) }
    }

    @Test("X25519 RFC 7748 §6.1 Diffie-Hellman")
    func x25519RFC7748() throws {
        let alice = try X25519.PrivateKey(raw: Hex.decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")!)
        let bob = try X25519.PrivateKey(raw: Hex.decode("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")!)
        #expect(alice.publicKey.hex == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        #expect(bob.publicKey.hex == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        let shared = try alice.sharedSecret(with: bob.publicKey)
        #expect(Hex.encode(shared.bytes) == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        #expect(throws: CryptoError.weakSharedSecret) {
            try alice.sharedSecret(with: X25519.PublicKey(bytes: [UInt8](repeating: 0, count: 32)))
        }
    }

    @Test("ChaCha20-Poly1305 spec §15.3 vector and tamper detection")
    func chachaVector() throws {
        let key = SecretBytes(Hex.decode("50aa58c7aa4a79b3c19ad7754ffa5d625cf6b2e2e9b23eb1d6ccb5fa0b1f748c")!)
        let nonce = [UInt8](repeating: 0, count: 12)
        let sealed = try ChaCha20Poly1305.seal(Array("Hello Bob!".utf8), key: key, nonce: nonce)
        #expect(Hex.encode(sealed) == "9d9cfbc784de1c38aa1411acb567c3eba7aec71ef40b3f69e70c")
        #expect(try ChaCha20Poly1305.open(sealed, key: key, nonce: nonce) == Array("Hello Bob!".utf8))
        var tampered = sealed
        tampered[3] ^= 0x80
        #expect(throws: CryptoError.authenticationFailed) { try ChaCha20Poly1305.open(tampered, key: key, nonce: nonce) }
        #expect(throws: CryptoError.authenticationFailed) { try ChaCha20Poly1305.open([1, 2, 3], key: key, nonce: nonce) }
    }

    @Test("SHA-256 / SHA-512 / HMAC known answers")
    func hashes() {
        #expect(Hex.encode(SHA256.hash("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(SHA512.hash(Array("abc".utf8))).hasPrefix("ddaf35a193617aba"))
        // RFC 4231 test case 2
        #expect(Hex.encode(HMACSHA256.authenticate(Array("what do ya want for nothing?".utf8), key: Array("Jefe".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("constant-time compare and random")
    func misc() {
        #expect(constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEqual([1, 2], [1, 2, 3]))
        #expect(SecureRandom.bytes(32) != SecureRandom.bytes(32))
    }
}

import Testing
@testable import Core

@Suite("Hex and Base64")
struct SupportEncodingTests {
    @Test func hexRoundTripAndRejects() {
        #expect(Hex.encode([0, 1, 0xab, 0xff]) == "0001abff")
        #expect(Hex.decode("0001ABff") == [0, 1, 0xab, 0xff])
        #expect(Hex.decodeLowercase("0001ABff") == nil)
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
    }

    @Test(arguments: [
        ("", "", ""), ("f", "Zg==", "Zg"), ("fo", "Zm8=", "Zm8"), ("foo", "Zm9v", "Zm9v"),
        ("foob", "Zm9vYg==", "Zm9vYg"), ("fooba", "Zm9vYmE=", "Zm9vYmE"), ("foobar", "Zm9vYmFy", "Zm9vYmFy")
    ])
    func base64RFC4648Vectors(input: String, padded: String, unpadded: String) {
        #expect(Base64.encode(Array(input.utf8)) == padded)
        #expect(Base64.decode(padded) == Array(input.utf8))
        #expect(Base64.encode(Array(input.utf8), alphabet: .urlSafe, padded: false) == unpadded)
        #expect(Base64.decode(unpadded, alphabet: .urlSafe, padded: false) == Array(input.utf8))
    }

    @Test func base64Strictness() {
        #expect(Base64.encode([0xfb, 0xff]) == "+/8=")
        #expect(Base64.encode([0xfb, 0xff], alphabet: .urlSafe, padded: false) == "-_8")
        #expect(Base64.decode("-_8=") == nil)
        #expect(Base64.decode("Zg=") == nil)
        #expect(Base64.decode("Zh==") == nil)
        #expect(Base64.decode("Zg", alphabet: .urlSafe, padded: false) == [0x66])
        #expect(Base64.decode("Z", alphabet: .urlSafe, padded: false) == nil)
        for _ in 0..<50 {
            let bytes = SecureRandom.bytes(Int(SecureRandom.uniform(100)))
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
    }
}

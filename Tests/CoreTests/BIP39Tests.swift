import Foundation
import Testing
import TestSupport
@testable import Core

@Suite("BIP39 English (spec §3.2)")
struct BIP39Tests {
    static let vectorPhrase = "clay eyebrow melody february pencil bench post earn clay eyebrow melody february pencil bench post earn clay eyebrow melody february pencil bench post enhance"

    @Test("embedded wordlist is the official english.txt")
    func wordlist() {
        #expect(BIP39.englishWords.count == 2048)
        #expect(BIP39.englishWords.first == "abandon")
        #expect(BIP39.englishWords.last == "zoo")
        let file = BIP39.englishWords.joined(separator: "\n") + "\n"
        #expect(Hex.encode(SHA256.hash(file)) == "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda")
    }

    @Test("§15.1 phrase ↔ master seed 2a×32")
    func specVector() throws {
        let seed = [UInt8](repeating: 0x2a, count: 32)
        #expect(try BIP39.words(fromEntropy: seed).joined(separator: " ") == Self.vectorPhrase)
        #expect(try BIP39.entropy(fromPhrase: Self.vectorPhrase) == seed)
    }

    @Test("BIP39 reference vectors for 12/15/18/21/24 words")
    func referenceVectors() throws {
        // From the BIP39 reference test vectors (trezor/python-mnemonic vectors.json).
        let cases: [(String, String)] = [
            ("00000000000000000000000000000000", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"),
            ("7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f", "legal winner thank year wave sausage worth useful legal winner thank yellow"),
            ("ffffffffffffffffffffffffffffffff", "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong"),
            ("000000000000000000000000000000000000000000000000", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon agent"),
            ("0000000000000000000000000000000000000000000000000000000000000000", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art"),
            ("9e885d952ad362caeb4efe34a8e91bd2", "ozone drill grab fiber curtain grace pudding thank cruise elder eight picnic"),
            ("f585c11aec520db57dd353c69554b21a89b20fb0650966fa0a9d6f74fd989d8f", "void come effort suffer camp survey warrior heavy shoot primary clutch crush open amazing screen patrol group space point ten exist slush involve unfold")
        ]
        for (entropyHex, phrase) in cases {
            let entropy = Hex.decode(entropyHex)!
            #expect(try BIP39.words(fromEntropy: entropy).joined(separator: " ") == phrase)
            #expect(try BIP39.entropy(fromPhrase: phrase) == entropy)
        }
        // 15 and 21 words.
        for length in [20, 28] {
            let entropy = [UInt8](repeating: 0x5a, count: length)
            let words = try BIP39.words(fromEntropy: entropy)
            #expect(words.count == length * 3 / 4)
            #expect(try BIP39.entropy(fromWords: words) == entropy)
        }
    }

    @Test("input tolerance: surrounding and repeated whitespace, uppercase")
    func tolerance() throws {
        let messy = "  \n" + Self.vectorPhrase.uppercased().replacingOccurrences(of: " ", with: " \t  ") + " \r\n"
        #expect(try BIP39.entropy(fromPhrase: messy) == [UInt8](repeating: 0x2a, count: 32))
    }

    @Test("errors name the bad word and its position, the count, or the checksum")
    func errors() {
        var words = Self.vectorPhrase.split(separator: " ").map(String.init)
        words[4] = "pencill"
        #expect(throws: BIP39.Error.unknownWord(word: "pencill", position: 5)) { try BIP39.entropy(fromWords: words) }
        #expect(BIP39.Error.unknownWord(word: "pencill", position: 5).description.contains("word 5 (\"pencill\")"))
        #expect(throws: BIP39.Error.wrongWordCount(23)) { try BIP39.entropy(fromWords: Array(words.dropLast())) }
        #expect(throws: BIP39.Error.wrongWordCount(0)) { try BIP39.entropy(fromPhrase: "   ") }
        var swapped = Self.vectorPhrase.split(separator: " ").map(String.init)
        swapped.swapAt(0, 1)
        #expect(throws: BIP39.Error.checksumMismatch) { try BIP39.entropy(fromWords: swapped) }
        var lastWord = Self.vectorPhrase.split(separator: " ").map(String.init)
        lastWord[23] = "abandon"
        #expect(throws: BIP39.Error.checksumMismatch) { try BIP39.entropy(fromWords: lastWord) }
        #expect(throws: BIP39.Error.invalidEntropyLength(31)) { try BIP39.words(fromEntropy: [UInt8](repeating: 0, count: 31)) }
    }

    @Test("randomized cross-check against PyPI mnemonic, both directions", .enabled(if: PythonPeers.isEnabled))
    func pythonCrossCheck() throws {
        var rng = SeededRandom(seed: 0xB1939)
        let lengths = [16, 20, 24, 28, 32]
        let entropies = (0..<200).map { index in rng.bytes(lengths[index % lengths.count]) }
        let script = """
        import sys, os
        from mnemonic import Mnemonic
        m = Mnemonic("english")
        lines = [l.strip() for l in sys.stdin if l.strip()]
        for h in lines:
            print(m.to_mnemonic(bytes.fromhex(h)))
        for i in range(200):
            e = os.urandom([16, 20, 24, 28, 32][i % 5])
            print(e.hex() + "|" + m.to_mnemonic(e))
        # Phrases with a corrupted last word: Python's verdict, for comparison.
        for h in lines[:50]:
            w = m.to_mnemonic(bytes.fromhex(h)).split()
            w[-1] = m.wordlist[(m.wordlist.index(w[-1]) + 1) % 2048]
            print(("1" if m.check(" ".join(w)) else "0") + "|" + " ".join(w))
        """
        let input = entropies.map { Hex.encode($0) }.joined(separator: "\n") + "\n"
        let output = try PythonPeers.runText(script, input: Array(input.utf8)).split(separator: "\n").map(String.init)
        try #require(output.count == 450)
        for (entropy, phrase) in zip(entropies, output[0..<200]) {
            #expect(try BIP39.words(fromEntropy: entropy).joined(separator: " ") == phrase)
        }
        for line in output[200..<400] {
            let parts = line.split(separator: "|").map(String.init)
            #expect(try BIP39.entropy(fromPhrase: parts[1]) == Hex.decode(parts[0]))
            #expect(try BIP39.words(fromEntropy: Hex.decode(parts[0])!).joined(separator: " ") == parts[1])
        }
        var checked = 0
        for line in output[400..<450] {
            let parts = line.split(separator: "|").map(String.init)
            let pythonValid = parts[0] == "1"
            let swiftValid = (try? BIP39.entropy(fromPhrase: parts[1])) != nil
            #expect(pythonValid == swiftValid, "verdicts differ for \(parts[1])")
            checked += 1
        }
        #expect(checked == 50)
    }
}

/// BIP39 mnemonics with the English wordlist (spec §3.2). Proscenium uses only the entropy ↔ words
/// mapping: the 32-byte master seed *is* the entropy; there is no PBKDF2 and no passphrase.
public enum BIP39 {
    /// Why a phrase or an entropy value was rejected. Word positions are 1-based, as users count.
    public enum Error: Swift.Error, Equatable, Sendable, CustomStringConvertible {
        case invalidEntropyLength(Int)
        case wrongWordCount(Int)
        case unknownWord(word: String, position: Int)
        case checksumMismatch

        public var description: String {
            switch self {
            case let .invalidEntropyLength(count):
                return "BIP39 entropy must be 16, 20, 24, 28 or 32 bytes, got \(count)"
            case let .wrongWordCount(count):
                return "a recovery phrase has 12, 15, 18, 21 or 24 words, got \(count)"
            case let .unknownWord(word, position):
                return "word \(position) (\"\(word)\") is not in the BIP39 English wordlist"
            case .checksumMismatch:
                return "checksum mismatch: the words are all valid but do not form a valid phrase (a word is wrong or out of order)"
            }
        }
    }

    /// The 2048 English words, in index order.
    public static let englishWords: [String] = englishWordlistText.split(separator: "\n").map(String.init)

    private static let englishIndex: [String: Int] = {
        var index: [String: Int] = [:]
        index.reserveCapacity(2048)
        for (position, word) in englishWords.enumerated() { index[word] = position }
        return index
    }()

    /// Words for `entropy` (16, 20, 24, 28 or 32 bytes → 12 … 24 words).
    public static func words(fromEntropy entropy: [UInt8]) throws(BIP39.Error) -> [String] {
        guard [16, 20, 24, 28, 32].contains(entropy.count) else { throw .invalidEntropyLength(entropy.count) }
        let checksumBits = entropy.count / 4
        let checksum = SHA256.hash(entropy)[0]
        // Bit string: entropy ‖ first `checksumBits` bits of SHA-256(entropy), cut into 11-bit indices.
        var bits: [Bool] = []
        bits.reserveCapacity(entropy.count * 8 + checksumBits)
        for byte in entropy {
            for shift in (0..<8).reversed() { bits.append(byte >> UInt8(shift) & 1 == 1) }
        }
        for shift in 0..<checksumBits { bits.append(checksum >> UInt8(7 - shift) & 1 == 1) }
        var words: [String] = []
        words.reserveCapacity(bits.count / 11)
        var position = 0
        while position < bits.count {
            var index = 0
            for bit in bits[position..<(position + 11)] { index = index << 1 | (bit ? 1 : 0) }
            words.append(englishWords[index])
            position += 11
        }
        return words
    }

    /// Splits a typed phrase into normalised words: any run of whitespace separates words,
    /// surrounding whitespace is ignored, letters are lowercased.
    public static func normalizedWords(_ phrase: String) -> [String] {
        phrase.split(whereSeparator: { $0.isWhitespace }).map { $0.lowercased() }
    }

    /// Entropy for a phrase, validating every word and the checksum.
    public static func entropy(fromPhrase phrase: String) throws(BIP39.Error) -> [UInt8] {
        try entropy(fromWords: normalizedWords(phrase))
    }

    public static func entropy(fromWords words: [String]) throws(BIP39.Error) -> [UInt8] {
        guard [12, 15, 18, 21, 24].contains(words.count) else { throw .wrongWordCount(words.count) }
        var bits: [Bool] = []
        bits.reserveCapacity(words.count * 11)
        for (position, word) in words.enumerated() {
            guard let index = englishIndex[word.lowercased()] else {
                throw .unknownWord(word: word, position: position + 1)
            }
            for shift in (0..<11).reversed() { bits.append(index >> shift & 1 == 1) }
        }
        let checksumBits = words.count * 11 / 33
        let entropyBits = bits.count - checksumBits
        var entropy = [UInt8](repeating: 0, count: entropyBits / 8)
        for bitIndex in 0..<entropyBits where bits[bitIndex] {
            entropy[bitIndex / 8] |= 0x80 >> UInt8(bitIndex % 8)
        }
        let checksum = SHA256.hash(entropy)[0]
        for shift in 0..<checksumBits where bits[entropyBits + shift] != (checksum >> UInt8(7 - shift) & 1 == 1) {
            throw .checksumMismatch
        }
        return entropy
    }
}

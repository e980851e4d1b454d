import Testing
import TestSupport
@testable import Core

@Suite("BLAKE3")
struct BLAKE3Tests {
    static let vectorKey = Array("whats the Elvish word for friend".utf8)
    static let vectorContext = "BLAKE3 2019-12-27 16:29:52 test vectors context"
    static let vectorLengths = [0, 1, 1023, 1024, 1025, 2048, 2049, 3072, 3073, 4096, 4097, 5120, 5121, 6144, 6145,
                                7168, 7169, 8192, 8193, 16384, 31744, 102400]

    /// The official test-vector input: byte i is i mod 251.
    static func vectorInput(_ length: Int) -> [UInt8] {
        (0..<length).map { UInt8($0 % 251) }
    }

    enum Mode: UInt8, CaseIterable { case hash = 0, keyed = 1, deriveKey = 2 }

    struct Case {
        let mode: Mode
        let message: [UInt8]
        /// Key for `.keyed`, context for `.deriveKey`.
        let parameter: [UInt8]
        let outputLength: Int
    }

    /// Hex outputs of PyPI `blake3` (the Rust reference implementation), one Python call for all cases.
    static func reference(_ cases: [Case]) throws -> [String] {
        var input: [UInt8] = []
        for item in cases {
            input += BLAKETesting.lengthPrefixed([[item.mode.rawValue], item.parameter, item.message,
                                     withUnsafeBytes(of: UInt32(item.outputLength).littleEndian, Array.init)])
        }
        let script = BLAKETesting.pythonFieldReader + """
        import blake3
        out = []
        while pos < len(data):
            mode, parameter, message = field()[0], field(), field()
            (length,) = struct.unpack('<I', field())
            if mode == 0:
                h = blake3.blake3(message)
            elif mode == 1:
                h = blake3.blake3(message, key=parameter)
            else:
                h = blake3.blake3(message, derive_key_context=parameter.decode())
            out.append(h.hexdigest(length=length))
        sys.stdout.write('\\n'.join(out) + '\\n')
        """
        let lines = try PythonPeers.runText(script, input: input).split(separator: "\n").map(String.init)
        try #require(lines.count == cases.count)
        return lines
    }

    static func oneShot(_ item: Case) throws -> [UInt8] {
        switch item.mode {
        case .hash: return BLAKE3.hash(item.message, outputLength: item.outputLength)
        case .keyed: return try BLAKE3.keyedHash(item.message, key: item.parameter, outputLength: item.outputLength)
        case .deriveKey:
            return BLAKE3.deriveKey(context: String(decoding: item.parameter, as: UTF8.self), keyMaterial: item.message,
                                    outputLength: item.outputLength)
        }
    }

    static func hasher(_ item: Case) throws -> BLAKE3 {
        switch item.mode {
        case .hash: return BLAKE3()
        case .keyed: return try BLAKE3(key: item.parameter)
        case .deriveKey: return BLAKE3(deriveKeyContext: String(decoding: item.parameter, as: UTF8.self))
        }
    }

    @Test("Empty input hashes to the published value")
    func emptyInput() {
        #expect(Hex.encode(BLAKE3.hash([])) == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
        #expect(Hex.encode(BLAKE3().finalize()) == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
    }

    @Test("Official test-vector inputs, all modes, 32 and 131-byte outputs, against PyPI blake3", .enabled(if: PythonPeers.isEnabled))
    func officialVectors() throws {
        var cases: [Case] = []
        for length in Self.vectorLengths {
            let message = Self.vectorInput(length)
            for outputLength in [32, 131] {
                cases.append(Case(mode: .hash, message: message, parameter: [], outputLength: outputLength))
                cases.append(Case(mode: .keyed, message: message, parameter: Self.vectorKey, outputLength: outputLength))
                cases.append(Case(mode: .deriveKey, message: message, parameter: Array(Self.vectorContext.utf8),
                                  outputLength: outputLength))
            }
        }
        let expected = try Self.reference(cases)
        for (item, want) in zip(cases, expected) {
            #expect(Hex.encode(try Self.oneShot(item)) == want,
                    "\(item.mode) of \(item.message.count) bytes, \(item.outputLength)-byte output")
        }
        // The extended output starts with the default-length hash.
        let first = Self.vectorInput(1025)
        #expect(BLAKE3.hash(first, outputLength: 131).prefix(32).elementsEqual(BLAKE3.hash(first)))
    }

    @Test("Random inputs in all modes, one-shot and split at random points, against PyPI blake3", .enabled(if: PythonPeers.isEnabled))
    func randomCrossCheck() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        var lengths = [0, 1, 63, 64, 65, 1023, 1024, 1025, 4095, 4096, 4097, 16383, 16384, 16385, 1 << 20]
        for _ in 0..<12 { lengths.append(Int.random(in: 0...70_000, using: &rng)) }
        var cases: [Case] = []
        for length in lengths {
            let message = rng.bytes(length)
            let outputLength = [32, 1, 64, 65, 200][Int.random(in: 0..<5, using: &rng)]
            cases.append(Case(mode: .hash, message: message, parameter: [], outputLength: outputLength))
            cases.append(Case(mode: .keyed, message: message, parameter: rng.bytes(32), outputLength: outputLength))
            cases.append(Case(mode: .deriveKey, message: message,
                              parameter: Array("proscenium test \(length)".utf8), outputLength: outputLength))
        }
        let expected = try Self.reference(cases)
        for (item, want) in zip(cases, expected) {
            let context = "\(item.mode), \(item.message.count) bytes, \(item.outputLength)-byte output, seed \(seed)"
            #expect(Hex.encode(try Self.oneShot(item)) == want, "one-shot \(context)")

            // Random pieces: mostly small, sometimes large enough to take the SIMD subtree path.
            var hasher = try Self.hasher(item)
            var offset = 0
            item.message.withUnsafeBytes { raw in
                while offset < raw.count {
                    let limit = Bool.random(using: &rng) ? 2000 : 40_000
                    let piece = Int.random(in: 0...min(raw.count - offset, limit), using: &rng)
                    hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + piece]))
                    offset += piece
                }
            }
            #expect(Hex.encode(hasher.finalize(outputLength: item.outputLength)) == want, "incremental \(context)")
        }
    }

    @Test("Finalize leaves the hasher usable; more input changes the hash")
    func finalizeIsNonDestructive() {
        var hasher = BLAKE3()
        hasher.update(Self.vectorInput(5000))
        let first = hasher.finalize()
        #expect(hasher.finalize() == first)
        hasher.update([1])
        #expect(hasher.finalize() != first)
        #expect(hasher.finalize() == BLAKE3.hash(Self.vectorInput(5000) + [1]))
    }

    @Test("Keyed mode rejects keys that are not 32 bytes")
    func rejectsBadKey() {
        #expect(throws: CryptoError.invalidLength(what: "BLAKE3 key", expected: 32, actual: 31)) {
            try BLAKE3(key: [UInt8](repeating: 0, count: 31))
        }
    }
}

/// BLAKE3: hash, keyed hash (32-byte key) and key derivation, each with output of any length
/// (extendable output). Pure Swift. Incremental: `update` with pieces of any size, then
/// `finalize()` (32 bytes) or `finalize(outputLength:)`; finalising leaves the hasher usable.
///
/// Large updates are hashed as whole subtrees, four chunks at a time in SIMD lanes
/// (`BLAKE3Kernel.hash4`); a partial chunk goes through the portable one-block compression.
public struct BLAKE3: Sendable {
    public static let outputLength = 32
    public static let keyLength = 32
    public static let blockLength = 64
    public static let chunkLength = 1024

    private let key: SIMD8<UInt32>
    private var chunk: BLAKE3ChunkState
    /// Chaining values of completed subtrees, merged lazily (at most 54 entries: one per bit of
    /// the 64-bit chunk counter minus the 10 bits of a chunk).
    private var cvStack: [SIMD8<UInt32>] = []

    /// Plain hashing.
    public init() {
        self.init(key: blakeIV, flags: 0)
    }

    /// Keyed hashing (a MAC / PRF); `key` must be 32 bytes.
    public init(key: [UInt8]) throws(CryptoError) {
        try checkLength(key, Self.keyLength, "BLAKE3 key")
        self.init(key: key.withUnsafeBytes { loadKey($0) }, flags: BLAKE3Flag.keyedHash)
    }

    public init(key: SecretBytes) throws(CryptoError) {
        try checkLength(0..<key.count, Self.keyLength, "BLAKE3 key")
        self.init(key: key.withUnsafeBytes { loadKey($0) }, flags: BLAKE3Flag.keyedHash)
    }

    /// Key derivation: feed the key material with `update`; `context` should be a hard-coded,
    /// globally unique, application-specific string.
    public init(deriveKeyContext context: String) {
        var contextHasher = BLAKE3(key: blakeIV, flags: BLAKE3Flag.deriveKeyContext)
        contextHasher.update(Array(context.utf8))
        var contextKey = SIMD8<UInt32>()
        withUnsafeMutableBytes(of: &contextKey) { contextHasher.finalize(into: $0) }
        self.init(key: contextKey, flags: BLAKE3Flag.deriveKeyMaterial)
    }

    private init(key: SIMD8<UInt32>, flags: UInt32) {
        self.key = key
        chunk = BLAKE3ChunkState(key: key, chunkCounter: 0, flags: flags)
    }

    // MARK: One-shot

    public static func hash(_ bytes: [UInt8], outputLength: Int = BLAKE3.outputLength) -> [UInt8] {
        var hasher = BLAKE3()
        hasher.update(bytes)
        return hasher.finalize(outputLength: outputLength)
    }

    public static func hash(bufferPointer: UnsafeRawBufferPointer, outputLength: Int = BLAKE3.outputLength) -> [UInt8] {
        var hasher = BLAKE3()
        hasher.update(bufferPointer: bufferPointer)
        return hasher.finalize(outputLength: outputLength)
    }

    public static func keyedHash(_ bytes: [UInt8], key: [UInt8],
                                 outputLength: Int = BLAKE3.outputLength) throws(CryptoError) -> [UInt8] {
        var hasher = try BLAKE3(key: key)
        hasher.update(bytes)
        return hasher.finalize(outputLength: outputLength)
    }

    public static func deriveKey(context: String, keyMaterial: [UInt8],
                                 outputLength: Int = BLAKE3.outputLength) -> [UInt8] {
        var hasher = BLAKE3(deriveKeyContext: context)
        hasher.update(keyMaterial)
        return hasher.finalize(outputLength: outputLength)
    }

    // MARK: Incremental

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update(bufferPointer: $0) }
    }

    public mutating func update(bufferPointer: UnsafeRawBufferPointer) {
        guard var input = bufferPointer.baseAddress, bufferPointer.count > 0 else { return }
        var remaining = bufferPointer.count
        let chunkLength = BLAKE3Kernel.chunkLength

        // Finish a partly filled chunk first; it is only known not to be the root once more
        // input follows it.
        if chunk.count > 0 {
            let take = min(chunkLength - chunk.count, remaining)
            chunk.update(input, take)
            input += take
            remaining -= take
            guard remaining > 0 else { return }
            pushChainingValue(chunk.output().chainingValue(), chunkCounter: chunk.chunkCounter)
            chunk.reset(key: key, chunkCounter: chunk.chunkCounter + 1)
        }

        // Hash the largest whole subtrees possible while more than one chunk remains. A subtree
        // must be a power of two chunks and must line up with the chunks counted so far.
        while remaining > chunkLength {
            var subtreeLength = 1 << (Int.bitWidth - 1 - remaining.leadingZeroBitCount)
            let countSoFar = chunk.chunkCounter &* UInt64(chunkLength)
            while UInt64(subtreeLength - 1) & countSoFar != 0 { subtreeLength /= 2 }
            let subtreeChunks = UInt64(subtreeLength / chunkLength)
            if subtreeLength <= chunkLength {
                var single = BLAKE3ChunkState(key: key, chunkCounter: chunk.chunkCounter, flags: chunk.flags)
                single.update(input, subtreeLength)
                pushChainingValue(single.output().chainingValue(), chunkCounter: single.chunkCounter)
            } else {
                var pair = (SIMD8<UInt32>(), SIMD8<UInt32>())
                withUnsafeMutableBytes(of: &pair) { out in
                    BLAKE3Tree.compressSubtreeToParentNode(
                        input: input, length: subtreeLength, key: key, chunkCounter: chunk.chunkCounter,
                        flags: chunk.flags, out: out.baseAddress!)
                }
                pushChainingValue(pair.0, chunkCounter: chunk.chunkCounter)
                pushChainingValue(pair.1, chunkCounter: chunk.chunkCounter + subtreeChunks / 2)
            }
            chunk.chunkCounter += subtreeChunks
            input += subtreeLength
            remaining -= subtreeLength
        }

        // The tail (at most one chunk) waits in the chunk state. Merging here keeps the stack
        // free of unmerged pairs, which `finalize` relies on.
        if remaining > 0 {
            chunk.update(input, remaining)
            mergeStack(totalChunks: chunk.chunkCounter)
        }
    }

    /// The 32-byte hash of everything fed so far.
    public func finalize() -> [UInt8] {
        finalize(outputLength: Self.outputLength)
    }

    /// `outputLength` bytes of extended output (any length ≥ 0; the first 32 bytes equal `finalize()`).
    public func finalize(outputLength: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: max(outputLength, 0))
        out.withUnsafeMutableBytes { finalize(into: $0) }
        return out
    }

    /// Fills `buffer` with output bytes.
    public func finalize(into buffer: UnsafeMutableRawBufferPointer) {
        rootOutput().writeRootBytes(into: buffer)
    }

    private func rootOutput() -> BLAKE3Output {
        if cvStack.isEmpty { return chunk.output() }
        // With bytes in the chunk state, roll its chaining value up through every stacked
        // subtree. Otherwise the top of the stack is the last chunk and the roll-up starts there
        // (the stack then holds at least two entries).
        var remaining: Int
        var output: BLAKE3Output
        if chunk.count > 0 {
            remaining = cvStack.count
            output = chunk.output()
        } else {
            remaining = cvStack.count - 2
            output = BLAKE3Output.parent(left: cvStack[remaining], right: cvStack[remaining + 1],
                                         key: key, flags: chunk.flags)
        }
        while remaining > 0 {
            remaining -= 1
            output = BLAKE3Output.parent(left: cvStack[remaining], right: output.chainingValue(),
                                         key: key, flags: chunk.flags)
        }
        return output
    }

    private mutating func pushChainingValue(_ cv: SIMD8<UInt32>, chunkCounter: UInt64) {
        mergeStack(totalChunks: chunkCounter)
        cvStack.append(cv)
    }

    /// After `totalChunks` chunks, the stack holds one entry per set bit of the count.
    private mutating func mergeStack(totalChunks: UInt64) {
        let target = totalChunks.nonzeroBitCount
        while cvStack.count > target {
            let right = cvStack.removeLast()
            let left = cvStack.removeLast()
            cvStack.append(BLAKE3Output.parent(left: left, right: right, key: key, flags: chunk.flags).chainingValue())
        }
    }
}

@inline(__always)
private func loadKey(_ bytes: UnsafeRawBufferPointer) -> SIMD8<UInt32> {
    let base = bytes.baseAddress!
    return SIMD8(loadWord(base, 0), loadWord(base, 1), loadWord(base, 2), loadWord(base, 3),
                 loadWord(base, 4), loadWord(base, 5), loadWord(base, 6), loadWord(base, 7))
}

/// A node's inputs before its final compression: the chaining value is one compression away,
/// and as root it yields any number of output blocks.
struct BLAKE3Output {
    var inputCV: SIMD8<UInt32>
    var block: SIMD16<UInt32>
    var blockLength: UInt32
    var counter: UInt64
    var flags: UInt32

    static func parent(left: SIMD8<UInt32>, right: SIMD8<UInt32>, key: SIMD8<UInt32>, flags: UInt32) -> BLAKE3Output {
        BLAKE3Output(inputCV: key, block: SIMD16(lowHalf: left, highHalf: right),
                     blockLength: UInt32(BLAKE3Kernel.blockLength), counter: 0, flags: flags | BLAKE3Flag.parent)
    }

    func chainingValue() -> SIMD8<UInt32> {
        withUnsafeBytes(of: block) {
            BLAKE3Kernel.compress(cv: inputCV, block: $0.baseAddress!, blockLength: blockLength,
                                  counter: counter, flags: flags)
        }
    }

    func writeRootBytes(into buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        var written = 0
        var outputBlockCounter: UInt64 = 0
        withUnsafeBytes(of: block) { blockBytes in
            while written < buffer.count {
                let words = BLAKE3Kernel.compressXOF(cv: inputCV, block: blockBytes.baseAddress!, blockLength: blockLength,
                                                     counter: outputBlockCounter, flags: flags | BLAKE3Flag.root)
                let take = min(BLAKE3Kernel.blockLength, buffer.count - written)
                withUnsafeBytes(of: words) { (base + written).copyMemory(from: $0.baseAddress!, byteCount: take) }
                written += take
                outputBlockCounter += 1
            }
        }
    }
}

/// The chunk being filled: its chaining value so far and its last (possibly partial) block,
/// which is compressed only once it is known whether it ends the chunk.
struct BLAKE3ChunkState {
    var cv: SIMD8<UInt32>
    var chunkCounter: UInt64
    var buffer = SIMD16<UInt32>()
    var bufferCount = 0
    var blocksCompressed = 0
    let flags: UInt32

    init(key: SIMD8<UInt32>, chunkCounter: UInt64, flags: UInt32) {
        cv = key
        self.chunkCounter = chunkCounter
        self.flags = flags
    }

    var count: Int { blocksCompressed * BLAKE3Kernel.blockLength + bufferCount }

    private var startFlag: UInt32 { blocksCompressed == 0 ? BLAKE3Flag.chunkStart : 0 }

    mutating func reset(key: SIMD8<UInt32>, chunkCounter: UInt64) {
        self = BLAKE3ChunkState(key: key, chunkCounter: chunkCounter, flags: flags)
    }

    /// `length` must not overflow the chunk.
    mutating func update(_ start: UnsafeRawPointer, _ length: Int) {
        var input = start
        var remaining = length
        let blockLength = BLAKE3Kernel.blockLength
        if bufferCount > 0 {
            let take = min(blockLength - bufferCount, remaining)
            appendToBuffer(input, take)
            input += take
            remaining -= take
            guard remaining > 0 else { return }
            let block = buffer
            cv = withUnsafeBytes(of: block) {
                BLAKE3Kernel.compress(cv: cv, block: $0.baseAddress!, blockLength: UInt32(blockLength),
                                      counter: chunkCounter, flags: flags | startFlag)
            }
            blocksCompressed += 1
            bufferCount = 0
            buffer = SIMD16()
        }
        while remaining > blockLength {
            cv = BLAKE3Kernel.compress(cv: cv, block: input, blockLength: UInt32(blockLength),
                                       counter: chunkCounter, flags: flags | startFlag)
            blocksCompressed += 1
            input += blockLength
            remaining -= blockLength
        }
        if remaining > 0 { appendToBuffer(input, remaining) }
    }

    private mutating func appendToBuffer(_ input: UnsafeRawPointer, _ length: Int) {
        let offset = bufferCount
        withUnsafeMutableBytes(of: &buffer) { ($0.baseAddress! + offset).copyMemory(from: input, byteCount: length) }
        bufferCount += length
    }

    /// The buffer is zero beyond `bufferCount` (it starts zeroed and is re-zeroed after each
    /// compression), as the final block's padding requires.
    func output() -> BLAKE3Output {
        BLAKE3Output(inputCV: cv, block: buffer, blockLength: UInt32(bufferCount), counter: chunkCounter,
                     flags: flags | startFlag | BLAKE3Flag.chunkEnd)
    }
}

/// Whole-subtree hashing with the SIMD kernel (the reference implementation's
/// compress_subtree_wide), used for input that is known not to contain the root chunk.
enum BLAKE3Tree {
    static let degree = BLAKE3Kernel.simdDegree
    static let outLength = BLAKE3Kernel.outLength

    /// Hashes `length` bytes (a power of two chunks, at least two) down to the two chaining values
    /// of the subtree's root's children, written to `out` (64 bytes).
    static func compressSubtreeToParentNode(input: UnsafeRawPointer, length: Int, key: SIMD8<UInt32>,
                                            chunkCounter: UInt64, flags: UInt32, out: UnsafeMutableRawPointer) {
        withUnsafeTemporaryAllocation(byteCount: 2 * degree * outLength, alignment: 16) { scratch in
            let cvs = scratch.baseAddress!
            let reduced = cvs + degree * outLength
            var count = compressSubtreeWide(input: input, length: length, key: key, chunkCounter: chunkCounter,
                                            flags: flags, out: cvs)
            while count > 2 {
                count = compressParents(cvs, count: count, key: key, flags: flags, out: reduced)
                cvs.copyMemory(from: reduced, byteCount: count * outLength)
            }
            out.copyMemory(from: cvs, byteCount: 2 * outLength)
        }
    }

    /// Writes at most `degree` chaining values to `out` and returns how many.
    static func compressSubtreeWide(input: UnsafeRawPointer, length: Int, key: SIMD8<UInt32>,
                                    chunkCounter: UInt64, flags: UInt32, out: UnsafeMutableRawPointer) -> Int {
        let chunkLength = BLAKE3Kernel.chunkLength
        if length <= degree * chunkLength {
            return compressChunks(input: input, length: length, key: key, chunkCounter: chunkCounter,
                                  flags: flags, out: out)
        }
        // The left side takes the largest power-of-two number of whole chunks that leaves at
        // least one byte for the right.
        let fullChunks = (length - 1) / chunkLength
        let leftLength = (1 << (Int.bitWidth - 1 - fullChunks.leadingZeroBitCount)) * chunkLength
        return withUnsafeTemporaryAllocation(byteCount: 2 * degree * outLength, alignment: 16) { scratch in
            let cvs = scratch.baseAddress!
            let leftCount = compressSubtreeWide(input: input, length: leftLength, key: key,
                                                chunkCounter: chunkCounter, flags: flags, out: cvs)
            let rightCount = compressSubtreeWide(input: input + leftLength, length: length - leftLength, key: key,
                                                 chunkCounter: chunkCounter + UInt64(leftLength / chunkLength),
                                                 flags: flags, out: cvs + leftCount * outLength)
            return compressParents(cvs, count: leftCount + rightCount, key: key, flags: flags, out: out)
        }
    }

    /// Chaining values of the whole chunks (SIMD) and of a trailing partial chunk.
    static func compressChunks(input: UnsafeRawPointer, length: Int, key: SIMD8<UInt32>, chunkCounter: UInt64,
                               flags: UInt32, out: UnsafeMutableRawPointer) -> Int {
        let chunkLength = BLAKE3Kernel.chunkLength
        let fullChunks = length / chunkLength
        BLAKE3Kernel.hashMany(inputs: input, count: fullChunks, stride: chunkLength,
                              blocks: chunkLength / BLAKE3Kernel.blockLength, key: key, counter: chunkCounter,
                              incrementCounter: true, flags: flags, flagsStart: BLAKE3Flag.chunkStart,
                              flagsEnd: BLAKE3Flag.chunkEnd, out: out)
        let tail = length - fullChunks * chunkLength
        guard tail > 0 else { return fullChunks }
        var state = BLAKE3ChunkState(key: key, chunkCounter: chunkCounter + UInt64(fullChunks), flags: flags)
        state.update(input + fullChunks * chunkLength, tail)
        let cv = state.output().chainingValue()
        withUnsafeBytes(of: cv) { (out + fullChunks * outLength).copyMemory(from: $0.baseAddress!, byteCount: outLength) }
        return fullChunks + 1
    }

    /// Pairs of chaining values become parents (SIMD); an odd last one is carried up unchanged.
    static func compressParents(_ cvs: UnsafeRawPointer, count: Int, key: SIMD8<UInt32>, flags: UInt32,
                                out: UnsafeMutableRawPointer) -> Int {
        let pairs = count / 2
        BLAKE3Kernel.hashMany(inputs: cvs, count: pairs, stride: BLAKE3Kernel.blockLength, blocks: 1, key: key,
                              counter: 0, incrementCounter: false, flags: flags | BLAKE3Flag.parent,
                              flagsStart: 0, flagsEnd: 0, out: out)
        guard count % 2 == 1 else { return pairs }
        (out + pairs * outLength).copyMemory(from: cvs + (count - 1) * outLength, byteCount: outLength)
        return pairs + 1
    }
}

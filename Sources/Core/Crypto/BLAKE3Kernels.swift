/// BLAKE3 compression: the portable one-block function and the 4-way SIMD "hash many" kernel
/// that compresses the same block index of four chunks (or four parent nodes) at once, one chunk
/// per SIMD lane. Both are fully unrolled; the message schedule of each round is written out.
enum BLAKE3Flag {
    static let chunkStart: UInt32 = 1 << 0
    static let chunkEnd: UInt32 = 1 << 1
    static let parent: UInt32 = 1 << 2
    static let root: UInt32 = 1 << 3
    static let keyedHash: UInt32 = 1 << 4
    static let deriveKeyContext: UInt32 = 1 << 5
    static let deriveKeyMaterial: UInt32 = 1 << 6
}

enum BLAKE3Kernel {
    static let blockLength = 64
    static let chunkLength = 1024
    static let outLength = 32
    /// Chunks compressed together by `hash4`.
    static let simdDegree = 4

    /// The seven rounds; each line is the previous one's schedule permuted by
    /// [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8].
    @inline(__always)
    static func rounds<W: BLAKEWord>(_ v: inout BLAKEState<W>,
                                     _ m0: W, _ m1: W, _ m2: W, _ m3: W, _ m4: W, _ m5: W, _ m6: W, _ m7: W,
                                     _ m8: W, _ m9: W, _ m10: W, _ m11: W, _ m12: W, _ m13: W, _ m14: W, _ m15: W) {
        v.round(m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15)
        v.round(m2, m6, m3, m10, m7, m0, m4, m13, m1, m11, m12, m5, m9, m14, m15, m8)
        v.round(m3, m4, m10, m12, m13, m2, m7, m14, m6, m5, m9, m0, m11, m15, m8, m1)
        v.round(m10, m7, m12, m9, m14, m3, m13, m15, m4, m0, m11, m2, m5, m8, m1, m6)
        v.round(m12, m13, m9, m11, m15, m10, m14, m8, m7, m2, m5, m3, m0, m1, m6, m4)
        v.round(m9, m14, m11, m5, m8, m12, m15, m1, m13, m3, m0, m10, m2, m6, m4, m7)
        v.round(m11, m15, m5, m0, m1, m9, m8, m6, m14, m10, m2, m12, m3, m4, m7, m13)
    }

    @inline(__always)
    static func compressState(cv: SIMD8<UInt32>, block: UnsafeRawPointer, blockLength: UInt32,
                              counter: UInt64, flags: UInt32) -> BLAKEState<UInt32> {
        let iv = blakeIV
        var v = BLAKEState<UInt32>(
            cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
            iv[0], iv[1], iv[2], iv[3],
            UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32), blockLength, flags)
        rounds(&v,
               loadWord(block, 0), loadWord(block, 1), loadWord(block, 2), loadWord(block, 3),
               loadWord(block, 4), loadWord(block, 5), loadWord(block, 6), loadWord(block, 7),
               loadWord(block, 8), loadWord(block, 9), loadWord(block, 10), loadWord(block, 11),
               loadWord(block, 12), loadWord(block, 13), loadWord(block, 14), loadWord(block, 15))
        return v
    }

    /// One block; returns the new chaining value.
    @inline(__always)
    static func compress(cv: SIMD8<UInt32>, block: UnsafeRawPointer, blockLength: UInt32,
                         counter: UInt64, flags: UInt32) -> SIMD8<UInt32> {
        let v = compressState(cv: cv, block: block, blockLength: blockLength, counter: counter, flags: flags)
        return SIMD8(v.v0 ^ v.v8, v.v1 ^ v.v9, v.v2 ^ v.v10, v.v3 ^ v.v11,
                     v.v4 ^ v.v12, v.v5 ^ v.v13, v.v6 ^ v.v14, v.v7 ^ v.v15)
    }

    /// One block of extended (root) output: 16 words.
    static func compressXOF(cv: SIMD8<UInt32>, block: UnsafeRawPointer, blockLength: UInt32,
                            counter: UInt64, flags: UInt32) -> SIMD16<UInt32> {
        let v = compressState(cv: cv, block: block, blockLength: blockLength, counter: counter, flags: flags)
        return SIMD16(v.v0 ^ v.v8, v.v1 ^ v.v9, v.v2 ^ v.v10, v.v3 ^ v.v11,
                      v.v4 ^ v.v12, v.v5 ^ v.v13, v.v6 ^ v.v14, v.v7 ^ v.v15,
                      v.v8 ^ cv[0], v.v9 ^ cv[1], v.v10 ^ cv[2], v.v11 ^ cv[3],
                      v.v12 ^ cv[4], v.v13 ^ cv[5], v.v14 ^ cv[6], v.v15 ^ cv[7])
    }

    /// Hashes `count` equally long inputs of `blocks` whole blocks each, input i starting at
    /// `inputs + i * stride`, writing each 32-byte chaining value to `out + i * 32`.
    /// Chunks: 16 blocks, stride 1024, counter incremented per input, start/end flags.
    /// Parents: 1 block, stride 64, counter 0 for all, no start/end flags.
    static func hashMany(inputs: UnsafeRawPointer, count: Int, stride: Int, blocks: Int,
                         key: SIMD8<UInt32>, counter: UInt64, incrementCounter: Bool,
                         flags: UInt32, flagsStart: UInt32, flagsEnd: UInt32, out: UnsafeMutableRawPointer) {
        var index = 0
        while count - index >= simdDegree {
            hash4(inputs: inputs + index * stride, stride: stride, blocks: blocks, key: key,
                  counter: incrementCounter ? counter &+ UInt64(index) : counter, incrementCounter: incrementCounter,
                  flags: flags, flagsStart: flagsStart, flagsEnd: flagsEnd, out: out + index * outLength)
            index += simdDegree
        }
        while index < count {
            var cv = key
            var blockFlags = flags | flagsStart
            let input = inputs + index * stride
            let inputCounter = incrementCounter ? counter &+ UInt64(index) : counter
            for block in 0..<blocks {
                if block == blocks - 1 { blockFlags |= flagsEnd }
                cv = compress(cv: cv, block: input + block * blockLength, blockLength: UInt32(blockLength),
                              counter: inputCounter, flags: blockFlags)
                blockFlags = flags
            }
            withUnsafeBytes(of: cv) { (out + index * outLength).copyMemory(from: $0.baseAddress!, byteCount: outLength) }
            index += 1
        }
    }

    /// Four inputs at once, lane k = input k (the reference implementation's hash_many layout).
    static func hash4(inputs: UnsafeRawPointer, stride: Int, blocks: Int, key: SIMD8<UInt32>,
                      counter: UInt64, incrementCounter: Bool,
                      flags: UInt32, flagsStart: UInt32, flagsEnd: UInt32, out: UnsafeMutableRawPointer) {
        typealias Lane = SIMD4<UInt32>
        var h0 = Lane(repeating: key[0]), h1 = Lane(repeating: key[1]), h2 = Lane(repeating: key[2])
        var h3 = Lane(repeating: key[3]), h4 = Lane(repeating: key[4]), h5 = Lane(repeating: key[5])
        var h6 = Lane(repeating: key[6]), h7 = Lane(repeating: key[7])
        let step: UInt64 = incrementCounter ? 1 : 0
        let counters = SIMD4<UInt64>(counter, counter &+ step, counter &+ 2 &* step, counter &+ 3 &* step)
        let counterLow = Lane(truncatingIfNeeded: counters)
        let counterHigh = Lane(truncatingIfNeeded: counters &>> 32)
        let iv = blakeIV
        let iv0 = Lane(repeating: iv[0]), iv1 = Lane(repeating: iv[1])
        let iv2 = Lane(repeating: iv[2]), iv3 = Lane(repeating: iv[3])
        let blockLen = Lane(repeating: UInt32(blockLength))
        let p0 = inputs, p1 = inputs + stride, p2 = inputs + 2 * stride, p3 = inputs + 3 * stride
        var blockFlags = flags | flagsStart
        for block in 0..<blocks {
            if block == blocks - 1 { blockFlags |= flagsEnd }
            let offset = block * blockLength
            let b0 = p0 + offset, b1 = p1 + offset, b2 = p2 + offset, b3 = p3 + offset
            @inline(__always) func word(_ i: Int) -> Lane {
                Lane(loadWord(b0, i), loadWord(b1, i), loadWord(b2, i), loadWord(b3, i))
            }
            var v = BLAKEState<Lane>(h0, h1, h2, h3, h4, h5, h6, h7, iv0, iv1, iv2, iv3,
                                     counterLow, counterHigh, blockLen, Lane(repeating: blockFlags))
            rounds(&v, word(0), word(1), word(2), word(3), word(4), word(5), word(6), word(7),
                   word(8), word(9), word(10), word(11), word(12), word(13), word(14), word(15))
            h0 = v.v0 ^ v.v8; h1 = v.v1 ^ v.v9; h2 = v.v2 ^ v.v10; h3 = v.v3 ^ v.v11
            h4 = v.v4 ^ v.v12; h5 = v.v5 ^ v.v13; h6 = v.v6 ^ v.v14; h7 = v.v7 ^ v.v15
            blockFlags = flags
        }
        // Transpose back: lane k's eight words are input k's chaining value.
        for lane in 0..<4 {
            let target = out + lane * outLength
            storeWord(h0[lane], target, 0); storeWord(h1[lane], target, 1)
            storeWord(h2[lane], target, 2); storeWord(h3[lane], target, 3)
            storeWord(h4[lane], target, 4); storeWord(h5[lane], target, 5)
            storeWord(h6[lane], target, 6); storeWord(h7[lane], target, 7)
        }
    }
}

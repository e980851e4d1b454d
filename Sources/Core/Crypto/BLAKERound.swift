/// The ChaCha-style round shared by BLAKE2s and BLAKE3 (identical G function on 32-bit words,
/// rotations 16, 12, 8, 7). Generic over the lane type so one definition serves the scalar
/// compression (`UInt32`) and the multi-chunk SIMD compression (`SIMD4<UInt32>`), where each lane
/// holds the same state word of a different chunk.
protocol BLAKEWord {
    static func &+ (lhs: Self, rhs: Self) -> Self
    static func ^ (lhs: Self, rhs: Self) -> Self
    var rotatedRight16: Self { get }
    var rotatedRight12: Self { get }
    var rotatedRight8: Self { get }
    var rotatedRight7: Self { get }
}

extension UInt32: BLAKEWord {
    @inline(__always) var rotatedRight16: UInt32 { (self &>> 16) | (self &<< 16) }
    @inline(__always) var rotatedRight12: UInt32 { (self &>> 12) | (self &<< 20) }
    @inline(__always) var rotatedRight8: UInt32 { (self &>> 8) | (self &<< 24) }
    @inline(__always) var rotatedRight7: UInt32 { (self &>> 7) | (self &<< 25) }
}

// The halves are joined with `&+` (equal to `|` here, the bits are disjoint): with `|`, LLVM
// recognises a rotate and, lacking a vector rotate on baseline x86_64 (SSE2), scalarises it lane
// by lane, which made the 4-lane kernel slower than the scalar one.
extension SIMD4: BLAKEWord where Scalar == UInt32 {
    @inline(__always) var rotatedRight16: SIMD4<UInt32> { (self &>> 16) &+ (self &<< 16) }
    @inline(__always) var rotatedRight12: SIMD4<UInt32> { (self &>> 12) &+ (self &<< 20) }
    @inline(__always) var rotatedRight8: SIMD4<UInt32> { (self &>> 8) &+ (self &<< 24) }
    @inline(__always) var rotatedRight7: SIMD4<UInt32> { (self &>> 7) &+ (self &<< 25) }
}

/// The 16-word working state, held in separate stored properties so the optimiser keeps every word
/// in a register (an array or SIMD16 would force memory round trips on lane access).
struct BLAKEState<Word: BLAKEWord> {
    var v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15: Word

    @inline(__always)
    init(_ v0: Word, _ v1: Word, _ v2: Word, _ v3: Word, _ v4: Word, _ v5: Word, _ v6: Word, _ v7: Word,
         _ v8: Word, _ v9: Word, _ v10: Word, _ v11: Word, _ v12: Word, _ v13: Word, _ v14: Word, _ v15: Word) {
        self.v0 = v0; self.v1 = v1; self.v2 = v2; self.v3 = v3
        self.v4 = v4; self.v5 = v5; self.v6 = v6; self.v7 = v7
        self.v8 = v8; self.v9 = v9; self.v10 = v10; self.v11 = v11
        self.v12 = v12; self.v13 = v13; self.v14 = v14; self.v15 = v15
    }

    @inline(__always)
    static func g(_ a: inout Word, _ b: inout Word, _ c: inout Word, _ d: inout Word, _ x: Word, _ y: Word) {
        a = a &+ b &+ x
        d = (d ^ a).rotatedRight16
        c = c &+ d
        b = (b ^ c).rotatedRight12
        a = a &+ b &+ y
        d = (d ^ a).rotatedRight8
        c = c &+ d
        b = (b ^ c).rotatedRight7
    }

    /// One round: columns then diagonals, message words already in schedule order.
    @inline(__always)
    mutating func round(_ s0: Word, _ s1: Word, _ s2: Word, _ s3: Word, _ s4: Word, _ s5: Word, _ s6: Word, _ s7: Word,
                        _ s8: Word, _ s9: Word, _ s10: Word, _ s11: Word, _ s12: Word, _ s13: Word, _ s14: Word, _ s15: Word) {
        Self.g(&v0, &v4, &v8, &v12, s0, s1)
        Self.g(&v1, &v5, &v9, &v13, s2, s3)
        Self.g(&v2, &v6, &v10, &v14, s4, s5)
        Self.g(&v3, &v7, &v11, &v15, s6, s7)
        Self.g(&v0, &v5, &v10, &v15, s8, s9)
        Self.g(&v1, &v6, &v11, &v12, s10, s11)
        Self.g(&v2, &v7, &v8, &v13, s12, s13)
        Self.g(&v3, &v4, &v9, &v14, s14, s15)
    }
}

/// The SHA-256 initial values, used as IV by both BLAKE2s and BLAKE3.
/// (Computed rather than stored so it folds to constants instead of a lazily initialised global.)
@inline(__always)
var blakeIV: SIMD8<UInt32> {
    SIMD8(0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
}

@inline(__always)
func loadWord(_ pointer: UnsafeRawPointer, _ index: Int) -> UInt32 {
    UInt32(littleEndian: pointer.loadUnaligned(fromByteOffset: index &* 4, as: UInt32.self))
}

@inline(__always)
func storeWord(_ word: UInt32, _ pointer: UnsafeMutableRawPointer, _ index: Int) {
    pointer.storeBytes(of: word.littleEndian, toByteOffset: index &* 4, as: UInt32.self)
}

/// SplitMix64: a tiny deterministic generator, so simulations and randomized tests replay from a seed.
/// Not for cryptographic use (that is `SecureRandom`).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// A value in 0..<bound (0 when bound is 0); the modulo bias is irrelevant for simulations.
    public mutating func next(upTo bound: UInt64) -> UInt64 { bound == 0 ? 0 : next() % bound }

    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}

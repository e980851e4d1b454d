import Core

/// The seeded generator randomized tests use (Core's SplitMix64), so a failure replays from its seed.
public typealias SeededRandom = SplitMix64

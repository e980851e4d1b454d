import Testing
@testable import AudioPipeline

/// Spec §10.9, driven frame by frame (no clock: each `nextPeriod()` is one 20 ms speaker period).
@Suite("Stage listener playback")
struct StageListenerPlaybackTests {
    /// Real Opus packets of a tone, one per 20 ms.
    static func packets(_ count: Int) throws -> [[UInt8]] {
        let encoder = try OpusEncoder()
        var tone = ToneGenerator(frequency: 440, amplitude: 0.3)
        return try (0..<count).map { _ in try encoder.encode(tone.nextFrame()) }
    }

    @Test func startsAtOnceAndConcealsGapsUpTo63Frames() throws {
        let opus = try Self.packets(8)
        var playback = try StageListenerPlayback()
        #expect(playback.nextPeriod().allSatisfy { $0 == 0 })        // silence before any data
        try playback.receive(sequence: 100, opus: opus[0])
        #expect(SignalAnalysis.rms(playback.nextPeriod()) > 0)         // not gated before live
        #expect(playback.statistics.underruns == 0)
        try playback.receive(sequence: 101, opus: opus[1])
        try playback.receive(sequence: 105, opus: opus[2])             // 102…104 lost: 3 PLC frames
        #expect(playback.statistics.concealed == 3)
        #expect(playback.statistics.depth == 5)
        try playback.receive(sequence: 105 + 64 + 1, opus: opus[3])    // a jump of 64: a new stream
        try playback.receive(sequence: 7, opus: opus[4])                // backwards: also new
        #expect(playback.statistics.concealed == 3)
        #expect(playback.statistics.decoded == 5)
        // Sequence numbers wrap: 0xFFFFFFFF → 1 is a gap of one.
        try playback.receive(sequence: 0xFFFF_FFFF, opus: opus[5])
        try playback.receive(sequence: 1, opus: opus[6])
        #expect(playback.statistics.concealed == 4)
    }

    @Test func ringHoldsTenAndDropsTheOldest() throws {
        let opus = try Self.packets(12)
        var playback = try StageListenerPlayback()
        for (index, packet) in opus.enumerated() { try playback.receive(sequence: UInt32(index), opus: packet) }
        #expect(playback.statistics.depth == 10)
        #expect(playback.statistics.dropped == 2)
    }

    @Test func underrunRaisesTheTargetAndRefillsToIt() throws {
        let opus = try Self.packets(30)
        var playback = try StageListenerPlayback()
        var next = 0
        func receive(_ n: Int) throws {
            for _ in 0..<n {
                try playback.receive(sequence: UInt32(next), opus: opus[next % opus.count])
                next += 1
            }
        }
        try receive(4)                                   // target 4 reached: live
        #expect(playback.statistics.live)
        for _ in 0..<4 { #expect(SignalAnalysis.rms(playback.nextPeriod()) > 0) }
        _ = playback.nextPeriod()                       // empty while live: underrun
        #expect(playback.statistics.underruns == 1)
        #expect(playback.statistics.targetFrames == 5)
        try receive(4)                                   // 4 < target 5: still refilling, silence
        #expect(playback.nextPeriod().allSatisfy { $0 == 0 })
        try receive(1)
        #expect(SignalAnalysis.rms(playback.nextPeriod()) > 0)
        #expect(playback.statistics.underruns == 1)
    }

    @Test func calmPeriodsLowerTheTargetDownToThree() throws {
        let opus = try Self.packets(50)
        var playback = try StageListenerPlayback()
        var sequence: UInt32 = 0
        func feedAndPlay(_ periods: Int) throws {
            for _ in 0..<periods {
                try playback.receive(sequence: sequence, opus: opus[Int(sequence) % opus.count])
                sequence += 1
                _ = playback.nextPeriod()
            }
        }
        try feedAndPlay(3)
        for _ in 0..<6 { try playback.receive(sequence: sequence, opus: opus[0]); sequence += 1 }   // a cushion
        try feedAndPlay(250)
        #expect(playback.statistics.targetFrames == 3)   // 4 → 3 after 250 calm periods
        try feedAndPlay(500)
        #expect(playback.statistics.targetFrames == 3)   // never below the minimum
        #expect(playback.statistics.underruns == 0)
    }
}

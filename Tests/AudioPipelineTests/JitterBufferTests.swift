import Testing
import Synchronization
import Foundation
@testable import AudioPipeline

final class ManualAudioClock: AudioClock {
    private let micros = Atomic<Int64>(0)
    func nowMicros() -> Int64 { micros.load(ordering: .relaxed) }
    func set(_ value: Int64) { micros.store(value, ordering: .relaxed) }
}

/// 40 s of encoded speech-like audio (an amplitude-modulated two-tone signal), shared by the tests.
let jitterTestPackets: [[UInt8]] = {
    let enc = try! OpusEncoder()
    var a = ToneGenerator(frequency: 220, amplitude: 0.3)
    var b = ToneGenerator(frequency: 1_370, amplitude: 0.1)
    var packets: [[UInt8]] = []
    for i in 0..<2_000 {
        let envelope = Float(0.5 + 0.5 * sin(Double(i) * 0.3))
        let x = zip(a.nextFrame(), b.nextFrame()).map { ($0 + $1) * envelope }
        packets.append(try! enc.encode(x))
    }
    return packets
}()

struct JitterRun {
    var kinds: [JitterBuffer.Playout] = []
    var pcm: [Float] = []
    var stats = JitterBuffer.Statistics()
    var targets: [Int64] = []
    var delays: [Int64] = []
}

/// Drives a jitter buffer: `arrivals` are (packet index, arrival µs); the sound card pulls one
/// frame every `pullInterval` µs starting at `pullPhase`. Sequence numbers start at `firstSeq`.
func runJitter(arrivals: [(index: Int, at: Int64)], pulls: Int, firstSeq: UInt32 = 0,
               pullPhase: Int64 = 7_000, pullInterval: Int64 = 20_000,
               configuration: JitterBuffer.Configuration = JitterBuffer.Configuration()) throws -> JitterRun {
    let clock = ManualAudioClock()
    let jb = JitterBuffer(clock: clock, decoder: try OpusDecoder(), configuration: configuration)
    let sorted = arrivals.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }.map(\.element)
    var next = 0
    var run = JitterRun()
    var frame = [Float](repeating: 0, count: 960)
    for k in 0..<pulls {
        let t = pullPhase + Int64(k) * pullInterval
        while next < sorted.count, sorted[next].at <= t {
            clock.set(sorted[next].at)
            jb.insert(sequence: firstSeq &+ UInt32(sorted[next].index), payload: jitterTestPackets[sorted[next].index])
            next += 1
        }
        clock.set(t)
        let kind = jb.pull(into: &frame)
        run.kinds.append(kind)
        if kind != .waiting { run.pcm += frame }
        run.targets.append(jb.targetDelayMicros)
        run.delays.append(jb.statistics.currentDelayMicros)
    }
    run.stats = jb.statistics
    return run
}

func referenceDecode(_ count: Int) throws -> [Float] {
    let dec = try OpusDecoder()
    return try (0..<count).flatMap { try dec.decode(jitterTestPackets[$0]) }
}

/// Configuration that never moves the target, for bit-exact comparisons.
var fixedTarget: JitterBuffer.Configuration {
    var c = JitterBuffer.Configuration()
    c.shrinkHoldMicros = .max / 4
    return c
}

let networkDelay: Int64 = 30_000
func sendTime(_ i: Int) -> Int64 { Int64(i) * 20_000 + networkDelay }

@Suite("JitterBuffer")
struct JitterBufferTests {
    @Test func inOrderAcrossSequenceWrapPlaysEverythingBitExact() throws {
        let n = 150
        let run = try runJitter(arrivals: (0..<n).map { ($0, sendTime($0)) }, pulls: n + 4,
                                firstSeq: UInt32.max - 20, configuration: fixedTarget)
        #expect(run.kinds.filter { $0 == .waiting }.count == 4)
        #expect(run.kinds.dropFirst(4).allSatisfy { $0 == .normal })
        #expect(run.stats.received == n && run.stats.lost == 0 && run.stats.late == 0 && run.stats.restarts == 0)
        let reference = try referenceDecode(n)
        #expect(run.pcm == reference)
        #expect(run.stats.currentDelayMicros >= 40_000 && run.stats.currentDelayMicros < 60_000)
    }

    @Test func reorderedPacketsArePlayedInOrder() throws {
        let n = 150
        var arrivals = (0..<n).map { ($0, sendTime($0)) }
        for i in stride(from: 10, to: n - 1, by: 10) {   // i arrives 10 ms after i+1
            arrivals[i].1 = sendTime(i + 1) + 10_000
        }
        let run = try runJitter(arrivals: arrivals, pulls: n + 4, configuration: fixedTarget)
        #expect(run.stats.lost == 0 && run.stats.late == 0 && run.stats.inserted == 0)
        let reference = try referenceDecode(n)
        #expect(run.pcm == reference)
    }

    @Test func duplicatesAreIgnored() throws {
        let n = 120
        var arrivals = (0..<n).map { ($0, sendTime($0)) }
        for i in stride(from: 0, to: n, by: 5) { arrivals.append((i, sendTime(i) + 5_000)) }
        arrivals.append((7, sendTime(7) + 500_000))   // a copy of an already played frame
        let run = try runJitter(arrivals: arrivals, pulls: n + 4, configuration: fixedTarget)
        #expect(run.stats.duplicates == n / 5 + 1)
        #expect(run.stats.received == n && run.stats.lost == 0 && run.stats.late == 0)
        let reference = try referenceDecode(n)
        #expect(run.pcm == reference)
    }

    @Test func singleLossIsRecoveredByFECAndBurstLossIsConcealed() throws {
        let n = 150
        let lost: Set<Int> = [50, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89]
        let run = try runJitter(arrivals: (0..<n).filter { !lost.contains($0) }.map { ($0, sendTime($0)) },
                                pulls: n + 4, configuration: fixedTarget)
        let played = Array(run.kinds.drop { $0 == .waiting })
        #expect(played[50] == .fecRecovered)
        #expect(played[80..<89].allSatisfy { $0 == .concealed })
        #expect(played[89] == .fecRecovered)
        #expect(played[90] == .normal)
        #expect(run.stats.lost == 11 && run.stats.fecRecovered == 2 && run.stats.concealed == 9)
        // Frames around the gaps are untouched by it: frame 49 decodes as in the reference.
        let reference = try referenceDecode(n)
        #expect(Array(run.pcm[(49 * 960)..<(50 * 960)]) == Array(reference[(49 * 960)..<(50 * 960)]))
        // FEC rebuilds the lost frame closely: compare the recovered frame's level with the reference.
        let recovered = Array(run.pcm[(50 * 960)..<(51 * 960)])
        let original = Array(reference[(50 * 960)..<(51 * 960)])
        #expect(abs(SignalAnalysis.rms(recovered) - SignalAnalysis.rms(original)) < 0.5 * SignalAnalysis.rms(original))
    }

    @Test func lossAtTheEndIsConcealed() throws {
        let run = try runJitter(arrivals: (0..<40).map { ($0, sendTime($0)) }, pulls: 50, configuration: fixedTarget)
        #expect(run.kinds.suffix(6).allSatisfy { $0 == .concealed })
        #expect(run.stats.concealed == 6)
    }

    @Test func jitterSpikeGrowsTheTargetAndCalmShrinksIt() throws {
        let n = 1_000
        var arrivals = (0..<n).map { ($0, sendTime($0)) }
        for i in 100..<106 { arrivals[i].1 = sendTime(105) + 120_000 }   // a 220 ms stall, then a burst
        let run = try runJitter(arrivals: arrivals, pulls: n, configuration: JitterBuffer.Configuration())
        let maxTarget = run.targets.max() ?? 0
        #expect(maxTarget >= 200_000, "target peaked at \(maxTarget)")
        // While the spike's transits are in the window the target stays high ...
        #expect(run.targets[150] >= 200_000)
        // ... and after a calm period it has come back down near the minimum.
        #expect(run.targets[n - 1] <= 40_000, "final target \(run.targets[n - 1])")
        #expect(run.stats.dropped > 0)
        #expect(run.stats.late > 0)
        #expect(run.stats.currentDelayMicros < 80_000)
    }

    @Test func repeatedSpikesAreAbsorbedOnceTheTargetHasGrown() throws {
        let n = 600
        var arrivals = (0..<n).map { ($0, sendTime($0)) }
        for spike in stride(from: 100, to: n - 20, by: 60) {
            for i in spike..<(spike + 4) { arrivals[i].1 = sendTime(spike + 3) + 60_000 }
        }
        let run = try runJitter(arrivals: arrivals, pulls: n, configuration: JitterBuffer.Configuration())
        // The first spike costs some late frames; later ones find a grown target.
        let lateAfterFirstSpike = run.stats.late
        #expect(lateAfterFirstSpike <= 4, "late \(lateAfterFirstSpike)")
        #expect(run.targets[n - 1] >= 120_000)
    }

    @Test(arguments: [19_900, 20_100] as [Int64])
    func clockDriftIsAbsorbedByDropsOrInserts(senderInterval: Int64) throws {
        let n = 1_500
        let run = try runJitter(arrivals: (0..<n).map { ($0, Int64($0) * senderInterval + networkDelay) },
                                pulls: n, configuration: JitterBuffer.Configuration())
        if senderInterval < 20_000 {
            #expect(run.stats.dropped >= 5, "dropped \(run.stats.dropped)")
        } else {
            #expect(run.stats.inserted >= 5, "inserted \(run.stats.inserted)")
        }
        #expect(run.stats.late == 0)
        // The delay stays bounded around the target instead of growing or collapsing.
        let steady = run.delays.suffix(1_000)
        #expect(steady.max()! <= 80_000 && steady.min()! >= 0, "delay range \(steady.min()!)…\(steady.max()!)")
    }
}

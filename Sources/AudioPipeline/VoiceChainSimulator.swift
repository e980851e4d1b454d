import Core
import Synchronization

/// Runs the receive chain offline on a signal: our encoder (§9.3 settings) → a network that drops
/// packets at random and adds jitter → `JitterBuffer` (FEC/PLC) → decoded PCM, with simulated
/// time. Used by the quality tests and `proscenium-bench audio` to score the chain (e.g. PESQ)
/// against opus-tools' reference chain.
public enum VoiceChainSimulator {
    public struct Result: Sendable {
        /// Output aligned to the input (codec lookahead removed), same length as the input.
        public var pcm: [Float]
        public var statistics: JitterBuffer.Statistics
        public var packetsSent: Int
        public var packetsDropped: Int
    }

    public struct Network: Sendable {
        public var lossPercent: Double = 0
        /// Uniform extra delay per packet, 0…`jitterMicros`.
        public var jitterMicros: Int64 = 0
        public var baseDelayMicros: Int64 = 30_000
        public var seed: UInt64 = 1
        public init(lossPercent: Double = 0, jitterMicros: Int64 = 0, seed: UInt64 = 1) {
            self.lossPercent = lossPercent
            self.jitterMicros = jitterMicros
            self.seed = seed
        }
    }

    public static func run(input: [Float], network: Network,
                           expectedLossPercent: Int = AudioFormat.opusExpectedLossPercent,
                           complexity: Int? = nil,
                           application: OpusEncoder.Application = .voip,
                           signal: OpusEncoder.Signal = .auto,
                           jitterConfiguration: JitterBuffer.Configuration = JitterBuffer.Configuration()) throws -> Result {
        let encoder = try OpusEncoder(expectedLossPercent: expectedLossPercent, application: application)
        if let complexity { try encoder.setComplexity(complexity) }
        try encoder.setSignal(signal)
        let frame = AudioFormat.samplesPerFrame
        let lookahead = encoder.lookaheadSamples
        let frameCount = (input.count + lookahead + frame - 1) / frame
        var rng = SplitMix64(seed: network.seed)
        var arrivals: [(seq: UInt32, at: Int64, packet: [UInt8])] = []
        var dropped = 0
        for f in 0..<frameCount {
            var pcm = [Float](repeating: 0, count: frame)
            for i in 0..<frame where f * frame + i < input.count { pcm[i] = input[f * frame + i] }
            let packet = try encoder.encode(pcm)
            if rng.nextUnit() * 100 < network.lossPercent {
                dropped += 1
                continue
            }
            let jitter = network.jitterMicros > 0 ? Int64(rng.nextUnit() * Double(network.jitterMicros)) : 0
            arrivals.append((UInt32(f), Int64(f) * AudioFormat.frameDurationMicros + network.baseDelayMicros + jitter, packet))
        }
        arrivals.sort { ($0.at, $0.seq) < ($1.at, $1.seq) }
        let clock = SimulatedAudioClock()
        let buffer = JitterBuffer(clock: clock, decoder: try OpusDecoder(), configuration: jitterConfiguration)
        var output: [Float] = []
        output.reserveCapacity(input.count + lookahead + frame)
        var pcm = [Float](repeating: 0, count: frame)
        var next = 0
        var t: Int64 = 5_000
        while output.count < input.count + lookahead {
            while next < arrivals.count, arrivals[next].at <= t {
                clock.set(arrivals[next].at)
                buffer.insert(sequence: arrivals[next].seq, payload: arrivals[next].packet)
                next += 1
            }
            clock.set(t)
            if buffer.pull(into: &pcm) != .waiting { output += pcm }
            t += AudioFormat.frameDurationMicros
            if t > Int64(frameCount + 200) * AudioFormat.frameDurationMicros { break }
        }
        let aligned = Array(output.dropFirst(lookahead).prefix(input.count))
        return Result(pcm: aligned + [Float](repeating: 0, count: input.count - aligned.count),
                      statistics: buffer.statistics, packetsSent: frameCount, packetsDropped: dropped)
    }
}

/// A clock the simulation sets explicitly.
public final class SimulatedAudioClock: AudioClock {
    private let micros = Atomic<Int64>(0)
    public init() {}
    public func nowMicros() -> Int64 { micros.load(ordering: .relaxed) }
    public func set(_ value: Int64) { micros.store(value, ordering: .relaxed) }
}


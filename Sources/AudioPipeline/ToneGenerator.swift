#if canImport(Glibc)
import Glibc
#endif

/// Sine generator for self-tests and diagnostics; phase continues across frames.
public struct ToneGenerator: Sendable {
    public var frequency: Double
    public var amplitude: Float
    public let sampleRate: Double
    private var phase: Double = 0

    public init(frequency: Double, amplitude: Float, sampleRate: Int = AudioFormat.sampleRate) {
        self.frequency = frequency
        self.amplitude = amplitude
        self.sampleRate = Double(sampleRate)
    }

    /// Fills `buffer` with the next samples. Does not allocate.
    public mutating func fill(_ buffer: UnsafeMutableBufferPointer<Float>) {
        let step = 2 * Double.pi * frequency / sampleRate
        for i in buffer.indices {
            buffer[i] = amplitude * Float(sin(phase))
            phase += step
            if phase > 2 * Double.pi { phase -= 2 * Double.pi }
        }
    }

    public mutating func next(count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { fill($0) }
        return out
    }

    public mutating func nextFrame() -> [Float] { next(count: AudioFormat.samplesPerFrame) }
}

/// Measurements used by the self-test, the tests and the benchmark.
public enum SignalAnalysis {
    public static func rms(_ x: some Collection<Float>) -> Float {
        guard !x.isEmpty else { return 0 }
        var sum: Double = 0
        for v in x { sum += Double(v) * Double(v) }
        return Float((sum / Double(x.count)).squareRoot())
    }

    /// Power of `frequency` in `x` by the Goertzel algorithm, as the amplitude of a sine.
    public static func toneAmplitude(_ x: [Float], frequency: Double, sampleRate: Int = AudioFormat.sampleRate) -> Float {
        guard !x.isEmpty else { return 0 }
        let w = 2 * Double.pi * frequency / Double(sampleRate)
        let coeff = 2 * cos(w)
        var s1 = 0.0, s2 = 0.0
        for v in x {
            let s0 = Double(v) + coeff * s1 - s2
            s2 = s1; s1 = s0
        }
        let power = s1 * s1 + s2 * s2 - coeff * s1 * s2
        return Float(2 * power.squareRoot() / Double(x.count))
    }

    /// Dominant frequency estimated from zero crossings with linear interpolation.
    public static func zeroCrossingFrequency(_ x: [Float], sampleRate: Int = AudioFormat.sampleRate) -> Double {
        var first: Double? = nil, last = 0.0, crossings = 0
        for i in 1..<max(x.count, 1) where x[i - 1] < 0 && x[i] >= 0 {
            let t = Double(i - 1) + Double(-x[i - 1] / (x[i] - x[i - 1]))
            if first == nil { first = t } else { crossings += 1 }
            last = t
        }
        guard let first, crossings > 0 else { return 0 }
        return Double(crossings) * Double(sampleRate) / (last - first)
    }

    /// SNR in dB of `test` against `reference` (same length, already aligned).
    public static func snr(reference: [Float], test: [Float]) -> Double {
        let n = min(reference.count, test.count)
        var signal = 0.0, noise = 0.0
        for i in 0..<n {
            signal += Double(reference[i]) * Double(reference[i])
            let d = Double(reference[i]) - Double(test[i])
            noise += d * d
        }
        guard noise > 0 else { return 200 }
        return 10 * log10(signal / noise)
    }

    /// Lag (in samples, 0…maxLag) at which `test` best matches `reference`, and the normalised
    /// correlation there.
    public static func bestLag(reference: [Float], test: [Float], maxLag: Int) -> (lag: Int, correlation: Double) {
        var best = (lag: 0, correlation: -2.0)
        for lag in 0...maxLag {
            let n = min(reference.count, test.count - lag)
            guard n > 0 else { break }
            var xy = 0.0, xx = 0.0, yy = 0.0
            for i in 0..<n {
                let a = Double(reference[i]), b = Double(test[i + lag])
                xy += a * b; xx += a * a; yy += b * b
            }
            let c = (xx > 0 && yy > 0) ? xy / (xx * yy).squareRoot() : 0
            if c > best.correlation { best = (lag, c) }
        }
        return best
    }
}

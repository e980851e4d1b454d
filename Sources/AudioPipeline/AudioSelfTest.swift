#if canImport(Glibc)
import Glibc
#endif

/// Loopback self-test: play a tone, record it back (through a cable, an acoustic path, or
/// snd-aloop), and check frequency, level and round-trip latency.
public enum AudioSelfTest {
    public struct Report: Sendable, CustomStringConvertible {
        public var toneDetected: Bool
        public var frequencyHz: Double
        public var levelDBFS: Double
        /// From writing the first tone sample to its arrival in the capture ring.
        public var latencyMillis: Double?
        public var capturedSamples: Int

        public var description: String {
            let latency = latencyMillis.map { String(Int($0.rounded())) + " ms" } ?? "n/a"
            return "tone \(toneDetected ? "detected" : "NOT detected"): \(Int(frequencyHz.rounded())) Hz, "
                + "\(Int(levelDBFS.rounded())) dBFS, round trip \(latency)"
        }
    }

    /// Uses running capture and playback streams' rings. Blocks for about `durationMillis` + 400 ms.
    public static func loopback(playbackRing: SPSCRing<Float>, captureRing: SPSCRing<Float>,
                                frequency: Double = 1_000, amplitude: Float = 0.5, durationMillis: Int = 500,
                                minimumLevelDBFS: Double = -40) -> Report {
        let rate = AudioFormat.sampleRate
        captureRing.skip(captureRing.availableToRead)
        var tone = ToneGenerator(frequency: frequency, amplitude: amplitude)
        let toneSamples = rate * durationMillis / 1000
        let recordSamples = toneSamples + rate * 400 / 1000
        var written = 0
        var recording: [Float] = []
        recording.reserveCapacity(recordSamples)
        var chunk = [Float](repeating: 0, count: 480)
        var idleRounds = 0
        while recording.count < recordSamples && idleRounds < 400 {
            if written < toneSamples {
                let n = min(playbackRing.availableToWrite, toneSamples - written, 4_800)
                if n > 0 {
                    playbackRing.write(tone.next(count: n))
                    written += n
                }
            }
            let got = chunk.withUnsafeMutableBufferPointer { captureRing.read(into: $0) }
            if got > 0 {
                recording += chunk[0..<got]
                idleRounds = 0
            } else {
                idleRounds += 1
                usleep(5_000)
            }
        }
        return analyse(recording, frequency: frequency, toneSamples: toneSamples, minimumLevelDBFS: minimumLevelDBFS)
    }

    /// Finds the tone burst in `recording` (captured from the moment playback started).
    public static func analyse(_ recording: [Float], frequency: Double, toneSamples: Int,
                               minimumLevelDBFS: Double = -40) -> Report {
        let window = 240
        var onset: Int?
        var i = 0
        let threshold = Float(pow(10, minimumLevelDBFS / 20))
        while i + window <= recording.count {
            if SignalAnalysis.rms(recording[i..<(i + window)]) > threshold {
                onset = i
                break
            }
            i += window / 4
        }
        guard let start = onset else {
            return Report(toneDetected: false, frequencyHz: 0, levelDBFS: -120, latencyMillis: nil, capturedSamples: recording.count)
        }
        // Skip the fade-in and tail; measure the steady middle of the burst.
        let from = min(recording.count, start + window)
        let to = min(recording.count, start + toneSamples - window)
        let body = from < to ? Array(recording[from..<to]) : []
        let measured = SignalAnalysis.zeroCrossingFrequency(body)
        let level = 20 * log10(Double(max(SignalAnalysis.rms(body), 1e-6)) * 2.0.squareRoot())
        let detected = abs(measured - frequency) < frequency * 0.02 && level > minimumLevelDBFS
        return Report(toneDetected: detected, frequencyHz: measured, levelDBFS: level,
                      latencyMillis: Double(start) * 1000 / Double(AudioFormat.sampleRate), capturedSamples: recording.count)
    }
}

import Testing
import Foundation
@testable import AudioPipeline

/// Deterministic speech-like signal: low-passed noise with a syllable-rate envelope and pauses.
struct SpeechLikeSignal {
    private var state: UInt64
    private var lowpass: Float = 0
    private var n = 0
    let syllableHz: Double
    let level: Float

    init(seed: UInt64, syllableHz: Double = 4, level: Float = 0.3) {
        state = seed
        self.syllableHz = syllableHz
        self.level = level
    }

    mutating func next(count: Int) -> [Float] {
        (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let white = Float(Int64(bitPattern: state >> 1) % 2_000_000) / 1_000_000 - 1
            lowpass = 0.85 * lowpass + 0.15 * white
            let t = Double(n) / 48_000
            n += 1
            let envelope = Float(max(0, sin(2 * Double.pi * syllableHz * t)))
            return level * 3 * lowpass * envelope
        }
    }
}

@Suite("EchoCanceller")
struct EchoCancellerTests {
    /// Far-end speech played through a "room" (30 ms delay, 0.5 gain, a short reflection) is
    /// picked up with near-end speech; after convergence the residual echo must be > 10 dB down.
    @Test(arguments: [false, true])
    func reducesASyntheticEchoByMoreThan10dB(preprocess: Bool) {
        var options = EchoCanceller.Options()
        options.preprocess = preprocess
        let aec = EchoCanceller(options: options)
        var farGen = SpeechLikeSignal(seed: 1, syllableHz: 3.1)
        var nearGen = SpeechLikeSignal(seed: 2, syllableHz: 0.37, level: 0.15)
        let frames = 500   // 10 s
        let far = farGen.next(count: frames * 960)
        let nearSpeech = nearGen.next(count: frames * 960)
        let delay = 1_440, reflection = 2_100
        var echo = [Float](repeating: 0, count: far.count)
        for i in 0..<far.count {
            echo[i] = (i >= delay ? 0.5 * far[i - delay] : 0) + (i >= reflection ? 0.2 * far[i - reflection] : 0)
        }
        var residualEnergy = 0.0, echoEnergy = 0.0
        var nearOnlyEnergy = 0.0, nearOutEnergy = 0.0
        for f in 0..<frames {
            let range = (f * 960)..<((f + 1) * 960)
            let mic = range.map { echo[$0] + nearSpeech[$0] }
            let out = aec.process(nearEnd: mic, farEnd: Array(far[range]))
            guard f >= 250 else { continue }   // measure after 5 s of convergence
            for (k, i) in range.enumerated() {
                let residual = Double(out[k] - nearSpeech[i])
                // Echo-only samples: the near-end talker is silent there.
                if abs(nearSpeech[i]) < 1e-4 {
                    residualEnergy += residual * residual
                    echoEnergy += Double(echo[i]) * Double(echo[i])
                } else {
                    nearOnlyEnergy += Double(nearSpeech[i]) * Double(nearSpeech[i])
                    nearOutEnergy += Double(out[k]) * Double(out[k])
                }
            }
        }
        let erle = 10 * log10(echoEnergy / max(residualEnergy, 1e-12))
        #expect(erle > 10, "ERLE \(erle) dB")
        // The near-end talker is not cancelled along with the echo.
        let nearLoss = 10 * log10(nearOnlyEnergy / max(nearOutEnergy, 1e-12))
        #expect(nearLoss < 6, "near-end attenuated by \(nearLoss) dB")
    }

    @Test func passesNearEndThroughWithoutFarEnd() {
        var options = EchoCanceller.Options()
        options.preprocess = false
        let aec = EchoCanceller(options: options)
        var tone = ToneGenerator(frequency: 700, amplitude: 0.3)
        var out: [Float] = []
        for _ in 0..<20 { out = aec.process(nearEnd: tone.nextFrame(), farEnd: [Float](repeating: 0, count: 960)) }
        #expect(abs(SignalAnalysis.toneAmplitude(out, frequency: 700) - 0.3) < 0.02)
    }
}

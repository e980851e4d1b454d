import Testing
import Foundation
import TestSupport
@testable import AudioPipeline

/// PESQ-WB of our chain (encoder → random loss → jitter buffer with FEC/PLC → decoder) against
/// the opus-tools reference chain (`opusenc --bitrate 64 --framesize 20` → `opusdec --packet-loss N`).
/// The encoder's loss hint follows the loss rate (as the call layer sets it from measured loss)
/// and the signal hint is `voice`. One draw per rate; `proscenium-bench audio` averages many.
@Suite("Voice quality (PESQ)", .serialized,
       .enabled(if: AudioTools.isAvailable("espeak-ng") && AudioTools.isAvailable("opusenc")
                && FileManager.default.fileExists(atPath: PythonPeers.peersPython)))
struct VoiceQualityTests {
    @Test func pesqMatchesOrBeatsTheOpusToolsReference() throws {
        let dir = try AudioTools.temporaryDirectory("pesq")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let speech = try AudioTools.speechSample(seconds: 12, directory: dir)
        #expect(speech.count > 11 * 48_000)
        var fixedTarget = JitterBuffer.Configuration()
        fixedTarget.shrinkHoldMicros = .max / 4   // keep output time-aligned with the input
        var lines: [String] = []
        for loss in [0, 5, 10, 20] {
            let ours = try VoiceChainSimulator.run(input: speech, network: .init(lossPercent: Double(loss), seed: 42),
                                                   expectedLossPercent: loss, signal: .voice,
                                                   jitterConfiguration: fixedTarget)
            let reference = try AudioQuality.referenceChain(input: speech, lossPercent: loss, directory: dir)
            let ourScore = try AudioQuality.pesqWB(reference: speech, degraded: ours.pcm, directory: dir)
            let refScore = try AudioQuality.pesqWB(reference: speech, degraded: reference, directory: dir)
            lines.append("loss \(loss)%: ours \(ourScore) (fec \(ours.statistics.fecRecovered), plc \(ours.statistics.concealed)) reference \(refScore)")
            if loss == 0 {
                #expect(ours.statistics.lost == 0)
                #expect(ourScore >= refScore - 0.1, "clean: ours \(ourScore) vs reference \(refScore)")
                #expect(ourScore > 3.8)
            } else {
                #expect(ours.statistics.fecRecovered > 0)
                // One draw: a loose bound; the bench checks the averaged claim over many draws.
                #expect(ourScore >= refScore - 0.1, "loss \(loss)%: ours \(ourScore) vs reference \(refScore)")
            }
        }
        print(lines.joined(separator: "\n"))
    }
}

import Testing
import Foundation
import TestSupport
@testable import AudioPipeline

@Suite("OggOpus and opus-tools interop", .serialized)
struct OggOpusTests {
    func testSignal(seconds: Double) -> [Float] {
        var speech = SpeechLikeSignal(seed: 7, syllableHz: 3)
        var tone = ToneGenerator(frequency: 330, amplitude: 0.1)
        let n = Int(seconds * 48_000)
        return zip(speech.next(count: n), tone.next(count: n)).map { $0 + $1 }
    }

    @Test func writerAndReaderRoundTripAndCRCIsChecked() throws {
        let enc = try OpusEncoder()
        var writer = OggOpusWriter(preSkip: enc.lookaheadSamples, packetsPerPage: 7)
        var packets: [[UInt8]] = []
        let signal = testSignal(seconds: 1)
        for f in 0..<50 {
            let p = try enc.encode(Array(signal[(f * 960)..<((f + 1) * 960)]))
            packets.append(p)
            writer.append(packet: p)
        }
        // One more frame flushes the encoder lookahead, as opusenc does.
        let tail = try enc.encode([Float](repeating: 0, count: 960))
        packets.append(tail)
        writer.append(packet: tail)
        var bytes = writer.finish(totalSamples: 48_000)
        let reader = try OggOpusReader(bytes: bytes)
        #expect(reader.packets == packets)
        #expect(reader.preSkip == enc.lookaheadSamples)
        #expect(reader.finalGranule == Int64(enc.lookaheadSamples + 48_000))
        let decoded = try reader.decode()
        #expect(decoded.count == 48_000)
        bytes[bytes.count - 5] ^= 0x40
        #expect(throws: OggOpusError.self) { try OggOpusReader(bytes: bytes) }
        #expect(throws: OggOpusError.badCapturePattern(offset: 0)) { try OggOpusReader(bytes: [UInt8](repeating: 1, count: 40)) }
    }

    @Test(.enabled(if: AudioTools.isAvailable("opusdec")))
    func ourPacketsDecodeWithOpusdec() throws {
        let dir = try AudioTools.temporaryDirectory("ogg-interop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let enc = try OpusEncoder()
        var writer = OggOpusWriter(preSkip: enc.lookaheadSamples)
        let signal = testSignal(seconds: 3)
        for f in 0..<(signal.count / 960) {
            writer.append(packet: try enc.encode(Array(signal[(f * 960)..<((f + 1) * 960)])))
        }
        writer.append(packet: try enc.encode([Float](repeating: 0, count: 960)))
        let bytes = writer.finish(totalSamples: signal.count)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/ours.opus"))
        try AudioTools.run("opusdec", ["--quiet", "--rate", "48000", "--float", dir + "/ours.opus", dir + "/ours.f32"])
        let theirs = try AudioTools.readFloat32(dir + "/ours.f32")
        let mine = try OggOpusReader(bytes: bytes).decode()
        #expect(theirs.count == signal.count)
        #expect(SignalAnalysis.snr(reference: mine, test: theirs) > 40)
        // And the decoded audio is the input, delayed by nothing (pre-skip removed); a noise-like
        // signal keeps only part of its waveform through a perceptual codec.
        let match = SignalAnalysis.bestLag(reference: Array(signal[4_800..<96_000]), test: Array(theirs[4_800...]), maxLag: 20)
        #expect(match.lag <= 8 && match.correlation > 0.75, "lag \(match.lag) correlation \(match.correlation)")
    }

    @Test(.enabled(if: AudioTools.isAvailable("opusenc")))
    func opusencOutputDecodesWithOurReaderAndDecoder() throws {
        let dir = try AudioTools.temporaryDirectory("ogg-interop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let signal = testSignal(seconds: 3)
        try RawPCM.writeS16(RawPCM.int16(signal), to: dir + "/in.raw")
        try AudioTools.run("opusenc", ["--quiet", "--raw", "--raw-chan", "1", "--raw-rate", "48000", "--bitrate", "64",
                                       "--framesize", "20", dir + "/in.raw", dir + "/theirs.opus"])
        try AudioTools.run("opusdec", ["--quiet", "--rate", "48000", "--float", dir + "/theirs.opus", dir + "/theirs.f32"])
        let reference = try AudioTools.readFloat32(dir + "/theirs.f32")
        let reader = try OggOpusReader(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/theirs.opus"))))
        #expect(reader.packets.count >= 150)
        let mine = try reader.decode()
        #expect(mine.count == reference.count)
        #expect(SignalAnalysis.snr(reference: reference, test: mine) > 40)
    }
}

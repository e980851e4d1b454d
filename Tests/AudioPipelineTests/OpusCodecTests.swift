import Testing
@testable import AudioPipeline

@Suite("OpusCodec")
struct OpusCodecTests {
    @Test func encoderUsesSpecSettings() throws {
        let enc = try OpusEncoder()
        #expect(enc.bitrate == 64_000)
        #expect(enc.inbandFECEnabled)
        #expect(enc.expectedLossPercent == 10)
        try enc.setExpectedLossPercent(20)
        #expect(enc.expectedLossPercent == 20)
        #expect(enc.lookaheadSamples > 0 && enc.lookaheadSamples < 960)
    }

    @Test func roundTripPreservesATone() throws {
        let enc = try OpusEncoder()
        let dec = try OpusDecoder()
        var gen = ToneGenerator(frequency: 440, amplitude: 0.5)
        var input: [Float] = [], output: [Float] = []
        for _ in 0..<50 {
            let frame = gen.nextFrame()
            input += frame
            let packet = try enc.encode(frame)
            #expect(packet.count > 10 && packet.count < 400)
            let pcm = try dec.decode(packet)
            #expect(pcm.count == 960)
            output += pcm
        }
        // The codec delay is the encoder lookahead; a waveform codec at 64 kbit/s keeps a tone's shape.
        let best = SignalAnalysis.bestLag(reference: Array(input[4800..<40_000]), test: Array(output[4800...]), maxLag: 960)
        #expect(abs(best.lag - enc.lookaheadSamples) <= 12, "lag \(best.lag)")
        #expect(best.correlation > 0.95, "correlation \(best.correlation)")
        let tone = SignalAnalysis.toneAmplitude(Array(output[4800...]), frequency: 440)
        #expect(abs(tone - 0.5) < 0.05, "amplitude \(tone)")
    }

    @Test func plcAndFECProduceFullFrames() throws {
        let enc = try OpusEncoder()
        let dec = try OpusDecoder()
        var gen = ToneGenerator(frequency: 300, amplitude: 0.4)
        var packets: [[UInt8]] = []
        for _ in 0..<20 { packets.append(try enc.encode(gen.nextFrame())) }
        for i in 0..<10 { _ = try dec.decode(packets[i]) }
        let concealed = try dec.decode(nil)
        #expect(concealed.count == 960)
        #expect(SignalAnalysis.rms(concealed) > 0.01)   // PLC continues the tone, not silence
        let recovered = try dec.decode(packets[12], fec: true)
        #expect(recovered.count == 960)
        #expect(SignalAnalysis.rms(recovered) > 0.05)
        let next = try dec.decode(packets[12])
        #expect(next.count == 960)
    }

    @Test func badFrameSizeIsATypedError() throws {
        let enc = try OpusEncoder()
        #expect(throws: OpusError.self) { try enc.encode([Float](repeating: 0, count: 100)) }
        let dec = try OpusDecoder()
        #expect(throws: OpusError.self) { try dec.decode([0xFF, 0xFF, 0xFF]) }
    }
}

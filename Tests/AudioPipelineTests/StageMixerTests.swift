import Core
import Testing
@testable import AudioPipeline

/// Synthetic speakers for the Stage tests: each a tone, Opus-encoded into §9.2 frames.
struct StageToneSpeaker {
    var tone: ToneGenerator
    let encoder: OpusEncoder
    var sequencer = AudioFrameSequencer()

    init(frequency: Double, amplitude: Float = 0.5) throws {
        tone = ToneGenerator(frequency: frequency, amplitude: amplitude)
        encoder = try OpusEncoder()
    }

    mutating func nextFrame() throws -> [UInt8] {
        try sequencer.frame(payload: try encoder.encode(tone.nextFrame())).encode()
    }
}

enum StageAudioCheck {
    static let frequencies: [Double] = [440, 1_000, 2_500]
    /// A frequency no speaker sends: its level shows the mix is not just noise.
    static let absent = 1_700.0

    /// Levels of the speaker tones and of the absent frequency in `pcm`.
    static func levels(_ pcm: [Float]) -> (present: [Float], absent: Float) {
        (frequencies.map { SignalAnalysis.toneAmplitude(pcm, frequency: $0) }, SignalAnalysis.toneAmplitude(pcm, frequency: absent))
    }
}

@Suite("Stage mixer")
struct StageMixerTests {
    @Test func wireFramesAgreeWithAudioFrame() throws {
        for (seq, tag) in [(UInt32(0), AudioFrameTag.normal), (.max, .checkpoint), (123_456, .normal)] {
            let payload = [UInt8](repeating: 7, count: Int(seq % 300))
            let ours = StageWireFrame.encode(sequence: seq, timestamp: seq &* 960, tag: tag.rawValue, payload: payload)
            let theirs = try AudioFrame(sequence: seq, timestamp: seq &* 960, tag: tag, payload: payload).encode()
            #expect(ours == theirs)
            #expect(StageWireFrame.sequence(of: ours) == seq && StageWireFrame.tag(of: ours) == tag.rawValue)
        }
    }

    @Test func threeSpeakersMixIntoOneAuthenticatedStreamWithAllThreeTones() throws {
        let hostKey = Ed25519.SecretKey.generate()
        let mixer = try StageMixer(hostSigningKey: hostKey)
        var speakers = try StageAudioCheck.frequencies.map { try StageToneSpeaker(frequency: $0) }
        let ids = (0..<3).map { _ in Ed25519.SecretKey.generate().publicKey }
        for id in ids { mixer.speakerJoined(id) }
        var verifier = StageStreamVerifier(hostSigningKey: hostKey.publicKey)
        let decoder = try OpusDecoder()
        var pcm: [Float] = []
        var verified = 0, checkpoints = 0, maxPeakIn: Float = 0
        for index in 0..<150 {
            for (i, id) in ids.enumerated() { mixer.speakerFrame(id, frame: try speakers[i].nextFrame()) }
            let output = try mixer.tick()
            maxPeakIn = max(maxPeakIn, output.peakBeforeLimiter)
            let (frame, _) = try AudioFrame.decode(output.mixed)
            #expect(frame.sequence == UInt32(index))
            if frame.tag == .checkpoint { checkpoints += 1 }
            guard case let .play(opus, isVerified) = verifier.accept(AuthenticatedStageFrame(isCheckpoint: frame.tag == .checkpoint, payload: frame.payload)) else {
                Issue.record("frame \(index) rejected"); return
            }
            if isVerified { verified += 1 }
            pcm += try decoder.decode(opus)
        }
        #expect(checkpoints == 3)                 // frames 50, 100, 150
        #expect(verified == 101)                  // from the first checkpoint on
        #expect(mixer.decodeErrors == 0)
        // Three 0.5 tones sum to peaks near 1.5: the limiter must have worked, and nothing clips.
        #expect(maxPeakIn > 1.2)
        #expect(pcm.map(abs).max() ?? 2 < 1.05) // Opus may overshoot the encoded signal slightly
        let tail = Array(pcm.suffix(50 * 960))
        let (present, absent) = StageAudioCheck.levels(tail)
        for (frequency, level) in zip(StageAudioCheck.frequencies, present) {
            #expect(level > 0.15, "\(frequency) Hz at \(level)")
        }
        #expect(absent < 0.03, "absent tone at \(absent)")
    }

    @Test func sourceBufferIsCappedAtFiveFramesAndSpeakersLeave() throws {
        let mixer = try StageMixer(hostSigningKey: Ed25519.SecretKey.generate())
        var speaker = try StageToneSpeaker(frequency: 440)
        let id = Ed25519.SecretKey.generate().publicKey
        for _ in 0..<20 { mixer.speakerFrame(id, frame: try speaker.nextFrame()) }
        // 20 frames pushed, only 5 kept: five ticks carry the tone, the sixth is silence.
        let decoder = try OpusDecoder()
        var levels: [Float] = []
        for _ in 0..<8 {
            let (frame, _) = try AudioFrame.decode(try mixer.tick().mixed)
            levels.append(SignalAnalysis.rms(try decoder.decode(frame.payload)))
        }
        #expect(levels[2] > 0.1)
        #expect(levels[7] < 0.02)
        mixer.speakerLeft(id)
        #expect(mixer.sourceCount == 0)
        mixer.speakerFrame(id, frame: [0, 1, 2])
        #expect(mixer.decodeErrors == 1)
    }
}

import Testing
import Foundation
import Core
import TestSupport
@testable import AudioPipeline

@Suite("VoiceSession and self-test", .serialized)
struct VoiceSessionTests {
    /// Two sessions joined by an in-memory "network": A's microphone tone reaches B's speaker.
    @Test func toneTravelsFromCaptureToPeerPlayback() throws {
        let clock = SimulatedAudioClock()
        var options = VoiceSession.Options()
        options.echoCancellation = false
        let aCapture = SPSCRing<Float>(minimumCapacity: 16_384, zero: 0), aPlayback = SPSCRing<Float>(minimumCapacity: 16_384, zero: 0)
        let bCapture = SPSCRing<Float>(minimumCapacity: 16_384, zero: 0), bPlayback = SPSCRing<Float>(minimumCapacity: 16_384, zero: 0)
        let a = try VoiceSession(captureRing: aCapture, playbackRing: aPlayback, clock: clock, options: options)
        let b = try VoiceSession(captureRing: bCapture, playbackRing: bPlayback, clock: clock, options: options)
        var tone = ToneGenerator(frequency: 600, amplitude: 0.4)
        var heard: [Float] = []
        var wireBytes = 0
        var reader = AudioFrameStreamReader()
        for tick in 0..<150 {   // 3 s of 20 ms ticks
            clock.set(Int64(tick) * 20_000)
            aCapture.write(tone.nextFrame())
            for frame in try a.drainCapture() {
                let bytes = try frame.encode()
                wireBytes += bytes.count
                for received in try reader.feed(bytes) { b.receive(received) }
            }
            b.feedPlayback()
            var out = [Float](repeating: 0, count: 960)
            let n = out.withUnsafeMutableBufferPointer { bPlayback.read(into: $0) }   // the "device" consumes 20 ms
            heard += out[0..<n]
        }
        #expect(a.framesSent == 150)
        #expect(b.receiveStatistics.received == 150 && b.receiveStatistics.lost == 0)
        let steady = Array(heard.suffix(48_000))
        #expect(abs(SignalAnalysis.zeroCrossingFrequency(steady) - 600) < 2)
        #expect(abs(SignalAnalysis.toneAmplitude(steady, frequency: 600) - 0.4) < 0.05)
        // 64 kbit/s ≈ 160 bytes per 20 ms frame plus the 11-byte header.
        #expect(wireBytes / 150 > 100 && wireBytes / 150 < 260)
    }

    @Test func muteKeepsFramesFlowingWithSilence() throws {
        let clock = SimulatedAudioClock()
        let capture = SPSCRing<Float>(minimumCapacity: 16_384, zero: 0), playback = SPSCRing<Float>(minimumCapacity: 16_384, zero: 0)
        let session = try VoiceSession(captureRing: capture, playbackRing: playback, clock: clock)
        session.muted = true
        var tone = ToneGenerator(frequency: 600, amplitude: 0.4)
        for _ in 0..<10 { capture.write(tone.nextFrame()) }
        let frames = try session.drainCapture()
        #expect(frames.count == 10)
        #expect(frames.map(\.sequence) == Array(0..<10))
        #expect(frames.map(\.timestamp) == (0..<10).map { UInt32($0 * 960) })
        let decoder = try OpusDecoder()
        let decoded = try frames.flatMap { try decoder.decode($0.payload) }
        #expect(SignalAnalysis.rms(decoded) < 0.001)
    }

    @Test func captureBacklogIsCappedAtTenFrames() throws {
        let clock = SimulatedAudioClock()
        let capture = SPSCRing<Float>(minimumCapacity: 32_768, zero: 0), playback = SPSCRing<Float>(minimumCapacity: 4_096, zero: 0)
        let session = try VoiceSession(captureRing: capture, playbackRing: playback, clock: clock)
        capture.write([Float](repeating: 0.1, count: 960 * 15))
        let frames = try session.drainCapture()
        #expect(frames.count == 10)
        #expect(session.captureSamplesDropped == 960 * 5)
    }

    /// The speaker's output leaks back into the microphone (40 ms later, −6 dB); with AEC the
    /// frames sent back to the far end carry much less of it.
    @Test func echoOfThePeerIsRemovedFromTheSentAudio() throws {
        func sentEnergy(aec: Bool) throws -> Double {
            let clock = SimulatedAudioClock()
            var options = VoiceSession.Options()
            options.echoCancellation = aec
            options.echo.preprocess = false
            let capture = SPSCRing<Float>(minimumCapacity: 16_384, zero: 0), playback = SPSCRing<Float>(minimumCapacity: 16_384, zero: 0)
            let session = try VoiceSession(captureRing: capture, playbackRing: playback, clock: clock, options: options)
            let farEncoder = try OpusEncoder()
            var farSpeech = SpeechLikeSignal(seed: 9, syllableHz: 3)
            var sequencer = AudioFrameSequencer()
            var air = [Float](repeating: 0, count: 1_920)
            let decoder = try OpusDecoder()
            var energy = 0.0
            for tick in 0..<400 {
                clock.set(Int64(tick) * 20_000 + 30_000)
                session.receive(sequencer.frame(payload: try farEncoder.encode(farSpeech.next(count: 960))))
                clock.set(Int64(tick) * 20_000 + 37_000)
                session.feedPlayback()
                var out = [Float](repeating: 0, count: 960)
                let n = out.withUnsafeMutableBufferPointer { playback.read(into: $0) }
                air += out[0..<n].map { $0 * 0.5 }
                capture.write(Array(air.prefix(960)))
                air.removeFirst(min(960, air.count))
                for frame in try session.drainCapture() where tick >= 250 {
                    energy += try decoder.decode(frame.payload).reduce(0.0) { $0 + Double($1 * $1) }
                }
            }
            return energy
        }
        let without = try sentEnergy(aec: false)
        let with = try sentEnergy(aec: true)
        let reduction = 10 * log10(without / max(with, 1e-12))
        #expect(without > 1)
        #expect(reduction > 10, "echo reduced by \(reduction) dB")
    }

    @Test func loopbackSelfTestMeasuresToneAndLatency() throws {
        let loopback = FakeLoopback(latencySamples: 2_400, gain: 0.5)
        let devices = loopback.makeDevices()
        let logger = Logger(label: "selftest", sink: MemoryLogSink())
        let playRing = SPSCRing<Float>(minimumCapacity: 8_192, zero: 0)
        let captureRing = SPSCRing<Float>(minimumCapacity: 65_536, zero: 0)
        let playback = AudioStream(direction: .playback, ring: playRing, logger: logger) { devices.playback }
        let capture = AudioStream(direction: .capture, ring: captureRing, logger: logger) { devices.capture }
        try capture.start()
        try playback.start()
        defer { playback.stop(); capture.stop() }
        let report = AudioSelfTest.loopback(playbackRing: playRing, captureRing: captureRing)
        #expect(report.toneDetected, "\(report)")
        #expect(abs(report.frequencyHz - 1_000) < 2)
        #expect(abs(report.levelDBFS - (-12)) < 1, "\(report)")   // 0.5 amplitude × 0.5 gain
        // At least the playback ring's and the capture period's worth; the fake's "air" drains
        // while nothing plays, so its initial 50 ms do not all survive.
        #expect((report.latencyMillis ?? 0) >= 10, "\(report)")
        #expect((report.latencyMillis ?? 1_000) < 250, "\(report)")
    }

    @Test func selfTestReportsSilence() {
        let report = AudioSelfTest.analyse([Float](repeating: 0, count: 48_000), frequency: 1_000, toneSamples: 24_000)
        #expect(!report.toneDetected && report.latencyMillis == nil)
    }
}

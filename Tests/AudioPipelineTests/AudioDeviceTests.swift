import Testing
import Foundation
import Core
import TestSupport
@testable import AudioPipeline
import CALSA

private func waitUntil(timeoutSeconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}

@Suite("ALSA and AudioStream", .serialized)
struct AudioDeviceTests {
    let logSink = MemoryLogSink()
    var logger: Logger { Logger(label: "audio-test", sink: logSink) }

    func pacedOptions() -> ALSADevice.Options {
        var o = ALSADevice.Options()
        o.paceInSoftware = true
        return o
    }

    @Test func playsAToneThroughTheFilePlugin() throws {
        let alsa = try ALSATestConfiguration()
        defer { alsa.remove() }
        let config = try alsa.configuration()
        let ring = SPSCRing<Float>(minimumCapacity: 48_000, zero: 0)
        var tone = ToneGenerator(frequency: 1_000, amplitude: 0.5)
        #expect(ring.write(tone.next(count: 24_000)) == 24_000)
        let options = pacedOptions()
        let stream = AudioStream(direction: .playback, ring: ring, logger: logger) {
            try ALSADevice(name: "test_out", direction: .playback, options: options, configuration: config)
        }
        try stream.start()
        #expect(waitUntil { ring.availableToRead == 0 && stream.periodCount > 60 })
        stream.stop()
        #expect(stream.state == .stopped)
        let written = RawPCM.floats(try RawPCM.readS16(alsa.outputPath))
        guard let start = written.firstIndex(where: { abs($0) > 0.01 }) else {
            Issue.record("no tone in the output file")
            return
        }
        let toneSamples = Array(written[start..<min(start + 24_000, written.count)])
        #expect(toneSamples.count == 24_000)
        #expect(abs(SignalAnalysis.zeroCrossingFrequency(toneSamples) - 1_000) < 1)
        #expect(abs(SignalAnalysis.toneAmplitude(toneSamples, frequency: 1_000) - 0.5) < 0.01)
        // No gap inside the tone: no run of 10+ near-zero samples.
        var run = 0, longest = 0
        for x in toneSamples { run = abs(x) < 0.001 ? run + 1 : 0; longest = max(longest, run) }
        #expect(longest < 10)
        // What follows is silence from the underrun padding.
        #expect(written[(start + 24_000)...].allSatisfy { $0 == 0 })
    }

    @Test func plugConvertsMonoToStereo() throws {
        let alsa = try ALSATestConfiguration()
        defer { alsa.remove() }
        let device = try ALSADevice(name: "test_out_stereo", direction: .playback, options: pacedOptions(),
                                    configuration: try alsa.configuration())
        #expect(device.channels == 1)   // plug offers mono and converts
        #expect(device.periodFrames == 480 && device.bufferFrames == 1_440)
        var tone = ToneGenerator(frequency: 1_000, amplitude: 0.25)
        for _ in 0..<20 {
            var period = tone.next(count: 480)
            #expect(period.withUnsafeMutableBufferPointer { device.transfer($0) } == .ok)
        }
        device.close()
        let stereo = try RawPCM.readS16(alsa.stereoOutputPath)
        #expect(stereo.count >= 2 * 480 * 20)
        let left = stride(from: 0, to: 9_600 * 2, by: 2).map { stereo[$0] }
        let right = stride(from: 1, to: 9_600 * 2, by: 2).map { stereo[$0] }
        #expect(left == right)
        #expect(abs(SignalAnalysis.toneAmplitude(RawPCM.floats(left), frequency: 1_000) - 0.25) < 0.01)
    }

    @Test func capturesFromTheFilePluginInfile() throws {
        let alsa = try ALSATestConfiguration()
        defer { alsa.remove() }
        var tone = ToneGenerator(frequency: 440, amplitude: 0.3)
        let source = RawPCM.int16(tone.next(count: 9_600))
        try RawPCM.writeS16(source, to: alsa.inputPath)
        let config = try alsa.configuration()
        let ring = SPSCRing<Float>(minimumCapacity: 16_384, zero: 0)
        let options = pacedOptions()
        let stream = AudioStream(direction: .capture, ring: ring, logger: logger) {
            try ALSADevice(name: "test_in", direction: .capture, options: options, configuration: config)
        }
        try stream.start()
        #expect(waitUntil { ring.availableToRead >= 9_600 })
        stream.stop()
        var captured = [Float](repeating: 0, count: 9_600)
        #expect(captured.withUnsafeMutableBufferPointer { ring.read(into: $0) } == 9_600)
        #expect(captured == RawPCM.floats(source))
    }

    @Test func unknownDeviceNameIsATypedError() throws {
        let alsa = try ALSATestConfiguration()
        defer { alsa.remove() }
        let config = try alsa.configuration()
        #expect(throws: AudioDeviceError.self) {
            try ALSADevice(name: "no_such_pcm", direction: .playback, configuration: config)
        }
        #expect(throws: AudioDeviceError.self) { try ALSAConfiguration(text: "pcm.broken { type") }
        let null = try ALSADevice(name: "test_null", direction: .playback, configuration: config)
        #expect(null.periodFrames == 480)
        var tooLong = ALSADevice.Options()
        tooLong.periodFrames = 960
        #expect(throws: AudioDeviceError.self) {
            try ALSADevice(name: "test_null", direction: .playback, options: tooLong, configuration: config)
        }
        var fivePeriods = ALSADevice.Options()
        fivePeriods.periods = 5
        #expect(throws: AudioDeviceError.self) {
            try ALSADevice(name: "test_null", direction: .playback, options: fivePeriods, configuration: config)
        }
        var short = ALSADevice.Options()
        short.periodFrames = 240
        short.periods = 2
        let fiveMillis = try ALSADevice(name: "test_null", direction: .capture, options: short, configuration: config)
        #expect(fiveMillis.periodFrames == 240 && fiveMillis.bufferFrames == 480)
    }

    @Test func xrunIsCountedAndDeviceLossIsReopened() throws {
        let ring = SPSCRing<Float>(minimumCapacity: 48_000, zero: 0)
        var tone = ToneGenerator(frequency: 500, amplitude: 0.5)
        ring.write(tone.next(count: 48_000))
        let opened = OpenCounter()
        let first = FakeAudioDevice(direction: .playback, script: [3: .recoveredFromXrun, 10: .lost(code: -ENODEV)])
        let second = FakeAudioDevice(direction: .playback)
        var options = AudioStream.Options()
        options.reopenDelayMillis = 10
        let stream = AudioStream(direction: .playback, ring: ring, logger: logger, options: options) {
            // First open succeeds, the first reopen fails (device still gone), the next succeeds.
            switch opened.next() {
            case 0: return first
            case 1: throw AudioDeviceError.openFailed(device: "fake", reason: "No such device")
            default: return second
            }
        }
        try stream.start()
        #expect(waitUntil { second.transfers > 20 })
        stream.stop()
        #expect(stream.xrunCount == 1)
        #expect(stream.deviceLossCount == 1)
        #expect(stream.reopenCount == 1)
        #expect(first.isClosed && second.isClosed)
        // The audio continues on the new device where the old one stopped: no samples lost
        // except the period that failed.
        let played = first.recorded + second.recorded
        #expect(played.count >= 30 * 480)
        var reference = ToneGenerator(frequency: 500, amplitude: 0.5)
        let expected = reference.next(count: played.count)
        #expect(Array(played[0..<(10 * 480)]) == Array(expected[0..<(10 * 480)]))
        #expect(Array(played[(10 * 480)..<(20 * 480)]) == Array(expected[(11 * 480)..<(21 * 480)]))
        let messages = logSink.records.map(\.message)
        #expect(messages.contains { $0.contains("lost") })
        #expect(messages.contains { $0.contains("still unavailable") })
        #expect(messages.contains { $0.contains("xrun") })
    }

    @Test func captureOverrunIsCounted() throws {
        let ring = SPSCRing<Float>(minimumCapacity: 1_024, zero: 0)
        let device = FakeAudioDevice(direction: .capture, source: [Float](repeating: 0.1, count: 10_000))
        let stream = AudioStream(direction: .capture, ring: ring, logger: logger) { device }
        try stream.start()
        #expect(waitUntil { device.transfers > 10 })
        stream.stop()
        #expect(ring.availableToRead == 1_024)
        #expect(stream.shortfallSamples > 0)
    }
}

final class OpenCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func next() -> Int { lock.lock(); defer { count += 1; lock.unlock() }; return count }
}

@Suite("InterleavedSamples")
struct InterleavedSamplesTests {
    /// Cards that offer no mono: playback duplicates to every channel, capture averages them.
    @Test(arguments: [SND_PCM_FORMAT_S16_LE.rawValue, SND_PCM_FORMAT_S32_LE.rawValue, SND_PCM_FORMAT_FLOAT_LE.rawValue])
    func stereoRoundTripInEveryFormat(formatValue: Int32) {
        let format = snd_pcm_format_t(rawValue: formatValue)
        let mono: [Float] = [0, 0.5, -0.5, 0.25, -1, 0.999]
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: mono.count * 2 * 4, alignment: 16)
        defer { scratch.deallocate() }
        mono.withUnsafeBufferPointer { InterleavedSamples.pack($0, into: scratch, format: format, channels: 2) }
        var back = [Float](repeating: 9, count: mono.count)
        back.withUnsafeMutableBufferPointer { InterleavedSamples.unpack(UnsafeRawPointer(scratch), into: $0, format: format, channels: 2) }
        for (a, b) in zip(mono, back) { #expect(abs(a - b) < 1.0 / 16_000, "\(a) → \(b)") }
        // Capture of a card whose left and right differ: the average.
        if format == SND_PCM_FORMAT_S16_LE {
            let frames = scratch.assumingMemoryBound(to: Int16.self)
            frames[0] = 16_384; frames[1] = 0
            var one = [Float](repeating: 0, count: 1)
            one.withUnsafeMutableBufferPointer { InterleavedSamples.unpack(UnsafeRawPointer(scratch), into: $0, format: format, channels: 2) }
            #expect(one[0] == 0.25)
        }
    }
}

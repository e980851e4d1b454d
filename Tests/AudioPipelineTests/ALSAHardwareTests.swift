import Testing
import Foundation
import Core
@testable import AudioPipeline

/// Real ALSA driver tests: run only where the `snd-aloop` loopback card exists (the HIL guest:
/// `scripts/hil/run-vm -- .build/debug/proscenium-nodePackageTests.xctest --testing-library
/// swift-testing --filter ALSAHardware`). Device 0 playback comes back on device 1 capture.
@Suite("ALSAHardware (snd-aloop)", .serialized,
       .enabled(if: FileManager.default.fileExists(atPath: "/proc/asound/Loopback")))
struct ALSAHardwareTests {
    let logSink = MemoryLogSink()
    var logger: Logger { Logger(label: "hw-test", sink: logSink) }

    @Test(arguments: ["hw:Loopback,0,0", "plughw:Loopback,0,0"])
    func selfTestFindsTheToneThroughTheLoopbackCard(playbackName: String) throws {
        let playRing = SPSCRing<Float>(minimumCapacity: 8_192, zero: 0)
        let captureRing = SPSCRing<Float>(minimumCapacity: 65_536, zero: 0)
        let playback = AudioStream(direction: .playback, ring: playRing, logger: logger) {
            try ALSADevice(name: playbackName, direction: .playback)
        }
        let capture = AudioStream(direction: .capture, ring: captureRing, logger: logger) {
            try ALSADevice(name: "hw:Loopback,1,0", direction: .capture)
        }
        // Playback into the loopback is discarded until the capture side runs.
        try capture.start()
        try playback.start()
        defer { playback.stop(); capture.stop() }
        let report = AudioSelfTest.loopback(playbackRing: playRing, captureRing: captureRing)
        print("snd-aloop \(playbackName): \(report); xruns playback \(playback.xrunCount) capture \(capture.xrunCount)")
        #expect(report.toneDetected, "\(report)")
        #expect(abs(report.frequencyHz - 1_000) < 5, "\(report)")
        #expect(abs(report.levelDBFS - (-6)) < 1.5, "\(report)")
        #expect((report.latencyMillis ?? 1_000) < 300, "\(report)")
        #expect(playback.deviceLossCount == 0 && capture.deviceLossCount == 0)
    }

    /// Stop feeding a running playback for longer than its buffer: the next write meets -EPIPE,
    /// `snd_pcm_recover` re-prepares, and the period still goes out.
    @Test func playbackUnderrunIsRecovered() throws {
        let device = try ALSADevice(name: "hw:Loopback,0,0", direction: .playback)
        defer { device.close() }
        var tone = ToneGenerator(frequency: 440, amplitude: 0.3)
        var period = tone.next(count: device.periodFrames)
        for _ in 0..<4 { #expect(period.withUnsafeMutableBufferPointer { device.transfer($0) } == .ok) }
        usleep(150_000)   // buffer is 30 ms
        period = tone.next(count: device.periodFrames)
        #expect(period.withUnsafeMutableBufferPointer { device.transfer($0) } == .recoveredFromXrun)
        #expect(device.xrunCount == 1)
        for _ in 0..<4 { #expect(period.withUnsafeMutableBufferPointer { device.transfer($0) } == .ok) }
    }

    @Test func captureOverrunIsRecovered() throws {
        let device = try ALSADevice(name: "hw:Loopback,1,0", direction: .capture)
        defer { device.close() }
        var period = [Float](repeating: 0, count: device.periodFrames)
        for _ in 0..<3 { #expect(period.withUnsafeMutableBufferPointer { device.transfer($0) } == .ok) }
        usleep(150_000)
        let afterStall = period.withUnsafeMutableBufferPointer { device.transfer($0) }
        #expect(afterStall == .recoveredFromXrun)
        #expect(device.xrunCount >= 1)
        #expect(period.withUnsafeMutableBufferPointer { device.transfer($0) } == .ok)
    }
}

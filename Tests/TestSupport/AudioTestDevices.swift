import Foundation
import Synchronization
import AudioPipeline

/// An in-memory `AudioDevice`: playback records what it is given, capture plays back `source`
/// (then silence). `script` maps a period index to a result other than `.ok`, to exercise xrun
/// and device-loss handling. Each transfer sleeps `periodMicros` so threads are paced like a card.
public final class FakeAudioDevice: AudioDevice, @unchecked Sendable {
    public let name: String
    public let direction: AudioDirection
    public let periodFrames: Int
    public var bufferFrames: Int { periodFrames * 3 }
    private let periodMicros: UInt32
    private let script: [Int: AudioTransferResult]
    private let state: Mutex<(recorded: [Float], source: [Float], position: Int, transfers: Int, closed: Bool)>

    public init(name: String = "fake", direction: AudioDirection, periodFrames: Int = 480, periodMicros: UInt32 = 1_000,
                source: [Float] = [], script: [Int: AudioTransferResult] = [:]) {
        self.name = name
        self.direction = direction
        self.periodFrames = periodFrames
        self.periodMicros = periodMicros
        self.script = script
        state = Mutex((recorded: [], source: source, position: 0, transfers: 0, closed: false))
    }

    public var recorded: [Float] { state.withLock { $0.recorded } }
    public var transfers: Int { state.withLock { $0.transfers } }
    public var isClosed: Bool { state.withLock { $0.closed } }

    // Test double: locking and allocation here are fine, it stands in for the kernel.
    public func transfer(_ samples: UnsafeMutableBufferPointer<Float>) -> AudioTransferResult {
        if periodMicros > 0 { usleep(periodMicros) }
        return state.withLock { s in
            if s.closed { return .lost(code: -EBADFD) }
            let index = s.transfers
            s.transfers += 1
            let result = script[index] ?? .ok
            if case .lost = result { return result }
            if direction == .playback {
                s.recorded.append(contentsOf: samples)
            } else {
                for i in samples.indices {
                    samples[i] = s.position < s.source.count ? s.source[s.position] : 0
                    s.position += 1
                }
            }
            return result
        }
    }

    public func close() { state.withLock { $0.closed = true } }
}

/// A private ALSA configuration with `file` and `null` plugin PCMs writing/reading files in a
/// fresh temporary directory, so ALSA code runs without a sound card:
/// - `test_out`: mono playback into `outputPath` (raw S16_LE),
/// - `test_out_stereo`: `plug` converting to 2 channels into `stereoOutputPath`,
/// - `test_in`: capture reading raw S16_LE mono from `inputPath`,
/// - `test_null`: the `null` plugin.
public struct ALSATestConfiguration {
    public let directory: String
    public var outputPath: String { directory + "/out.raw" }
    public var stereoOutputPath: String { directory + "/out-stereo.raw" }
    public var inputPath: String { directory + "/in.raw" }

    public init() throws {
        directory = NSTemporaryDirectory() + "proscenium-alsa-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    public var text: String {
        """
        pcm.test_out { type file; slave.pcm { type null }; file "\(outputPath)"; format "raw" }
        pcm.test_stereo_file { type file; slave.pcm { type null }; file "\(stereoOutputPath)"; format "raw" }
        pcm.test_out_stereo { type plug; slave { pcm "test_stereo_file"; channels 2; rate 48000; format S16_LE } }
        pcm.test_in { type file; slave.pcm { type null }; file "/dev/null"; infile "\(inputPath)"; format "raw" }
        pcm.test_null { type null }
        """
    }

    public func configuration() throws -> ALSAConfiguration { try ALSAConfiguration(text: text) }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// Raw little-endian S16 PCM files.
public enum RawPCM {
    public static func readS16(_ path: String) throws -> [Int16] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 2)).map { Int16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self)) }
        }
    }

    public static func writeS16(_ samples: [Int16], to path: String) throws {
        var data = Data(capacity: samples.count * 2)
        for s in samples { withUnsafeBytes(of: s.littleEndian) { data.append(contentsOf: $0) } }
        try data.write(to: URL(fileURLWithPath: path))
    }

    public static func floats(_ samples: [Int16]) -> [Float] { samples.map { Float($0) / 32_768 } }

    public static func int16(_ samples: [Float]) -> [Int16] {
        samples.map { Int16(max(-32_768, min(32_767, ($0 * 32_767).rounded()))) }
    }
}

/// A playback and a capture `FakeAudioDevice`-like pair joined by "air": what is played comes
/// back on the capture side `latencySamples` later, scaled by `gain`. Both sides are paced by
/// sleeping one period, like a card with one clock.
public final class FakeLoopback: @unchecked Sendable {
    // NSLock rather than Mutex: ThreadSanitizer understands pthread mutexes, not raw futexes.
    private let lock = NSLock()
    private var air: [Float]
    public let gain: Float

    public init(latencySamples: Int, gain: Float = 1) {
        air = [Float](repeating: 0, count: latencySamples)
        self.gain = gain
    }

    fileprivate func withAir<R>(_ body: (inout [Float]) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&air)
    }

    public func makeDevices(periodFrames: Int = 480) -> (playback: Side, capture: Side) {
        (Side(loopback: self, direction: .playback, periodFrames: periodFrames),
         Side(loopback: self, direction: .capture, periodFrames: periodFrames))
    }

    public final class Side: AudioDevice, @unchecked Sendable {
        let loopback: FakeLoopback
        public let name = "fake-loopback"
        public let direction: AudioDirection
        public let periodFrames: Int
        public var bufferFrames: Int { periodFrames * 3 }
        private let closed = Atomic<Bool>(false)

        init(loopback: FakeLoopback, direction: AudioDirection, periodFrames: Int) {
            self.loopback = loopback
            self.direction = direction
            self.periodFrames = periodFrames
        }

        public func transfer(_ samples: UnsafeMutableBufferPointer<Float>) -> AudioTransferResult {
            if closed.load(ordering: .relaxed) { return .lost(code: -EBADFD) }
            usleep(UInt32(samples.count * 1_000_000 / 48_000))
            let gain = loopback.gain
            loopback.withAir { air in
                if direction == .playback {
                    air.append(contentsOf: samples.map { $0 * gain })
                } else {
                    let n = min(samples.count, air.count)
                    for i in 0..<n { samples[i] = air[i] }
                    for i in n..<samples.count { samples[i] = 0 }
                    air.removeFirst(n)
                }
            }
            return .ok
        }

        public func close() { closed.store(true, ordering: .relaxed) }
    }
}

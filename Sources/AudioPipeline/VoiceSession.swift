/// The media side of one voice stream (a call, or a Stage speaker/listener), between the
/// real-time audio threads' rings and the network:
///
///     capture ring → echo canceller → Opus encoder → §9.2 frames      (`drainCapture`)
///     §9.2 frames → jitter buffer (FEC/PLC) → playback ring          (`receive`, `feedPlayback`)
///
/// Runs on one media thread (or task); nothing here is real-time critical. The frame last sent
/// to the playback ring is the echo canceller's far-end reference for the next captured frame,
/// so the canceller sees the speaker signal a device round-trip ahead of its echo.
public final class VoiceSession {
    public struct Options: Sendable {
        public var echoCancellation = true
        public var echo = EchoCanceller.Options()
        public var jitter = JitterBuffer.Configuration()
        /// Encoder loss hint; the call layer updates it from measured loss (`setExpectedLossPercent`).
        public var expectedLossPercent = AudioFormat.opusExpectedLossPercent
        public var signal: OpusEncoder.Signal = .voice
        /// Samples kept queued in the playback ring (device buffer cushion), 2 × 10 ms periods.
        public var playbackLeadSamples = 960
        /// Captured audio older than this many frames is dropped (§9.3: the encoder buffer caps at 10).
        public var maxCaptureBacklogFrames = 10
        public init() {}
    }

    public let options: Options
    public var muted = false
    public private(set) var framesSent = 0
    public private(set) var captureSamplesDropped = 0

    private let captureRing: SPSCRing<Float>
    private let playbackRing: SPSCRing<Float>
    private let encoder: OpusEncoder
    private let jitter: JitterBuffer
    private let echo: EchoCanceller?
    private var sequencer = AudioFrameSequencer()
    private var captured = [Float](repeating: 0, count: AudioFormat.samplesPerFrame)
    private var cleaned = [Float](repeating: 0, count: AudioFormat.samplesPerFrame)
    private var rendered = [Float](repeating: 0, count: AudioFormat.samplesPerFrame)
    /// Frames sent to the speaker and not yet used as AEC reference, oldest first.
    private var farEnd: [[Float]] = []
    private var packet = [UInt8](repeating: 0, count: AudioFormat.maxOpusPacketBytes)

    public init(captureRing: SPSCRing<Float>, playbackRing: SPSCRing<Float>, clock: any AudioClock,
                options: Options = Options()) throws {
        self.captureRing = captureRing
        self.playbackRing = playbackRing
        self.options = options
        encoder = try OpusEncoder(expectedLossPercent: options.expectedLossPercent)
        try encoder.setSignal(options.signal)
        jitter = JitterBuffer(clock: clock, decoder: try OpusDecoder(), configuration: options.jitter)
        echo = options.echoCancellation ? EchoCanceller(options: options.echo) : nil
    }

    public var receiveStatistics: JitterBuffer.Statistics { jitter.statistics }

    public func setExpectedLossPercent(_ percent: Int) throws {
        try encoder.setExpectedLossPercent(percent)
    }

    /// Encodes every complete 20 ms of captured audio into frames to send.
    public func drainCapture() throws -> [AudioFrame] {
        let frame = AudioFormat.samplesPerFrame
        let backlog = captureRing.availableToRead - options.maxCaptureBacklogFrames * frame
        if backlog > 0 { captureSamplesDropped += captureRing.skip(backlog) }
        var frames: [AudioFrame] = []
        while captureRing.availableToRead >= frame {
            _ = captured.withUnsafeMutableBufferPointer { captureRing.read(into: $0) }
            let reference = farEnd.isEmpty ? nil : farEnd.removeFirst()
            if let echo {
                let far = reference ?? [Float](repeating: 0, count: frame)
                captured.withUnsafeBufferPointer { near in
                    far.withUnsafeBufferPointer { f in
                        cleaned.withUnsafeMutableBufferPointer { echo.process(nearEnd: near, farEnd: f, output: $0) }
                    }
                }
            } else {
                cleaned = captured
            }
            if muted {
                for i in 0..<frame { cleaned[i] = 0 }   // §9.4: mute sends zeroed PCM, frames keep flowing
            }
            let length = try cleaned.withUnsafeBufferPointer { pcm in
                try packet.withUnsafeMutableBytes { try encoder.encode(pcm, into: $0) }
            }
            frames.append(sequencer.frame(payload: Array(packet[0..<length])))
            framesSent += 1
        }
        return frames
    }

    /// Accepts a received frame. Stage checkpoint frames must be stripped to their Opus part first.
    public func receive(_ frame: AudioFrame) {
        jitter.insert(sequence: frame.sequence, payload: frame.payload)
    }

    /// Tops up the playback ring from the jitter buffer; returns the number of 20 ms frames rendered.
    @discardableResult
    public func feedPlayback() -> Int {
        var count = 0
        while playbackRing.availableToRead < options.playbackLeadSamples,
              playbackRing.availableToWrite >= AudioFormat.samplesPerFrame {
            _ = jitter.pull(into: &rendered)
            playbackRing.write(rendered)
            if echo != nil {
                farEnd.append(rendered)
                if farEnd.count > options.maxCaptureBacklogFrames { farEnd.removeFirst() }
            }
            count += 1
        }
        return count
    }
}

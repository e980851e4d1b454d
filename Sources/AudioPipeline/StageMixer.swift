import Core
import Synchronization

/// The Stage host's mixer (spec §10.6): decodes every speaker's Opus stream, sums the sources every
/// 20 ms tick (at most 5 frames buffered per source), limits the sum so it never clips, encodes one
/// listener stream (§9.3 settings) and authenticates it with the §10.8 hash chain. Output frames
/// are complete §9.2 wire frames, ready for `StageHostMedia.publishMixed`.
public final class StageMixer: StageHostAudio, Sendable {
    /// Per-source buffer cap: 5 frames (spec §14).
    public static let sourceCapSamples = 5 * AudioFormat.samplesPerFrame
    /// Peak the limiter aims for; the final clamp to [-1, 1] only catches rounding.
    public static let limiterCeiling: Float = 0.98

    /// One 20 ms tick's output.
    public struct Output: Sendable {
        /// The mixed, authenticated listener frame.
        public var mixed: [UInt8]
        /// The host's own voice for speakers (only when the host pushed microphone audio).
        public var hostVoice: [UInt8]?
        /// Peak of the mix before limiting (diagnostics).
        public var peakBeforeLimiter: Float
    }

    private final class Source {
        let decoder: OpusDecoder
        var samples: [Float] = []
        init() throws(OpusError) {
            decoder = try OpusDecoder()
            samples.reserveCapacity(StageMixer.sourceCapSamples + 5_760)
        }
    }

    private struct State {
        var sources: [EndpointID: Source] = [:]
        var hostMicrophone: [Float] = []
        var hasHostMicrophone = false
        var encoder: OpusEncoder
        var hostVoiceEncoder: OpusEncoder
        var signer: StageStreamSigner
        var mixedSequencer = AudioFrameSequencer()
        var voiceSequencer = AudioFrameSequencer()
        var mix = [Float](repeating: 0, count: AudioFormat.samplesPerFrame)
        var scratch = [Float](repeating: 0, count: 5_760)
        var gain: Float = 1
        var decodeErrors: UInt64 = 0
    }
    private let state: Mutex<State>

    public init(hostSigningKey: Ed25519.SecretKey) throws(OpusError) {
        let encoder = try OpusEncoder()
        let voice = try OpusEncoder()
        state = Mutex(State(encoder: encoder, hostVoiceEncoder: voice, signer: StageStreamSigner(signingKey: hostSigningKey)))
    }

    public var sourceCount: Int { state.withLock { $0.sources.count } }
    public var decodeErrors: UInt64 { state.withLock { $0.decodeErrors } }

    // MARK: StageHostAudio

    public func speakerJoined(_ speaker: EndpointID) {
        state.withLock { s in
            if s.sources[speaker] == nil, let source = try? Source() { s.sources[speaker] = source }
        }
    }

    public func speakerLeft(_ speaker: EndpointID) {
        state.withLock { _ = $0.sources.removeValue(forKey: speaker) }
    }

    /// A speaker's §9.2 frame (its payload is one Opus packet).
    public func speakerFrame(_ speaker: EndpointID, frame: [UInt8]) {
        guard let (decoded, _) = try? AudioFrame.decode(frame) else {
            state.withLock { $0.decodeErrors += 1 }
            return
        }
        state.withLock { s in
            if s.sources[speaker] == nil, let source = try? Source() { s.sources[speaker] = source }
            guard let source = s.sources[speaker] else { return }
            let n: Int
            do {
                n = try s.scratch.withUnsafeMutableBufferPointer { out in
                    try decoded.payload.withUnsafeBytes { packet in try source.decoder.decode(packet, into: out) }
                }
            } catch {
                s.decodeErrors += 1
                return
            }
            source.samples.append(contentsOf: s.scratch[0..<n])
            let excess = source.samples.count - Self.sourceCapSamples
            if excess > 0 { source.samples.removeFirst(excess) }
        }
    }

    /// The host's own microphone PCM (f32, 48 kHz mono).
    public func pushHostMicrophone(_ pcm: [Float]) {
        state.withLock { s in
            s.hasHostMicrophone = true
            s.hostMicrophone.append(contentsOf: pcm)
            let excess = s.hostMicrophone.count - Self.sourceCapSamples
            if excess > 0 { s.hostMicrophone.removeFirst(excess) }
        }
    }

    // MARK: The tick

    /// Mixes up to 960 samples of every source, encodes and authenticates one listener frame.
    public func tick() throws(OpusError) -> Output {
        try state.withLock { s throws(OpusError) -> Output in
            let n = AudioFormat.samplesPerFrame
            for i in 0..<n { s.mix[i] = 0 }
            for source in s.sources.values {
                let take = min(n, source.samples.count)
                for i in 0..<take { s.mix[i] += source.samples[i] }
                source.samples.removeFirst(take)
            }
            var hostVoice: [UInt8]?
            if s.hasHostMicrophone {
                let take = min(n, s.hostMicrophone.count)
                var voice = [Float](repeating: 0, count: n)
                for i in 0..<take {
                    s.mix[i] += s.hostMicrophone[i]
                    voice[i] = max(-1, min(1, s.hostMicrophone[i]))
                }
                s.hostMicrophone.removeFirst(take)
                let packet = try s.hostVoiceEncoder.encode(voice)
                hostVoice = try? s.voiceSequencer.frame(payload: packet).encode()
            }
            // Limiter: the gain needed for this frame's peak, ramped from the previous gain across
            // the frame so there is no step; then a clamp as the last guard.
            var peak: Float = 0
            for i in 0..<n { peak = max(peak, abs(s.mix[i])) }
            let target: Float = peak > Self.limiterCeiling ? Self.limiterCeiling / peak : 1
            // Attack at once (never clip), release slowly (about 0.5 s back to unity).
            let end: Float = target < s.gain ? target : min(target, s.gain + 0.04)
            let start = min(s.gain, end)
            for i in 0..<n {
                let g = start + (end - start) * Float(i) / Float(n)
                s.mix[i] = max(-1, min(1, s.mix[i] * g))
            }
            s.gain = end
            let packet = try s.encoder.encode(s.mix)
            let authenticated = s.signer.authenticate(opus: packet)
            let frame = s.mixedSequencer.frame(payload: authenticated.payload,
                                               tag: authenticated.isCheckpoint ? .checkpoint : .normal)
            // A frame always fits: Opus packets are at most 4,000 bytes plus 96 for a checkpoint.
            let mixed = (try? frame.encode()) ?? []
            return Output(mixed: mixed, hostVoice: hostVoice, peakBeforeLimiter: peak)
        }
    }

    /// Ticks every 20 ms (missed ticks are skipped, not replayed) and hands each frame to `publish`
    /// until the task is cancelled.
    public func run(publish: @Sendable (Output) -> Void) async {
        let clock = ContinuousClock()
        var next = clock.now
        while !Task.isCancelled {
            next = next.advanced(by: .milliseconds(20))
            if clock.now > next { next = clock.now.advanced(by: .milliseconds(20)) }
            try? await Task.sleep(until: next, clock: clock)
            guard let output = try? tick() else { continue }
            publish(output)
        }
    }
}

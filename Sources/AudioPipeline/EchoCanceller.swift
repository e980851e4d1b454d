import CSpeexDSP

/// Acoustic echo cancellation (speexdsp MDF adaptive filter) plus an optional speexdsp
/// preprocessor (noise suppression, AGC, residual-echo suppression linked to the canceller).
///
/// Call `process` once per 20 ms frame on the media thread with the microphone frame and the
/// frame that was sent to the speaker at the same tick; the adaptive filter covers the device
/// round-trip (a few periods) within its tail. Does not allocate after init.
public final class EchoCanceller {
    public struct Options: Sendable {
        public var frameSize = AudioFormat.samplesPerFrame
        /// Echo tail the filter models: 200 ms covers device buffers plus a room.
        public var tailMillis = 200
        public var sampleRate = AudioFormat.sampleRate
        /// Run the preprocessor (residual echo suppression) after the canceller.
        public var preprocess = true
        public var denoise = false
        public var agc = false
        public init() {}
    }

    public let options: Options
    private let echo: OpaquePointer
    private let preprocessor: OpaquePointer?
    private let near: UnsafeMutablePointer<Int16>
    private let far: UnsafeMutablePointer<Int16>
    private let out: UnsafeMutablePointer<Int16>

    public init(options: Options = Options()) {
        self.options = options
        let tail = options.sampleRate * options.tailMillis / 1000
        echo = speex_echo_state_init(Int32(options.frameSize), Int32(tail))
        var rate = Int32(options.sampleRate)
        speex_echo_ctl(echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate)
        if options.preprocess {
            let pp = speex_preprocess_state_init(Int32(options.frameSize), Int32(options.sampleRate))
            speex_preprocess_ctl(pp, SPEEX_PREPROCESS_SET_ECHO_STATE, UnsafeMutableRawPointer(echo))
            preprocessor = pp
        } else {
            preprocessor = nil
        }
        near = .allocate(capacity: options.frameSize)
        far = .allocate(capacity: options.frameSize)
        out = .allocate(capacity: options.frameSize)
        near.initialize(repeating: 0, count: options.frameSize)
        far.initialize(repeating: 0, count: options.frameSize)
        out.initialize(repeating: 0, count: options.frameSize)
        setDenoise(options.denoise)
        setAGC(options.agc)
    }

    deinit {
        if let preprocessor { speex_preprocess_state_destroy(preprocessor) }
        speex_echo_state_destroy(echo)
        near.deallocate(); far.deallocate(); out.deallocate()
    }

    public func setDenoise(_ on: Bool) {
        guard let preprocessor else { return }
        var v: Int32 = on ? 1 : 0
        speex_preprocess_ctl(preprocessor, SPEEX_PREPROCESS_SET_DENOISE, &v)
    }

    public func setAGC(_ on: Bool) {
        guard let preprocessor else { return }
        var v: Int32 = on ? 1 : 0
        speex_preprocess_ctl(preprocessor, SPEEX_PREPROCESS_SET_AGC, &v)
    }

    /// Removes the echo of `farEnd` from `nearEnd` (both one frame) into `output`.
    public func process(nearEnd: UnsafeBufferPointer<Float>, farEnd: UnsafeBufferPointer<Float>,
                        output: UnsafeMutableBufferPointer<Float>) {
        let n = options.frameSize
        precondition(nearEnd.count == n && farEnd.count == n && output.count == n,
                     "EchoCanceller.process needs frames of \(n) samples")
        for i in 0..<n {
            near[i] = SampleConversion.toInt16(nearEnd[i])
            far[i] = SampleConversion.toInt16(farEnd[i])
        }
        speex_echo_cancellation(echo, near, far, out)
        if let preprocessor { speex_preprocess_run(preprocessor, out) }
        for i in 0..<n { output[i] = SampleConversion.toFloat(out[i]) }
    }

    public func process(nearEnd: [Float], farEnd: [Float]) -> [Float] {
        var result = [Float](repeating: 0, count: options.frameSize)
        nearEnd.withUnsafeBufferPointer { n in
            farEnd.withUnsafeBufferPointer { f in
                result.withUnsafeMutableBufferPointer { process(nearEnd: n, farEnd: f, output: $0) }
            }
        }
        return result
    }

    public func reset() { speex_echo_state_reset(echo) }
}

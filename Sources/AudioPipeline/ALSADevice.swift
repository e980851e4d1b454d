import CALSA
#if canImport(Glibc)
import Glibc
#endif

/// An ALSA configuration given as text (an asoundrc fragment), used instead of the system's
/// global configuration. Tests use it to define `file`/`null` plugin PCMs without a sound card;
/// it never touches the process-wide `snd_config` (no `snd_config_update_free_global`).
public final class ALSAConfiguration: @unchecked Sendable {
    fileprivate let config: OpaquePointer

    public init(text: String) throws(AudioDeviceError) {
        var top: OpaquePointer?
        guard snd_config_top(&top) == 0, let top else {
            throw .openFailed(device: "config", reason: "snd_config_top failed")
        }
        var input: OpaquePointer?
        let utf8 = Array(text.utf8)
        let rc: Int32 = utf8.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { chars in
                guard snd_input_buffer_open(&input, chars.baseAddress, utf8.count) == 0, let input else { return -EINVAL }
                defer { snd_input_close(input) }
                return snd_config_load(top, input)
            }
        }
        guard rc == 0 else {
            snd_config_delete(top)
            throw .openFailed(device: "config", reason: "cannot parse ALSA configuration: \(ALSA.errorText(rc))")
        }
        config = top
    }

    deinit { snd_config_delete(config) }
}

enum ALSA {
    static func errorText(_ code: Int32) -> String {
        snd_strerror(code).map { String(cString: $0) } ?? "error \(code)"
    }
}

/// One direction of an ALSA PCM through libasound: `default`, `hw:X,Y`, `plughw:X,Y`, or any PCM
/// defined in a configuration. The pipeline side is always 48 kHz mono `Float`; the device side
/// is S16_LE, S32_LE or FLOAT_LE with 1 or more channels, converted here (mono is duplicated to
/// every channel on playback; capture averages the channels).
public final class ALSADevice: AudioDevice {
    public struct Options: Sendable {
        public var sampleRate = AudioFormat.sampleRate
        /// 10 ms periods: 480 samples at 48 kHz.
        public var periodFrames = 480
        /// Buffer = periods × period (2–4 keeps latency low yet rides out scheduling hiccups).
        public var periods = 3
        /// Sleep to real time after each period. Only for plugins that do not block; the `null`
        /// and `file` plugins are detected and paced anyway. Real cards pace the transfers themselves.
        public var paceInSoftware = false

        public init() {}
    }

    public let name: String
    public let direction: AudioDirection
    public private(set) var periodFrames: Int
    public private(set) var bufferFrames: Int
    public private(set) var channels: Int
    public private(set) var format: snd_pcm_format_t
    public let options: Options
    /// Over/underruns recovered so far (read from other threads only as a hint).
    public private(set) var xrunCount = 0

    private var pcm: OpaquePointer?
    private let configuration: ALSAConfiguration?
    private let scratch: UnsafeMutableRawPointer
    private var pacer = PeriodPacer()
    /// `options.paceInSoftware`, or a `file`/`null` plugin PCM (they never block).
    private let pacedInSoftware: Bool

    /// Opens and configures the PCM. `configuration` replaces the global ALSA configuration when given.
    public init(name: String, direction: AudioDirection, options: Options = Options(),
                configuration: ALSAConfiguration? = nil) throws(AudioDeviceError) {
        guard (240...480).contains(options.periodFrames), (2...4).contains(options.periods) else {
            throw .unsupportedConfiguration(device: name,
                                            reason: "period \(options.periodFrames) frames × \(options.periods): need 240…480 frames (5–10 ms) × 2…4")
        }
        self.name = name
        self.direction = direction
        self.options = options
        self.configuration = configuration
        let stream = direction == .playback ? SND_PCM_STREAM_PLAYBACK : SND_PCM_STREAM_CAPTURE
        var handle: OpaquePointer?
        let rc: Int32
        if let configuration {
            rc = snd_pcm_open_lconf(&handle, name, stream, 0, configuration.config)
        } else {
            rc = snd_pcm_open(&handle, name, stream, 0)
        }
        guard rc == 0, let handle else { throw .openFailed(device: name, reason: ALSA.errorText(rc)) }
        pcm = handle
        let type = snd_pcm_type(handle)
        pacedInSoftware = options.paceInSoftware || type == SND_PCM_TYPE_FILE || type == SND_PCM_TYPE_NULL
        do {
            (format, channels, periodFrames, bufferFrames) = try Self.configure(handle, name: name, direction: direction, options: options)
        } catch {
            snd_pcm_close(handle)
            pcm = nil
            throw error
        }
        scratch = UnsafeMutableRawPointer.allocate(byteCount: periodFrames * channels * 4, alignment: 16)
        snd_pcm_prepare(handle)
    }

    deinit {
        close()
        scratch.deallocate()
    }

    public func close() {
        if let pcm {
            if direction == .playback { snd_pcm_drop(pcm) }
            snd_pcm_close(pcm)
        }
        pcm = nil
    }

    private static func configure(_ pcm: OpaquePointer, name: String, direction: AudioDirection,
                                  options: Options) throws(AudioDeviceError) -> (snd_pcm_format_t, Int, Int, Int) {
        func fail(_ what: String, _ rc: Int32) -> AudioDeviceError {
            .unsupportedConfiguration(device: name, reason: "\(what): \(ALSA.errorText(rc))")
        }
        var hwOpt: OpaquePointer?
        guard snd_pcm_hw_params_malloc(&hwOpt) == 0, let hw = hwOpt else { throw fail("hw_params_malloc", -ENOMEM) }
        defer { snd_pcm_hw_params_free(hw) }
        var rc = snd_pcm_hw_params_any(pcm, hw)
        guard rc >= 0 else { throw fail("no configurations", rc) }
        rc = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)
        guard rc == 0 else { throw fail("interleaved access", rc) }
        let candidates = [SND_PCM_FORMAT_S16_LE, SND_PCM_FORMAT_S32_LE, SND_PCM_FORMAT_FLOAT_LE]
        guard let format = candidates.first(where: { snd_pcm_hw_params_test_format(pcm, hw, $0) == 0 }) else {
            throw .unsupportedConfiguration(device: name, reason: "none of S16_LE, S32_LE, FLOAT_LE offered")
        }
        rc = snd_pcm_hw_params_set_format(pcm, hw, format)
        guard rc == 0 else { throw fail("format", rc) }
        var channels: UInt32 = 1
        if snd_pcm_hw_params_test_channels(pcm, hw, 1) != 0 {
            rc = snd_pcm_hw_params_set_channels_near(pcm, hw, &channels)
            guard rc == 0 else { throw fail("channels", rc) }
        } else {
            rc = snd_pcm_hw_params_set_channels(pcm, hw, 1)
            guard rc == 0 else { throw fail("mono", rc) }
        }
        var rate = UInt32(options.sampleRate)
        rc = snd_pcm_hw_params_set_rate_near(pcm, hw, &rate, nil)
        guard rc == 0 else { throw fail("rate \(options.sampleRate)", rc) }
        guard rate == UInt32(options.sampleRate) else {
            throw .unsupportedConfiguration(device: name, reason: "rate \(options.sampleRate) Hz not offered (nearest \(rate)); use a plughw: or plug device")
        }
        var period = snd_pcm_uframes_t(options.periodFrames)
        rc = snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, nil)
        guard rc == 0 else { throw fail("period \(options.periodFrames)", rc) }
        var buffer = period * snd_pcm_uframes_t(options.periods)
        rc = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &buffer)
        guard rc == 0 else { throw fail("buffer \(buffer)", rc) }
        rc = snd_pcm_hw_params(pcm, hw)
        guard rc == 0 else { throw fail("hw_params", rc) }
        snd_pcm_hw_params_get_period_size(hw, &period, nil)
        snd_pcm_hw_params_get_buffer_size(hw, &buffer)

        var swOpt: OpaquePointer?
        guard snd_pcm_sw_params_malloc(&swOpt) == 0, let sw = swOpt else { throw fail("sw_params_malloc", -ENOMEM) }
        defer { snd_pcm_sw_params_free(sw) }
        snd_pcm_sw_params_current(pcm, sw)
        // Playback starts once two periods are queued (one period of cushion); capture at once.
        snd_pcm_sw_params_set_start_threshold(pcm, sw, direction == .playback ? min(period * 2, buffer) : 1)
        snd_pcm_sw_params_set_avail_min(pcm, sw, period)
        rc = snd_pcm_sw_params(pcm, sw)
        guard rc == 0 else { throw fail("sw_params", rc) }
        return (format, Int(channels), Int(period), Int(buffer))
    }

    /// Real-time safe: converts in a preallocated buffer, never allocates or logs.
    public func transfer(_ samples: UnsafeMutableBufferPointer<Float>) -> AudioTransferResult {
        guard let pcm else { return .lost(code: -EBADFD) }
        var result = AudioTransferResult.ok
        var done = 0
        while done < samples.count {
            let frames = min(samples.count - done, periodFrames)
            let chunk = UnsafeMutableBufferPointer(rebasing: samples[done..<(done + frames)])
            if direction == .playback { pack(chunk) }
            var offset = 0
            while offset < frames {
                let bytesPerFrame = channels * Int(snd_pcm_format_physical_width(format) / 8)
                let ptr = scratch + offset * bytesPerFrame
                let n = direction == .playback
                    ? snd_pcm_writei(pcm, ptr, snd_pcm_uframes_t(frames - offset))
                    : snd_pcm_readi(pcm, ptr, snd_pcm_uframes_t(frames - offset))
                if n >= 0 {
                    offset += n
                    continue
                }
                let code = Int32(n)
                if code == -EAGAIN || code == -EINTR { continue }
                if code == -EPIPE || code == -ESTRPIPE {
                    // Over/underrun or suspend: re-prepare and carry on with the rest of this period,
                    // so the gap is at most the period that was missed.
                    if snd_pcm_recover(pcm, code, 1) == 0 {
                        xrunCount += 1
                        result = .recoveredFromXrun
                        continue
                    }
                }
                return .lost(code: code)
            }
            if direction == .capture { unpack(chunk) }
            done += frames
        }
        if pacedInSoftware { pacer.wait(frames: samples.count, sampleRate: options.sampleRate) }
        return result
    }

    private func pack(_ samples: UnsafeMutableBufferPointer<Float>) {
        InterleavedSamples.pack(UnsafeBufferPointer(samples), into: scratch, format: format, channels: channels)
    }

    private func unpack(_ samples: UnsafeMutableBufferPointer<Float>) {
        InterleavedSamples.unpack(scratch, into: samples, format: format, channels: channels)
    }
}

/// Mono `Float` ⇄ the card's interleaved frames. Playback copies the mono sample to every
/// channel; capture averages the channels. Real-time safe.
enum InterleavedSamples {
    static func pack(_ samples: UnsafeBufferPointer<Float>, into scratch: UnsafeMutableRawPointer,
                     format: snd_pcm_format_t, channels ch: Int) {
        switch format {
        case SND_PCM_FORMAT_S16_LE:
            let out = scratch.assumingMemoryBound(to: Int16.self)
            for i in 0..<samples.count {
                let v = SampleConversion.toInt16(samples[i])
                for c in 0..<ch { out[i * ch + c] = v }
            }
        case SND_PCM_FORMAT_S32_LE:
            let out = scratch.assumingMemoryBound(to: Int32.self)
            for i in 0..<samples.count {
                let v = Int32(max(-2_147_483_648, min(2_147_483_520, (samples[i] * 2_147_483_648).rounded())))
                for c in 0..<ch { out[i * ch + c] = v }
            }
        default:
            let out = scratch.assumingMemoryBound(to: Float.self)
            for i in 0..<samples.count {
                for c in 0..<ch { out[i * ch + c] = samples[i] }
            }
        }
    }

    static func unpack(_ scratch: UnsafeRawPointer, into samples: UnsafeMutableBufferPointer<Float>,
                       format: snd_pcm_format_t, channels ch: Int) {
        let scale = 1 / Float(ch)
        switch format {
        case SND_PCM_FORMAT_S16_LE:
            let input = scratch.assumingMemoryBound(to: Int16.self)
            for i in 0..<samples.count {
                var sum: Float = 0
                for c in 0..<ch { sum += SampleConversion.toFloat(input[i * ch + c]) }
                samples[i] = sum * scale
            }
        case SND_PCM_FORMAT_S32_LE:
            let input = scratch.assumingMemoryBound(to: Int32.self)
            for i in 0..<samples.count {
                var sum: Float = 0
                for c in 0..<ch { sum += Float(input[i * ch + c]) / 2_147_483_648 }
                samples[i] = sum * scale
            }
        default:
            let input = scratch.assumingMemoryBound(to: Float.self)
            for i in 0..<samples.count {
                var sum: Float = 0
                for c in 0..<ch { sum += input[i * ch + c] }
                samples[i] = sum * scale
            }
        }
    }
}

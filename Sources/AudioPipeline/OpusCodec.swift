import COpus
import COpusShim

/// A libopus call failed; `code` is libopus's negative error code.
public struct OpusError: Error, Equatable, CustomStringConvertible {
    public let operation: String
    public let code: Int32

    public var description: String {
        let text = opus_strerror(code).map { String(cString: $0) } ?? "unknown"
        return "opus \(operation) failed: \(text) (\(code))"
    }

    static func check(_ code: Int32, _ operation: String) throws(OpusError) {
        if code < 0 { throw OpusError(operation: operation, code: code) }
    }
}

/// Opus encoder with the settings of spec §9.3: 48 kHz mono, VOIP, 20 ms frames, 64 kbit/s,
/// in-band FEC on, expected loss 10 %. One instance per stream; not thread-safe.
public final class OpusEncoder {
    private let state: OpaquePointer

    /// libopus application modes; §9.3 uses `.voip`.
    public enum Application: Sendable {
        case voip, audio, restrictedLowDelay
        var code: Int32 {
            switch self {
            case .voip: return OPUS_APPLICATION_VOIP
            case .audio: return OPUS_APPLICATION_AUDIO
            case .restrictedLowDelay: return OPUS_APPLICATION_RESTRICTED_LOWDELAY
            }
        }
    }

    /// Signal-type hint for libopus's mode decision.
    public enum Signal: Sendable {
        case auto, voice, music
        var code: Int32 {
            switch self {
            case .auto: return OPUS_AUTO
            case .voice: return OPUS_SIGNAL_VOICE
            case .music: return OPUS_SIGNAL_MUSIC
            }
        }
    }

    public init(bitrate: Int = AudioFormat.opusBitrate,
                expectedLossPercent: Int = AudioFormat.opusExpectedLossPercent,
                inbandFEC: Bool = true,
                application: Application = .voip) throws(OpusError) {
        var err: Int32 = 0
        guard let enc = opus_encoder_create(opus_int32(AudioFormat.sampleRate), Int32(AudioFormat.channels),
                                            application.code, &err), err == OPUS_OK else {
            throw OpusError(operation: "encoder_create", code: err == OPUS_OK ? OPUS_ALLOC_FAIL : err)
        }
        state = enc
        do {
            try OpusError.check(copus_encoder_set_bitrate(enc, opus_int32(bitrate)), "set_bitrate(\(bitrate))")
            try OpusError.check(copus_encoder_set_inband_fec(enc, inbandFEC ? 1 : 0), "set_inband_fec")
            try setExpectedLossPercent(expectedLossPercent)
        } catch {
            opus_encoder_destroy(enc)
            throw error
        }
    }

    deinit { opus_encoder_destroy(state) }

    /// Packet-loss hint (0…100): more loss makes libopus spend more bits on FEC.
    public func setExpectedLossPercent(_ percent: Int) throws(OpusError) {
        try OpusError.check(copus_encoder_set_packet_loss_perc(state, Int32(percent)), "set_packet_loss_perc(\(percent))")
    }

    public var expectedLossPercent: Int {
        var v: opus_int32 = 0
        _ = copus_encoder_get_packet_loss_perc(state, &v)
        return Int(v)
    }

    public var bitrate: Int {
        var v: opus_int32 = 0
        _ = copus_encoder_get_bitrate(state, &v)
        return Int(v)
    }

    public var inbandFECEnabled: Bool {
        var v: opus_int32 = 0
        _ = copus_encoder_get_inband_fec(state, &v)
        return v != 0
    }

    /// Encoder delay in samples at 48 kHz (part of the mouth-to-ear budget).
    public var lookaheadSamples: Int {
        var v: opus_int32 = 0
        _ = copus_encoder_get_lookahead(state, &v)
        return Int(v)
    }

    public func setSignal(_ signal: Signal) throws(OpusError) {
        try OpusError.check(copus_encoder_set_signal(state, signal.code), "set_signal")
    }

    public func setComplexity(_ complexity: Int) throws(OpusError) {
        try OpusError.check(copus_encoder_set_complexity(state, Int32(complexity)), "set_complexity(\(complexity))")
    }

    /// Encodes exactly one 20 ms frame (960 samples in [-1, 1]) into `packet`; returns its length.
    /// Does not allocate.
    public func encode(_ pcm: UnsafeBufferPointer<Float>, into packet: UnsafeMutableRawBufferPointer) throws(OpusError) -> Int {
        guard pcm.count == AudioFormat.samplesPerFrame else {
            throw OpusError(operation: "encode: frame of \(pcm.count) samples, need \(AudioFormat.samplesPerFrame)", code: OPUS_BAD_ARG)
        }
        guard let input = pcm.baseAddress, let output = packet.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw OpusError(operation: "encode: empty buffer", code: OPUS_BAD_ARG)
        }
        let n = opus_encode_float(state, input, Int32(pcm.count), output, opus_int32(packet.count))
        try OpusError.check(n, "encode_float")
        return Int(n)
    }

    /// Encodes one 20 ms frame and returns the packet.
    public func encode(_ pcm: [Float]) throws(OpusError) -> [UInt8] {
        var packet = [UInt8](repeating: 0, count: AudioFormat.maxOpusPacketBytes)
        let n: Int
        do {
            n = try pcm.withUnsafeBufferPointer { p in
                try packet.withUnsafeMutableBytes { out in try encode(p, into: out) }
            }
        } catch let e as OpusError {
            throw e
        } catch {
            throw OpusError(operation: "encode", code: OPUS_INTERNAL_ERROR)
        }
        packet.removeSubrange(n...)
        return packet
    }

    public func reset() { _ = copus_encoder_reset_state(state) }
}

/// Opus decoder (48 kHz mono) with packet-loss concealment and in-band FEC recovery.
public final class OpusDecoder {
    private let state: OpaquePointer

    public init() throws(OpusError) {
        var err: Int32 = 0
        guard let dec = opus_decoder_create(opus_int32(AudioFormat.sampleRate), Int32(AudioFormat.channels), &err),
              err == OPUS_OK else {
            throw OpusError(operation: "decoder_create", code: err == OPUS_OK ? OPUS_ALLOC_FAIL : err)
        }
        state = dec
    }

    deinit { opus_decoder_destroy(state) }

    /// Decodes `packet` into `pcm`; returns samples written. Does not allocate.
    /// - `packet == nil`: packet-loss concealment for `pcm.count` samples.
    /// - `fec == true`: `packet` is the packet *after* a lost one; recovers the lost frame from its
    ///   in-band FEC data (or conceals when it carries none). `pcm.count` must be the lost duration.
    public func decode(_ packet: UnsafeRawBufferPointer?, fec: Bool = false,
                       into pcm: UnsafeMutableBufferPointer<Float>) throws(OpusError) -> Int {
        let data = packet?.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let len = opus_int32(packet?.count ?? 0)
        guard let output = pcm.baseAddress else { throw OpusError(operation: "decode: empty output", code: OPUS_BAD_ARG) }
        let n = opus_decode_float(state, len == 0 ? nil : data, len, output, Int32(pcm.count), fec ? 1 : 0)
        try OpusError.check(n, fec ? "decode_float(fec)" : (packet == nil ? "decode_float(plc)" : "decode_float"))
        return Int(n)
    }

    /// Decodes one packet (or conceals one 20 ms frame when `packet` is nil) into a new array.
    public func decode(_ packet: [UInt8]?, fec: Bool = false) throws(OpusError) -> [Float] {
        var pcm = [Float](repeating: 0, count: AudioFormat.samplesPerFrame * 6)
        let frameLimit = (packet == nil || fec) ? AudioFormat.samplesPerFrame : pcm.count
        let n: Int
        do {
            n = try pcm.withUnsafeMutableBufferPointer { out in
                let slice = UnsafeMutableBufferPointer(rebasing: out[0..<frameLimit])
                if let packet {
                    return try packet.withUnsafeBytes { try decode($0, fec: fec, into: slice) }
                }
                return try decode(nil, fec: false, into: slice)
            }
        } catch let e as OpusError {
            throw e
        } catch {
            throw OpusError(operation: "decode", code: OPUS_INTERNAL_ERROR)
        }
        pcm.removeSubrange(n...)
        return pcm
    }

    /// Samples in the last decoded packet (or concealed frame).
    public var lastPacketDuration: Int {
        var v: opus_int32 = 0
        _ = copus_decoder_get_last_packet_duration(state, &v)
        return Int(v)
    }

    public func reset() { _ = copus_decoder_reset_state(state) }
}

/// Whether an Opus packet carries in-band FEC (LBRR) data for the previous frame.
public func opusPacketHasFEC(_ packet: [UInt8]) -> Bool {
    // libopus exposes no public query; decoding the FEC path of a SILK/hybrid packet is the only
    // reliable check, and CELT-only packets (config >= 16) never carry LBRR.
    guard let toc = packet.first else { return false }
    return (toc >> 3) < 16
}

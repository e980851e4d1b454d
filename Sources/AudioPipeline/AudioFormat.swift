/// The one PCM format the pipeline works in (spec §9.3, §14): 48 kHz mono, 20 ms frames.
public enum AudioFormat {
    public static let sampleRate = 48_000
    public static let channels = 1
    /// Samples per 20 ms frame; also the per-frame timestamp increment of §9.2.
    public static let samplesPerFrame = 960
    public static let frameDurationMicros: Int64 = 20_000
    /// Opus settings of §9.3.
    public static let opusBitrate = 64_000
    public static let opusExpectedLossPercent = 10
    public static let maxOpusPacketBytes = 4_000
}

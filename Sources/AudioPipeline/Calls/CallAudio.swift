import Core

/// The sound devices of one call, as the media loop sees them: a capture ring the microphone
/// fills and a playback ring the speaker drains, each run by its own real-time stream.
public protocol CallAudio: AnyObject, Sendable {
    var captureRing: SPSCRing<Float> { get }
    var playbackRing: SPSCRing<Float> { get }
    /// Silence the speaker had to play because the playback ring ran dry (samples).
    var playbackShortfallSamples: Int { get }
    func start() throws
    func stop()
}

/// Opens a call's devices when its media starts. A node built with `--audio none` has no
/// provider, and `CallService` refuses calls.
public protocol CallAudioProvider: Sendable {
    func makeCallAudio() throws -> any CallAudio
}

/// `CallAudio` over two `AudioStream`s (real-time threads) and any `AudioDevice`s.
public final class StreamCallAudio: CallAudio, @unchecked Sendable {
    public let captureRing = SPSCRing<Float>(minimumCapacity: 32_768, zero: 0)
    public let playbackRing = SPSCRing<Float>(minimumCapacity: 16_384, zero: 0)
    private let capture: AudioStream
    private let playback: AudioStream

    public init(openCapture: @escaping AudioStream.DeviceFactory, openPlayback: @escaping AudioStream.DeviceFactory,
                logger: Logger) {
        capture = AudioStream(direction: .capture, ring: captureRing, logger: logger, openDevice: openCapture)
        playback = AudioStream(direction: .playback, ring: playbackRing, logger: logger, openDevice: openPlayback)
    }

    public var playbackShortfallSamples: Int { playback.shortfallSamples }

    public func start() throws {
        try capture.start()
        do { try playback.start() } catch {
            capture.stop()
            throw error
        }
    }

    public func stop() {
        capture.stop()
        playback.stop()
    }
}

/// Builds a `StreamCallAudio` per call from device factories (ALSA in production, fakes in tests).
public struct DeviceCallAudioProvider: CallAudioProvider {
    let openCapture: AudioStream.DeviceFactory
    let openPlayback: AudioStream.DeviceFactory
    let logger: Logger

    public init(logger: Logger, openCapture: @escaping AudioStream.DeviceFactory,
                openPlayback: @escaping AudioStream.DeviceFactory) {
        self.openCapture = openCapture
        self.openPlayback = openPlayback
        self.logger = logger
    }

    /// ALSA PCMs by name (`default`, `plughw:1,0`, …).
    public static func alsa(input: String, output: String, logger: Logger) -> DeviceCallAudioProvider {
        DeviceCallAudioProvider(logger: logger,
                                openCapture: { try ALSADevice(name: input, direction: .capture) },
                                openPlayback: { try ALSADevice(name: output, direction: .playback) })
    }

    /// Files paced to real time (`FileAudioDevice`): a WAV/raw input looped, raw S16LE output.
    public static func files(input: String, output: String, logger: Logger) -> DeviceCallAudioProvider {
        DeviceCallAudioProvider(logger: logger,
                                openCapture: { try FileAudioDevice(path: input, direction: .capture) },
                                openPlayback: { try FileAudioDevice(path: output, direction: .playback) })
    }

    public func makeCallAudio() throws -> any CallAudio {
        StreamCallAudio(openCapture: openCapture, openPlayback: openPlayback, logger: logger)
    }
}

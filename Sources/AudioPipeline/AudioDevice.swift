/// Which way samples flow through a device.
public enum AudioDirection: String, Sendable {
    case capture
    case playback
}

/// Outcome of one period transfer on the real-time thread. A plain enum, so reporting it
/// allocates nothing.
public enum AudioTransferResult: Equatable, Sendable {
    case ok
    /// An over- or underrun happened and the device was re-prepared; the period was still transferred.
    case recoveredFromXrun
    /// The device is gone or unusable (unplugged, `-ENODEV`, `-EIO`, …); `code` is the negative errno.
    case lost(code: Int32)
}

/// Why a device could not be opened or configured.
public enum AudioDeviceError: Error, Equatable, CustomStringConvertible {
    case openFailed(device: String, reason: String)
    case unsupportedConfiguration(device: String, reason: String)

    public var description: String {
        switch self {
        case .openFailed(let d, let r): return "audio device '\(d)': open failed: \(r)"
        case .unsupportedConfiguration(let d, let r): return "audio device '\(d)': unsupported configuration: \(r)"
        }
    }
}

/// One direction of a sound device, as the real-time thread sees it: blocking transfers of exactly
/// one period of 48 kHz mono `Float` samples. Implementations convert to the card's format and
/// channel count themselves and must not allocate, lock or log inside `transfer`.
public protocol AudioDevice: AnyObject {
    var name: String { get }
    var direction: AudioDirection { get }
    /// Mono samples per period (e.g. 480 for 10 ms).
    var periodFrames: Int { get }
    /// Samples of device buffer (periods × period size).
    var bufferFrames: Int { get }
    /// Playback: plays `samples`. Capture: fills `samples`. Blocks about one period.
    func transfer(_ samples: UnsafeMutableBufferPointer<Float>) -> AudioTransferResult
    /// Releases the device; further transfers report `.lost`.
    func close()
}

/// Float sample conversion shared by device implementations.
enum SampleConversion {
    @inline(__always)
    static func toInt16(_ x: Float) -> Int16 {
        let scaled = (x * 32_767).rounded()
        return Int16(max(-32_768, min(32_767, scaled)))
    }

    @inline(__always)
    static func toFloat(_ x: Int16) -> Float { Float(x) / 32_768 }
}

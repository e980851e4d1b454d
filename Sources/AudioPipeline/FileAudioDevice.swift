import Glibc

/// Sleeps a device thread to real time, one period after the previous one, for devices that do
/// not block by themselves (ALSA's `null` and `file` plugins, `FileAudioDevice`). A thread that
/// fell more than 100 ms behind starts again from now instead of rushing to catch up.
struct PeriodPacer {
    private var nextDeadlineNanos: UInt64 = 0

    /// Sleeps until the end of the next period; returns that moment (CLOCK_MONOTONIC, ns).
    @discardableResult
    mutating func wait(frames: Int, sampleRate: Int) -> UInt64 {
        let periodNanos = UInt64(frames) * 1_000_000_000 / UInt64(sampleRate)
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nowNanos = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        if nextDeadlineNanos == 0 || nextDeadlineNanos + 100_000_000 < nowNanos { nextDeadlineNanos = nowNanos }
        nextDeadlineNanos += periodNanos
        var deadline = timespec(tv_sec: Int(nextDeadlineNanos / 1_000_000_000), tv_nsec: Int(nextDeadlineNanos % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nil) == EINTR {}
        return nextDeadlineNanos
    }
}

/// A sound device made of files, paced to real time: capture plays a 48 kHz mono 16-bit WAV or
/// raw S16LE file in a loop (an empty path gives silence); playback writes raw S16LE to a file
/// (an empty path discards). The `file` audio backend, for a node without a sound card that still
/// takes calls (tests, a box that only relays), and for calls from a recording.
///
/// Both ends are tied to CLOCK_MONOTONIC so a test can measure mouth-to-ear delay between
/// processes on one machine: the capture loop is anchored to the clock (the sample captured at
/// time t is `source[t·48 kHz mod count]`), and playback writes, beside its file, `<path>.start`
/// with the clock time (ns) at which its first sample plays.
public final class FileAudioDevice: AudioDevice {
    public let name: String
    public let direction: AudioDirection
    public let periodFrames: Int
    public var bufferFrames: Int { periodFrames * 2 }

    /// Capture: the file's samples, read once at open (never on the real-time thread).
    private let source: [Float]
    /// Next source sample; -1 until the first transfer anchors it to the clock.
    private var position = -1
    /// Playback: the output file, and one period of S16LE to write.
    private var fd: Int32 = -1
    private let scratch: UnsafeMutablePointer<Int16>
    private var pacer = PeriodPacer()
    private var closed = false
    private let outputPath: String
    private var firstPlayedNanos: UInt64 = 0

    public init(path: String, direction: AudioDirection, periodFrames: Int = 480) throws(AudioDeviceError) {
        name = path.isEmpty ? "file:(none)" : "file:\(path)"
        self.direction = direction
        self.periodFrames = periodFrames
        outputPath = direction == .playback ? path : ""
        if direction == .capture {
            source = path.isEmpty ? [] : try Self.readSamples(path: path)
        } else {
            source = []
            if !path.isEmpty {
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw .openFailed(device: name, reason: String(cString: strerror(errno))) }
            }
        }
        scratch = .allocate(capacity: periodFrames)
    }

    deinit {
        close()
        scratch.deallocate()
    }

    public func transfer(_ samples: UnsafeMutableBufferPointer<Float>) -> AudioTransferResult {
        if closed { return .lost(code: -EBADFD) }
        let now = pacer.wait(frames: samples.count, sampleRate: AudioFormat.sampleRate)
        if direction == .capture {
            if position < 0, !source.isEmpty {
                // This period was "spoken" during the interval that just ended.
                let start = (now - UInt64(samples.count) * 1_000_000_000 / UInt64(AudioFormat.sampleRate))
                position = Int(Self.sampleIndex(atNanos: start) % UInt64(source.count))
            }
            for i in samples.indices {
                if source.isEmpty {
                    samples[i] = 0
                } else {
                    samples[i] = source[position]
                    position = position + 1 == source.count ? 0 : position + 1
                }
            }
        } else if fd >= 0 {
            if firstPlayedNanos == 0 { firstPlayedNanos = now }
            let count = min(samples.count, periodFrames)
            for i in 0..<count { scratch[i] = SampleConversion.toInt16(samples[i]).littleEndian }
            guard write(fd, scratch, count * 2) == count * 2 else { return .lost(code: -errno) }
        }
        return .ok
    }

    public func close() {
        guard !closed else { return }
        closed = true
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        if firstPlayedNanos != 0, let file = fopen(outputPath + ".start", "w") {
            fputs("\(firstPlayedNanos)\n", file)
            fclose(file)
        }
    }

    /// floor(t · 48 kHz), without overflowing for any uptime.
    static func sampleIndex(atNanos t: UInt64) -> UInt64 {
        let rate = UInt64(AudioFormat.sampleRate)
        return t / 1_000_000_000 * rate + t % 1_000_000_000 * rate / 1_000_000_000
    }

    /// A WAV file's PCM samples (it must be 48 kHz mono 16-bit), or the whole file as raw S16LE.
    static func readSamples(path: String) throws(AudioDeviceError) -> [Float] {
        let name = "file:\(path)"
        guard let file = fopen(path, "rb") else { throw .openFailed(device: name, reason: String(cString: strerror(errno))) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count { break }
        }
        guard ferror(file) == 0 else { throw .openFailed(device: name, reason: "read error") }
        let pcm = try WAVFile.pcmRange(of: bytes, device: name)
        var samples: [Float] = []
        samples.reserveCapacity(pcm.count / 2)
        var i = pcm.lowerBound
        while i + 1 < pcm.upperBound {
            samples.append(SampleConversion.toFloat(Int16(bitPattern: UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8)))
            i += 2
        }
        return samples
    }
}

/// Just enough RIFF/WAVE to find the PCM of a 48 kHz mono 16-bit file.
enum WAVFile {
    static func pcmRange(of bytes: [UInt8], device: String) throws(AudioDeviceError) -> Range<Int> {
        func u32(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24 }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        guard bytes.count >= 12, bytes[0..<4].elementsEqual("RIFF".utf8), bytes[8..<12].elementsEqual("WAVE".utf8) else {
            return 0..<bytes.count   // raw S16LE
        }
        var offset = 12
        var formatOK = false
        while offset + 8 <= bytes.count {
            let size = u32(offset + 4)
            let body = offset + 8
            let id = String(decoding: bytes[offset..<offset + 4], as: UTF8.self)
            if id == "fmt " {
                guard body + 16 <= bytes.count else { break }
                let (format, channels, rate, bits) = (u16(body), u16(body + 2), u32(body + 4), u16(body + 14))
                guard format == 1 || format == 0xFFFE, channels == 1, rate == AudioFormat.sampleRate, bits == 16 else {
                    throw .unsupportedConfiguration(device: device,
                                                    reason: "WAV is \(channels) channel(s), \(rate) Hz, \(bits) bit; need mono 48000 Hz 16-bit PCM")
                }
                formatOK = true
            } else if id == "data" {
                guard formatOK else { break }
                return body..<min(bytes.count, body + size)
            }
            offset = body + size + (size & 1)
        }
        throw .unsupportedConfiguration(device: device, reason: "not a WAV file with a fmt and a data chunk")
    }
}

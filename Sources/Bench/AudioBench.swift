import ArgumentParser
import AudioPipeline
import Foundation

/// `proscenium-bench audio`: PESQ-WB of our voice chain vs opus-tools under random loss, CPU
/// time per 20 ms frame of the capture and playback paths, and the mouth-to-ear delay budget.
/// Needs espeak-ng, sox, opus-tools and the peers venv (PyPI pesq).
struct AudioBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audio",
        abstract: "Voice quality (PESQ-WB vs opus-tools), CPU per frame, delay budget."
    )

    @Option(help: "Random loss draws per loss rate.")
    var draws = 5

    @Option(help: "Loss rates in percent, comma-separated.")
    var loss = "0,5,10,20"

    @Option(help: "Speech sample length in seconds.")
    var seconds = 12.0

    @Option(help: "Frames for the CPU measurement.")
    var cpuFrames = 3_000

    @Flag(help: "Skip the PESQ comparison.")
    var skipQuality = false

    @Option(help: "Python with the pesq package.")
    var python = (ProcessInfo.processInfo.environment["PROSCENIUM_CACHE"] ?? "/var/tmp/proscenium") + "/venv-peers/bin/python"

    func run() throws {
        let dir = NSTemporaryDirectory() + "proscenium-audio-bench-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let speech = try BenchAudioTools.speechSample(seconds: seconds, directory: dir)
        print("speech sample: \(String(format: "%.1f", Double(speech.count) / 48_000)) s (espeak-ng en-us, sox to 48 kHz mono)")
        try cpu(speech: speech)
        try budget()
        if !skipQuality { try quality(speech: speech, directory: dir) }
    }

    // MARK: PESQ

    private func quality(speech: [Float], directory: String) throws {
        let rates = loss.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        var fixedTarget = JitterBuffer.Configuration()
        fixedTarget.shrinkHoldMicros = .max / 4
        print("\nPESQ-WB (16 kHz), \(draws) draws per rate for ours; opusdec's loss pattern is fixed (1 draw)")
        print("loss | reference opusenc→opusdec | ours, adaptive hint (mean ± sd, min) | ours, spec hint 10 % (mean) | FEC-recovered / PLC per draw")
        for rate in rates {
            let reference = try BenchAudioTools.referenceChain(input: speech, lossPercent: rate, directory: directory)
            let refScore = try BenchAudioTools.pesqWB(reference: speech, degraded: reference, directory: directory, python: python)
            var adaptive: [Double] = [], spec: [Double] = []
            var fec = 0, plc = 0
            let drawCount = rate == 0 ? 1 : draws
            for draw in 0..<drawCount {
                let network = VoiceChainSimulator.Network(lossPercent: Double(rate), seed: UInt64(1_000 + draw))
                let a = try VoiceChainSimulator.run(input: speech, network: network, expectedLossPercent: rate, signal: .voice,
                                                    jitterConfiguration: fixedTarget)
                adaptive.append(try BenchAudioTools.pesqWB(reference: speech, degraded: a.pcm, directory: directory, python: python))
                fec += a.statistics.fecRecovered
                plc += a.statistics.concealed
                let s = try VoiceChainSimulator.run(input: speech, network: network, jitterConfiguration: fixedTarget)
                spec.append(try BenchAudioTools.pesqWB(reference: speech, degraded: s.pcm, directory: directory, python: python))
            }
            let mean = adaptive.reduce(0, +) / Double(adaptive.count)
            let sd = (adaptive.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(adaptive.count)).squareRoot()
            let specMean = spec.reduce(0, +) / Double(spec.count)
            print(String(format: "%3d %% | %.3f | %.3f ± %.3f (min %.3f) | %.3f | %.1f / %.1f",
                         rate, refScore, mean, sd, adaptive.min() ?? 0, specMean,
                         Double(fec) / Double(drawCount), Double(plc) / Double(drawCount)))
        }
    }

    // MARK: CPU

    private func cpu(speech: [Float]) throws {
        let n = min(cpuFrames, speech.count / 960)
        let frames = (0..<n).map { Array(speech[($0 * 960)..<(($0 + 1) * 960)]) }
        // Capture path: AEC (speexdsp, 200 ms tail, preprocessor linked) + Opus encode.
        let aec = EchoCanceller()
        let encoder = try OpusEncoder()
        var cleaned = [Float](repeating: 0, count: 960)
        var packet = [UInt8](repeating: 0, count: AudioFormat.maxOpusPacketBytes)
        var packets: [[UInt8]] = []
        var far = [Float](repeating: 0, count: 960)
        var aecNanos: UInt64 = 0, encodeNanos: UInt64 = 0
        for (i, frame) in frames.enumerated() {
            far = frames[(i + 7) % n].map { $0 * 0.3 }
            let t0 = threadCPUNanos()
            frame.withUnsafeBufferPointer { near in
                far.withUnsafeBufferPointer { f in
                    cleaned.withUnsafeMutableBufferPointer { aec.process(nearEnd: near, farEnd: f, output: $0) }
                }
            }
            let t1 = threadCPUNanos()
            let len = try cleaned.withUnsafeBufferPointer { c in
                try packet.withUnsafeMutableBytes { try encoder.encode(c, into: $0) }
            }
            let t2 = threadCPUNanos()
            aecNanos += t1 - t0
            encodeNanos += t2 - t1
            packets.append(Array(packet[0..<len]))
        }
        // Playback path: jitter-buffer insert + pull (which decodes).
        let clock = SimulatedAudioClock()
        let jitter = JitterBuffer(clock: clock, decoder: try OpusDecoder())
        var pcm = [Float](repeating: 0, count: 960)
        var playNanos: UInt64 = 0
        for (i, p) in packets.enumerated() {
            let t0 = threadCPUNanos()
            clock.set(Int64(i) * 20_000 + 30_000)
            jitter.insert(sequence: UInt32(i), payload: p)
            clock.set(Int64(i) * 20_000 + 37_000)
            _ = jitter.pull(into: &pcm)
            playNanos += threadCPUNanos() - t0
        }
        func perFrame(_ ns: UInt64) -> String { String(format: "%.1f µs (%.2f %% of 20 ms)", Double(ns) / Double(n) / 1000, Double(ns) / Double(n) / 200_000) }
        print("\nCPU per 20 ms frame (thread CPU time, \(n) frames, this machine):")
        print("  capture  AEC (speexdsp 200 ms tail + preprocess): \(perFrame(aecNanos))")
        print("  capture  Opus encode (64 kbit/s, FEC, 10 %):     \(perFrame(encodeNanos))")
        print("  capture  total:                                   \(perFrame(aecNanos + encodeNanos))")
        print("  playback jitter buffer + Opus decode:             \(perFrame(playNanos))")
    }

    // MARK: Delay budget

    private func budget() throws {
        let encoder = try OpusEncoder()
        let options = ALSADevice.Options()
        let period = Double(options.periodFrames) / 48.0
        let lookahead = Double(encoder.lookaheadSamples) / 48.0
        let jitter = Double(JitterBuffer.Configuration().initialDelayMicros) / 1000
        let lead = Double(VoiceSession.Options().playbackLeadSamples) / 48.0
        let rows: [(String, Double)] = [
            ("capture period (ALSA, \(options.periodFrames) frames)", period),
            ("framing: collect a 20 ms Opus frame (worst case)", 20 - period),
            ("Opus encoder lookahead (\(encoder.lookaheadSamples) samples)", lookahead),
            ("network one-way (not counted: LAN ≈ 1 ms)", 0),
            ("jitter buffer target (initial; adapts 20…200 ms)", jitter),
            ("playback ring lead kept by VoiceSession", lead),
            ("ALSA playback buffer (\(options.periods) periods, kept full)", Double(options.periods) * period)
        ]
        print("\nMouth-to-ear budget (excluding network):")
        func line(_ name: String, _ ms: Double) -> String {
            "  " + name.padding(toLength: 58, withPad: " ", startingAt: 0) + String(format: "%6.1f ms", ms)
        }
        for (name, ms) in rows { print(line(name, ms)) }
        print(line("total", rows.reduce(0) { $0 + $1.1 }))
    }

    private func threadCPUNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// The external tools the audio benchmark compares against (mirrors Tests/TestSupport/AudioQuality.swift,
/// which the bench cannot import).
enum BenchAudioTools {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func readFloat32(_ path: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    static func writeFloat32(_ samples: [Float], to path: String) throws {
        var data = Data(capacity: samples.count * 4)
        for s in samples { withUnsafeBytes(of: s.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        try data.write(to: URL(fileURLWithPath: path))
    }

    static func speechSample(seconds: Double, directory: String) throws -> [Float] {
        let text = """
        The quick brown fox jumps over the lazy dog. Proscenium nodes talk to each other over QUIC. \
        Please call me back when the meeting has finished, and bring the blue folder with you. \
        Seven hundred and forty two people joined the stage this evening to hear the concert. \
        Audio quality matters most when the network is at its worst.
        """
        try run("espeak-ng", ["-v", "en-us", "-s", "165", "-w", directory + "/speech.wav", text])
        try run("sox", [directory + "/speech.wav", "-r", "48000", "-c", "1", "-e", "floating-point", "-b", "32", "-t", "raw",
                        directory + "/speech.f32", "trim", "0", String(seconds), "norm", "-3"])
        return try readFloat32(directory + "/speech.f32")
    }

    static func referenceChain(input: [Float], lossPercent: Int, directory: String) throws -> [Float] {
        try writeFloat32(input, to: directory + "/ref-in.f32")
        try run("sox", ["-t", "raw", "-r", "48000", "-e", "floating-point", "-b", "32", "-c", "1", directory + "/ref-in.f32",
                        "-b", "16", directory + "/ref-in.wav"])
        try run("opusenc", ["--quiet", "--bitrate", "64", "--framesize", "20", directory + "/ref-in.wav", directory + "/ref.opus"])
        try run("opusdec", ["--quiet", "--rate", "48000", "--float", "--packet-loss", String(lossPercent),
                            directory + "/ref.opus", directory + "/ref-out.f32"])
        return try readFloat32(directory + "/ref-out.f32")
    }

    static func pesqWB(reference: [Float], degraded: [Float], directory: String, python: String) throws -> Double {
        let script = """
        import sys, numpy as np
        from pesq import pesq
        ref = np.fromfile(sys.argv[1], dtype=np.float32); deg = np.fromfile(sys.argv[2], dtype=np.float32)
        n = min(len(ref), len(deg)); print(pesq(16000, ref[:n], deg[:n], 'wb'))
        """
        try writeFloat32(reference, to: directory + "/p-ref48.f32")
        try writeFloat32(degraded, to: directory + "/p-deg48.f32")
        for name in ["ref", "deg"] {
            try run("sox", ["-t", "raw", "-r", "48000", "-e", "floating-point", "-b", "32", "-c", "1", directory + "/p-\(name)48.f32",
                            "-t", "raw", "-r", "16000", "-e", "floating-point", "-b", "32", "-c", "1", directory + "/p-\(name)16.f32"])
        }
        let out = try run(python, ["-c", script, directory + "/p-ref16.f32", directory + "/p-deg16.f32"])
        guard let score = Double(out.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Failure(description: "pesq printed '\(out)'")
        }
        return score
    }
}

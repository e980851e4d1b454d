import Foundation

/// Runs the command-line audio tools the tests compare against (opus-tools, sox, espeak-ng).
public enum AudioTools {
    public struct Failure: Error, CustomStringConvertible {
        public let command: String
        public let status: Int32
        public let stderr: String
        public var description: String { "\(command) exited \(status): \(stderr)" }
    }

    /// Runs `executable` (looked up in PATH) with `arguments`; returns stdout, throws on failure.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String]) throws -> Data {
        let result = try Subprocess.runBytes("/usr/bin/env", [executable] + arguments, timeoutSeconds: 600)
        guard result.status == 0 else {
            throw Failure(command: ([executable] + arguments).joined(separator: " "), status: result.status,
                          stderr: String(decoding: result.stderr, as: UTF8.self))
        }
        return Data(result.stdout)
    }

    public static func isAvailable(_ executable: String) -> Bool {
        (try? run("sh", ["-c", "command -v \(executable)"])) != nil
    }

    public static func readFloat32(_ path: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    public static func writeFloat32(_ samples: [Float], to path: String) throws {
        var data = Data(capacity: samples.count * 4)
        for s in samples { withUnsafeBytes(of: s.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// A fresh temporary directory.
    public static func temporaryDirectory(_ prefix: String) throws -> String {
        let dir = NSTemporaryDirectory() + prefix + "-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// About `seconds` of synthetic English speech at 48 kHz mono (espeak-ng, then sox), as floats.
    public static func speechSample(seconds: Double, directory: String) throws -> [Float] {
        let text = """
        The quick brown fox jumps over the lazy dog. Proscenium nodes talk to each other over QUIC. \
        Please call me back when the meeting has finished, and bring the blue folder with you. \
        Seven hundred and forty two people joined the stage this evening to hear the concert. \
        Audio quality matters most when the network is at its worst.
        """
        let wav = directory + "/speech-espeak.wav"
        let raw = directory + "/speech-48k.raw"
        try run("espeak-ng", ["-v", "en-us", "-s", "165", "-w", wav, text])
        try run("sox", [wav, "-r", "48000", "-c", "1", "-e", "floating-point", "-b", "32", "-t", "raw", raw,
                        "trim", "0", String(seconds), "norm", "-3"])
        return try readFloat32(raw)
    }
}

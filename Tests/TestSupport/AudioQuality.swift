import Foundation

/// PESQ-WB scoring (PyPI `pesq` in the peers venv) and opus-tools' reference chain.
public enum AudioQuality {
    static let pesqScript = """
    import sys, numpy as np
    from pesq import pesq
    ref = np.fromfile(sys.argv[1], dtype=np.float32)
    deg = np.fromfile(sys.argv[2], dtype=np.float32)
    n = min(len(ref), len(deg))
    print(pesq(16000, ref[:n], deg[:n], 'wb'))
    """

    /// PESQ-WB of `degraded` against `reference` (both 48 kHz mono), resampled to 16 kHz with sox.
    public static func pesqWB(reference: [Float], degraded: [Float], directory: String) throws -> Double {
        let tag = UUID().uuidString.prefix(8)
        let ref48 = "\(directory)/ref48-\(tag).f32", deg48 = "\(directory)/deg48-\(tag).f32"
        let ref16 = "\(directory)/ref16-\(tag).f32", deg16 = "\(directory)/deg16-\(tag).f32"
        try AudioTools.writeFloat32(reference, to: ref48)
        try AudioTools.writeFloat32(degraded, to: deg48)
        for (a, b) in [(ref48, ref16), (deg48, deg16)] {
            try AudioTools.run("sox", ["-t", "raw", "-r", "48000", "-e", "floating-point", "-b", "32", "-c", "1", a,
                                       "-t", "raw", "-r", "16000", "-e", "floating-point", "-b", "32", "-c", "1", b])
        }
        let out = try PythonPeers.runText(pesqScript, arguments: [ref16, deg16])
        guard let score = Double(out.split(separator: "\n").last.map(String.init) ?? "") else {
            throw AudioTools.Failure(command: "pesq", status: 0, stderr: "unparseable output: \(out)")
        }
        return score
    }

    /// `opusenc --bitrate 64 --framesize 20` then `opusdec --packet-loss N`, 48 kHz float output.
    public static func referenceChain(input: [Float], lossPercent: Int, directory: String) throws -> [Float] {
        let wav = directory + "/ref-in.wav", opus = directory + "/ref.opus", out = directory + "/ref-out-\(lossPercent).f32"
        let raw = directory + "/ref-in.f32"
        try AudioTools.writeFloat32(input, to: raw)
        try AudioTools.run("sox", ["-t", "raw", "-r", "48000", "-e", "floating-point", "-b", "32", "-c", "1", raw,
                                   "-b", "16", wav])
        try AudioTools.run("opusenc", ["--quiet", "--bitrate", "64", "--framesize", "20", wav, opus])
        try AudioTools.run("opusdec", ["--quiet", "--rate", "48000", "--float", "--packet-loss", String(lossPercent), opus, out])
        return try AudioTools.readFloat32(out)
    }
}

import Foundation

/// Locates and runs the real, independent implementations the tests check against (PyPI packages
/// installed by scripts/setup into virtual environments outside the repository).
public enum PythonPeers {
    /// Root of the caches scripts/setup fills; `PROSCENIUM_CACHE` overrides it.
    public static var cacheDirectory: String {
        ProcessInfo.processInfo.environment["PROSCENIUM_CACHE"] ?? "/var/tmp/proscenium"
    }

    /// False only where the environment says the peers cannot exist (the Swift 6.0.3 chroot check sets
    /// PROSCENIUM_NO_PYTHON_PEERS=1). Everywhere else a missing peer is a test failure, not a skip.
    public static var isEnabled: Bool {
        ProcessInfo.processInfo.environment["PROSCENIUM_NO_PYTHON_PEERS"] != "1"
    }

    /// Python with iroh==1.2.0, noiseprotocol, mnemonic, blake3, pynacl, pesq, zeroconf.
    public static var peersPython: String { cacheDirectory + "/venv-peers/bin/python" }

    /// Python with aster-rpc==0.1.2 (iroh 0.97, iroh-gossip 0.97, iroh-blobs 0.99).
    public static var asterPython: String { cacheDirectory + "/venv-aster/bin/python" }

    public struct Failure: Error, CustomStringConvertible {
        public let status: Int32
        public let stderr: String
        public var description: String { "python exited \(status): \(stderr)" }
    }

    /// Runs `script` (Python source) with `arguments`, feeding `input` on stdin; returns stdout.
    /// Throws when the interpreter exits non-zero, with its stderr.
    @discardableResult
    public static func run(_ script: String, arguments: [String] = [], input: [UInt8] = [],
                           python: String = peersPython) throws -> [UInt8] {
        let result = try Subprocess.runBytes(python, ["-c", script] + arguments, input: input, timeoutSeconds: 300)
        guard result.status == 0 else {
            throw Failure(status: result.status, stderr: String(decoding: result.stderr, as: UTF8.self))
        }
        return result.stdout
    }

    /// Like `run`, returning stdout as trimmed text.
    public static func runText(_ script: String, arguments: [String] = [], input: [UInt8] = [],
                               python: String = peersPython) throws -> String {
        String(decoding: try run(script, arguments: arguments, input: input, python: python), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

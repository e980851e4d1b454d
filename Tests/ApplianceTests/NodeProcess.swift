import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `proscenium-node` binary (found next to the test bundle) for CLI contract tests.
enum NodeBinary {
    static var path: String { BuiltProducts.locate("proscenium-node") ?? "proscenium-node" }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// The test process's environment without the node variables a developer's shell may set.
    static func environment(_ extra: [String: String]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "PROSCENIUM_DATA_DIR")
        env.removeValue(forKey: "NOTIFY_SOCKET")
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Runs to completion with `input` on stdin (killed after `timeoutSeconds`).
    static func run(_ arguments: [String], input: String = "", environment: [String: String] = [:],
                    timeoutSeconds: Double = 60) throws -> Result {
        let output = try Subprocess.run(path, arguments, input: Array(input.utf8), environment: Self.environment(environment),
                                        timeoutSeconds: timeoutSeconds)
        return Result(status: output.status, stdout: output.stdout, stderr: output.stderr)
    }

    /// Starts a long-running node (`run …`); stop it with `signal(SIGTERM)` + `wait(seconds:)` or `kill()`.
    static func start(_ arguments: [String], environment: [String: String] = [:], stdinPipe: Bool = false,
                      stdout: Subprocess.Output = .null, stderr: Subprocess.Output = .null) throws -> Subprocess {
        try Subprocess(executable: path, arguments: arguments, environment: Self.environment(environment),
                       stdinPipe: stdinPipe, stdout: stdout, stderr: stderr)
    }
}

/// A fresh directory under /tmp, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/proscenium-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: made)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Waits (polling) until `condition` holds or `seconds` pass; returns whether it held.
func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}
